"""IDX parsing, search order and verified downloads from a real local HTTP server."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from genzoo.data import load_dataset
from genzoo.data.idx import (
    IDX_FILES,
    IMAGES_MAGIC,
    LABELS_MAGIC,
    IdxUnavailableError,
    download_dir,
    download_file,
    fetch_idx_files,
    payload_sha256,
    read_idx,
    search_dirs,
)
from genzoo.data.mnist import FASHION_MNIST, load_fashion_mnist
from genzoo.errors import DatasetError


def _checksums(directory: Path) -> dict[str, str]:
    return {name: payload_sha256(directory / f"{name}.gz") for name in IDX_FILES}


def test_idx_round_trip_gz_and_plain(tmp_path: Path, idx_file) -> None:
    x = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    for name in ("a.gz", "a"):
        path = idx_file(tmp_path / name, x, IMAGES_MAGIC)
        assert np.array_equal(read_idx(path, IMAGES_MAGIC), x)


def test_fashion_mnist_from_root_matches_the_files(isolated, idx_set) -> None:
    arrays = idx_set(isolated["root"], n_train=12, n_test=5)
    data = load_dataset("fashion-mnist", root=isolated["root"], download=False)
    assert data.train.shape == (12, 1, 28, 28) and data.test.shape == (5, 1, 28, 28)
    assert np.array_equal(data.train[:, 0].numpy(), arrays[IDX_FILES[0]])
    assert np.array_equal(data.test_labels.numpy(), arrays[IDX_FILES[3]])
    assert data.levels == 256 and data.num_classes == 10 and data.class_names[0] == "T-shirt/top"
    assert str(isolated["root"]) in data.source


def test_uncompressed_files_in_subfolder_and_levels(isolated, idx_set) -> None:
    arrays = idx_set(isolated["root"] / "fashion-mnist", gz=False)
    data = load_dataset("fashion-mnist", root=isolated["root"], download=False, levels=2)
    expected = torch.from_numpy(arrays[IDX_FILES[0]].astype(np.int64) >= 128).long()
    assert torch.equal(data.train[:, 0], expected)


def test_search_order_root_then_env_then_home(isolated, idx_set) -> None:
    system = Path("/nonexistent/system")
    dirs = search_dirs("fashion-mnist", isolated["root"], system)
    home_cache = isolated["home"] / ".cache" / "genzoo"
    assert dirs == [
        isolated["root"] / "fashion-mnist",
        isolated["root"],
        isolated["env"] / "fashion-mnist",
        isolated["env"],
        home_cache / "fashion-mnist",
        home_cache,
        system,
    ]
    assert download_dir("fashion-mnist", None) == isolated["env"] / "fashion-mnist"

    # a different number of training images in each place tells which one was loaded
    idx_set(home_cache / "fashion-mnist", n_train=3)
    assert load_dataset("fashion-mnist", download=False).train.shape[0] == 3
    idx_set(isolated["env"], n_train=4)
    assert load_dataset("fashion-mnist", download=False).train.shape[0] == 4
    idx_set(isolated["env"] / "fashion-mnist", n_train=5)
    assert load_dataset("fashion-mnist", download=False).train.shape[0] == 5
    idx_set(isolated["root"], n_train=6)
    assert load_dataset("fashion-mnist", root=isolated["root"], download=False).train.shape[0] == 6


def _replace(path: Path, data: bytes) -> None:
    path.write_bytes(gzip.compress(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("swap", "magic number 2049, expected 2051"),
        ("short", "truncated or corrupt"),
        ("header", "header is truncated"),
        ("gzip", "corrupt or truncated"),
        ("count", "labels but"),
        ("dims", "expected [N, 28, 28]"),
        ("label", "has label 12"),
    ],
)
def test_damaged_files_raise_dataset_error(
    isolated, idx_set, idx_file, damage: str, message: str
) -> None:
    root = isolated["root"]
    idx_set(root, n_train=6)
    images = root / f"{IDX_FILES[0]}.gz"
    labels = root / f"{IDX_FILES[1]}.gz"
    if damage == "swap":  # a label file where images belong
        images.write_bytes(labels.read_bytes())
    elif damage == "short":
        _replace(images, gzip.decompress(images.read_bytes())[:-10])
    elif damage == "header":
        _replace(images, bytes([0, 0, 8, 3, 0, 0]))
    elif damage == "gzip":
        images.write_bytes(images.read_bytes()[:100])
    elif damage == "count":
        idx_file(labels, np.zeros(5, np.uint8), LABELS_MAGIC)
    elif damage == "dims":
        idx_file(images, np.zeros((6, 27, 28), np.uint8), IMAGES_MAGIC)
    elif damage == "label":
        idx_file(labels, np.full(6, 12, np.uint8), LABELS_MAGIC)
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion-mnist", root=root, download=False)
    assert message in str(info.value)
    assert str(root) in str(info.value)


def test_download_with_good_checksum_loads(isolated, idx_set, serve, tmp_path: Path) -> None:
    served = tmp_path / "server"
    arrays = idx_set(served, n_train=7, n_test=3)
    url = serve(served)
    raw = load_fashion_mnist(
        isolated["root"], True, base_url=url, checksums=_checksums(served), system_dir=None
    )
    dest = isolated["root"] / "fashion-mnist"
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{n}.gz" for n in IDX_FILES)
    assert np.array_equal(raw.train[:, 0], arrays[IDX_FILES[0]])
    assert "downloaded to" in raw.source
    # second call finds the cached files and does not need the server
    again = load_dataset("fashion-mnist", root=isolated["root"], download=False)
    assert torch.equal(again.test_labels, torch.from_numpy(arrays[IDX_FILES[3]]).long())


def test_download_with_bad_checksum_raises_and_leaves_nothing(
    isolated, idx_set, serve, tmp_path: Path
) -> None:
    served = tmp_path / "server"
    idx_set(served)
    checksums = _checksums(served)
    checksums[IDX_FILES[0]] = "0" * 64
    with pytest.raises(DatasetError, match="corrupt") as info:
        fetch_idx_files(
            FASHION_MNIST,
            root=isolated["root"],
            base_url=serve(served),
            checksums=checksums,
            system_dir=None,
        )
    dest = isolated["root"] / "fashion-mnist"
    assert str(dest / f"{IDX_FILES[0]}.gz") in str(info.value)
    assert not isinstance(info.value, IdxUnavailableError)
    assert list(dest.iterdir()) == []  # no partial or temporary file


def test_a_failed_download_leaves_the_previous_file_untouched(
    idx_set, serve, tmp_path: Path
) -> None:
    served = tmp_path / "server"
    idx_set(served)
    name = f"{IDX_FILES[1]}.gz"
    good = payload_sha256(served / name)
    dest = tmp_path / "cache" / name
    dest.parent.mkdir()
    dest.write_bytes(b"previous")
    with pytest.raises(DatasetError, match="corrupt"):  # the checksum of another file
        download_file(serve(served) + name, dest, "0" * 64)
    with pytest.raises(IdxUnavailableError, match="404"):
        download_file(serve(served) + "absent.gz", dest, good)
    assert dest.read_bytes() == b"previous"
    assert sorted(p.name for p in dest.parent.iterdir()) == [name]  # no temporary file
    download_file(serve(served) + name, dest, good)  # a good download replaces it
    assert dest.read_bytes() == (served / name).read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == [name]


def test_http_404_is_unavailable(isolated, serve, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="404"):
        load_fashion_mnist(isolated["root"], base_url=serve(tmp_path / "empty"), system_dir=None)


def test_offline_and_absent_names_every_remedy(isolated, closed_port_url: str) -> None:
    with pytest.raises(DatasetError) as info:
        load_fashion_mnist(None, True, base_url=closed_port_url, system_dir=None, timeout=5)
    message = str(info.value)
    assert "\n" not in message
    for remedy in (
        "apt-get install dataset-fashion-mnist",
        "~/.cache/genzoo/fashion-mnist",
        "$GENZOO_DATA",
        "download=True",
    ):
        assert remedy in message
    assert not list((isolated["env"] / "fashion-mnist").iterdir())


def test_download_false_and_absent(isolated) -> None:
    with pytest.raises(DatasetError, match="download disabled"):
        load_fashion_mnist(isolated["root"], False, system_dir=None)
