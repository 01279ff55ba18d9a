"""The :class:`Dataset` container and the quantisation helpers shared by every loader.

Every loader produces a :class:`RawSplits` (numpy arrays at the dataset's native number of
levels); :func:`build_dataset` then applies the optional resize and re-quantisation in one place
and returns the tensors a model sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from PIL import Image

from genzoo.core import params as P
from genzoo.errors import ConfigError, DatasetError

#: Seed of the permutation behind every split genzoo makes itself (never the global RNG).
SPLIT_SEED = 0


@dataclass(frozen=True)
class Dataset:
    """Images as integer intensity levels, split into train and test.

    Attributes:
        name: the name passed to :func:`genzoo.data.load_dataset` (``"digits"``, ``"npz:x.npz"``).
        train: LongTensor ``[N_train, C, H, W]`` in ``[0, levels)``.
        test: LongTensor ``[N_test, C, H, W]`` in ``[0, levels)``.
        train_labels: LongTensor ``[N_train]`` in ``[0, num_classes)``, or ``None``.
        test_labels: LongTensor ``[N_test]`` in ``[0, num_classes)``, or ``None``.
        levels: number of intensity levels ``K`` of ``train``/``test``.
        shape: ``(C, H, W)``.
        num_classes: number of classes, or ``None`` for unlabelled data.
        source: human-readable origin (a directory, a file, a package).
        raw_levels: number of levels before re-quantisation (17 for digits, 256 otherwise).
        train_raw: LongTensor ``[N_train, C, H, W]`` in ``[0, raw_levels)``; the very same
            tensor as ``train`` when ``levels == raw_levels``. Used for dynamic binarisation.
        test_raw: LongTensor ``[N_test, C, H, W]`` in ``[0, raw_levels)``, likewise.
        class_names: one name per class, or ``None``.
        train_condition: LongTensor ``[N_train, *condition_shape]`` in ``[0, condition_levels)``:
            the conditioning image of every training image (made by a task, e.g. its
            low-resolution version for super-resolution), or ``None``.
        test_condition: likewise for the test images, or ``None``.
        condition_shape: ``(C_c, H_c, W_c)`` of the conditions, or ``None``.
        condition_levels: number of levels of the conditions, or ``None``.
        task: the task that made the conditions, ``{"name": ..., **options}``, or ``None``.
    """

    name: str
    train: torch.Tensor = field(repr=False)
    test: torch.Tensor = field(repr=False)
    train_labels: torch.Tensor | None = field(repr=False)
    test_labels: torch.Tensor | None = field(repr=False)
    levels: int
    shape: tuple[int, int, int]
    num_classes: int | None
    source: str
    raw_levels: int
    train_raw: torch.Tensor = field(repr=False)
    test_raw: torch.Tensor = field(repr=False)
    class_names: list[str] | None = None
    train_condition: torch.Tensor | None = field(default=None, repr=False)
    test_condition: torch.Tensor | None = field(default=None, repr=False)
    condition_shape: tuple[int, int, int] | None = None
    condition_levels: int | None = None
    task: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        P.validate(_FIELDS, values, owner=f"Dataset {self.name!r}")
        for name in ("levels", "raw_levels", "num_classes", "condition_levels"):  # NumPy ints
            if values[name] is not None:
                object.__setattr__(self, name, int(values[name]))
        for name in ("shape", "condition_shape"):
            if values[name] is not None:
                object.__setattr__(self, name, tuple(int(s) for s in values[name]))
        if not 2 <= self.levels <= self.raw_levels:
            raise ConfigError(
                f"Dataset {self.name!r}: levels={self.levels} must lie in [2, raw_levels="
                f"{self.raw_levels}]; pass matching levels and raw_levels"
            )
        for split in ("train", "test"):
            images, raw = getattr(self, split), getattr(self, f"{split}_raw")
            _check_images(self.name, split, images, self.shape, self.levels)
            _check_images(self.name, f"{split}_raw", raw, self.shape, self.raw_levels)
            if images.shape[0] != raw.shape[0]:
                raise ConfigError(
                    f"Dataset {self.name!r}: {split} has {images.shape[0]} images but "
                    f"{split}_raw {raw.shape[0]}; build both from the same images"
                )
            labels = getattr(self, f"{split}_labels")
            # (num_classes without labels is a labelled dataset's copy with the labels
            # dropped: training a class-conditional model on it says so)
            if labels is not None and self.num_classes is None:
                raise ConfigError(
                    f"Dataset {self.name!r}: {split}_labels are given but num_classes is None; "
                    "pass num_classes (labels lie in [0, num_classes)) or no labels"
                )
            if labels is None:
                continue
            if labels.dtype != torch.long or labels.shape != (images.shape[0],):
                raise ConfigError(
                    f"Dataset {self.name!r}: {split}_labels must be a LongTensor "
                    f"[{images.shape[0]}], got {labels.dtype} {tuple(labels.shape)}; pass one "
                    "label per image"
                )
            if (
                self.num_classes is not None
                and labels.numel()
                and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes)
            ):
                raise ConfigError(
                    f"Dataset {self.name!r}: {split}_labels must lie in [0, {self.num_classes}); "
                    "fix the labels or num_classes"
                )
        names = self.class_names  # (kept, unchecked, by a copy whose labels were dropped)
        if names is not None and self.num_classes is not None and len(names) != self.num_classes:
            raise ConfigError(
                f"Dataset {self.name!r}: {len(self.class_names)} class_names for num_classes="
                f"{self.num_classes}; pass one name per class"
            )
        self._check_conditions()

    def _check_conditions(self) -> None:
        given = [self.train_condition is not None, self.test_condition is not None]
        spec = [self.condition_shape is not None, self.condition_levels is not None]
        if len(set(given + spec)) > 1:
            raise ConfigError(
                f"Dataset {self.name!r}: give train_condition, test_condition, condition_shape "
                "and condition_levels together (a task makes them: genzoo.data.apply_task)"
            )
        if not given[0]:
            return
        shape = tuple(int(s) for s in self.condition_shape)  # type: ignore[union-attr]
        for split in ("train", "test"):
            condition = getattr(self, f"{split}_condition")
            _check_images(
                self.name, f"{split}_condition", condition, shape, int(self.condition_levels)
            )
            if condition.shape[0] != getattr(self, split).shape[0]:
                raise ConfigError(
                    f"Dataset {self.name!r}: {split}_condition has {condition.shape[0]} images "
                    f"but {split} {getattr(self, split).shape[0]}; one condition per image"
                )

    @property
    def conditioned(self) -> bool:
        """Whether every image comes with a conditioning image (a task was applied)."""
        return self.train_condition is not None

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        """One line: name, split sizes, shape, levels, classes and source."""
        c, h, w = self.shape
        levels = f"{self.levels} levels"
        if self.levels != self.raw_levels:
            levels += f" (re-quantised from {self.raw_levels})"
        classes = f"{self.num_classes} classes" if self.num_classes is not None else "unlabelled"
        task = ""
        if self.task is not None and self.condition_shape is not None:
            cc, ch, cw = self.condition_shape
            options = ", ".join(f"{k}={v}" for k, v in self.task.items() if k != "name")
            task = (
                f"; task {self.task['name']}{f' ({options})' if options else ''}: condition "
                f"{cc}×{ch}×{cw}, {self.condition_levels} levels"
            )
        return (
            f"{self.name}: {self.train.shape[0]:,} train / {self.test.shape[0]:,} test, "
            f"shape {c}×{h}×{w}, {levels}, {classes}{task}; source: {self.source}"
        )

    def take(self, split: str, index: torch.Tensor | slice) -> Split:
        """Images, labels and conditions of ``split`` (``"train"``/``"test"``) at ``index``."""
        if split not in ("train", "test"):
            raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
        labels = getattr(self, f"{split}_labels")
        condition = getattr(self, f"{split}_condition")
        return Split(
            x=getattr(self, split)[index],
            y=None if labels is None else labels[index],
            c=None if condition is None else condition[index],
        )


def _is(kind: type, text: str) -> P.Check:
    return P.Check(lambda v: isinstance(v, kind), text)


_TENSOR = _is(torch.Tensor, "a torch.Tensor (LongTensor of levels)")
_SHAPE = P.Sequence(P.Int(min=1), length=3)
#: what each field of a :class:`Dataset` may be (its relations are checked by ``__post_init__``)
_FIELDS: dict[str, P.Constraint] = {
    "name": _is(str, "a string"),
    "train": _TENSOR,
    "test": _TENSOR,
    "train_labels": P.Optional(_TENSOR),
    "test_labels": P.Optional(_TENSOR),
    "levels": P.Int(min=2),
    "shape": _SHAPE,
    "num_classes": P.Optional(P.Int(min=1)),
    "source": _is(str, "a string"),
    "raw_levels": P.Int(min=2),
    "train_raw": _TENSOR,
    "test_raw": _TENSOR,
    "class_names": P.Optional(P.Sequence(_is(str, "a string"))),
    "train_condition": P.Optional(_TENSOR),
    "test_condition": P.Optional(_TENSOR),
    "condition_shape": P.Optional(_SHAPE),
    "condition_levels": P.Optional(P.Int(min=2)),
    "task": P.Optional(_is(dict, "a dict")),
}


@dataclass(frozen=True)
class Split:
    """A batch of a dataset: images ``x [N, C, H, W]``, labels ``y [N]`` and conditions
    ``c [N, *condition_shape]`` (``None`` where the dataset has none)."""

    x: torch.Tensor
    y: torch.Tensor | None = None
    c: torch.Tensor | None = None


def _check_images(
    name: str, field_name: str, images: torch.Tensor, shape: tuple[int, int, int], levels: int
) -> None:
    """Raise :class:`ConfigError` unless ``images`` is a LongTensor ``[N, *shape]`` in range."""
    if images.dtype != torch.long or images.dim() != 4 or tuple(images.shape[1:]) != shape:
        raise ConfigError(
            f"Dataset {name!r}: {field_name} must be a LongTensor [N, {shape[0]}, {shape[1]}, "
            f"{shape[2]}], got {images.dtype} {tuple(images.shape)}; convert it first"
        )
    if images.numel() and (int(images.min()) < 0 or int(images.max()) >= levels):
        raise ConfigError(
            f"Dataset {name!r}: {field_name} values must lie in [0, {levels}), got "
            f"[{int(images.min())}, {int(images.max())}]; re-quantise with requantize()"
        )


def requantize(x: torch.Tensor, from_levels: int, to_levels: int) -> torch.Tensor:
    """Map integer levels onto fewer levels with equal-width bins.

    ``y = floor(x * to_levels / from_levels)``. For 256 → 16 this is ``x >> 4``; for
    ``to_levels == 2`` it is static binarisation with threshold ``x >= from_levels / 2``
    (256 levels: ``x >= 128``; digits' 17 levels: ``x >= 9``, i.e. 9 of 16 and above).

    Args:
        x: integer tensor ``[...]`` in ``[0, from_levels)``.
        from_levels: number of levels of ``x``.
        to_levels: number of levels wanted, ``2 <= to_levels <= from_levels``.

    Returns:
        LongTensor ``[...]`` in ``[0, to_levels)``; ``x`` itself (as long) when the levels agree.

    Raises:
        ConfigError: on levels out of range or values of ``x`` outside ``[0, from_levels)``.
    """
    check_levels(to_levels, from_levels)
    if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
        raise ConfigError(
            f"requantize expects an integer tensor, got {x.dtype}; convert it to levels first"
        )
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= from_levels):
        raise ConfigError(
            f"requantize: values must lie in [0, {from_levels}), got [{int(x.min())}, "
            f"{int(x.max())}]; pass the right from_levels"
        )
    x = x.long()
    if to_levels == from_levels:
        return x
    return torch.div(x * to_levels, from_levels, rounding_mode="floor")


def check_levels(levels: object, raw_levels: int) -> None:
    """Raise :class:`ConfigError` unless ``levels`` is an int in ``[2, raw_levels]``."""
    if isinstance(levels, bool) or not isinstance(levels, int | np.integer):
        raise ConfigError(f"levels must be an integer, got {levels!r}; pass e.g. levels=2")
    if not 2 <= int(levels) <= raw_levels:
        raise ConfigError(
            f"levels={levels} is not possible for data with {raw_levels} levels; pass levels "
            f"between 2 and {raw_levels} (levels=2 binarises)"
        )


def dynamic_binarize(
    x_raw: torch.Tensor, raw_levels: int, generator: torch.Generator
) -> torch.Tensor:
    """Sample binary images with ``P(pixel = 1) = x_raw / (raw_levels - 1)``.

    Dynamic binarisation for training (a fresh sample every epoch); evaluate on the statically
    binarised test set (``levels=2``) and say which binarisation was used.

    Args:
        x_raw: integer tensor ``[B, C, H, W]`` in ``[0, raw_levels)``.
        raw_levels: number of levels of ``x_raw`` (>= 2).
        generator: the source of randomness, on the same device as ``x_raw``.

    Returns:
        LongTensor ``[B, C, H, W]`` in ``{0, 1}``.
    """
    if isinstance(raw_levels, bool) or not isinstance(raw_levels, int) or raw_levels < 2:
        raise ConfigError(f"raw_levels must be an integer >= 2, got {raw_levels!r}")
    probs = x_raw.to(torch.float32) / (raw_levels - 1)
    if probs.numel() and (float(probs.min()) < 0 or float(probs.max()) > 1):
        raise ConfigError(
            f"dynamic_binarize: values must lie in [0, {raw_levels}); pass the raw images and "
            "their raw_levels"
        )
    return torch.bernoulli(probs, generator=generator).long()


#: The largest image side ``size=`` resizes to: a JPEG's largest side (65,535 pixels). One plane
#: of that size is already 4 GB; a larger side is a typo, refused before anything is allocated.
MAX_SIDE = 65_535


def normalize_size(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    """``None`` → ``None``; ``n`` → ``(n, n)``; ``(H, W)`` → ``(H, W)`` with sides in
    ``[1, MAX_SIDE]``; else ConfigError."""
    if size is None:
        return None
    if isinstance(size, int | np.integer) and not isinstance(size, bool):
        size = (int(size), int(size))
    if (
        isinstance(size, str)
        or not isinstance(size, Sequence)
        or len(size) != 2
        or any(isinstance(s, bool) or not isinstance(s, int | np.integer) for s in size)
        or min(size) < 1
        or max(size) > MAX_SIDE
    ):
        raise ConfigError(
            f"size must be a positive int or a pair (H, W) of positive ints up to {MAX_SIDE:,}, "
            f"got {size!r}; pass e.g. size=28 or size=(32, 32)"
        )
    return int(size[0]), int(size[1])


def resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize one ``uint8 [H, W]`` plane to ``size = (h, w)`` with PIL.

    Area averaging (PIL ``BOX``) when shrinking both sides, bilinear otherwise; values stay
    integer and inside the input's range (both filters take convex combinations).
    """
    h, w = size
    if plane.shape == (h, w):
        return plane
    shrink = h <= plane.shape[0] and w <= plane.shape[1]
    method = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(plane, mode="L").resize((w, h), method))


