"""PixelCNN++ building blocks (Salimans et al. 2017), shared by ``pixelcnn_pp`` and ``pixelsnail``.

* :func:`concat_elu` — ``elu([x, -x])``;
* :class:`ShiftedConv` — weight-normalised convolution whose field ends at the output's row:
  "down-shifted" (columns centred) or "down-right-shifted" (columns ending at the output), with
  an optional stride 2;
* :class:`InputUL` — the ``ul`` stream's first layer (rows above and the current row to the left);
* :func:`shift` — move a map down / right, filling with zeros (turns "up to and including" into
  "strictly before");
* :class:`GatedResidual` — ``x + a * sigmoid(b)``, ``[a, b] = conv(dropout(celu(conv(celu(x)) +
  nin(celu(aux))))) + embed(y)``, with any causal convolution.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

ConvFactory = Callable[[int, int], nn.Module]


def concat_elu(x: Tensor) -> Tensor:
    """``elu([x, -x])`` along channels: ``[B, C, H, W] -> [B, 2C, H, W]``; maps 0 to 0."""
    return F.elu(torch.cat([x, -x], dim=1))


def shift(x: Tensor, rows: int = 0, cols: int = 0) -> Tensor:
    """Shift ``[B, C, H, W]`` down by ``rows`` and right by ``cols``, filling with zeros."""
    height, width = x.shape[-2:]
    return F.pad(x, (cols, 0, rows, 0))[:, :, :height, :width]


def nin(cin: int, cout: int) -> nn.Conv2d:
    """Weight-normalised ``1 x 1`` convolution ("network in network")."""
    return weight_norm(nn.Conv2d(cin, cout, 1))


class ShiftedConv(nn.Module):
    """Weight-normalised convolution over rows up to the output's own (``kh - 1`` above).

    ``right=False`` ("down-shifted"): columns centred on the output; ``right=True``
    ("down-right-shifted"): the ``kw`` columns ending at the output. ``stride=2`` halves the size
    (``ceil``); output ``(p, q)`` then ends at input ``(2p, 2q)``.
    """

    def __init__(
        self, cin: int, cout: int, kernel: tuple[int, int], *, right: bool, stride: int = 1
    ) -> None:
        super().__init__()
        kh, kw = kernel
        left = kw - 1 if right else (kw - 1) // 2
        self.padding = (left, kw - 1 - left, kh - 1, 0)
        self.conv = weight_norm(nn.Conv2d(cin, cout, kernel, stride=stride))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, self.padding))


class InputUL(nn.Module):
    """The ``ul`` stream's input: ``shift_down(conv_1x3(x)) + shift_right(conv_2x1(x))``.

    Sees the rows strictly above and the current row strictly left of each pixel.
    """

    def __init__(self, cin: int, filters: int) -> None:
        super().__init__()
        self.down = ShiftedConv(cin, filters, (1, 3), right=False)
        self.right = ShiftedConv(cin, filters, (2, 1), right=True)

    def forward(self, x: Tensor) -> Tensor:
        return shift(self.down(x), rows=1) + shift(self.right(x), cols=1)


class GatedResidual(nn.Module):
    """Gated residual block; returns ``x + a * sigmoid(b)`` (callers must not add ``x`` again).

    Args:
        channels: features of ``x`` (and of the output).
        conv: factory ``(in, out) -> module`` of the block's two causal convolutions.
        aux_channels: features of the auxiliary input (0: none), added through a ``1 x 1``.
        num_classes: adds a learned per-class bias (initialised ``N(0, 0.05)`` as in the paper).
        dropout: dropout probability before the second convolution (training only).
        init_scale: multiplies the second convolution's initial weights (PixelCNN++: 0.1), so a
            deep stack starts near the identity.
    """

    def __init__(
        self,
        channels: int,
        conv: ConvFactory,
        *,
        aux_channels: int = 0,
        num_classes: int | None = None,
        dropout: float = 0.0,
        init_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.conv_in = conv(2 * channels, channels)
        self.aux = nin(2 * aux_channels, channels) if aux_channels else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv_out = conv(2 * channels, 2 * channels)
        if init_scale != 1.0:
            _scale_weight(self.conv_out, init_scale)
        self.embed = None
        if num_classes:
            self.embed = nn.Embedding(num_classes, 2 * channels)
            nn.init.normal_(self.embed.weight, std=0.05)

    def forward(self, x: Tensor, aux: Tensor | None = None, y: Tensor | None = None) -> Tensor:
        h = self.conv_in(concat_elu(x))
        if self.aux is not None and aux is not None:
            h = h + self.aux(concat_elu(aux))
        h = self.conv_out(self.dropout(concat_elu(h)))
        if self.embed is not None and y is not None:
            h = h + self.embed(y)[:, :, None, None]
        a, b = h.chunk(2, dim=1)
        return x + a * torch.sigmoid(b)


def _scale_weight(module: nn.Module, scale: float) -> None:
    """Multiply a convolution's effective weight by ``scale`` (its gain, if weight-normalised)."""
    conv = getattr(module, "conv", module)
    with torch.no_grad():
        if hasattr(conv, "parametrizations"):
            conv.parametrizations.weight.original0.mul_(scale)  # g in w = g v / |v|
        else:
            conv.weight.mul_(scale)
