"""Super-resolution and colorization as tools, and the methods they are compared with.

**Methods.** Everything that turns conditions ``c`` into answers is a :class:`ConditionalMethod`:
``draw(c, k, generator)`` gives ``k`` answers per condition, ``[N, k, C, H, W]``, so the
evaluation (:mod:`genzoo.evaluation.conditional`) scores a generative model's samples and a
deterministic baseline's single answer the same way:

* :class:`ModelSampler` — samples of an image-conditional model, ``x ~ p(x | c)``;
* :class:`RegressionAnswer` — :meth:`~genzoo.models.regression.l2_regression.L2Regression.regress`
  of the L2 regression model (its one answer, repeated);
* :class:`NearestUpsampling`, :class:`BicubicUpsampling` — super-resolution without learning
  (bicubic by :func:`torch.nn.functional.interpolate`, ``align_corners=False``, rounded and
  clipped to the levels);
* :class:`GrayCopy` — colorization without learning: ``R = G = B = Y``.

``genzoo eval`` scores every image-conditional run by its samples (:class:`ModelSampler`): for
the L2 regression model these are its mean plus Gaussian noise, so its *one answer* is scored
with :class:`RegressionAnswer` where the caller knows it has one (the benchmarks).

Nearest upsampling and the gray copy are *consistent* by construction: box-downsampling a
nearest upsampling gives back ``c`` exactly, and the BT.601 luminance of ``(Y, Y, Y)`` is ``Y``
(the weights sum to 1000/1000). Bicubic upsampling is not.

**Tools.** :func:`upscale` and :func:`colorize` take image files (PNG/JPEG of any size and mode)
or arrays, convert them to what a model takes (:func:`prepare_condition`, which says in one line
what it did) and return :class:`ConditionalOutputs`, written by :func:`save_outputs` as one PNG
per sample, one grid PNG or an ``.npz``. ``genzoo upscale`` / ``genzoo colorize`` call them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from genzoo.core.atomic import atomic_save
from genzoo.data.dataset import requantize
from genzoo.data.tasks import box_downsample, luminance
from genzoo.errors import ConfigError, DatasetError
from genzoo.models.base import GenerativeModel

ImageInput = str | os.PathLike[str] | np.ndarray


# ------------------------------------------------------------------------------- methods
class ConditionalMethod(Protocol):
    """Anything that answers conditions: ``draw(c, k, generator) -> [N, k, C, H, W]``."""

    name: str
    #: every one of the ``k`` answers is the same (a baseline or a regression)
    deterministic: bool

    def draw(
        self, c: Tensor, k: int, generator: torch.Generator | None = None, y: Tensor | None = None
    ) -> Tensor:
        """``k`` answers to each condition ``c [N, *condition_shape]``: LongTensor
        ``[N, k, C, H, W]``; ``y [N]`` labels for a class-conditional model."""
        ...


@dataclass
class ModelSampler:
    """Samples ``x ~ p(x | c)`` of an image-conditional model, ``batch_size`` at a time."""

    model: GenerativeModel
    name: str = ""
    batch_size: int = 256
    deterministic: bool = False

    def __post_init__(self) -> None:
        require_image_conditional(self.model)
        self.name = self.name or self.model.name

    def draw(
        self, c: Tensor, k: int, generator: torch.Generator | None = None, y: Tensor | None = None
    ) -> Tensor:
        repeated = c.repeat_interleave(k, dim=0)
        labels = None
        if self.model.num_classes is not None and y is not None:
            labels = y.repeat_interleave(k, dim=0)
        parts = []
        for s in range(0, repeated.shape[0], self.batch_size):
            part = slice(s, s + self.batch_size)
            yb = None if labels is None else labels[part]
            cb = repeated[part]
            parts.append(self.model.sample(cb.shape[0], yb, c=cb, generator=generator).cpu())
        out = torch.cat(parts)
        return out.view(c.shape[0], k, *out.shape[1:])


@dataclass
class RegressionAnswer:
    """The L2 regression's one answer (the level nearest its predicted mean), ``k`` times."""

    model: GenerativeModel
    name: str = "regression"
    deterministic: bool = True

    def draw(
        self, c: Tensor, k: int, generator: torch.Generator | None = None, y: Tensor | None = None
    ) -> Tensor:
        labels = y if self.model.num_classes is not None else None
        answer = self.model.regress(c, labels).cpu()  # type: ignore[operator]
        return answer[:, None].expand(-1, k, -1, -1, -1)


@dataclass
class NearestUpsampling:
    """Every low-resolution pixel repeated over its ``scale x scale`` block."""

    scale: int
    name: str = "nearest"
    deterministic: bool = True

    def draw(
        self, c: Tensor, k: int, generator: torch.Generator | None = None, y: Tensor | None = None
    ) -> Tensor:
        up = c.long().repeat_interleave(self.scale, -2).repeat_interleave(self.scale, -1)
        return up[:, None].expand(-1, k, -1, -1, -1)


