"""genzoo.core.atomic: a file or directory is the old one or the new one, never a partial one.

Failures are simulated where they happen in real life: the writer raises half-way, the disk is
full (a monkeypatched ``OSError(ENOSPC)`` and, where the machine allows mounting, a real 64 KiB
tmpfs), the final rename fails.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from genzoo.core import atomic
from genzoo.core.atomic import (
    atomic_directory,
    atomic_file,
    atomic_path,
    atomic_save,
    atomic_write,
    atomic_write_json,
)
from genzoo.errors import StorageError

OLD = b"old content\n"


class Boom(RuntimeError):
    """The failure a test injects (distinct from anything genzoo raises)."""


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    """Entries of ``folder`` other than ``keep`` (temporary files an interrupted write left)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    path = tmp_path / "target.bin"
    path.write_bytes(OLD)
    return path


# ---------------------------------------------------------------------------------------------
# success: the new content, nothing else
def test_write_replaces_content_and_leaves_no_temporary(old_file: Path):
    atomic_write(old_file, b"new")
    assert old_file.read_bytes() == b"new"
    atomic_write(old_file, "text é")  # text is UTF-8 encoded
    assert old_file.read_bytes() == "text é".encode()
    assert leftovers(old_file.parent, {old_file.name}) == []


def test_write_json_is_indented_sorted_and_newline_terminated(tmp_path: Path):
    path = atomic_write_json(tmp_path / "sub" / "x.json", {"b": 1, "a": [1, 2]})
    text = path.read_text()
    assert json.loads(text) == {"b": 1, "a": [1, 2]}
    assert text.endswith("\n") and text.index('"a"') < text.index('"b"')
    unsorted = atomic_write_json(tmp_path / "y.json", {"b": 1, "a": 2}, sort_keys=False)
    assert unsorted.read_text().index('"b"') < unsorted.read_text().index('"a"')


def test_written_file_is_readable_by_others(tmp_path: Path):
    # mkstemp creates 0600; a run folder is shared, so the committed file is 0644
    path = atomic_write(tmp_path / "x", b"1")
    assert path.stat().st_mode & 0o777 == 0o644


# ---------------------------------------------------------------------------------------------
# a writer that fails half-way: the old file stands, no temporary is left
def _fail_half_way_file(path: Path) -> None:
    with atomic_file(path, "wb") as handle:
        handle.write(b"new con")  # half of the new content reached the temporary file
        handle.flush()
        raise Boom


def _fail_half_way_path(path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"new con")
        raise Boom


def _fail_half_way_save(path: Path) -> None:
    def write(handle):
        handle.write(b"new con")
        raise Boom

    atomic_save(path, write)


@pytest.mark.parametrize("fail", [_fail_half_way_file, _fail_half_way_path, _fail_half_way_save])
def test_failure_mid_write_keeps_the_old_file(old_file: Path, fail):
    with pytest.raises(Boom):  # the writer's own error propagates unchanged
        fail(old_file)
    assert old_file.read_bytes() == OLD
    assert leftovers(old_file.parent, {old_file.name}) == []


def test_failure_mid_write_of_a_new_file_leaves_nothing(tmp_path: Path):
    target = tmp_path / "new.bin"
    with pytest.raises(Boom):
        _fail_half_way_file(target)
    assert not target.exists()
    assert leftovers(tmp_path, set()) == []


def test_failure_mid_write_json_keeps_the_old_file(old_file: Path):
    with pytest.raises(TypeError):  # not JSON-able: fails before a byte is written
        atomic_write_json(old_file, {"x": object()})
    assert old_file.read_bytes() == OLD
    assert leftovers(old_file.parent, {old_file.name}) == []


def test_negative_control_a_plain_write_does_leave_a_partial_file(old_file: Path):
    """What the tests above guard against: an ordinary open/write that fails half-way."""
    with pytest.raises(Boom), open(old_file, "wb") as handle:
        handle.write(b"new con")
        raise Boom
    assert old_file.read_bytes() == b"new con"  # neither old nor new


