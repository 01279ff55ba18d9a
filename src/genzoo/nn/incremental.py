"""Building blocks for cached (incremental) generation with causal convolutions.

Ramachandran et al., "Fast Generation for Convolutional Autoregressive Models", ICLR workshop 2017:
a naive sampler runs the whole network for every sub-pixel, although a new pixel changes only the
activations whose receptive field contains it. A cached sampler keeps every layer's input in a
zero-padded buffer and, at each step, computes each layer's output only at the positions that just
became computable — one position (:func:`conv_at`) or one row (:func:`conv_row`). Padding the
buffer exactly as the layer pads its input makes the result equal to the full convolution there.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def conv_weights(conv: nn.Module) -> tuple[Tensor, Tensor | None]:
    """``(weight, bias)`` that a convolution module applies, for one-position evaluation.

    Handles plain convolutions, genzoo's masked ones (``masked_weight()``), and wrappers that
    hold their convolution as ``.conv`` (shifted, weight-normalised: ``.weight`` is recomputed
    from the parametrisation). Read once per sampling run, not per step.
    """
    inner = conv.conv if isinstance(getattr(conv, "conv", None), nn.Module) else conv
    masked = getattr(conv, "masked_weight", None)
    weight = masked() if callable(masked) else inner.weight
    return weight.detach(), None if inner.bias is None else inner.bias.detach()


def linear_weights(conv: nn.Module) -> tuple[Tensor, Tensor | None]:
    """A convolution as ``F.linear`` weights ``[out, in * taps]`` for one output position.

    At a single pixel a matrix product is far cheaper than a convolution call (~70 us each).
    """
    weight, bias = conv_weights(conv)
    return weight.flatten(1), bias


class PaddedBuffer:
    """A feature map ``[n, C, H, W]`` stored with zero padding ``(left, right, top, bottom)``.

    Positions are addressed in unpadded coordinates; :attr:`data` is the padded tensor that
    :func:`conv_at` and :func:`conv_row` slide a kernel over.
    """

    def __init__(
        self,
        like: Tensor,
        n: int,
        channels: int,
        height: int,
        width: int,
        padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    ) -> None:
        left, right, top, bottom = padding
        self.left, self.top, self.width = left, top, width
        self.data = like.new_zeros(n, channels, height + top + bottom, width + left + right)

    def write(self, i: int, j: int, value: Tensor) -> None:
        """Store ``value [n, C]`` at position ``(i, j)``."""
        self.data[:, :, i + self.top, j + self.left] = value

    def write_row(self, i: int, value: Tensor, start: int = 0) -> None:
        """Store ``value [n, C, w]`` in row ``i`` at columns ``start .. start + w - 1``."""
        j = self.left + start
        self.data[:, :, i + self.top, j : j + value.shape[-1]] = value

    def read(self, i: int, j: int) -> Tensor:
        """The stored ``[n, C]`` at position ``(i, j)``."""
        return self.data[:, :, i + self.top, j + self.left]


def previous_pixel(i: int, j: int, width: int) -> tuple[int, int] | None:
    """The pixel generated just before ``(i, j)`` in raster order, or ``None`` at ``(0, 0)``.

    A cache writes an input pixel while its colours are still being sampled; at the next pixel
    (``c == 0``) the previous one is complete and must be written once more.
    """
    if j > 0:
        return i, j - 1
    return (i - 1, width - 1) if i > 0 else None


def conv_at(buffer: PaddedBuffer, weight: Tensor, bias: Tensor | None, i: int, j: int) -> Tensor:
    """Output ``[n, out]`` at ``(i, j)`` of a stride-1 convolution padded like ``buffer``.

    Args:
        buffer: the layer's input, padded as the layer pads it.
        weight: ``[out, in, kh, kw]`` (already masked).
        bias: ``[out]`` or ``None``.
    """
    kh, kw = weight.shape[-2:]
    window = buffer.data[:, :, i : i + kh, j : j + kw]
    return F.linear(window.reshape(window.shape[0], -1), weight.reshape(weight.shape[0], -1), bias)


def conv_row(buffer: PaddedBuffer, weight: Tensor, bias: Tensor | None, i: int) -> Tensor:
    """Output row ``[n, out, W]`` at row ``i`` of a stride-1 convolution padded like ``buffer``."""
    kh = weight.shape[-2]
    return F.conv2d(buffer.data[:, :, i : i + kh], weight, bias)[:, :, 0]


def pointwise(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """A ``1 x 1`` convolution ``weight [out, in, 1, 1]`` on ``x [n, in]`` or ``[n, in, W]``."""
    w = weight[:, :, 0, 0]
    if x.dim() == 2:
        return F.linear(x, w, bias)
    return F.conv1d(x, w[:, :, None], bias)
