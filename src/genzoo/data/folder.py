"""``folder:PATH`` — a directory of PNG/JPEG images (searched recursively), 256 levels.

Rules, in the order they apply:

* **Split.** If ``PATH`` has both ``train/`` and ``test/`` sub-folders they are the split;
  otherwise a deterministic 90/10 split (``default_rng(0)`` permutation of the sorted file
  list, at least one test image).
* **Labels.** If every image lies in a sub-folder (of ``PATH``, or of ``train/``/``test/``) the
  name of that immediate sub-folder is its class; classes are the sorted folder names. If no
  image does, the data is unlabelled. A mix is an error.
* **Channels.** If every image is grayscale (modes ``1``, ``L``, ``LA``, ``I``, ``I;16``, or a
  palette of grays) the data has ``C = 1``; otherwise every image is converted to RGB
  (``C = 3``). Transparency is composited onto black (``value · alpha / 255``); 16-bit images
  keep their top 8 bits.
* **Size.** Images are resized to ``size`` when given (see :func:`~genzoo.data.dataset.
  resize_plane`); without ``size`` they must all have the same size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from genzoo.data.dataset import RawSplits, holdout_split, resize_plane
from genzoo.errors import DatasetError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})


def load_folder(path: str, size: tuple[int, int] | None = None) -> RawSplits:
    """Load ``folder:PATH`` (see the module docstring) as ``uint8 [N, C, H, W]`` splits.

    Raises:
        DatasetError: missing/empty folder, unreadable image (named), mixed sizes without
            ``size``, or a mix of labelled and unlabelled images.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(
            f"folder:{path}: {root} is not a directory; pass folder:PATH with PATH a directory "
            "of PNG/JPEG images"
        )
    train_dir, test_dir = root / "train", root / "test"
    if train_dir.is_dir() and test_dir.is_dir():
        groups = [(train_dir, _list_images(train_dir)), (test_dir, _list_images(test_dir))]
        split_note = "train/ and test/ sub-folders"
    else:
        groups = [(root, _list_images(root))]
        split_note = "90/10 split"
    for directory, files in groups:
        if not files:
            raise DatasetError(
                f"folder:{path}: no PNG/JPEG image found in {directory}; add .png/.jpg/.jpeg "
                "files (sub-folders are searched)"
            )

    folders = [[_class_folder(f, directory) for f in files] for directory, files in groups]
    flat = [name for names in folders for name in names]
    if any(name is None for name in flat) and any(name is not None for name in flat):
        raise DatasetError(
            f"folder:{path}: some images lie in class sub-folders and some do not; put every "
            "image in a class sub-folder (labelled) or none (unlabelled)"
        )
    class_names = sorted({name for name in flat if name is not None}) or None

    images = [[_read_image(f) for f in files] for _, files in groups]
    gray = all(is_gray for group in images for _, is_gray in group)
    arrays = [_stack(group, gray, size, path) for group in images]
    shapes = {a.shape[2:] for a in arrays}
    if len(shapes) > 1:
        a, b = sorted(shapes)[:2]
        raise DatasetError(
            f"folder:{path}: train and test images differ in size ({a[0]}×{a[1]} and "
            f"{b[0]}×{b[1]}); pass size= (CLI: --size) to resize them all"
        )
    labels = None
    if class_names is not None:
        index = {name: i for i, name in enumerate(class_names)}
        labels = [np.array([index[n] for n in names], dtype=np.int64) for names in folders]

    if len(groups) == 2:
        train, test = arrays
        train_y, test_y = (None, None) if labels is None else labels
    else:
        train, test, train_y, test_y = holdout_split(
            arrays[0], None if labels is None else labels[0], f"folder:{path}"
        )
    return RawSplits(
        train=train,
        test=test,
        train_labels=train_y,
        test_labels=test_y,
        raw_levels=256,
        source=f"image folder {root} ({split_note})",
        num_classes=None if class_names is None else len(class_names),
        class_names=class_names,
    )


def _list_images(directory: Path) -> list[Path]:
    """Image files under ``directory`` (recursive, sorted, hidden names skipped)."""
    return sorted(
        p
        for p in directory.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )


def _class_folder(path: Path, directory: Path) -> str | None:
    """Name of the immediate sub-folder of ``directory`` holding ``path``, or ``None``."""
    parts = path.relative_to(directory).parts
    return parts[0] if len(parts) > 1 else None


def _read_image(path: Path) -> tuple[np.ndarray, bool]:
    """``(uint8 [H, W, C], is_gray)`` with ``C = 1`` for grayscale, else 3 (RGB)."""
    try:
        with Image.open(path) as img:
            img.load()
            return _to_array(img)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DatasetError(f"cannot read image {path}: {err}; fix or remove the file") from err


def _to_array(img: Image.Image) -> tuple[np.ndarray, bool]:
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA")
        rgba = np.asarray(img)
        if np.array_equal(rgba[..., 0], rgba[..., 1]) and np.array_equal(
            rgba[..., 0], rgba[..., 2]
        ):
            return _composite(rgba[..., [0]], rgba[..., 3]), True
        return _composite(rgba[..., :3], rgba[..., 3]), False
    if mode in ("1", "L"):
        return np.asarray(img.convert("L"))[..., None], True
    if mode.startswith("I;16") or mode == "I":
        wide = np.asarray(img).astype(np.int64)
        return (np.clip(wide, 0, 65535) >> 8).astype(np.uint8)[..., None], True
    if mode == "LA":
        la = np.asarray(img)
        return _composite(la[..., [0]], la[..., 1]), True
    if mode in ("RGBA", "RGBa"):
        rgba = np.asarray(img.convert("RGBA"))
        return _composite(rgba[..., :3], rgba[..., 3]), False
    return np.asarray(img.convert("RGB")), False


def _composite(values: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``uint8 [H, W, C]`` values over black with ``uint8 [H, W]`` alpha, rounded."""
    out = (values.astype(np.uint32) * alpha[..., None].astype(np.uint32) + 127) // 255
    return out.astype(np.uint8)


def _stack(
    group: list[tuple[np.ndarray, bool]], gray: bool, size: tuple[int, int] | None, path: str
) -> np.ndarray:
    """Images ``[H, W, C]`` → ``uint8 [N, C', H', W']`` (C' = 1 if ``gray`` else 3)."""
    planes = []
    for array, _ in group:
        chw = np.moveaxis(array, -1, 0)
        if not gray and chw.shape[0] == 1:
            chw = np.repeat(chw, 3, axis=0)
        if size is not None:
            chw = np.stack([resize_plane(np.ascontiguousarray(p), size) for p in chw])
        planes.append(chw)
    shapes = sorted({p.shape[1:] for p in planes})
    if len(shapes) > 1:
        a, b = shapes[:2]
        raise DatasetError(
            f"folder:{path}: images differ in size ({a[0]}×{a[1]}, {b[0]}×{b[1]}, ...); pass "
            "size= (CLI: --size) to resize them all"
        )
    return np.stack(planes)
