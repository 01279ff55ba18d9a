"""Convolutional encoder and decoder for images of any size (VAEs, autoencoders).

The encoder halves the resolution ``stages`` times with stride-2 ``3 x 3`` convolutions (``ceil``
sizes, so odd sizes work), flattens and maps to a vector; the decoder mirrors it, upsampling to the
*exact* sizes the encoder went through (nearest-neighbour, then a ``3 x 3`` convolution), so
``8 x 8``, ``28 x 28`` or ``5 x 7`` images all round-trip without cropping. No normalisation
layers: every image is processed independently, so log-likelihoods do not depend on the batch.
Class labels, when given, enter as a learned embedding added to the first fully-connected layer.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from genzoo.errors import ConfigError


def default_stages(height: int, width: int) -> int:
    """Stride-2 stages that leave a map of side >= 4: 1 for 8x8, 2 for 28x28, 0 below 8."""
    return max(0, math.floor(math.log2(min(height, width) / 4)))


def stage_sizes(height: int, width: int, stages: int) -> list[tuple[int, int]]:
    """Spatial size after each stage, starting with the input: ``stages + 1`` entries."""
    sizes = [(height, width)]
    for _ in range(stages):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def check_stages(stages: int, height: int, width: int, *, name: str = "stages") -> int:
    """``stages``, unless stride-2 stages that halve a ``height x width`` map (rounding up)
    would run on a ``1 x 1`` map: then :class:`ConfigError`. At most
    ``ceil(log2(max(H, W)))``; past it every stage only doubles the width (``2**stages``
    channels) of a one-pixel map.
    """
    limit = (max(height, width) - 1).bit_length()
    if stages < 0 or stages > limit:
        raise ConfigError(
            f"{name}={stages} is invalid for a {height}x{width} image: each stage halves it "
            f"and {limit} reach one pixel; pass {name} between 0 and {limit} or leave it None"
        )
    return stages


def _check(stages: int, channels: int, hidden: int, height: int, width: int) -> None:
    check_stages(stages, height, width)
    if channels < 1 or hidden < 1:
        raise ConfigError(f"channels and hidden must be positive, got {channels}, {hidden}")


class ConvEncoder(nn.Module):
    """Image ``[B, C, H, W]`` (floats, e.g. scaled to ``[-1, 1]``) -> features ``[B, out]``.

    Args:
        shape: image shape ``(C, H, W)``.
        out_features: size of the output vector.
        channels: features of the first stage; doubled at every stride-2 stage.
        stages: stride-2 stages (``None``: :func:`default_stages`).
        hidden: width of the fully-connected layer before the output.
        num_classes: classes of a conditional model, or ``None``.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        out_features: int,
        *,
        channels: int = 32,
        stages: int | None = None,
        hidden: int = 256,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        c, h, w = shape
        stages = default_stages(h, w) if stages is None else stages
        _check(stages, channels, hidden, h, w)
        layers: list[nn.Module] = [nn.Conv2d(c, channels, 3, padding=1), nn.SiLU()]
        width = channels
        for _ in range(stages):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.SiLU()]
            layers += [nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.SiLU()]
            width *= 2
        self.conv = nn.Sequential(*layers)
        bottom_h, bottom_w = stage_sizes(h, w, stages)[-1]
        self.fc = nn.Linear(width * bottom_h * bottom_w, hidden)
        self.label = None if num_classes is None else nn.Embedding(num_classes, hidden)
        self.out = nn.Linear(hidden, out_features)
        self.act = nn.SiLU()

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.fc(self.conv(x).flatten(1))
        if self.label is not None and y is not None:
            h = h + self.label(y)
        return self.out(self.act(h))


class ConvDecoder(nn.Module):
    """Vector ``[B, in]`` -> map ``[B, out_channels, H, W]``, the mirror of :class:`ConvEncoder`.

    Args:
        shape: image shape ``(C, H, W)`` (only ``H, W`` are used).
        in_features: size of the input vector.
        out_channels: channels of the output map (e.g. a likelihood's parameters).
        channels, stages, hidden, num_classes: as :class:`ConvEncoder`.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        in_features: int,
        out_channels: int,
        *,
        channels: int = 32,
        stages: int | None = None,
        hidden: int = 256,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        _, h, w = shape
        stages = default_stages(h, w) if stages is None else stages
        _check(stages, channels, hidden, h, w)
        self.sizes = stage_sizes(h, w, stages)
        self.top = channels * 2**stages
        bottom_h, bottom_w = self.sizes[-1]
        self.fc = nn.Linear(in_features, hidden)
        self.label = None if num_classes is None else nn.Embedding(num_classes, hidden)
        self.expand = nn.Linear(hidden, self.top * bottom_h * bottom_w)
        self.act = nn.SiLU()
        self.up = nn.ModuleList()
        width = self.top
        for _ in range(stages):
            self.up.append(
                nn.Sequential(
                    nn.Conv2d(width, width // 2, 3, padding=1),
                    nn.SiLU(),
                    nn.Conv2d(width // 2, width // 2, 3, padding=1),
                    nn.SiLU(),
                )
            )
            width //= 2
        self.out = nn.Conv2d(width, out_channels, 3, padding=1)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.fc(z)
        if self.label is not None and y is not None:
            h = h + self.label(y)
        bottom_h, bottom_w = self.sizes[-1]
        h = self.act(self.expand(self.act(h))).view(-1, self.top, bottom_h, bottom_w)
        for block, size in zip(self.up, reversed(self.sizes[:-1])):
            h = block(nn.functional.interpolate(h, size=size, mode="nearest"))
        return self.out(h)
