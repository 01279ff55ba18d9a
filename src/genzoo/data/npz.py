"""``npz:PATH`` — images in a NumPy ``.npz`` archive, 256 levels.

Arrays:

* ``x`` (required): ``uint8`` images, ``[N, H, W]`` (grayscale), ``[N, H, W, C]`` or
  ``[N, C, H, W]`` with ``C`` in {1, 3}. A 4-D array is read as channels-last when its last
  axis is 1 or 3, else as channels-first when its axis 1 is 1 or 3; so an ambiguous shape
  such as ``[N, 3, 5, 3]`` is channels-last (the NumPy/PIL convention).
* ``y`` (optional): integer labels ``[N]`` in ``[0, num_classes)``; ``num_classes`` is the
  largest label + 1.
* ``x_test`` / ``y_test`` (optional): an explicit test split, same layout as ``x``/``y``;
  without ``x_test`` a deterministic 90/10 split (``default_rng(0)``) is made.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from genzoo.data.dataset import RawSplits, holdout_split
from genzoo.errors import DatasetError


def load_npz(path: str) -> RawSplits:
    """Load ``npz:PATH`` (see the module docstring) as ``uint8 [N, C, H, W]`` splits.

    Raises:
        DatasetError: missing/unreadable file, missing ``x``, non-uint8 images, bad layout,
            bad labels.
    """
    file = Path(path).expanduser()
    if file.is_dir():
        raise DatasetError(
            f"npz:{path}: {file} is a directory, not a .npz archive; pass npz:PATH of a .npz "
            "file (a directory of images is folder:PATH)"
        )
    if not file.is_file():
        raise DatasetError(f"npz:{path}: no such file {file}; pass npz:PATH of a .npz archive")
    try:
        archive = np.load(file, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DatasetError(
                f"npz:{path} is a single .npy array, not an .npz archive; save it with "
                "numpy.savez(path, x=images, y=labels)"
            )
        with archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        # numpy reads a file that is neither a zip nor a .npy as a pickle, and refuses it
        reason = (
            "its bytes are neither a zip archive nor a .npy array (damaged, or another format)"
            if "pickled" in str(err)
            else str(err).splitlines()[0]
            if str(err)
            else type(err).__name__
        )
        raise DatasetError(
            f"cannot read npz:{path}: {reason}; write it with numpy.savez(path, x=..., y=...)"
        ) from err
    loose = sorted(key for key, value in arrays.items() if not isinstance(value, np.ndarray))
    if loose:  # numpy hands back the raw bytes of a zip member that is no .npy file
        raise DatasetError(
            f"npz:{path}: member(s) {', '.join(loose)} are not .npy arrays (a zip archive "
            "written by another tool?); write it with numpy.savez(path, x=..., y=...)"
        )
    if "x" not in arrays:
        raise DatasetError(
            f"npz:{path} has no array 'x' (found {sorted(arrays) or 'none'}); save the images "
            "as x=..., e.g. numpy.savez(path, x=images, y=labels)"
        )
    x = _images(arrays["x"], "x", path)
    y = _labels(arrays.get("y"), "y", len(x), path)
    if "x_test" in arrays:
        x_test = _images(arrays["x_test"], "x_test", path)
        for key, images in (("x", x), ("x_test", x_test)):
            if not len(images):
                raise DatasetError(
                    f"npz:{path}: array '{key}' holds no image; both splits need images (or "
                    "save only x for a 90/10 split)"
                )
        if x_test.shape[1:] != x.shape[1:]:
            raise DatasetError(
                f"npz:{path}: x_test images are {x_test.shape[1:]} (C, H, W) but x images are "
                f"{x.shape[1:]}; give both splits the same shape"
            )
        y_test = _labels(arrays.get("y_test"), "y_test", len(x_test), path)
        if (y is None) != (y_test is None):
            raise DatasetError(
                f"npz:{path}: labels are given for only one split; save both y and y_test, "
                "or neither"
            )
        train, test, train_y, test_y, split_note = x, x_test, y, y_test, "x/x_test"
    else:
        train, test, train_y, test_y = holdout_split(x, y, f"npz:{path}")
        split_note = "90/10 split"
    num_classes = None
    if train_y is not None and test_y is not None:
        num_classes = int(max(train_y.max(initial=0), test_y.max(initial=0))) + 1
    return RawSplits(
        train=train,
        test=test,
        train_labels=train_y,
        test_labels=test_y,
        raw_levels=256,
        source=f"npz archive {file} ({split_note})",
        num_classes=num_classes,
    )


def _images(a: np.ndarray, key: str, path: str) -> np.ndarray:
    """``uint8`` images in any accepted layout → ``[N, C, H, W]``."""
    if a.dtype != np.uint8:
        raise DatasetError(
            f"npz:{path}: array '{key}' has dtype {a.dtype}, expected uint8; convert it to "
            "uint8 levels 0..255 (e.g. (x * 255).round().astype(numpy.uint8) for floats in [0, 1])"
        )
    if a.ndim in (3, 4) and 0 in a.shape[1:]:
        raise DatasetError(
            f"npz:{path}: array '{key}' has shape {a.shape}: images of no pixels; save images "
            "of at least 1x1 pixels"
        )
    if a.ndim == 3:
        return a[:, None]
    if a.ndim == 4 and a.shape[3] in (1, 3):
        return np.ascontiguousarray(a.transpose(0, 3, 1, 2))
    if a.ndim == 4 and a.shape[1] in (1, 3):
        return a
    raise DatasetError(
        f"npz:{path}: array '{key}' has shape {a.shape}; expected [N, H, W], [N, H, W, C] or "
        "[N, C, H, W] with C = 1 or 3"
    )


def _labels(a: np.ndarray | None, key: str, n: int, path: str) -> np.ndarray | None:
    """Integer labels ``[n]`` ≥ 0 as int64, or ``None``."""
    if a is None:
        return None
    if not np.issubdtype(a.dtype, np.integer) or a.shape != (n,):
        raise DatasetError(
            f"npz:{path}: array '{key}' must hold {n} integer labels, got {a.dtype} {a.shape};"
            " save one integer class per image"
        )
    if n and int(a.max()) > np.iinfo(np.int64).max:
        raise DatasetError(
            f"npz:{path}: array '{key}' has labels up to {int(a.max())}; use classes "
            "0..num_classes-1"
        )
    if n and int(a.min()) < 0:
        raise DatasetError(
            f"npz:{path}: array '{key}' has negative labels; use classes 0..num_classes-1"
        )
    return a.astype(np.int64)
