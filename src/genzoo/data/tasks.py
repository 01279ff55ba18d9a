"""Tasks: (condition, target) datasets made from any image dataset.

A *task* turns every image ``x`` of a :class:`~genzoo.data.Dataset` into a pair: a conditioning
image ``c = task.condition(x)`` and the target ``x`` itself. An image-conditional model then
learns ``p(x | c)``:

* ``super-resolution`` — ``c`` is ``x`` box-downsampled by ``scale`` (the mean of each
  ``scale x scale`` block, rounded half up to the dataset's levels); digits 8x8 -> 4x4 (scale 2),
  Fashion-MNIST 28x28 -> 7x7 (scale 4).
* ``colorization`` — ``c`` is the luminance of a colour image, ``Y = 0.299 R + 0.587 G +
  0.114 B`` (ITU-R BT.601) rounded half up, at the dataset's levels: one channel.

Both conditions are deterministic integer functions of ``x`` computed exactly (integer
arithmetic), so a model's output can be checked for *consistency*: the condition of a generated
image should equal the given one.

Tasks are registered in :data:`TASKS` (``genzoo tasks`` lists them); each is a frozen dataclass
whose fields are its options (CLI flags are generated from them, as for
:class:`~genzoo.training.TrainConfig`) validated against its ``params`` table.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from genzoo.core.params import Constraint, Int, validate
from genzoo.core.registry import Registry
from genzoo.data.dataset import Dataset
from genzoo.errors import ConfigError

TASKS: Registry[type[Task]] = Registry("task", hint="see `genzoo tasks`")


@dataclass(frozen=True)
class Task:
    """Base class of tasks; subclasses define :meth:`condition_spec` and :meth:`condition`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[dict[str, Constraint]] = {}

    def __post_init__(self) -> None:
        validate(self.params, self.options(), owner=f"task {self.name}", flags=True)

    def options(self) -> dict[str, Any]:
        """The task's options (its fields) as a dict."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., **options}``: what a run records to rebuild the task."""
        return {"name": self.name, **self.options()}

    def condition_spec(
        self, shape: tuple[int, int, int], levels: int
    ) -> tuple[tuple[int, int, int], int]:
        """``(condition_shape, condition_levels)`` for targets of ``shape`` and ``levels``.

        Raises:
            ConfigError: the task cannot be made from such images (what to change is said).
        """
        raise NotImplementedError

    def condition(self, x: Tensor, levels: int) -> Tensor:
        """The conditions of targets ``x`` (LongTensor ``[N, C, H, W]`` in ``[0, levels)``):
        LongTensor ``[N, *condition_shape]``."""
        raise NotImplementedError

    def apply(self, dataset: Dataset) -> Dataset:
        """``dataset`` with the conditions of its train and test images."""
        if dataset.conditioned:
            raise ConfigError(
                f"{dataset.name} already carries the conditions of task "
                f"{(dataset.task or {}).get('name')}; apply one task to the plain dataset"
            )
        shape, levels = self.condition_spec(tuple(dataset.shape), dataset.levels)
        return dataclasses.replace(
            dataset,
            train_condition=self.condition(dataset.train, dataset.levels),
            test_condition=self.condition(dataset.test, dataset.levels),
            condition_shape=shape,
            condition_levels=levels,
            task=self.to_dict(),
        )


