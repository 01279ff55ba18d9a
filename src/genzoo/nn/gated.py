"""Gated convolutional layers of the Conditional PixelCNN (van den Oord et al. 2016)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genzoo.nn.masked import MaskedConv1x1, ShiftedConv2d, shift_down


def gate(x: Tensor) -> Tensor:
    """``tanh(a) * sigmoid(b)`` for ``x = [a, b]`` split along channels."""
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    """One layer of vertical + horizontal stacks without a blind spot.

    * vertical stack: a ``(k//2 + 1) x k`` convolution over the rows up to and including the
      current one; it never feeds the output directly.
    * vertical -> horizontal: the vertical pre-activations, **shifted down one row** (so they only
      carry rows strictly above), through a ``1 x 1`` convolution.
    * horizontal stack: a ``1 x (k//2 + 1)`` convolution over the current row up to the current
      pixel, whose own sub-pixels are masked by colour group (``mask_type``).
    * gated units ``tanh * sigmoid``; a class embedding adds a bias to both stacks; the horizontal
      output goes through a ``1 x 1`` to a skip connection and (when shapes allow) a residual one.

    The vertical stack's field grows upward and sideways at every layer and is shifted once, where
    it joins the horizontal stack, so every pixel above and to the right is reachable — shifting the
    vertical stack at every layer would reintroduce a blind spot (see SCIENCE.md).

    Returns ``(v, h, skip)``; ``h`` already includes the residual (callers must not add it again).
    With ``last=True`` only ``skip`` is meaningful: the layer has no horizontal output convolution
    (it would feed nothing) and ``v``/``h`` come back unchanged in role, not to be used further.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kernel_size: int,
        *,
        colors: int,
        mask_type: str,
        num_classes: int | None = None,
        dropout: float = 0.0,
        last: bool = False,
    ) -> None:
        super().__init__()
        k = kernel_size
        self.last = last
        self.residual = in_channels == channels
        self.v_conv = ShiftedConv2d(in_channels, 2 * channels, (k // 2 + 1, k), direction="down")
        self.h_conv = ShiftedConv2d(
            in_channels,
            2 * channels,
            (1, k // 2 + 1),
            direction="right",
            colors=colors,
            mask_type=mask_type,
            out_period=channels,  # gate halves a_k, b_k share colour group k % colors
        )
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        # the last layer's horizontal output would feed nothing: only its skip is used
        self.h_out = None if last else MaskedConv1x1(channels, channels, colors=colors)
        self.skip = MaskedConv1x1(channels, channels, colors=colors)
        self.embed = None if num_classes is None else nn.Embedding(num_classes, 4 * channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(
        self, v: Tensor, h: Tensor, y: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        v_pre = self.v_conv(v)
        h_pre = self.h_conv(h) + self.v_to_h(shift_down(v_pre))
        if self.embed is not None and y is not None:
            bias_v, bias_h = self.embed(y)[:, :, None, None].chunk(2, dim=1)
            v_pre = v_pre + bias_v
            h_pre = h_pre + bias_h
        gated = self.dropout(gate(h_pre))
        if self.h_out is None:
            return v_pre, h, self.skip(gated)
        h_new = self.h_out(gated)
        if self.residual:
            h_new = h + h_new
        return gate(v_pre), h_new, self.skip(gated)
