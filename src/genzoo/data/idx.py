"""IDX files (the MNIST family's format): parsing, locating, downloading and verifying.

An IDX file is a big-endian header — two zero bytes, a type code (``0x08`` = unsigned byte),
the number of dimensions ``d`` — then ``d`` uint32 sizes, then the data. Image files have magic
number 2051 (``d = 3``: N, rows, cols), label files 2049 (``d = 1``: N). Files may be gzipped.

Checksums are SHA-256 of the *decompressed* payload, so a re-compressed copy (Debian re-packed
Fashion-MNIST's gzip files) verifies as well as the official download.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import struct
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genzoo.core.atomic import atomic_path
from genzoo.errors import DatasetError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
#: The four files of an IDX dataset, without the optional ``.gz`` suffix.
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
DOWNLOAD_TIMEOUT = 30.0
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class IdxSource:
    """Where an IDX dataset lives and how to check it.

    Attributes:
        name: dataset name used in messages (``"fashion-mnist"``).
        subdir: sub-folder looked for in each base directory and downloaded into.
        system_dir: directory of a system package holding the files, or ``None``.
        base_url: download location; file URLs are ``base_url + name + ".gz"``.
        checksums: file name (from :data:`IDX_FILES`) → SHA-256 of the decompressed payload.
        image_hw: expected ``(rows, cols)``.
        num_classes: labels must lie in ``[0, num_classes)``.
    """

    name: str
    subdir: str
    system_dir: Path | None
    base_url: str
    checksums: Mapping[str, str]
    image_hw: tuple[int, int] = (28, 28)
    num_classes: int = 10


@dataclass(frozen=True)
class IdxFiles:
    """The four located files (:data:`IDX_FILES` → path), their directory, and whether they
    were downloaded just now."""

    paths: dict[str, Path]
    directory: Path
    downloaded: bool


class IdxUnavailableError(DatasetError):
    """The files are neither on disk nor downloadable (offline, download disabled, HTTP error).

    ``reason`` is a short phrase for the caller's own message; a corrupt file is *not* this
    error but a plain :class:`DatasetError`.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# parsing


def read_payload(path: Path) -> bytes:
    """The decompressed bytes of ``path`` (gzip detected by its magic bytes, not the suffix)."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        if head == _GZIP_MAGIC:
            with gzip.open(path, "rb") as f:
                return f.read()
        return Path(path).read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetError(
            f"cannot read {path}: {err}; the file is corrupt or truncated — delete it and retry"
        ) from err


def payload_sha256(path: Path) -> str:
    """SHA-256 (hex) of the decompressed content of ``path``."""
    return hashlib.sha256(read_payload(path)).hexdigest()


def parse_idx(data: bytes, path: Path | str, magic: int) -> np.ndarray:
    """Parse an unsigned-byte IDX payload and check its magic number.

    Args:
        data: the decompressed file content.
        path: used in error messages.
        magic: :data:`IMAGES_MAGIC` (→ ``uint8 [N, rows, cols]``) or :data:`LABELS_MAGIC`
            (→ ``uint8 [N]``).

    Raises:
        DatasetError: wrong magic number, truncated header or data, trailing bytes.
    """
    kind = "image" if magic == IMAGES_MAGIC else "label"
    if len(data) < 4 or int.from_bytes(data[:4], "big") != magic:
        found = int.from_bytes(data[:4], "big") if len(data) >= 4 else "none (file too short)"
        raise DatasetError(
            f"{path} is not an IDX {kind} file: magic number {found}, expected {magic}; "
            "replace it with the official file (delete it and retry the download)"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(
            f"{path}: IDX header is truncated ({len(data)} bytes); delete the file and retry"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        raise DatasetError(
            f"{path}: IDX header announces dims {dims} ({expected} bytes) but the file holds "
            f"{len(data)} bytes, so it is truncated or corrupt; delete it and retry"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: Path, magic: int) -> np.ndarray:
    """:func:`parse_idx` of the (possibly gzipped) file at ``path``."""
    return parse_idx(read_payload(path), path, magic)


def load_idx_splits(
    files: IdxFiles, source: IdxSource
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read and cross-check the four files.

    Returns:
        ``(train_x, train_y, test_x, test_y)``: ``uint8 [N, 1, rows, cols]`` images and
        ``uint8 [N]`` labels.

    Raises:
        DatasetError: bad magic/dims, image and label counts that differ, labels out of range.
    """
    p = files.paths
    out = []
    for images_name, labels_name in (IDX_FILES[:2], IDX_FILES[2:]):
        x = read_idx(p[images_name], IMAGES_MAGIC)
        y = read_idx(p[labels_name], LABELS_MAGIC)
        if x.ndim != 3 or tuple(x.shape[1:]) != source.image_hw:
            rows, cols = source.image_hw
            raise DatasetError(
                f"{p[images_name]} holds images of dims {x.shape}, expected [N, {rows}, {cols}]"
                f" for {source.name}; replace it with the official file"
            )
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise DatasetError(
                f"{p[labels_name]} holds {y.shape[0]} labels but {p[images_name]} holds "
                f"{x.shape[0]} images; the files do not belong together — replace them"
            )
        if y.size and int(y.max()) >= source.num_classes:
            raise DatasetError(
                f"{p[labels_name]} has label {int(y.max())}, expected 0..{source.num_classes - 1}"
                f" for {source.name}; replace it with the official file"
            )
        out += [x[:, None], y]
    return out[0], out[1], out[2], out[3]


# ---------------------------------------------------------------------------------------------
# locating


