"""folder:PATH with real PNG/JPEG files written by PIL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.data import load_dataset
from genzoo.errors import DatasetError


def _gray(path: Path, value: int, size: tuple[int, int] = (6, 5)) -> None:
    """A constant grayscale PNG of ``size = (H, W)``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, np.uint8), mode="L").save(path)


def _rgb(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (6, 5)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), rgb, np.uint8), mode="RGB").save(path)


def test_flat_gray_folder_split_90_10(tmp_path: Path) -> None:
    for i in range(20):
        _gray(tmp_path / f"img{i:02d}.png", 10 * i)
    data = load_dataset(f"folder:{tmp_path}")
    assert data.shape == (1, 6, 5) and data.levels == 256
    assert data.train.shape[0] == 18 and data.test.shape[0] == 2
    assert data.train_labels is None and data.num_classes is None
    values = sorted(data.train[:, 0, 0, 0].tolist() + data.test[:, 0, 0, 0].tolist())
    assert values == [10 * i for i in range(20)]
    again = load_dataset(f"folder:{tmp_path}")
    assert torch.equal(data.test, again.test)


def test_mixed_gray_and_rgb_becomes_rgb(tmp_path: Path) -> None:
    _gray(tmp_path / "a.png", 77)
    _rgb(tmp_path / "b.png", (10, 20, 30))
    data = load_dataset(f"folder:{tmp_path}")
    assert data.shape == (3, 6, 5)
    pixels = {tuple(x[:, 0, 0].tolist()) for x in torch.cat([data.train, data.test])}
    assert pixels == {(77, 77, 77), (10, 20, 30)}


def test_alpha_over_black_gray_palette_and_16_bit_are_gray(tmp_path: Path) -> None:
    la = np.stack([np.full((4, 4), 200, np.uint8), np.full((4, 4), 128, np.uint8)], -1)
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    Image.fromarray(np.full((4, 4), 50, np.uint8), mode="L").convert("P").save(tmp_path / "p.png")
    Image.fromarray(np.full((4, 4), 0x8000, np.uint16)).save(tmp_path / "wide.png")  # 16-bit
    data = load_dataset(f"folder:{tmp_path}")
    assert data.shape == (1, 4, 4)
    values = sorted(torch.cat([data.train, data.test])[:, 0, 0, 0].tolist())
    assert values == [50, round(200 * 128 / 255), 128]


def test_class_subfolders_give_labels(tmp_path: Path) -> None:
    for cls, value in (("zebra", 200), ("ant", 10)):
        for i in range(10):
            _gray(tmp_path / cls / "nested" / f"{i}.png", value)
    data = load_dataset(f"folder:{tmp_path}")
    assert data.class_names == ["ant", "zebra"] and data.num_classes == 2
    for x, y in ((data.train, data.train_labels), (data.test, data.test_labels)):
        assert torch.equal(x[:, 0, 0, 0], torch.where(y == 0, 10, 200))


def test_train_test_subfolders_are_the_split(tmp_path: Path) -> None:
    for i in range(3):
        _rgb(tmp_path / "train" / "cat" / f"{i}.png", (i, 0, 0))
        _rgb(tmp_path / "train" / "dog" / f"{i}.jpg", (0, 250, 0))
    _rgb(tmp_path / "test" / "dog" / "0.png", (0, 0, 9))
    data = load_dataset(f"folder:{tmp_path}")
    assert data.train.shape == (6, 3, 6, 5) and data.test.shape == (1, 3, 6, 5)
    assert data.class_names == ["cat", "dog"] and data.test_labels.tolist() == [1]
    assert data.test[0, :, 0, 0].tolist() == [0, 0, 9]
    assert "train/ and test/" in data.source


def test_mixed_sizes_need_size(tmp_path: Path) -> None:
    _gray(tmp_path / "a.png", 100, (6, 5))
    _gray(tmp_path / "b.png", 100, (12, 10))
    with pytest.raises(DatasetError, match="size="):
        load_dataset(f"folder:{tmp_path}")
    data = load_dataset(f"folder:{tmp_path}", size=4, levels=16)
    assert data.shape == (1, 4, 4)
    assert bool((data.train_raw == 100).all()) and bool((data.train == 100 >> 4).all())


def test_empty_folder_and_unreadable_image(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no PNG/JPEG"):
        load_dataset(f"folder:{tmp_path}")
    _gray(tmp_path / "good.png", 1)
    (tmp_path / "bad.png").write_bytes(b"not a png at all")
    with pytest.raises(DatasetError, match=r"bad\.png"):
        load_dataset(f"folder:{tmp_path}")
    with pytest.raises(DatasetError, match="not a directory"):
        load_dataset(f"folder:{tmp_path / 'nowhere'}")


def test_labelled_and_unlabelled_mix_is_an_error(tmp_path: Path) -> None:
    _gray(tmp_path / "cls" / "a.png", 1)
    _gray(tmp_path / "b.png", 2)
    with pytest.raises(DatasetError, match="class sub-folder"):
        load_dataset(f"folder:{tmp_path}")
