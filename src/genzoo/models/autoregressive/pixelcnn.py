"""PixelCNN — van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", 2016.

Architecture as in the paper's PixelCNN (section 3.4, figure 5): a ``7 x 7`` mask-A convolution,
residual blocks ``ReLU -> 1x1 (2h->h) -> ReLU -> 3x3 mask-B (h->h) -> ReLU -> 1x1 (h->2h)`` added to
their input, then ``ReLU -> 1x1 -> ReLU -> 1x1`` to a ``levels``-way softmax per sub-pixel. With
colour images the masks split features into R, G, B groups so R sees the context, G the context
and R, B the context, R and G (see :mod:`genzoo.nn.masked`).

Deviations: ``levels`` is any ``K >= 2`` (the paper uses 256); an optional class embedding is added
after the input convolution for class-conditional models (the paper's PixelCNN is unconditional).
"""

from __future__ import annotations

from torch import Tensor, nn

from genzoo.models.autoregressive.base import AutoregressiveModel
from genzoo.models.registry import register_model
from genzoo.nn import CategoricalHead, MaskedConv1x1, MaskedConv2d


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
