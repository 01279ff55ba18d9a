"""Causal (masked and shifted) convolutions for raster-scan autoregressive models.

Ordering: pixels in raster scan; within a pixel, colour channel 0, then 1, then 2. Hidden feature
maps are split into colour groups by ``channel_groups``: feature ``k`` of ``n`` belongs to colour
``(k % period) % colors`` with ``period = n`` by default. Layers whose output is split in two
halves for a gate ``tanh(a) * sigmoid(b)`` use ``period = n // 2``, so ``a_k`` and ``b_k`` share a
group whatever ``n`` is; group sizes need not be equal. A feature of group ``g`` at pixel ``p``
may depend on

* any feature of any pixel before ``p`` (rows above, or the same row to the left), and
* at pixel ``p`` itself, features of groups ``< g`` (mask ``"A"``) or ``<= g`` (mask ``"B"``).

Mask ``"A"`` is used once, on the input; every later layer uses ``"B"``. The masks are fixed
buffers multiplied into the weight in the forward pass — the parameters themselves are never
written to.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.errors import ConfigError


def channel_groups(n: int, colors: int, period: int | None = None) -> Tensor:
    """Colour group of each of ``n`` features: ``(arange(n) % period) % colors``."""
    return (torch.arange(n) % (period or n)) % colors


def center_mask(
    out_channels: int, in_channels: int, colors: int, mask_type: str, out_period: int | None = None
) -> Tensor:
    """``[out, in]`` 0/1 matrix: which inputs of the *same* pixel an output may see."""
    if mask_type not in ("A", "B"):
        raise ConfigError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    g_out = channel_groups(out_channels, colors, out_period)[:, None]
    g_in = channel_groups(in_channels, colors)[None, :]
    allowed = g_in < g_out if mask_type == "A" else g_in <= g_out
    return allowed.float()


def causal_kernel_mask(
    out_channels: int,
    in_channels: int,
    kernel_size: tuple[int, int],
    colors: int,
    mask_type: str,
    out_period: int | None = None,
) -> Tensor:
    """``[out, in, kh, kw]`` mask for a centred kernel: rows above, left of centre, centre by group.

    For kernels that end at the centre (``kh`` or ``kw`` cropped, as in shifted convolutions) pass
    the full kernel size and crop, or use :class:`ShiftedConv2d`.
    """
    kh, kw = kernel_size
    mask = torch.ones(out_channels, in_channels, kh, kw)
    ci, cj = kh // 2, kw // 2
    mask[:, :, ci + 1 :, :] = 0
    mask[:, :, ci, cj + 1 :] = 0
    mask[:, :, ci, cj] = center_mask(out_channels, in_channels, colors, mask_type, out_period)
    return mask


class MaskedConv2d(nn.Conv2d):
    """Same-padded ``k x k`` convolution with a PixelCNN causal mask (van den Oord et al. 2016).

    One convolution with the full kernel times the mask. Computing only the kept taps (a
    ``(k//2) x k`` convolution over the rows above plus a ``1 x (k//2 + 1)`` one over the current
    row) does fewer multiply-adds but measured slower for every size tried, so the plain form is
    kept (the measurement and its machine: DEVELOPERS.md).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        mask_type: str,
        colors: int = 1,
        bias: bool = True,
    ) -> None:
        if kernel_size % 2 != 1:
            raise ConfigError(f"masked convolutions need an odd kernel size, got {kernel_size}")
        super().__init__(
            in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias
        )
        mask = causal_kernel_mask(
            out_channels, in_channels, (kernel_size, kernel_size), colors, mask_type
        )
        self.register_buffer("mask", mask, persistent=False)

    def masked_weight(self) -> Tensor:
        """The weight actually applied: ``weight * mask``."""
        return self.weight * self.mask

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.masked_weight(), self.bias)


