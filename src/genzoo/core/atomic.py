"""Atomic writes: a file or directory appears complete or not at all.

Everything genzoo writes goes through :func:`atomic_file` (files) or :func:`atomic_directory`
(a directory built in full before it is renamed into place); both end in :func:`commit`, the only
call to :func:`os.replace` in genzoo. A crash, ``kill -9`` or a full disk mid-write leaves the
previous version of the target untouched and no temporary file behind (on a full disk the
temporary file is removed and :class:`~genzoo.errors.StorageError` says so).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from genzoo.errors import StorageError

#: errno values that mean "the disk (or quota) is full"
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}


def commit(tmp: Path, final: Path) -> None:
    """Rename the finished ``tmp`` onto ``final`` (atomic on POSIX within one file system)."""
    os.replace(tmp, final)


def _storage_error(path: Path, exc: OSError) -> StorageError:
    if exc.errno in _FULL:
        return StorageError(
            f"no space left on the device while writing {path}; the previous version (if any) "
            "is untouched — free some space and run the command again"
        )
    reason = exc.strerror or type(exc).__name__
    return StorageError(f"cannot write {path}: {reason}; check the path and its permissions")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; on success fsync and :func:`commit` it.

    For writers that want a file name (safetensors, torch). An exception inside the block
    deletes the temporary file and leaves ``path`` as it was; ``OSError`` (a full disk, a
    read-only folder) becomes :class:`~genzoo.errors.StorageError`.
    """
    target = Path(path)
    if target.is_dir():
        raise StorageError(f"{target} is a folder; pass the name of a file to write")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise _storage_error(target, exc) from None
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would surprise people sharing a run folder
        commit(tmp, target)
    except OSError as exc:
        raise _storage_error(target, exc) from None
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """:func:`atomic_path` with the temporary file open in ``mode`` (``"wb"`` or ``"w"``)."""
    with atomic_path(path) as tmp, open(tmp, mode) as handle:
        yield handle
        handle.flush()


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically; returns the path."""
    with atomic_file(path, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    return Path(path)


def atomic_write_json(
    path: str | os.PathLike[str], payload: Any, *, sort_keys: bool = True
) -> Path:
    """Write ``payload`` as indented JSON (newline-terminated) atomically."""
    return atomic_write(path, json.dumps(payload, indent=2, sort_keys=sort_keys) + "\n")


def atomic_save(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(handle)`` on a temporary binary file and commit it onto ``path``."""
    with atomic_file(path, "wb") as handle:
        write(handle)
    return Path(path)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], *, replace: bool = True) -> Iterator[Path]:
    """Build a directory in a temporary sibling; on success it replaces ``path`` in one rename.

    With ``replace=False`` an existing ``path`` (say, written meanwhile by another process) is
    kept and the new one discarded. Yields the temporary directory to fill.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise _storage_error(target, exc) from None
    try:
        yield tmp
        if target.exists():
            if not replace:
                return
            _swap(tmp, target)
        else:
            commit(tmp, target)
    except OSError as exc:
        if not replace and target.exists():  # another writer won the race: theirs stands
            return
        raise _storage_error(target, exc) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap(new: Path, target: Path) -> None:
    """Put directory ``new`` in the place of the existing ``target``.

    A directory cannot be renamed over a non-empty one, so the old version is first renamed
    aside and deleted only once the new one is in place: a failure at any point leaves the
    complete old version (put back if the second rename fails) or the complete new one, never
    a half-deleted mixture.
    """
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    try:
        commit(target, aside)  # rename onto an empty directory: allowed by POSIX
    except OSError:
        aside.rmdir()
        raise
    try:
        commit(new, target)
    except BaseException:
        commit(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)