def test_failed_rename_keeps_the_old_file(old_file: Path, monkeypatch):
    def refuse(tmp, final):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(atomic, "commit", refuse)
    with pytest.raises(StorageError, match="Permission denied"):
        atomic_write(old_file, b"new content")
    assert old_file.read_bytes() == OLD
    assert leftovers(old_file.parent, {old_file.name}) == []


# ---------------------------------------------------------------------------------------------
# a full disk becomes StorageError, one line, naming the path
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG])
def test_full_disk_is_a_storage_error_naming_the_path(old_file: Path, code: int):
    def write(handle):
        handle.write(b"new")
        raise OSError(code, os.strerror(code))

    with pytest.raises(StorageError) as info:
        atomic_save(old_file, write)
    message = str(info.value)
    assert str(old_file) in message
    assert "\n" not in message
    assert "no space left" in message and "untouched" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no raw chain
    assert old_file.read_bytes() == OLD
    assert leftovers(old_file.parent, {old_file.name}) == []


def test_full_disk_at_flush_is_a_storage_error(old_file: Path, monkeypatch):
    """ENOSPC often surfaces only at fsync (data buffered until then)."""

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(StorageError, match="no space left"):
        atomic_write(old_file, b"new")
    assert old_file.read_bytes() == OLD
    assert leftovers(old_file.parent, {old_file.name}) == []


