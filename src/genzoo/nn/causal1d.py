"""Causal 1-D convolutions: the PixelCNN masks for a sequence, as a one-row image.

A sequence ``x [B, C, T]`` is a ``1 x T`` image read left to right, so its causal convolution
is the horizontal stack's :class:`~genzoo.nn.masked.ShiftedConv2d` (``direction="right"``): the
``k`` taps, spaced by the dilation ``d``, end at the output position ``t``,

    y[t] = b + sum_{i=0}^{k-1} M_i W_i x[t - i d],      zeros before the start,

and the tap on ``t`` itself is masked by ``mask_type`` exactly as for a pixel with one colour:
``"A"`` hides it (the first layer must not see ``x_t`` when predicting it), ``"B"`` keeps it
(later layers may see position ``t`` of features that themselves only saw ``x_<t``). Padding
replaces the masks of the positions to the right, as in WaveNet (van den Oord et al. 2016b) and
Gated PixelCNN's stacks; nothing here re-implements the masks of :mod:`genzoo.nn.masked`.

``GatedCausalBlock``: ``h + W_1x1 gate([a, b])`` with ``[a, b]`` a dilated causal convolution of
``h`` (mask B) and :func:`~genzoo.nn.gated.gate` the gated unit ``tanh(a) * sigmoid(b)`` of
Gated PixelCNN / WaveNet; the block adds ``h`` itself (do not wrap it in another residual).
"""

from __future__ import annotations

from torch import Tensor, nn

from genzoo.nn.gated import gate
from genzoo.nn.masked import ShiftedConv2d


class CausalConv1d(ShiftedConv2d):
    """Dilated 1-D convolution whose output at ``t`` sees inputs ``t - (k-1) d .. t``.

    Args:
        in_channels, out_channels: as ``nn.Conv1d``.
        kernel_size: taps ``k``.
        dilation: spacing ``d`` of the taps.
        mask_type: ``"B"`` keeps the tap on ``t``; ``"A"`` masks it, so the output sees only
            ``t - (k-1) d .. t - d`` (nothing at all when ``k == 1``).
        bias: as ``nn.Conv1d``.

    Shapes: ``[B, in_channels, T] -> [B, out_channels, T]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        dilation: int = 1,
        mask_type: str = "B",
        bias: bool = True,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            (1, kernel_size),
            direction="right",
            mask_type=mask_type,
            dilation=(1, dilation),
            bias=bias,
        )

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.unsqueeze(2)).squeeze(2)


class GatedCausalBlock(nn.Module):
    """Residual gated block: ``h + proj(gate(causal_conv(h)))`` (mask B).

    Shapes: ``[B, channels, T] -> [B, channels, T]``; sees ``(k - 1) * dilation`` more past steps.
    """

    def __init__(self, channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.conv = CausalConv1d(channels, 2 * channels, kernel_size, dilation=dilation)
        self.proj = nn.Conv1d(channels, channels, 1)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.proj(gate(self.conv(h)))
