"""Fixtures for the data tests: real IDX files, a real local HTTP server, isolated search paths."""

from __future__ import annotations

import functools
import gzip
import http.server
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from genzoo.data.idx import IDX_FILES, IMAGES_MAGIC, LABELS_MAGIC


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """The IDX encoding of a ``uint8`` array: big-endian magic, dims, then the data."""
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, magic: int) -> Path:
    """Write ``array`` as an IDX file, gzipped when ``path`` ends in ``.gz``."""
    data = idx_bytes(array, magic)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


IdxSet = dict[str, np.ndarray]


def make_idx_set(
    directory: Path, n_train: int = 12, n_test: int = 5, *, seed: int = 0, gz: bool = True
) -> IdxSet:
    """Write the four files of a small 28×28 IDX dataset into ``directory``; return the arrays
    (file name → array)."""
    rng = np.random.default_rng(seed)
    arrays = {
        IDX_FILES[0]: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        IDX_FILES[1]: rng.integers(0, 10, n_train, dtype=np.uint8),
        IDX_FILES[2]: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        IDX_FILES[3]: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        magic = IMAGES_MAGIC if "images" in name else LABELS_MAGIC
        write_idx(directory / (f"{name}.gz" if gz else name), array, magic)
    return arrays


@pytest.fixture
def idx_set() -> Callable[..., IdxSet]:
    """:func:`make_idx_set`."""
    return make_idx_set


@pytest.fixture
def idx_file() -> Callable[[Path, np.ndarray, int], Path]:
    """:func:`write_idx`."""
    return write_idx


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Point ``$HOME`` and ``$GENZOO_DATA`` at empty tmp dirs; return ``root``, ``env``, ``home``
    (``root`` is a third empty dir to pass as ``root=``)."""
    dirs = {key: tmp_path / key for key in ("root", "env", "home")}
    for directory in dirs.values():
        directory.mkdir()
    monkeypatch.setenv("HOME", str(dirs["home"]))
    monkeypatch.setenv("GENZOO_DATA", str(dirs["env"]))
    return dirs


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every connection that does not go to this machine, so that no data test can
    download anything by accident (the download tests use a local server)."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        inet = self.family in (socket.AF_INET, socket.AF_INET6)
        if inet and isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1"):
            raise ConnectionRefusedError(f"genzoo data tests may not connect to {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[Path], str]]:
    """``serve(directory) -> base_url``: a real HTTP server on 127.0.0.1 (random port, own
    thread) serving ``directory``; shut down after the test."""
    servers = []

    def start(directory: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
