"""PixColor — Guadarrama, Dahl, Bieber, Norouzi, Shlens & Murphy, "PixColor: Pixel Recursive
Colorization", BMVC 2017 (arXiv:1705.07208); and Royer, Kolesnikov & Lampert, "Probabilistic
Image Colorization", BMVC 2017 (arXiv:1705.04258).

Both colorize a grayscale image with a PixelCNN over the colour given the gray image, read by a
*conditioning network* over the full-resolution gray image (PixColor: a ResNet-101 whose later
stages are dilated, as in DeepLab; Royer et al.: an embedding network of dilated convolutions),
so that samples are diverse, plausible colourings rather than one averaged, brownish answer.

Here the model is a thin subclass of :class:`~genzoo.models.autoregressive.pixel_recursive_sr.
PixelRecursiveSR` (Dahl et al. 2017, whose combination PixColor builds on): ``p(x | c) =
prod_d softmax(A_d(c) + B_d(x_<d))[x_d]``, a Gated PixelCNN prior ``B`` over the target plus the
conditioning logits ``A(c)``, with the auxiliary cross-entropy of ``A`` alone in the loss. Only the
conditioning network differs: the condition is the gray image at the target's own size, so there
is no upsampling; instead ``cond_blocks`` residual blocks of dilated ``3 x 3`` convolutions with
dilations ``1, 2, 4, 8, 1, 2, ...`` give a receptive field of ``3 + 4 * sum(dilations)`` pixels
(63 with the default 4 blocks: a whole 32x32 crop) at full resolution. The likelihood is exact
and sampling is cached (the conditioning network runs once per image), both inherited.

Deviations from the papers:

* the target is the **RGB image itself** (``log p(x | c)`` is the likelihood of the RGB target,
  comparable with the other colorizers that report it), not chroma in YCbCr / Lab at reduced
  resolution followed by a refinement network (PixColor) — so the model spends probability on
  colours whose luminance differs from ``c``, and must learn not to;
* the condition enters through additive logits only (Dahl et al.'s combination), not as features
  added to every gated layer of the PixelCNN (PixColor, Royer et al.);
* networks far smaller, no batch normalisation, no pretrained conditioning network, ``levels``
  any ``K >= 2``, sampling without temperature;
* built for colour targets (``C = 3``, the colorization task); a target of other channel counts
  is accepted with the same one-channel condition (so the shared contract runs over it).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from genzoo.errors import ConfigError
from genzoo.models.autoregressive.pixel_recursive_sr import PixelRecursiveSR
from genzoo.models.registry import register_model


def dilation(block: int) -> int:
    """Dilation of residual block ``block``: ``1, 2, 4, 8`` in turn."""
    return 2 ** (block % 4)


class _DilatedBlock(nn.Module):
    """``x + conv3x3_d(relu(conv3x3_d(relu(x))))`` with dilation ``d`` (size-preserving)."""

    def __init__(self, channels: int, d: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=d, dilation=d),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=d, dilation=d),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)


class DilatedConditioningNetwork(nn.Module):
    """Scaled gray image ``[B, 1, H, W]`` -> logits ``[B, levels, C, H, W]`` at full resolution.

    Args:
        channels: features of every layer.
        blocks: dilated residual blocks (dilations :func:`dilation`).
        levels, colors: the target's levels and channels ``C``.
    """

    def __init__(self, channels: int, blocks: int, levels: int, colors: int) -> None:
        super().__init__()
        self.levels, self.colors = levels, colors
        self.input = nn.Conv2d(1, channels, 3, padding=1)
        self.blocks = nn.Sequential(*[_DilatedBlock(channels, dilation(i)) for i in range(blocks)])
        self.out = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, levels * colors, 1))

    def forward(self, c: Tensor) -> Tensor:
        out = self.out(self.blocks(self.input(c)))
        return out.view(out.shape[0], self.levels, self.colors, *out.shape[2:])

    @property
    def receptive_field(self) -> int:
        """Side of the square of gray pixels each output sees."""
        return 3 + 4 * sum(dilation(i) for i in range(len(self.blocks)))


@register_model("pixcolor")
class PixColor(PixelRecursiveSR):
    """A Gated PixelCNN over the colour image plus a dilated ResNet over its gray image.

    Args:
        cond_blocks: dilated residual blocks of the conditioning ResNet (default 4).
        (and every argument of
        :class:`~genzoo.models.autoregressive.pixel_recursive_sr.PixelRecursiveSR`:
        ``condition_shape`` must be ``(1, H, W)``, the luminance at the target's size;
        ``cond_channels`` is the dilated ResNet's width)
    """

    paper = (
        "Guadarrama et al. 2017, PixColor: Pixel Recursive Colorization; Royer, Kolesnikov & "
        "Lampert 2017, Probabilistic Image Colorization"
    )

    def __init__(self, *, cond_blocks: int = 4, **kwargs: Any) -> None:
        super().__init__(cond_blocks=cond_blocks, **kwargs)
        _, height, width = self.shape
        if self.condition_shape != (1, height, width):
            raise ConfigError(
                f"pixcolor colorizes: its condition is the gray image at the target's size, "
                f"(1, {height}, {width}), got {self.condition_shape}; train it with --task "
                "colorization (super-resolution: pixel_recursive_sr)"
            )
        # the full-resolution dilated network in place of the super-resolution one, as wide
        cond_channels = self.conditioning.input.out_channels
        self.conditioning = DilatedConditioningNetwork(  # type: ignore[assignment]
            cond_channels, cond_blocks, self.levels, self.shape[0]
        )