class ShiftedConv2d(nn.Module):
    """Convolution whose receptive field ends at the output pixel, by padding instead of masking.

    ``direction="down"``: kernel ``(kh, kw)`` over rows ``i-kh+1 .. i`` and columns centred on ``j``
    (the vertical stack of Gated PixelCNN). ``direction="right"``: kernel ``(1, kw)`` over columns
    ``j-kw+1 .. j`` of row ``i`` (the horizontal stack); its last tap is the output pixel itself and
    is masked by colour group with ``mask_type`` (``"A"`` hides the pixel's own value entirely
    when ``colors == 1``). ``dilation`` ``(dh, dw)`` spaces the taps as in ``nn.Conv2d``; the
    padding grows with it so the field still ends at the output pixel (a ``1 x T`` map with
    ``direction="right"`` is a causal 1-D convolution, see :mod:`genzoo.nn.causal1d`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int],
        *,
        direction: str,
        colors: int = 1,
        mask_type: str | None = None,
        out_period: int | None = None,
        dilation: int | tuple[int, int] = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        kh, kw = kernel_size
        dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
        if min(kh, kw, dh, dw) < 1:
            raise ConfigError(
                f"kernel sizes and dilations must be >= 1, got {kernel_size} and {dilation}"
            )
        if direction == "down":
            if kw % 2 != 1:
                raise ConfigError(f"vertical kernels need an odd width, got {kw}")
            self.padding = ((kw // 2) * dw, (kw // 2) * dw, (kh - 1) * dh, 0)
        elif direction == "right":
            if kh != 1:
                raise ConfigError(f"horizontal kernels have height 1, got {kh}")
            self.padding = ((kw - 1) * dw, 0, 0, 0)
        else:
            raise ConfigError(f"direction must be 'down' or 'right', got {direction!r}")
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, dilation=(dh, dw), bias=bias)
        self.mask: Tensor | None
        mask = None
        if direction == "right" and mask_type is not None:
            mask = torch.ones(out_channels, in_channels, kh, kw)
            mask[:, :, 0, -1] = center_mask(
                out_channels, in_channels, colors, mask_type, out_period
            )
            if bool(mask.all()):
                mask = None
        self.register_buffer("mask", mask, persistent=False)

    def masked_weight(self) -> Tensor:
        """The weight actually applied (masked at the last tap when ``mask_type`` is given)."""
        return self.conv.weight if self.mask is None else self.conv.weight * self.mask

    def forward(self, x: Tensor) -> Tensor:
        return self.conv._conv_forward(F.pad(x, self.padding), self.masked_weight(), self.conv.bias)


class MaskedConv1x1(nn.Conv2d):
    """``1 x 1`` convolution mixing colour groups causally (mask ``"B"`` by default).

    With ``colors == 1`` there is nothing to mask and the plain convolution runs.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        colors: int = 1,
        mask_type: str = "B",
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, 1, bias=bias)
        mask = center_mask(out_channels, in_channels, colors, mask_type)[:, :, None, None]
        self.register_buffer("mask", None if bool(mask.all()) else mask, persistent=False)

    def masked_weight(self) -> Tensor:
        """The weight actually applied, ``[out, in, 1, 1]``."""
        return self.weight if self.mask is None else self.weight * self.mask

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.masked_weight(), self.bias)


def shift_down(x: Tensor, rows: int = 1) -> Tensor:
    """Shift a feature map ``[B, C, H, W]`` down by ``rows``, filling the top with zeros."""
    return F.pad(x, (0, 0, rows, 0))[:, :, : x.shape[2], :]


class CategoricalHead(nn.Sequential):
    """``ReLU -> 1x1 -> ReLU -> 1x1`` to ``levels`` logits per sub-pixel, colour-masked (mask B).

    Maps features ``[B, channels, H, W]`` to logits ``[B, levels, colors, H, W]``; output feature
    ``l * colors + c`` is level ``l`` of colour ``c`` (its colour group is ``c``).
    """

    def __init__(self, channels: int, hidden: int, levels: int, colors: int) -> None:
        super().__init__(
            nn.ReLU(),
            MaskedConv1x1(channels, hidden, colors=colors),
            nn.ReLU(),
            MaskedConv1x1(hidden, levels * colors, colors=colors),
        )
        self.levels, self.colors = levels, colors

    def forward(self, h: Tensor) -> Tensor:
        out = super().forward(h)
        return out.view(out.shape[0], self.levels, self.colors, *out.shape[2:])