def test_other_os_errors_are_storage_errors_with_their_reason(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    with pytest.raises(StorageError) as info:  # the parent "directory" is a file
        atomic_write(blocker / "x.json", b"1")
    assert str(blocker / "x.json") in str(info.value)
    assert "no space" not in str(info.value)
    assert isinstance(info.value, OSError)  # callers catching OSError still catch it


@pytest.fixture
def tiny_tmpfs(tmp_path: Path):
    """A real 64 KiB file system (needs the right to mount; skipped where it is missing)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no `mount` command on this machine: cannot test a real full disk")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()[:1]
        pytest.skip(f"mounting a tmpfs is not allowed here ({' '.join(reason)}): no real full disk")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_real_full_disk(tiny_tmpfs: Path):
    path = tiny_tmpfs / "weights.bin"
    atomic_write(path, OLD)
    too_big = os.urandom(256 * 1024)  # 4x the file system
    with pytest.raises(StorageError) as info:
        atomic_write(path, too_big)
    assert str(path) in str(info.value) and "no space left" in str(info.value)
    assert path.read_bytes() == OLD
    assert leftovers(tiny_tmpfs, {path.name}) == []
    # the space of the removed temporary is free again: a small write succeeds
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new"


def test_real_full_disk_while_filling_a_directory(tiny_tmpfs: Path):
    target = tiny_tmpfs / "run"
    target.mkdir()
    (target / "a").write_bytes(OLD)
    with pytest.raises(StorageError, match="no space left"), atomic_directory(target) as tmp:
        (tmp / "a").write_bytes(os.urandom(256 * 1024))
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    assert (target / "a").read_bytes() == OLD
    assert leftovers(tiny_tmpfs, {"run"}) == []


# ---------------------------------------------------------------------------------------------
# directories
def _fill(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (folder / name).write_bytes(data)


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_directory_appears_complete(tmp_path: Path):
    target = tmp_path / "net"
    with atomic_directory(target) as tmp:
        assert tmp.parent == target.parent and tmp != target  # same file system: one rename
        _fill(tmp, {"a": b"1", "b": b"2"})
        assert not target.exists()  # nothing visible until the block ends
    assert _contents(target) == {"a": b"1", "b": b"2"}
    assert leftovers(tmp_path, {"net"}) == []


def test_directory_replace_swaps_it_whole(tmp_path: Path):
    target = tmp_path / "net"
    target.mkdir()
    _fill(target, {"a": b"old", "stale": b"from the old version"})
    with atomic_directory(target, replace=True) as tmp:
        _fill(tmp, {"a": b"new", "b": b"new"})
    # whole: the old version's files are gone, not merged with the new ones
    assert _contents(target) == {"a": b"new", "b": b"new"}
    assert leftovers(tmp_path, {"net"}) == []


def test_directory_replace_false_keeps_an_existing_directory(tmp_path: Path):
    target = tmp_path / "net"
    target.mkdir()
    _fill(target, {"a": b"theirs"})
    with atomic_directory(target, replace=False) as tmp:
        _fill(tmp, {"a": b"mine", "b": b"mine"})
    assert _contents(target) == {"a": b"theirs"}  # the existing one stands, untouched
    assert leftovers(tmp_path, {"net"}) == []


def test_directory_replace_false_creates_a_missing_one(tmp_path: Path):
    target = tmp_path / "net"
    with atomic_directory(target, replace=False) as tmp:
        _fill(tmp, {"a": b"mine"})
    assert _contents(target) == {"a": b"mine"}


def test_directory_failure_mid_fill_keeps_the_old_directory(tmp_path: Path):
    target = tmp_path / "net"
    target.mkdir()
    _fill(target, {"a": b"old"})
    with pytest.raises(Boom), atomic_directory(target) as tmp:
        _fill(tmp, {"a": b"new"})
        raise Boom
    assert _contents(target) == {"a": b"old"}
    assert leftovers(tmp_path, {"net"}) == []


def test_directory_failed_rename_keeps_the_old_directory(tmp_path: Path, monkeypatch):
    """The swap itself fails (say, the disk goes read-only): the old version must survive."""
    target = tmp_path / "net"
    target.mkdir()
    _fill(target, {"a": b"old", "b": b"old"})
    real = atomic.commit

    def refuse_new(tmp: Path, final: Path) -> None:
        if Path(final) == target and Path(tmp).name.endswith(".tmp"):  # the new version
            raise OSError(errno.EIO, "Input/output error")
        real(tmp, final)

    monkeypatch.setattr(atomic, "commit", refuse_new)
    with pytest.raises(StorageError, match="Input/output error"), atomic_directory(target) as t:
        _fill(t, {"a": b"new"})
    assert _contents(target) == {"a": b"old", "b": b"old"}
    assert leftovers(tmp_path, {"net"}) == []


def test_directory_failed_removal_of_the_old_one_never_leaves_a_mixture(tmp_path, monkeypatch):
    """Deleting the old version fails half-way (a file it cannot remove): the target is still
    either the complete old or the complete new directory."""
    target = tmp_path / "net"
    target.mkdir()
    _fill(target, {"a": b"old", "b": b"old"})
    real_rmtree = shutil.rmtree

    def half_rmtree(path, ignore_errors=False, **kwargs):
        path = Path(path)
        victims = sorted(path.iterdir()) if path.is_dir() else []
        if victims and victims[0].read_bytes() == b"old":  # an old version being deleted
            victims[0].unlink()
            if not ignore_errors:
                raise OSError(errno.EACCES, "Permission denied", str(victims[1]))
        real_rmtree(path, ignore_errors=ignore_errors, **kwargs)

    monkeypatch.setattr(atomic.shutil, "rmtree", half_rmtree)
    try:
        with atomic_directory(target) as tmp:
            _fill(tmp, {"a": b"new", "b": b"new"})
    except StorageError:
        pass
    assert _contents(target) in ({"a": b"old", "b": b"old"}, {"a": b"new", "b": b"new"})


def test_directory_parent_that_is_a_file_is_a_storage_error(tmp_path: Path):
    blocker = tmp_path / "f"
    blocker.write_bytes(b"")
    with pytest.raises(StorageError, match=str(blocker)), atomic_directory(blocker / "d"):
        pass


def test_temporary_names_are_unique_per_writer(tmp_path: Path):
    """Two writers of the same target never share a temporary file."""
    target = tmp_path / f"x-{uuid.uuid4().hex}"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second
        first.write_bytes(b"1")
        second.write_bytes(b"2")
    assert target.read_bytes() in (b"1", b"2")
    assert leftovers(tmp_path, {target.name}) == []
