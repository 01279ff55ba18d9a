"""PixelCNN — van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", 2016.

Architecture as in the paper's PixelCNN (section 3.4, figure 5): a ``7 x 7`` mask-A convolution,
residual blocks ``ReLU -> 1x1 (2h->h) -> ReLU -> 3x3 mask-B (h->h) -> ReLU -> 1x1 (h->2h)`` added to
their input, then ``ReLU -> 1x1 -> ReLU -> 1x1`` to a ``levels``-way softmax per sub-pixel. With
colour images the masks split features into R, G, B groups so R sees the context, G the context
and R, B the context, R and G (see :mod:`genzoo.nn.masked`).

Deviations: ``levels`` is any ``K >= 2`` (the paper uses 256); an optional class embedding is added
after the input convolution for class-conditional models (the paper's PixelCNN is unconditional).

Cached sampling (Ramachandran et al. 2017): every layer's output at pixel ``(i, j)`` depends only on
its input at ``(i, j)`` and earlier pixels, so each step computes every layer at that one position
from per-layer buffers (:class:`_PixelCNNCache`); with colours the position is recomputed for each
channel.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from genzoo.core.params import Check, Constraint, Int, depth
from genzoo.models.autoregressive.base import PIXEL_MODEL_RECIPE, AutoregressiveModel
from genzoo.models.registry import register_model
from genzoo.nn import CategoricalHead, MaskedConv1x1, MaskedConv2d
from genzoo.nn.incremental import (
    PaddedBuffer,
    conv_at,
    conv_weights,
    pointwise,
    previous_pixel,
)


class ResidualBlock(nn.Module):
    """The PixelCNN residual block; returns ``x + f(x)`` (callers must not add ``x`` again)."""

    def __init__(self, channels: int, colors: int) -> None:
        super().__init__()
        half = channels // 2
        self.body = nn.Sequential(
            nn.ReLU(),
            MaskedConv1x1(channels, half, colors=colors),
            nn.ReLU(),
            MaskedConv2d(half, half, 3, mask_type="B", colors=colors),
            nn.ReLU(),
            MaskedConv1x1(half, channels, colors=colors),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


@register_model("pixelcnn")
class PixelCNN(AutoregressiveModel):
    """PixelCNN with ``num_blocks`` residual blocks of ``channels`` (= 2h) features.

    Args:
        channels: features between blocks (2h in the paper).
        num_blocks: residual blocks after the input convolution.
        head_channels: features of the two ``1 x 1`` output layers.
    """

    train_defaults: ClassVar[dict[str, Any]] = PIXEL_MODEL_RECIPE

    params: ClassVar[dict[str, Constraint]] = {
        "channels": Check(Int(min=2).accepts, "an integer >= 2 (the residual blocks halve it)"),
        "num_blocks": depth(0),
        "head_channels": Int(min=1),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        channels: int = 64,
        num_blocks: int = 6,
        head_channels: int = 128,
    ) -> None:
        super().__init__(shape=shape, levels=levels, num_classes=num_classes)
        colors = self.shape[0]
        self.input = MaskedConv2d(colors, channels, 7, mask_type="A", colors=colors)
        self.embed = None if num_classes is None else nn.Embedding(self.num_classes, channels)
        self.blocks = nn.Sequential(*[ResidualBlock(channels, colors) for _ in range(num_blocks)])
        self.head = CategoricalHead(channels, head_channels, self.levels, colors)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.input(x)
        if self.embed is not None and y is not None:
            h = h + self.embed(y)[:, :, None, None]
        return self.head(self.blocks(h))

    def incremental_sampler(self, n: int, y: Tensor | None) -> _PixelCNNCache:
        return _PixelCNNCache(self, n, y)


class _PixelCNNCache:
    """Per-layer input buffers; each call computes every layer at one position only."""

    def __init__(self, model: PixelCNN, n: int, y: Tensor | None) -> None:
        colors, height, width = model.shape
        like = model.input.weight
        self.model = model
        k = model.input.kernel_size[0] // 2
        self.x = PaddedBuffer(like, n, colors, height, width, (k, k, k, k))
        self.input = conv_weights(model.input)
        self.bias = None if model.embed is None or y is None else model.embed(y)
        self.blocks = []
        for block in model.blocks:
            in_1x1, conv, out_1x1 = block.body[1], block.body[3], block.body[5]
            p = conv.kernel_size[0] // 2
            buffer = PaddedBuffer(like, n, conv.in_channels, height, width, (p, p, p, p))
            self.blocks.append(
                (
                    conv_weights(in_1x1),
                    buffer,
                    conv_weights(conv),
                    conv_weights(out_1x1),
                )
            )
        head = model.head
        self.head = [
            conv_weights(head[1]),
            conv_weights(head[3]),
        ]

    def logits(self, x: Tensor, i: int, j: int, c: int) -> Tensor:
        scale = self.model.scale
        self.x.write(i, j, scale(x[:, :, i, j]))  # channels >= c: hidden by the masks
        previous = previous_pixel(i, j, self.model.shape[2])
        if c == 0 and previous is not None:  # now complete, its last channel included
            self.x.write(*previous, scale(x[:, :, previous[0], previous[1]]))
        h = conv_at(self.x, *self.input, i, j)
        if self.bias is not None:
            h = h + self.bias
        for in_1x1, buffer, conv, out_1x1 in self.blocks:
            t = pointwise(torch.relu(h), *in_1x1)
            buffer.write(i, j, torch.relu(t))
            t = conv_at(buffer, *conv, i, j)
            h = h + pointwise(torch.relu(t), *out_1x1)
        out = pointwise(torch.relu(pointwise(torch.relu(h), *self.head[0])), *self.head[1])
        return out.view(out.shape[0], self.model.levels, -1)[:, :, c]