def default_cache_dir() -> Path:
    """``~/.cache/genzoo`` (``~`` from ``$HOME``)."""
    return Path.home() / ".cache" / "genzoo"


def base_dirs(root: str | os.PathLike[str] | None) -> list[Path]:
    """User base directories in search order: ``root``, ``$GENZOO_DATA``, ``~/.cache/genzoo``."""
    bases = [] if root is None else [Path(root).expanduser()]
    env = os.environ.get("GENZOO_DATA")
    if env:
        bases.append(Path(env).expanduser())
    bases.append(default_cache_dir())
    return bases


def search_dirs(
    subdir: str, root: str | os.PathLike[str] | None, system_dir: Path | None
) -> list[Path]:
    """Directories searched for the four IDX files, in order.

    For each base of :func:`base_dirs` the ``subdir`` sub-folder first, then the base itself;
    finally ``system_dir`` (a system package's directory). The first directory holding all
    four files wins.
    """
    dirs: list[Path] = []
    for base in base_dirs(root):
        dirs += [base / subdir, base]
    if system_dir is not None:
        dirs.append(Path(system_dir))
    return list(dict.fromkeys(dirs))


def download_dir(subdir: str, root: str | os.PathLike[str] | None) -> Path:
    """Where downloads go: ``(root or $GENZOO_DATA or ~/.cache/genzoo) / subdir``."""
    return base_dirs(root)[0] / subdir


def find_in_one(directory: Path, name: str) -> Path | None:
    """``directory/name`` or ``directory/name.gz`` if it exists, else ``None``."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_in(directory: Path) -> dict[str, Path] | None:
    """The four files in ``directory`` (uncompressed name preferred to ``.gz``), or ``None``."""
    found = {}
    for name in IDX_FILES:
        path = find_in_one(directory, name)
        if path is None:
            return None
        found[name] = path
    return found


# ---------------------------------------------------------------------------------------------
# downloading


def download_file(url: str, dest: Path, sha256: str, *, timeout: float = DOWNLOAD_TIMEOUT) -> None:
    """Download ``url`` to ``dest`` atomically, verifying the SHA-256 of its payload.

    The bytes go to a temporary file beside ``dest`` (:func:`genzoo.core.atomic.atomic_path`),
    renamed onto ``dest`` only once verified; on any failure the temporary file is removed, so
    no partial file is ever left.

    Raises:
        IdxUnavailableError: network or HTTP failure.
        DatasetError: the payload's SHA-256 differs from ``sha256`` (or it is not readable).
        StorageError: the file cannot be written (a full disk, a read-only folder).
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatasetError(
            f"cannot create the download directory {dest.parent}: {err}; pass a writable root= "
            "or set $GENZOO_DATA to a writable directory"
        ) from err
    with atomic_path(dest) as tmp:
        try:
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as r:
                shutil.copyfileobj(r, out, 1 << 20)
        except (OSError, http.client.HTTPException) as err:
            if isinstance(err, urllib.error.HTTPError):
                reason: object = f"HTTP {err.code} {err.reason}"
            else:
                reason = getattr(err, "reason", None) or err
            raise IdxUnavailableError(
                f"could not download {url}: {reason}; check the network and retry",
                reason=f"download of {url} failed ({reason})",
            ) from err
        try:
            actual = payload_sha256(tmp)
        except DatasetError as err:
            actual = f"unreadable ({err.__cause__})"
        if actual != sha256:
            raise DatasetError(
                f"the file downloaded from {url} to {dest} is corrupt (SHA-256 of its content "
                f"{actual}, expected {sha256}); it was deleted — retry, or place a good copy there"
            )


def fetch_idx_files(
    source: IdxSource,
    *,
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
    base_url: str | None = None,
    checksums: Mapping[str, str] | None = None,
    system_dir: Path | bool | None = True,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> IdxFiles:
    """Locate the four IDX files of ``source``, downloading the missing ones if allowed.

    Search order: :func:`search_dirs`. Local files are checked structurally when read
    (:func:`load_idx_splits`); downloaded files are verified by SHA-256 before they are kept.

    Args:
        source: the dataset's description.
        root: first base directory to search, and the download target's base.
        download: fetch missing files from ``base_url`` into :func:`download_dir`.
        base_url: overrides ``source.base_url`` (tests point it at a local server).
        checksums: overrides ``source.checksums`` (file name → payload SHA-256).
        system_dir: ``True`` for ``source.system_dir``, ``None``/``False`` to skip it, or a path.
        timeout: seconds per network operation.

    Raises:
        IdxUnavailableError: not found and download disabled or failed (network/HTTP).
        DatasetError: a downloaded file fails verification.
    """
    system = source.system_dir if system_dir is True else (system_dir or None)
    dirs = search_dirs(source.subdir, root, system)
    for directory in dirs:
        found = find_in(directory)
        if found is not None:
            return IdxFiles(found, directory, downloaded=False)
    looked = ", ".join(str(d) for d in dirs)
    if not download:
        raise IdxUnavailableError(
            f"{source.name} IDX files not found in {looked} and download=False",
            reason=f"no IDX files in {looked} (download disabled)",
        )
    url = base_url if base_url is not None else source.base_url
    table = checksums if checksums is not None else source.checksums
    dest = download_dir(source.subdir, root)
    paths = {}
    for name in IDX_FILES:
        existing = find_in_one(dest, name)
        if existing is None:
            existing = dest / f"{name}.gz"
            download_file(url.rstrip("/") + f"/{name}.gz", existing, table[name], timeout=timeout)
        paths[name] = existing
    return IdxFiles(paths, dest, downloaded=True)
