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
* the convolutions, input layers and gated residual blocks are PixelCNN++'s, shared with
  ``pixelcnn_pp`` (:mod:`genzoo.nn.gated_resnet`: weight-normalised, second convolution of each
  block initialised at 0.1 scale), one resolution only;
* much smaller defaults (the paper: 256 filters, 12 blocks of 4 residual blocks, key size 16, 10
  mixture components, 8 GPUs) sized for a 2-core CPU on 8 x 8 digits and 28 x 28 Fashion-MNIST;
* no exponential moving average or Polyak averaging in the model (``genzoo train --ema-decay``).
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core.params import Constraint, Float, Int, depth
from genzoo.distributions import logistic_mixture_channels
from genzoo.errors import ConfigError
from genzoo.models.autoregressive.base import PIXEL_MODEL_RECIPE, LogisticMixtureModel
from genzoo.models.registry import register_model
from genzoo.nn.attention import CausalSelfAttention
from genzoo.nn.gated_resnet import GatedResidual, InputUL, ShiftedConv, nin, shift

#: the two streams' convolutions, PixelCNN++'s: ``u`` down-shifted 2x3, ``ul`` down-right 2x2
down_conv = partial(ShiftedConv, kernel=(2, 3), right=False)
down_right_conv = partial(ShiftedConv, kernel=(2, 2), right=True)


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
        self.context = GatedResidual(kv_in, nin, **kw)
        self.query = GatedResidual(q_in, nin, **kw)
        self.attention = CausalSelfAttention(q_in, kv_in, key_channels, channels, heads)
        self.mix = GatedResidual(channels, nin, aux_channels=channels, **kw)

    def forward(self, ul: Tensor, x: Tensor, background: Tensor, y: Tensor | None) -> Tensor:
        context = self.context(torch.cat([x, ul, background], dim=1), y=y)
        query = self.query(torch.cat([ul, background], dim=1), y=y)
        return self.mix(ul, aux=self.attention(query, context), y=y)


@register_model("pixelsnail")
class PixelSNAIL(LogisticMixtureModel):
    """PixelSNAIL: ``num_blocks`` x (``num_resnets`` causal gated residual blocks + attention).

    Defaults: 32 features, 2 blocks of 2 residual blocks, 4 heads of 8 key and 8 value features,
    5 logistic components, dropout 0.1. Attention, not depth, gives every pixel the whole context,
    so a shallow stack suffices; the convolutions dominate the cost, which grows with the square
    of ``channels`` (doubling the features costs about 2-3x per image). Equal key and
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

    train_defaults: ClassVar[dict[str, Any]] = PIXEL_MODEL_RECIPE

    params: ClassVar[dict[str, Constraint]] = {
        "channels": Int(min=1),
        "num_blocks": depth(),
        "num_resnets": depth(),
        "num_heads": Int(min=1),
        "key_channels": Int(min=1),
        "num_mixtures": Int(min=1),
        "dropout": Float(0.0, 1.0, max_open=True),
    }

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
        if channels % num_heads or key_channels % num_heads:
            raise ConfigError(
                f"num_heads ({num_heads}) must divide channels ({channels}) and key_channels "
                f"({key_channels}); pass a divisor of both"
            )
        self.num_mixtures = num_mixtures
        kw = {"num_classes": self.num_classes, "dropout": dropout}
        # colour channels + a channel of ones that tells the image from the zero padding
        self.u_input = ShiftedConv(colors + 1, channels, (2, 3), right=False)
        self.ul_input = InputUL(colors + 1, channels)
        self.u_blocks = nn.ModuleList(
            GatedResidual(channels, down_conv, **kw) for _ in range(num_blocks * num_resnets)
        )
        self.ul_blocks = nn.ModuleList(
            GatedResidual(channels, down_right_conv, aux_channels=channels, **kw)
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
        u = shift(self.u_input(padded), rows=1)
        ul = self.ul_input(padded)
        background = self.background.to(x.dtype).expand(x.shape[0], -1, -1, -1)
        for b, attention in enumerate(self.attention):
            for r in range(b * self.num_resnets, (b + 1) * self.num_resnets):
                u = self.u_blocks[r](u, y=y)
                ul = self.ul_blocks[r](ul, aux=u, y=y)
            ul = attention(ul, x, background, y)
        return self.head(F.elu(ul))
