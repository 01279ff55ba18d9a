"""Image grids: every image lands in its tile at the right intensity; the PNG reads back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.apps import save_grid
from genzoo.apps.grid import image_grid
from genzoo.errors import ConfigError


def _images(n: int, c: int, h: int, w: int, levels: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, levels, (n, c, h, w), generator=g)


@pytest.mark.parametrize("channels", [1, 3])
def test_each_image_is_in_its_tile_with_levels_mapped_to_0_255(channels):
    levels, (h, w), pad, nrow = 5, (3, 4), 1, 3
    x = _images(7, channels, h, w, levels)
    grid = image_grid(x, levels, nrow=nrow, padding=pad)
    rows = -(-7 // nrow)
    assert grid.shape[:2] == (rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for k in range(7):
        r, q = divmod(k, nrow)
        tile = grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + q * (w + pad) :][:, :w]
        expected = np.round(x[k].permute(1, 2, 0).numpy() * 255 / (levels - 1)).astype(np.uint8)
        assert np.array_equal(tile, expected[..., 0] if channels == 1 else expected), k
    # the slots after the last image and the padding are the neutral gray
    assert (grid[-1 - h :, -1 - w :] == 128).all()
    assert (grid[0] == 128).all()


def test_scale_enlarges_each_pixel_to_a_block():
    x = _images(1, 1, 2, 2, 3)
    big = image_grid(x, 3, padding=0, scale=4)
    small = image_grid(x, 3, padding=0)
    assert np.array_equal(big, small.repeat(4, 0).repeat(4, 1))


def test_png_round_trip(tmp_path):
    x = _images(4, 3, 5, 5, 4)
    path = save_grid(x, 4, tmp_path / "g.png", nrow=2, scale=1)
    read = np.asarray(Image.open(path))
    assert np.array_equal(read, image_grid(x, 4, nrow=2, padding=2))
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]  # no temporary file left


def test_a_failed_write_keeps_the_previous_png(tmp_path, monkeypatch):
    path = save_grid(_images(1, 1, 4, 4, 2), 2, tmp_path / "g.png")
    before = path.read_bytes()

    def broken(self, fp, format=None, **params):
        fp.write(b"half a png")
        raise OSError("disk went away")

    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(OSError):
        save_grid(_images(1, 1, 4, 4, 2, seed=1), 2, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]


def test_bad_shapes_are_refused():
    with pytest.raises(ConfigError, match="1 or 3"):
        image_grid(torch.zeros(2, 2, 4, 4, dtype=torch.long), 2)
    with pytest.raises(ConfigError, match="1 or 3"):
        image_grid(torch.zeros(4, 4, dtype=torch.long), 2)


def test_row_labels_add_a_caption_margin_and_keep_the_images(tmp_path):
    x = _images(6, 1, 4, 4, 3)
    plain = np.asarray(Image.open(save_grid(x, 3, tmp_path / "a.png", nrow=3, scale=4)))
    path = save_grid(x, 3, tmp_path / "b.png", nrow=3, scale=4, row_labels=["first", "second"])
    captioned = np.asarray(Image.open(path))
    margin = captioned.shape[1] - plain.shape[1]
    assert captioned.shape[0] == plain.shape[0] and margin > 20
    assert np.array_equal(captioned[:, margin:], plain)  # the images are untouched
    text = captioned[:, :margin] < 128  # dark caption pixels, one block per row
    rows_with_text = {r // (4 * 4 + 2) for r in np.flatnonzero(text.any(1))}
    assert rows_with_text == {0, 1}
