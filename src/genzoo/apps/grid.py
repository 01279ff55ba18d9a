"""Image grids written as PNG."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.core.atomic import atomic_save
from genzoo.errors import ConfigError


def image_grid(
    images: Tensor, levels: int, *, nrow: int | None = None, padding: int = 1, scale: int = 1
) -> np.ndarray:
    """Tile integer images ``[N, C, H, W]`` in ``[0, levels)`` into a uint8 array.

    Returns ``[rows*(H+p)+p, cols*(W+p)+p]`` for one channel or ``[..., 3]`` for three; values are
    mapped linearly so level ``levels - 1`` is white. ``scale`` enlarges each pixel (nearest).
    """
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ConfigError(f"images must be [N, 1 or 3, H, W], got {list(images.shape)}")
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    ncol = nrow
    nrows = math.ceil(n / ncol)
    img = (images.detach().cpu().double() * (255.0 / (levels - 1))).round().clamp(0, 255)
    img = img.to(torch.uint8)
    if scale > 1:
        img = img.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
        h, w = h * scale, w * scale
    grid = torch.full(
        (c, nrows * (h + padding) + padding, ncol * (w + padding) + padding), 128, dtype=torch.uint8
    )
    for k in range(n):
        r, q = divmod(k, ncol)
        top, left = padding + r * (h + padding), padding + q * (w + padding)
        grid[:, top : top + h, left : left + w] = img[k]
    array = grid.permute(1, 2, 0).numpy()
    return array[..., 0] if c == 1 else array


def save_grid(
    images: Tensor,
    levels: int,
    path: str | Path,
    *,
    nrow: int | None = None,
    scale: int | None = None,
    row_labels: list[str] | None = None,
) -> Path:
    """Write :func:`image_grid` to ``path`` (PNG, atomically); small images are enlarged to be
    visible. ``row_labels`` captions the rows (one per row, drawn in a margin on the left) so
    that the figure says what each row shows; it is repeated when shorter than the rows."""
    from PIL import Image

    if scale is None:
        scale = max(1, 64 // max(images.shape[-2:]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = image_grid(images, levels, nrow=nrow, scale=scale, padding=2)
    picture = Image.fromarray(array)
    if row_labels:
        cell = images.shape[-2] * scale + 2
        picture = _captioned(picture, list(row_labels), cell)
    return atomic_save(path, lambda handle: picture.save(handle, format="PNG"))


def _captioned(picture: Any, labels: list[str], cell: int) -> Any:
    """``picture`` with a white margin on the left holding one caption per row of cells."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    draw = ImageDraw.Draw(picture)
    rows = max(1, (picture.height - 2) // cell)
    texts = [labels[r % len(labels)] for r in range(rows)]
    width = max(int(draw.textlength(t, font=font)) for t in texts) + 10
    mode = picture.mode
    out = Image.new(mode, (picture.width + width, picture.height), 255 if mode == "L" else "white")
    out.paste(picture, (width, 0))
    pen = ImageDraw.Draw(out)
    ink = 0 if mode == "L" else "black"
    for r, text in enumerate(texts):
        middle = 2 + r * cell + cell // 2
        pen.text((width - 6, middle), text, fill=ink, font=font, anchor="rm")
    return out
