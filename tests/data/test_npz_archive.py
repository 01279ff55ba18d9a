"""npz:PATH layouts, labels and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genzoo.data import load_dataset
from genzoo.errors import DatasetError

RNG = np.random.default_rng(0)


def _save(tmp_path: Path, **arrays: np.ndarray) -> str:
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return f"npz:{path}"


def _all_images(data) -> torch.Tensor:
    return torch.cat([data.train, data.test])


@pytest.mark.parametrize(
    ("layout", "shape"),
    [
        ("NHW", (1, 7, 5)),
        ("NHWC", (3, 7, 5)),
        ("NHWC", (1, 7, 5)),
        ("NCHW", (3, 7, 5)),
        ("NCHW", (1, 7, 5)),
    ],
)
def test_layouts_give_nchw(tmp_path: Path, layout: str, shape: tuple[int, int, int]) -> None:
    nchw = RNG.integers(0, 256, (10, *shape), dtype=np.uint8)
    x = {
        "NHW": lambda a: a[:, 0],
        "NHWC": lambda a: a.transpose(0, 2, 3, 1),
        "NCHW": lambda a: a,
    }[layout](nchw)
    data = load_dataset(_save(tmp_path, x=x))
    assert data.shape == shape and data.train.shape[0] == 9 and data.test.shape[0] == 1
    # same images, in the documented permutation order
    perm = np.random.default_rng(0).permutation(10)
    assert np.array_equal(_all_images(data).numpy(), nchw[perm])


def test_ambiguous_layout_is_channels_last(tmp_path: Path) -> None:
    x = RNG.integers(0, 256, (4, 3, 5, 3), dtype=np.uint8)
    data = load_dataset(_save(tmp_path, x=x))
    assert data.shape == (3, 3, 5)


def test_labels_follow_their_images_through_the_split(tmp_path: Path) -> None:
    y = np.arange(30) % 4
    x = np.repeat(y.astype(np.uint8)[:, None, None] * 50, 4, 1).repeat(4, 2)
    data = load_dataset(_save(tmp_path, x=x, y=y))
    assert data.num_classes == 4 and data.train.shape[0] == 27
    for images, labels in ((data.train, data.train_labels), (data.test, data.test_labels)):
        assert torch.equal(images[:, 0, 0, 0], labels * 50)


def test_explicit_test_split(tmp_path: Path) -> None:
    x = RNG.integers(0, 256, (6, 4, 4), dtype=np.uint8)
    x_test = RNG.integers(0, 256, (2, 4, 4), dtype=np.uint8)
    data = load_dataset(
        _save(tmp_path, x=x, y=np.arange(6), x_test=x_test, y_test=np.array([7, 0])), levels=2
    )
    assert torch.equal(data.train_raw[:, 0], torch.from_numpy(x).long())
    assert torch.equal(data.test, (torch.from_numpy(x_test).long() >= 128).long()[:, None])
    assert data.num_classes == 8 and data.test_labels.tolist() == [7, 0]


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((4, 4, 4), np.float32)}, "convert it to uint8"),
        ({"images": np.zeros((4, 4, 4), np.uint8)}, "no array 'x'"),
        ({"x": np.zeros((4, 4), np.uint8)}, "expected [N, H, W]"),
        ({"x": np.zeros((4, 2, 4, 4), np.uint8)}, "C = 1 or 3"),
        ({"x": np.zeros((4, 4, 4), np.uint8), "y": np.zeros(3, np.int64)}, "4 integer labels"),
        ({"x": np.zeros((4, 4, 4), np.uint8), "y": np.zeros(4)}, "integer labels"),
        (
            {
                "x": np.zeros((4, 4, 4), np.uint8),
                "y": np.zeros(4, int),
                "x_test": np.zeros((1, 4, 4), np.uint8),
            },
            "only one split",
        ),
        ({"x": np.zeros((1, 4, 4), np.uint8)}, "two or more"),
    ],
)
def test_bad_archives_raise(tmp_path: Path, arrays: dict, message: str) -> None:
    with pytest.raises(DatasetError) as info:
        load_dataset(_save(tmp_path, **arrays))
    assert message in str(info.value)


def test_missing_and_non_npz_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(f"npz:{tmp_path / 'missing.npz'}")
    np.save(tmp_path / "one.npy", np.zeros((3, 4, 4), np.uint8))
    with pytest.raises(DatasetError, match=r"not an \.npz archive"):
        load_dataset(f"npz:{tmp_path / 'one.npy'}")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DatasetError, match="cannot read"):
        load_dataset(f"npz:{tmp_path / 'junk.npz'}")
