"""Causal self-attention over the raster-scan sequence of a feature map (PixelSNAIL).

A feature map ``[B, C, H, W]`` is read as a sequence of ``N = H * W`` positions in raster order.
Position ``p`` attends only to positions **strictly before** it, so a query built from features
that already see only pixels before ``p`` may look up keys and values built from the image itself
(Chen et al. 2018). Position 0 has nothing to attend to and gets zeros.

Strict causality is computed with the ordinary causal (``k <= q``) kernel of
:func:`torch.nn.functional.scaled_dot_product_attention` by pairing the queries of positions
``1 .. N-1`` with the keys and values of positions ``0 .. N-2``: ``k <= q - 1`` is ``k < q``. No
row is fully masked (which would give NaN), and the fused kernels, which never store the
``N x N`` score matrix, stay usable.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.errors import ConfigError


def strictly_causal_attention(query: Tensor, key: Tensor, value: Tensor) -> Tensor:
    """Softmax attention in which position ``p`` attends to positions ``< p`` only.

    Args:
        query: ``[B, heads, N, Dk]``.
        key: ``[B, heads, N, Dk]``.
        value: ``[B, heads, N, Dv]``.

    Returns:
        ``[B, heads, N, Dv]``: ``out[..., p, :] = sum_{k<p} softmax_k(q_p . k_k / sqrt(Dk)) v_k``
        and ``out[..., 0, :] = 0``.
    """
    if query.shape[-2] == 1:
        return value.new_zeros(value.shape)
    dk, dv = query.shape[-1], value.shape[-1]
    # The fused kernels need one head size: zero features change neither scores nor values.
    width = max(dk, dv)
    query, key, value = (F.pad(t, (0, width - t.shape[-1])) for t in (query, key, value))
    out = F.scaled_dot_product_attention(
        query[..., 1:, :], key[..., :-1, :], value[..., :-1, :], is_causal=True, scale=dk**-0.5
    )
    return F.pad(out[..., :dv], (0, 0, 1, 0))  # position 0: zeros


class CausalSelfAttention(nn.Module):
    """Multi-head attention from each pixel to every earlier pixel (raster order).

    Queries are ``1 x 1`` projections of ``query`` features, keys and values ``1 x 1`` projections
    of ``context`` features (PixelSNAIL: the stream's features, the image and a positional
    background). Heads split the key and value channels evenly. There is no output projection:
    callers mix the result in with their own ``1 x 1`` layer.

    Args:
        query_channels: features of the query map.
        context_channels: features of the key/value map.
        key_channels: query/key features over all heads (``key_channels // heads`` per head).
        value_channels: value (= output) features over all heads.
        heads: number of attention heads; must divide ``key_channels`` and ``value_channels``.
    """

    def __init__(
        self,
        query_channels: int,
        context_channels: int,
        key_channels: int,
        value_channels: int,
        heads: int = 1,
    ) -> None:
        super().__init__()
        if heads < 1 or key_channels % heads or value_channels % heads:
            raise ConfigError(
                f"heads ({heads}) must be positive and divide key_channels ({key_channels}) and "
                f"value_channels ({value_channels})"
            )
        self.heads = heads
        self.query = nn.Conv2d(query_channels, key_channels, 1)
        self.key_value = nn.Conv2d(context_channels, key_channels + value_channels, 1)
        self.key_channels, self.value_channels = key_channels, value_channels

    def _split_heads(self, x: Tensor) -> Tensor:
        """``[B, heads * D, H, W]`` -> ``[B, heads, H * W, D]``."""
        b, c, h, w = x.shape
        x = x.reshape(b, self.heads, c // self.heads, h * w).transpose(-1, -2)
        return x.contiguous()  # the fused CPU kernel needs unit stride along features

    def forward(self, query: Tensor, context: Tensor) -> Tensor:
        """Attend from every position of ``query`` to the earlier positions of ``context``.

        Args:
            query: ``[B, query_channels, H, W]``; the query at ``p`` reaches output ``p`` only.
            context: ``[B, context_channels, H, W]``; positions before ``p`` reach output ``p``.

        Returns:
            ``[B, value_channels, H, W]``, zeros at position ``(0, 0)``.
        """
        b, _, h, w = query.shape
        k, v = self.key_value(context).split([self.key_channels, self.value_channels], dim=1)
        out = strictly_causal_attention(
            self._split_heads(self.query(query)), self._split_heads(k), self._split_heads(v)
        )
        return out.transpose(-1, -2).reshape(b, self.value_channels, h, w)
