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

Cached sampling (:class:`_PixelSNAILCache`, the convolution caches of Ramachandran et al. 2017 plus
a key/value cache per attention block): ``u`` sees only the rows above, so each of its rows is
computed once, at the first pixel of the row; ``ul`` is computed at the new pixel only, block by
block. An attention block's query at pixel ``p`` needs only ``ul`` at ``p``; it attends over the
stored keys and values of pixels ``0 .. p - 1``. The key and value of ``p`` are built from the image
at ``p``, so they are added when ``p`` is complete: at the first colour of pixel ``p + 1``. Per
pixel the cost is the blocks' few taps plus ``p`` dot products per attention head, instead of a
full pass.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core.params import Constraint, Float, Int, depth
from genzoo.distributions import logistic_mixture_channels
from genzoo.distributions import logistic_mixture_logits as mixture_logits
from genzoo.errors import ConfigError
from genzoo.models.autoregressive.base import PIXEL_MODEL_RECIPE, LogisticMixtureModel
from genzoo.models.registry import register_model
from genzoo.nn.attention import CausalSelfAttention
from genzoo.nn.gated_resnet import GatedResidual, InputUL, ShiftedConv, nin, shift
from genzoo.nn.incremental import (
    SHIFTED_PAD,
    GatedResidualCache,
    PaddedBuffer,
    conv_weights,
    down_shifted_input_row,
    input_ul_at,
    pointwise,
    previous_pixel,
)

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

    def incremental_sampler(self, n: int, y: Tensor | None) -> _PixelSNAILCache:
        return _PixelSNAILCache(self, n, y)


class _AttentionCache:
    """One :class:`AttentionBlock` at one pixel at a time, with the keys and values ``[n, heads,
    H * W, D]`` of the pixels already complete."""

    def __init__(self, block: AttentionBlock, n: int, y: Tensor | None, positions: int) -> None:
        self.context = GatedResidualCache(block.context, n, y)
        self.query_block = GatedResidualCache(block.query, n, y)
        self.mix = GatedResidualCache(block.mix, n, y)
        attention = block.attention
        self.query = conv_weights(attention.query)
        self.key_value = conv_weights(attention.key_value)
        self.heads, self.split = attention.heads, [attention.key_channels, attention.value_channels]
        like = self.query[0]
        dk, dv = (c // self.heads for c in self.split)
        self.scale = dk**-0.5
        self.keys = like.new_zeros(n, self.heads, positions, dk)
        self.values = like.new_zeros(n, self.heads, positions, dv)
        self.ul: Tensor | None = None  # the block's input at the newest pixel

    def remember(self, p: int, x: Tensor, background: Tensor) -> None:
        """Add the key and value of pixel ``p`` (the newest one, now complete: scaled colours
        ``x [n, C]``, ``background [n, 2]``)."""
        context = self.context(torch.cat([x, self.ul, background], dim=1))
        key, value = pointwise(context, *self.key_value).split(self.split, dim=1)
        n = key.shape[0]
        self.keys[:, :, p] = key.view(n, self.heads, -1)
        self.values[:, :, p] = value.view(n, self.heads, -1)

    def __call__(self, ul: Tensor, background: Tensor, p: int) -> Tensor:
        """The block's output ``[n, channels]`` at pixel ``p`` from its input ``ul [n, channels]``;
        attends to the pixels ``< p`` (position 0: to nothing, zeros)."""
        self.ul = ul
        n = ul.shape[0]
        query = self.query_block(torch.cat([ul, background], dim=1))
        if p == 0:
            attended = ul.new_zeros(n, self.values.shape[1] * self.values.shape[3])
        else:
            q = pointwise(query, *self.query).view(n, self.heads, 1, -1)
            keys, values = self.keys[:, :, :p], self.values[:, :, :p]
            attended = F.scaled_dot_product_attention(q, keys, values, scale=self.scale)
            attended = attended.reshape(n, -1)
        return self.mix(ul, attended)


class _PixelSNAILCache:
    """Buffers of the image and of every convolved block, the current row of every ``u`` map, and
    an :class:`_AttentionCache` per attention block."""

    def __init__(self, model: PixelSNAIL, n: int, y: Tensor | None) -> None:
        self.model = model
        colors, height, width = model.shape
        like = model.head.weight
        self.x = PaddedBuffer(like, n, colors + 1, height, width, SHIFTED_PAD)
        self.x.data[:, colors, 1:, 1:-1] = 1.0  # the channel of ones, known in advance
        self.u_input = conv_weights(model.u_input)
        self.ul_input = conv_weights(model.ul_input.down), conv_weights(model.ul_input.right)
        size = (height, width)
        self.u_blocks = [GatedResidualCache(b, n, y, size) for b in model.u_blocks]
        self.ul_blocks = [GatedResidualCache(b, n, y, size) for b in model.ul_blocks]
        self.attention = [_AttentionCache(b, n, y, height * width) for b in model.attention]
        self.u_rows: list[Tensor] = []  # row i of the output of every u block
        background = model.background.to(like.dtype)[0]  # [2, H, W]
        self.background = background.permute(1, 2, 0)[:, :, None].expand(-1, -1, n, -1)
        self.head = conv_weights(model.head)
        self.params: Tensor | None = None

    def logits(self, x: Tensor, i: int, j: int, c: int) -> Tensor:
        model = self.model
        if c == 0:  # the network runs once per pixel; the previous pixel is now complete
            width = model.shape[2]
            previous = previous_pixel(i, j, width)
            if previous is not None:
                pi, pj = previous
                scaled = model.scale(x[:, :, pi, pj])
                self.x.data[:, :-1, pi + 1, pj + 1] = scaled
                for attention in self.attention:
                    attention.remember(pi * width + pj, scaled, self.background[pi, pj])
            if j == 0:
                self._rows(i)
            self._pixel(i, j)
        pixel = x[:, :, i : i + 1, j : j + 1]
        return mixture_logits(self.params, pixel, model.levels)[:, :, c, 0, 0]

    def _rows(self, i: int) -> None:
        """Row ``i`` of every ``u`` map (it sees the rows above only, now all final)."""
        u = down_shifted_input_row(self.x, self.u_input, i)
        self.u_rows = []
        for block in self.u_blocks:
            u = block(u, None, i, None)
            self.u_rows.append(u)

    def _pixel(self, i: int, j: int) -> None:
        """``ul`` at pixel ``(i, j)`` through every block, then the mixture parameters."""
        resnets = self.model.num_resnets
        p, background = i * self.model.shape[2] + j, self.background[i, j]
        ul = input_ul_at(self.x, *self.ul_input, i, j)
        for b, attention in enumerate(self.attention):
            for r in range(b * resnets, (b + 1) * resnets):
                ul = self.ul_blocks[r](ul, self.u_rows[r][:, :, j], i, j)
            ul = attention(ul, background, p)
        self.params = pointwise(F.elu(ul), *self.head)[:, :, None, None]