def resize_images(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``uint8 [N, C, H, W]`` images to ``[N, C, *size]`` plane by plane (see
    :func:`resize_plane`)."""
    n, c = x.shape[:2]
    if tuple(x.shape[2:]) == size:
        return x
    try:
        out = np.empty((n, c, *size), dtype=np.uint8)
    except (MemoryError, ValueError) as exc:  # numpy: 'Unable to allocate ...'
        raise ConfigError(
            f"{n:,} images of {c}x{size[0]}x{size[1]} do not fit in memory ({exc}); pass a "
            "smaller size"
        ) from exc
    for i in range(n):
        for j in range(c):
            out[i, j] = resize_plane(x[i, j], size)
    return out


def split_permutation(n: int, n_train: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic split: ``default_rng(0).permutation(n)``, first ``n_train`` are train."""
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    return perm[:n_train], perm[n_train:]


def holdout_split(
    x: np.ndarray, y: np.ndarray | None, what: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Deterministic 90/10 split of images ``x [N, ...]`` and labels ``y [N]`` (or ``None``).

    ``max(1, round(N / 10))`` test images, chosen by :func:`split_permutation`.

    Returns:
        ``(train_x, test_x, train_y, test_y)``.

    Raises:
        DatasetError: fewer than two images (``what`` names the data in the message).
    """
    n = len(x)
    if n < 2:
        raise DatasetError(
            f"{what} holds {n} image(s) but a train/test split needs two or more; add images"
        )
    train, test = split_permutation(n, n - max(1, round(n / 10)))
    if y is None:
        return x[train], x[test], None, None
    return x[train], x[test], y[train], y[test]


@dataclass
class RawSplits:
    """What a loader returns: images at their native levels, before resize/re-quantisation.

    ``train``/``test`` are integer arrays ``[N, C, H, W]`` in ``[0, raw_levels)`` (``uint8``
    whenever ``raw_levels <= 256``); labels are integer arrays ``[N]`` or ``None``.
    """

    train: np.ndarray
    test: np.ndarray
    train_labels: np.ndarray | None
    test_labels: np.ndarray | None
    raw_levels: int
    source: str
    num_classes: int | None = None
    class_names: list[str] | None = None


def build_dataset(
    name: str, raw: RawSplits, *, levels: int | None, size: tuple[int, int] | None
) -> Dataset:
    """Resize (optional, at raw levels), convert to LongTensors and re-quantise to ``levels``."""
    train, test = raw.train, raw.test
    if size is not None:
        train = resize_images(train.astype(np.uint8, copy=False), size)
        test = resize_images(test.astype(np.uint8, copy=False), size)
    train_raw = torch.from_numpy(np.ascontiguousarray(train, dtype=np.int64))
    test_raw = torch.from_numpy(np.ascontiguousarray(test, dtype=np.int64))
    k = raw.raw_levels if levels is None else int(levels)
    check_levels(k, raw.raw_levels)
    return Dataset(
        name=name,
        train=requantize(train_raw, raw.raw_levels, k),
        test=requantize(test_raw, raw.raw_levels, k),
        train_labels=_labels(raw.train_labels),
        test_labels=_labels(raw.test_labels),
        levels=k,
        shape=(int(train.shape[1]), int(train.shape[2]), int(train.shape[3])),
        num_classes=raw.num_classes,
        source=raw.source,
        raw_levels=raw.raw_levels,
        train_raw=train_raw,
        test_raw=test_raw,
        class_names=raw.class_names,
    )


def _labels(y: np.ndarray | None) -> torch.Tensor | None:
    return None if y is None else torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