def box_downsample(x: Tensor, scale: int) -> Tensor:
    """Mean of every ``scale x scale`` block, rounded half up: ``[N, C, H, W]`` ->
    ``[N, C, H / scale, W / scale]`` (integer arithmetic, exact)."""
    n, c, h, w = x.shape
    blocks = x.long().reshape(n, c, h // scale, scale, w // scale, scale).sum(dim=(3, 5))
    area = scale * scale
    return torch.div(2 * blocks + area, 2 * area, rounding_mode="floor")


def luminance(x: Tensor) -> Tensor:
    """ITU-R BT.601 luma of RGB levels, rounded half up: ``[N, 3, H, W]`` -> ``[N, 1, H, W]``."""
    r, g, b = x.long().unbind(1)
    return torch.div(299 * r + 587 * g + 114 * b + 500, 1000, rounding_mode="floor")[:, None]


@TASKS.register("super-resolution")
@dataclass(frozen=True)
class SuperResolution(Task):
    """Condition = the image box-downsampled by ``scale``; target = the full image."""

    name: ClassVar[str] = "super-resolution"
    description: ClassVar[str] = (
        "condition: the image box-downsampled by --scale (block means, rounded to the same "
        "levels); target: the full-resolution image"
    )
    params: ClassVar[dict[str, Constraint]] = {"scale": Int(min=2)}

    scale: int = field(
        default=2,
        metadata={"help": "super-resolution: downsampling factor of the condition (2 or 4)"},
    )

    def condition_spec(
        self, shape: tuple[int, int, int], levels: int
    ) -> tuple[tuple[int, int, int], int]:
        c, h, w = shape
        if h % self.scale or w % self.scale:
            raise ConfigError(
                f"--scale {self.scale} does not divide the {h}×{w} images; pass a --scale that "
                f"divides both sides, or --size to resize the images first"
            )
        return (c, h // self.scale, w // self.scale), levels

    def condition(self, x: Tensor, levels: int) -> Tensor:
        return box_downsample(x, self.scale)


@TASKS.register("colorization")
@dataclass(frozen=True)
class Colorization(Task):
    """Condition = the luminance of a colour image; target = the colour image."""

    name: ClassVar[str] = "colorization"
    description: ClassVar[str] = (
        "condition: the luminance (BT.601 gray) of an RGB image, same levels; target: the RGB image"
    )

    def condition_spec(
        self, shape: tuple[int, int, int], levels: int
    ) -> tuple[tuple[int, int, int], int]:
        c, h, w = shape
        if c != 3:
            raise ConfigError(
                f"colorization needs colour (RGB) images, got {c} channel(s); use a colour "
                "dataset (see `genzoo datasets`)"
            )
        return (1, h, w), levels

    def condition(self, x: Tensor, levels: int) -> Tensor:
        return luminance(x)


def make_task(name: str | Task, **options: Any) -> Task:
    """A task from its registered name and options (``make_task("super-resolution", scale=4)``),
    or the given :class:`Task` itself."""
    if isinstance(name, Task):
        if options:
            raise ConfigError("pass options either inside the Task or as keywords, not both")
        return name
    cls = TASKS.get(name)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
        valid = ", ".join("--" + k.replace("_", "-") for k in sorted(known)) or "none"
        raise ConfigError(f"task {name} has no option {flags}; its options: {valid}")
    return cls(**options)


def apply_task(dataset: Dataset, task: str | Task | dict[str, Any], **options: Any) -> Dataset:
    """``dataset`` with a task's conditions: ``apply_task(data, "super-resolution", scale=2)``.

    ``task`` may also be a recorded ``{"name": ..., **options}`` (``dataset.task`` of a run).
    """
    if isinstance(task, dict):
        spec = dict(task)
        if "name" not in spec or any(not isinstance(k, str) for k in spec):
            raise ConfigError(
                f"a task given as a dict must be {{'name': NAME, **options}} with string keys, "
                f"got {task!r}; see `genzoo tasks`"
            )
        twice = sorted(set(spec) & set(options))
        if twice:
            raise ConfigError(
                f"task option(s) {', '.join(twice)} given both in the task dict and as "
                "options; pass each once"
            )
        return make_task(spec.pop("name"), **spec, **options).apply(dataset)
    return make_task(task, **options).apply(dataset)


def available_tasks() -> dict[str, str]:
    """Task name -> one-line description."""
    return {name: cls.description for name, cls in TASKS.items()}


def task_option_fields() -> dict[str, dataclasses.Field]:
    """Every option of every task (for generated command-line flags), by name."""
    out: dict[str, dataclasses.Field] = {}
    for _, cls in TASKS.items():
        for f in dataclasses.fields(cls):
            out.setdefault(f.name, f)
    return out
