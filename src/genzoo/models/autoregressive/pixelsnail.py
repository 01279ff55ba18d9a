"""PixelSNAIL — Chen, Mishra, Rohaninejad & Abbeel, "PixelSNAIL: An Improved Autoregressive
Generative Model", ICML 2018.

Causal convolutions interleaved with causal self-attention. Two convolutional streams as in
PixelCNN++: ``u`` sees the rows above the pixel, ``ul`` the rows above and the current row to its
left; both are built from gated residual blocks ``x + a * sigmoid(b)`` with concat-ELU
non-linearities, dropout and a class-conditional bias. After every ``num_resnets`` residual
blocks an attention block lets each pixel look up **every** earlier pixel (no blind spot):
queries come from ``ul`` and a fixed coordinate background, keys and values from ``ul``, the image
and the background, each through a ``1 x 1`` gated residual block first, and the result is mixed
back into ``ul`` by a ``1 x 1`` gated residual block. The features at pixel ``p`` depend only on
pixels strictly before ``p``; the dependence between the colours of one pixel comes from the
output distribution, a mixture of discretized logistics with linear RGB dependencies
(:mod:`genzoo.distributions.logistic`, Salimans et al. 2017) — as in the paper.

Deviations from the paper:

* multi-head attention (``num_heads``; the paper uses one head, ``num_heads=1``);
* ``levels`` is any ``K >= 2`` (bin width ``2 / (K - 1)``; the paper uses 256);
* PixelCNN++'s ``2 x 2`` down-right-shifted convolution of the ``ul`` stream is a ``1 x 2``
  right-shifted one: the rows above reach ``ul`` through the ``u`` stream, fed into every ``ul``
  block (:class:`genzoo.nn.ShiftedConv2d` covers down and right shifts only);
* much smaller defaults (the paper: 256 filters, 12 blocks of 4 residual blocks, key size 16, 10
  mixture components, 8 GPUs) sized for a 2-core CPU on 8 x 8 digits and 28 x 28 Fashion-MNIST;
* no exponential moving average or Polyak averaging in the model (``genzoo train --ema-decay``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.distributions import (
    logistic_mixture_channels,
    logistic_mixture_log_prob,
    logistic_mixture_logits,
)
from genzoo.errors import ConfigError
from genzoo.models.autoregressive.base import AutoregressiveModel
from genzoo.models.registry import register_model
from genzoo.nn import ShiftedConv2d, shift_down
from genzoo.nn.attention import CausalSelfAttention

ConvFactory = Callable[[int, int], nn.Module]


def concat_elu(x: Tensor) -> Tensor:
    """``elu([x, -x])`` along channels: ``[B, C, H, W] -> [B, 2C, H, W]`` (PixelCNN++)."""
    return F.elu(torch.cat([x, -x], dim=1))


def shift_right(x: Tensor) -> Tensor:
    """Shift a feature map ``[B, C, H, W]`` right by one column, filling with zeros."""
    return F.pad(x, (1, 0))[..., : x.shape[-1]]


def down_conv(i: int, o: int) -> nn.Module:
    """``2 x 3`` convolution over the current row and the one above (the ``u`` stream)."""
    return ShiftedConv2d(i, o, (2, 3), direction="down")


def right_conv(i: int, o: int) -> nn.Module:
    """``1 x 2`` convolution over the current pixel and the one to its left (the ``ul`` stream)."""
    return ShiftedConv2d(i, o, (1, 2), direction="right")


def pointwise_conv(i: int, o: int) -> nn.Module:
    return nn.Conv2d(i, o, 1)


class GatedResidual(nn.Module):
    """PixelCNN++'s gated residual block; returns ``x + a * sigmoid(b)`` (callers add nothing).

    ``[a, b] = conv(dropout(celu(conv(celu(x)) + 1x1(celu(aux))))) + embed(y)`` with
    ``celu = concat_elu``; ``conv`` keeps the stream's causality (shifted or ``1 x 1``).
    """

    def __init__(
        self,
        channels: int,
        conv: ConvFactory,
        *,
        aux_channels: int = 0,
        num_classes: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv_in = conv(2 * channels, channels)
        self.aux = nn.Conv2d(2 * aux_channels, channels, 1) if aux_channels else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv_out = conv(2 * channels, 2 * channels)
        self.embed = None if num_classes is None else nn.Embedding(num_classes, 2 * channels)

    def forward(self, x: Tensor, aux: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        h = self.conv_in(concat_elu(x))
        if self.aux is not None and aux is not None:
            h = h + self.aux(concat_elu(aux))
        h = self.conv_out(self.dropout(concat_elu(h)))
        if self.embed is not None and y is not None:
            h = h + self.embed(y)[:, :, None, None]
        a, b = h.chunk(2, dim=1)
        return x + a * torch.sigmoid(b)


class AttentionBlock(nn.Module):
    """Keys/values from ``[image, ul, background]``, queries from ``[ul, background]``, mixed into
    ``ul`` by a ``1 x 1`` gated residual block; pixel ``p`` reads only pixels before ``p``."""

    def __init__(
        self,
        channels: int,
        colors: int,
        key_channels: int,
        heads: int,
        num_classes: int | None,
        dropout: float,
    ) -> None:
        super().__init__()
        kv_in, q_in = colors + channels + 2, channels + 2
        kw = {"num_classes": num_classes, "dropout": dropout}
        self.context = GatedResidual(kv_in, pointwise_conv, **kw)
        self.query = GatedResidual(q_in, pointwise_conv, **kw)
        self.attention = CausalSelfAttention(q_in, kv_in, key_channels, channels, heads)
        self.mix = GatedResidual(channels, pointwise_conv, aux_channels=channels, **kw)

    def forward(self, ul: Tensor, x: Tensor, background: Tensor, y: Tensor | None) -> Tensor:
        context = self.context(torch.cat([x, ul, background], dim=1), y=y)
        query = self.query(torch.cat([ul, background], dim=1), y=y)
        return self.mix(ul, aux=self.attention(query, context), y=y)


@register_model("pixelsnail")
class PixelSNAIL(AutoregressiveModel):
    """PixelSNAIL: ``num_blocks`` x (``num_resnets`` causal gated residual blocks + attention).

    Defaults: 32 features, 2 blocks of 2 residual blocks, 4 heads of 8 key and 8 value features,
    5 logistic components, dropout 0.1. Attention, not depth, gives every pixel the whole context,
    so a shallow stack suffices; the convolutions dominate the cost, which grows with the square
    of ``channels``. On one thread of a busy 2-core CPU, 32 features train at ~250 images/s on
    8 x 8 digits and 10-20 on 28 x 28 Fashion-MNIST (64 features: ~110 and ~6). Equal key and
    value head sizes let the fused attention kernel run without padding. Five components (the
    paper: 10, for RGB) and the mild dropout (for the 1,500 training digits) are not tuned.

    Args:
        channels: features of the ``u`` and ``ul`` streams (= attention value features).
        num_blocks: repetitions of residual blocks followed by an attention block.
        num_resnets: gated residual blocks per stream before each attention block.
        num_heads: attention heads; must divide ``channels`` and ``key_channels``.
        key_channels: query/key features over all heads.
        num_mixtures: components of the discretized logistic mixture per pixel.
        dropout: dropout probability inside the residual blocks (training only).
    """

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        channels: int = 32,
        num_blocks: int = 2,
        num_resnets: int = 2,
        num_heads: int = 4,
        key_channels: int = 32,
        num_mixtures: int = 5,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(shape=shape, levels=levels, num_classes=num_classes)
        colors, height, width = self.shape
        sizes = {
            "channels": channels,
            "num_blocks": num_blocks,
            "num_resnets": num_resnets,
            "num_mixtures": num_mixtures,
        }
        for name, value in sizes.items():
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if num_heads < 1 or channels % num_heads or key_channels % num_heads:
            raise ConfigError(
                f"num_heads ({num_heads}) must divide channels ({channels}) and key_channels "
                f"({key_channels})"
            )
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
        self.num_mixtures = num_mixtures
        kw = {"num_classes": self.num_classes, "dropout": dropout}
        # colour channels + a channel of ones that tells the image from the zero padding
        self.u_input = ShiftedConv2d(colors + 1, channels, (2, 3), direction="down")
        self.ul_input_up = ShiftedConv2d(colors + 1, channels, (1, 3), direction="down")
        self.ul_input_left = ShiftedConv2d(colors + 1, channels, (2, 1), direction="down")
        self.u_blocks = nn.ModuleList(
            GatedResidual(channels, down_conv, **kw) for _ in range(num_blocks * num_resnets)
        )
        self.ul_blocks = nn.ModuleList(
            GatedResidual(channels, right_conv, aux_channels=channels, **kw)
            for _ in range(num_blocks * num_resnets)
        )
        self.attention = nn.ModuleList(
            AttentionBlock(channels, colors, key_channels, num_heads, self.num_classes, dropout)
            for _ in range(num_blocks)
        )
        self.num_resnets = num_resnets
        self.head = nn.Conv2d(channels, logistic_mixture_channels(num_mixtures, colors), 1)
        rows = torch.linspace(-1.0, 1.0, height)[:, None].expand(height, width)
        cols = torch.linspace(-1.0, 1.0, width)[None, :].expand(height, width)
        self.register_buffer("background", torch.stack([rows, cols])[None], persistent=False)

    def mixture_params(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Logistic mixture parameters ``[B, P, H, W]`` from the scaled image ``x [B, C, H, W]``.

        The parameters at pixel ``p`` depend only on pixels strictly before ``p``.
        """
        ones = torch.ones_like(x[:, :1])
        padded = torch.cat([x, ones], dim=1)
        u = shift_down(self.u_input(padded))
        ul = shift_down(self.ul_input_up(padded)) + shift_right(self.ul_input_left(padded))
        background = self.background.to(x.dtype).expand(x.shape[0], -1, -1, -1)
        for b, attention in enumerate(self.attention):
            for r in range(b * self.num_resnets, (b + 1) * self.num_resnets):
                u = self.u_blocks[r](u, y=y)
                ul = self.ul_blocks[r](ul, aux=u, y=y)
            ul = attention(ul, x, background, y)
        return self.head(F.elu(ul))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        # the mixture conditions each colour on the earlier colours' integer values
        x_int = torch.round((x.detach() + 1.0) * ((self.levels - 1) / 2.0)).long()
        x_int = x_int.clamp_(0, self.levels - 1)
        return logistic_mixture_logits(self.mixture_params(x, y), x_int, self.levels)

    def log_prob(self, x: Tensor, y: Tensor | None = None, *, per_dim: bool = False) -> Tensor:
        self.check_input(x, y)
        x = x.to(self.device)
        params = self.mixture_params(self.scale(x), y)
        per_d = logistic_mixture_log_prob(params, x.long(), self.levels)
        return per_d if per_dim else per_d.flatten(1).sum(1)