@dataclass
class BicubicUpsampling:
    """Bicubic interpolation (Keys' ``a = -0.75``, torch's), rounded and clipped to the levels."""

    scale: int
    levels: int
    name: str = "bicubic"
    deterministic: bool = True

    def draw(
        self, c: Tensor, k: int, generator: torch.Generator | None = None, y: Tensor | None = None
    ) -> Tensor:
        up = torch.nn.functional.interpolate(
            c.double(), scale_factor=self.scale, mode="bicubic", align_corners=False
        )
        up = up.round().clamp(0, self.levels - 1).long()
        return up[:, None].expand(-1, k, -1, -1, -1)


@dataclass
class GrayCopy:
    """Colorization by copying the gray level into R, G and B."""

    name: str = "gray"
    deterministic: bool = True

    def draw(
        self, c: Tensor, k: int, generator: torch.Generator | None = None, y: Tensor | None = None
    ) -> Tensor:
        return c.long().expand(-1, 3, -1, -1)[:, None].expand(-1, k, -1, -1, -1)


def baselines(task: dict | None, levels: int) -> list[ConditionalMethod]:
    """The methods without learning for a task (``dataset.task``): nearest and bicubic for
    super-resolution, the gray copy for colorization; none for another task."""
    name = (task or {}).get("name")
    if name == "super-resolution":
        scale = int(task["scale"])  # type: ignore[index]
        return [NearestUpsampling(scale), BicubicUpsampling(scale, levels)]
    if name == "colorization":
        return [GrayCopy()]
    return []


# ------------------------------------------------------------------------------- what a model is
def require_image_conditional(model: GenerativeModel) -> None:
    """Raise :class:`ConfigError` unless ``model`` declares an image condition."""
    if not model.capabilities.image_conditional:
        raise ConfigError(
            f"{model.name} is not an image-conditional model (it models p(x), not p(x | c)); "
            "train one with --task super-resolution or --task colorization"
        )


