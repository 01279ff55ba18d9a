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
        condition_shape: ``(1, H, W)``, the luminance at the target's size.
        condition_levels: levels of the gray image.
        cond_channels: features of the dilated conditioning ResNet.
        cond_blocks: its dilated residual blocks.
        (and the Gated PixelCNN prior's ``channels``, ``num_layers``, ``kernel_size``,
        ``input_kernel_size``, ``head_channels``, ``dropout`` and ``aux_weight``, as
        :class:`~genzoo.models.autoregressive.pixel_recursive_sr.PixelRecursiveSR`)
    """

    paper = (
        "Guadarrama et al. 2017, PixColor: Pixel Recursive Colorization; Royer, Kolesnikov & "
        "Lampert 2017, Probabilistic Image Colorization"
    )

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        condition_shape: tuple[int, int, int] | list[int] | None = None,
        condition_levels: int | None = None,
        channels: int = 32,
        num_layers: int = 6,
        kernel_size: int = 3,
        input_kernel_size: int = 7,
        head_channels: int = 64,
        dropout: float = 0.0,
        cond_channels: int = 32,
        cond_blocks: int = 4,
        aux_weight: float = 1.0,
    ) -> None:
        _, height, width = (int(s) for s in shape)
        if condition_shape is not None and tuple(condition_shape) != (1, height, width):
            raise ConfigError(
                f"pixcolor colorizes: its condition is the gray image at the target's size, "
                f"(1, {height}, {width}), got {tuple(condition_shape)}; train it with --task "
                "colorization (super-resolution: pixel_recursive_sr)"
            )
        super().__init__(
            shape=shape,
            levels=levels,
            num_classes=num_classes,
            condition_shape=condition_shape,
            condition_levels=condition_levels,
            channels=channels,
            num_layers=num_layers,
            kernel_size=kernel_size,
            input_kernel_size=input_kernel_size,
            head_channels=head_channels,
            dropout=dropout,
            cond_channels=cond_channels,
            cond_blocks=cond_blocks,
            aux_weight=aux_weight,
        )
        # the full-resolution dilated network in place of the super-resolution one
        self.conditioning = DilatedConditioningNetwork(  # type: ignore[assignment]
            cond_channels, cond_blocks, self.levels, self.shape[0]
        )