def model_task(model: GenerativeModel) -> dict:
    """The task a model's shapes say it was trained for: ``{"name": "super-resolution",
    "scale": s}`` (same channels, sides divided by ``s``) or ``{"name": "colorization"}`` (one
    gray channel of an RGB target, same size)."""
    require_image_conditional(model)
    channels, height, width = model.shape
    cc, ch, cw = model.condition_shape  # type: ignore[misc]
    if (cc, ch, cw) == (1, height, width) and channels == 3:
        return {"name": "colorization"}
    if cc == channels and height % ch == 0 and height // ch == width // cw and ch < height:
        return {"name": "super-resolution", "scale": height // ch}
    raise ConfigError(
        f"{model.name} maps a {cc}×{ch}×{cw} condition to {channels}×{height}×{width} images: "
        "neither super-resolution nor colorization"
    )


# ------------------------------------------------------------------------------- image files
@dataclass(frozen=True)
class PreparedImage:
    """An input converted to a model's condition.

    Attributes:
        c: LongTensor ``[1, *condition_shape]`` in ``[0, condition_levels)``.
        note: one line saying what was done to the input.
        name: the file's stem (or ``image<i>`` for an array).
    """

    c: Tensor
    note: str
    name: str


def read_image(source: ImageInput) -> tuple[np.ndarray, str]:
    """``(uint8 [H, W, C] with C = 1 (gray) or 3, what it was)`` of a file or an array
    (``[H, W]``, ``[H, W, 1|3|4]``, uint8 or uint16). Transparency is composited onto black and
    16-bit values keep their top 8 bits (as ``folder:`` data)."""
    if isinstance(source, np.ndarray):
        array = source
        if array.dtype == np.uint16:
            array = (array >> 8).astype(np.uint8)
        if array.dtype != np.uint8 or array.ndim not in (2, 3):
            raise ConfigError(
                f"an image array must be uint8 or uint16 [H, W] or [H, W, C], got {array.dtype} "
                f"{list(array.shape)}"
            )
        array = array[..., None] if array.ndim == 2 else array
        if array.shape[2] == 4:
            alpha = array[..., 3:].astype(np.uint32)
            array = ((array[..., :3].astype(np.uint32) * alpha + 127) // 255).astype(np.uint8)
        if array.shape[2] not in (1, 3):
            raise ConfigError(f"an image array needs 1, 3 or 4 channels, got {array.shape[2]}")
        kind = "gray" if array.shape[2] == 1 else "colour"
        return array, f"{kind} array {array.shape[0]}×{array.shape[1]}"
    from genzoo.data.folder import _read_image  # the one reader of image files (all modes)

    path = Path(source)
    if not path.is_file():
        raise DatasetError(f"{path} is not a file; pass PNG or JPEG images")
    try:
        with Image.open(path) as img:
            mode = img.mode
    except (OSError, SyntaxError, ValueError) as err:
        raise DatasetError(f"cannot read image {path}: {err}; pass PNG or JPEG images") from None
    array, gray = _read_image(path)
    kind = "gray" if gray else "colour"
    return array, f"{kind} {mode} {array.shape[0]}×{array.shape[1]}"


def fit_size(array: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, str]:
    """Centre-crop ``uint8 [H, W, C]`` to the largest ``k h x k w`` window (``k`` an integer),
    then shrink it by ``k`` with exact block means rounded half up
    (:func:`~genzoo.data.tasks.box_downsample`, as the super-resolution task does).
    Raises :class:`ConfigError` when it is smaller than ``size``."""
    h, w = size
    height, width = array.shape[:2]
    if height < h or width < w:
        raise ConfigError(
            f"the image is {height}×{width} but the model takes {h}×{w}: it is smaller than the "
            f"model's input; pass an image of at least {h}×{w}"
        )
    steps = []
    keep = min(height // h, width // w)  # the largest crop of the model's aspect ratio
    ch, cw = keep * h, keep * w
    if (ch, cw) != (height, width):
        top, left = (height - ch) // 2, (width - cw) // 2
        array = array[top : top + ch, left : left + cw]
        steps.append(f"centre-cropped to {ch}×{cw}")
    if keep > 1:  # exact block means, rounded half up: how the task made its conditions
        chw = torch.from_numpy(np.moveaxis(array, -1, 0)[None].astype(np.int64))
        array = np.moveaxis(box_downsample(chw, keep)[0].numpy(), 0, -1).astype(np.uint8)
        steps.append(f"shrunk {keep}× to {h}×{w} (block means)")
    return array, ", ".join(steps)


def prepare_condition(
    source: ImageInput, model: GenerativeModel, *, name: str = "image"
) -> PreparedImage:
    """Convert an image to ``model``'s condition (see :func:`model_task`).

    Super-resolution: the image *is* the low-resolution input. A gray image given to a colour
    model is repeated over R, G and B; a colour image given to a gray model is refused.
    Colorization: a colour image is turned into its BT.601 luminance (the model's condition).
    Then: centre-crop and area-shrink to the condition's size (:func:`fit_size`), and map the
    256 levels onto the condition's (:func:`~genzoo.data.requantize`).

    Raises:
        ConfigError: a colour image for a gray model, an image smaller than the model's input,
            a model that is not image-conditional.
        DatasetError: an unreadable file.
    """
    task = model_task(model)
    array, what = read_image(source)
    cc, ch, cw = model.condition_shape  # type: ignore[misc]
    steps = []
    if task["name"] == "colorization":
        if array.shape[2] == 3:
            rgb = torch.from_numpy(np.moveaxis(array, -1, 0)[None].copy())
            array = luminance(rgb)[0, 0].numpy().astype(np.uint8)[..., None]
            steps.append("converted to gray (BT.601 luminance)")
    elif array.shape[2] == 3 and cc == 1:
        raise ConfigError(
            f"{name} is a colour image but {model.name} was trained on gray images; pass a "
            "grayscale image (or convert it first)"
        )
    elif array.shape[2] == 1 and cc == 3:
        array = np.repeat(array, 3, axis=2)
        steps.append("gray repeated over R, G, B")
    array, resized = fit_size(array, (ch, cw))
    if resized:
        steps.append(resized)
    levels = int(model.condition_levels or 256)
    c = torch.from_numpy(np.moveaxis(array, -1, 0)[None].astype(np.int64))
    if levels != 256:
        c = requantize(c, 256, levels)
        steps.append(f"256 levels mapped to {levels}")
    note = f"{name}: {what} -> {cc}×{ch}×{cw}" + (f" ({'; '.join(steps)})" if steps else "")
    return PreparedImage(c=c, note=note, name=name)


# ------------------------------------------------------------------------------- the tools
@dataclass
class ConditionalOutputs:
    """What :func:`upscale` / :func:`colorize` return.

    Attributes:
        inputs: LongTensor ``[N, *condition_shape]``, the conditions the model was given.
        samples: LongTensor ``[N, S, C, H, W]`` in ``[0, levels)``.
        levels, condition_levels: levels of the samples and of the inputs.
        names: one name per input (file stems).
        notes: one line per input saying how it was converted.
    """

    inputs: Tensor
    samples: Tensor
    levels: int
    condition_levels: int
    names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _run_tool(
    model: GenerativeModel,
    images: Sequence[ImageInput],
    task: str,
    samples: int,
    generator: torch.Generator | None,
) -> ConditionalOutputs:
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"samples must be a positive integer, got {samples!r}")
    if not images:
        raise ConfigError("pass at least one image")
    actual = model_task(model)["name"]
    if actual != task:
        raise ConfigError(
            f"{model.name} was trained for {actual}, not {task}; use `genzoo "
            f"{'upscale' if actual == 'super-resolution' else 'colorize'}` with it"
        )
    names = [
        Path(s).stem if not isinstance(s, np.ndarray) else f"image{i}" for i, s in enumerate(images)
    ]
    if len(set(names)) < len(names):  # a.png and a.jpg, or dir1/a.png and dir2/a.png
        names = [f"{i}-{n}" for i, n in enumerate(names)]
    prepared = [prepare_condition(s, model, name=n) for s, n in zip(images, names)]
    c = torch.cat([p.c for p in prepared])
    model.eval()
    drawn = ModelSampler(model).draw(c, samples, generator)
    return ConditionalOutputs(
        inputs=c,
        samples=drawn,
        levels=model.levels,
        condition_levels=int(model.condition_levels or 2),
        names=names,
        notes=[p.note for p in prepared],
    )


def upscale(
    model: GenerativeModel,
    images: Sequence[ImageInput],
    *,
    samples: int = 4,
    scale: int | None = None,
    generator: torch.Generator | None = None,
) -> ConditionalOutputs:
    """Super-resolve images with a super-resolution model: ``samples`` answers per image.

    ``scale``, when given, must be the model's factor (a :class:`ConfigError` otherwise).
    """
    task = model_task(model)
    if scale is not None and task.get("scale") != scale:
        shown = task.get("scale", "no super-resolution")
        raise ConfigError(
            f"--scale {scale} does not match the run: {model.name} upscales by {shown}; drop "
            "--scale or pass that"
        )
    return _run_tool(model, images, "super-resolution", samples, generator)


def colorize(
    model: GenerativeModel,
    images: Sequence[ImageInput],
    *,
    samples: int = 4,
    generator: torch.Generator | None = None,
) -> ConditionalOutputs:
    """Colorize gray (or colour, turned gray) images with a colorization model."""
    return _run_tool(model, images, "colorization", samples, generator)


def show_conditions(c: Tensor, levels: int, target: tuple[int, int, int], to_levels: int) -> Tensor:
    """Conditions ``[N, C_c, H_c, W_c]`` as images of the target's shape and levels, for figures
    (nearest upsampling, gray repeated over the channels)."""
    channels, height, width = target
    scaled = torch.round(c.double() * (to_levels - 1) / max(levels - 1, 1)).long()
    rows, cols = height // scaled.shape[-2], width // scaled.shape[-1]
    scaled = scaled.repeat_interleave(rows, -2).repeat_interleave(cols, -1)
    return scaled.expand(-1, channels, -1, -1) if scaled.shape[1] != channels else scaled


def save_outputs(outputs: ConditionalOutputs, out: str | os.PathLike[str]) -> list[Path]:
    """Write ``outputs``: ``out`` ending in ``.png`` -> one grid (a row per input: the input
    enlarged, then its samples); ``.npz`` -> arrays ``inputs``, ``samples``, ``levels``,
    ``condition_levels``, ``names``; otherwise a directory with ``NAME_sampleK.png`` per sample.
    Every file is written atomically. Returns the paths written."""
    from genzoo.apps.grid import image_grid, save_grid

    path = Path(out)
    suffix = path.suffix.lower()
    samples = outputs.samples
    n, s = samples.shape[:2]
    if suffix == ".npz":
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            "inputs": outputs.inputs.numpy().astype(np.int64),
            "samples": samples.numpy().astype(np.int64),
            "levels": np.int64(outputs.levels),
            "condition_levels": np.int64(outputs.condition_levels),
            "names": np.array(outputs.names),
        }
        return [atomic_save(path, lambda handle: np.savez_compressed(handle, **arrays))]
    if suffix == ".png":
        shown = show_conditions(
            outputs.inputs, outputs.condition_levels, tuple(samples.shape[2:]), outputs.levels
        )
        rows = torch.cat([shown[:, None], samples], dim=1).flatten(0, 1)
        return [save_grid(rows, outputs.levels, path, nrow=s + 1)]
    if suffix:
        raise ConfigError(f"--out must be a directory, a .png or a .npz file, got {path.name}")
    path.mkdir(parents=True, exist_ok=True)
    written = []
    width = max(1, math.ceil(math.log10(s + 1)))
    for i in range(n):
        for k in range(s):
            picture = Image.fromarray(image_grid(samples[i, k][None], outputs.levels, padding=0))
            target = path / f"{outputs.names[i]}_sample{k:0{width}d}.png"
            written.append(atomic_save(target, lambda h, p=picture: p.save(h, format="PNG")))
    return written
