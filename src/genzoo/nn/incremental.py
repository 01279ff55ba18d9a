"""Building blocks for cached (incremental) generation with causal convolutions.

Ramachandran et al., "Fast Generation for Convolutional Autoregressive Models", ICLR workshop 2017:
a naive sampler runs the whole network for every sub-pixel, although a new pixel changes only the
activations whose receptive field contains it. A cached sampler keeps every layer's input in a
zero-padded buffer and, at each step, computes each layer's output only at the positions that just
became computable — one position (:func:`conv_at`) or one row (:func:`conv_row`). Padding the
buffer exactly as the layer pads its input makes the result equal to the full convolution there.

The second half evaluates PixelCNN++'s building blocks (:mod:`genzoo.nn.gated_resnet`, shared by
``pixelcnn_pp`` and ``pixelsnail``) one row or one position at a time: a *region* is a row ``p``
(``q is None``, values ``[n, C, W]``) or a position ``(p, q)`` (values ``[n, C]``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.nn.gated_resnet import GatedResidual, concat_elu

#: zero padding (left, right, top, bottom) of a cached map that down-shifted ``2 x 3`` and
#: down-right-shifted ``2 x 2`` (and ``1 x 3``, ``2 x 1``) convolutions read
SHIFTED_PAD = (1, 1, 1, 0)


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


# ------------------------------------------------------------------ PixelCNN++ building blocks
def conv_region(
    buffer: PaddedBuffer, weights: tuple[Tensor, Tensor | None], p: int, q: int | None
) -> Tensor:
    """Stride-1 convolution padded like ``buffer`` at row ``p`` or position ``(p, q)``."""
    return conv_row(buffer, *weights, p) if q is None else conv_at(buffer, *weights, p, q)


def read_region(buffer: PaddedBuffer, p: int, q: int | None) -> Tensor:
    """Row ``p`` ``[n, C, W]`` or position ``(p, q)`` ``[n, C]`` of a buffer."""
    if q is None:
        return buffer.data[:, :, p + buffer.top, buffer.left : buffer.left + buffer.width]
    return buffer.read(p, q)


def write_region(buffer: PaddedBuffer, p: int, q: int | None, value: Tensor) -> None:
    """Store a row ``[n, C, W]`` (``q is None``) or a position ``[n, C]``."""
    if q is None:
        buffer.write_row(p, value)
    else:
        buffer.write(p, q, value)


def down_shifted_input_row(
    x: PaddedBuffer, weights: tuple[Tensor, Tensor | None], p: int
) -> Tensor:
    """Row ``p`` ``[n, out, W]`` of ``shift(conv_2x3(x), rows=1)`` (the ``u`` stream's input):
    conv row ``p - 1``, zeros at ``p = 0``; ``x`` padded by :data:`SHIFTED_PAD`."""
    if p == 0:
        return x.data.new_zeros(x.data.shape[0], weights[0].shape[0], x.width)
    return conv_row(x, *weights, p - 1)


def input_ul_at(
    x: PaddedBuffer,
    down: tuple[Tensor, Tensor | None],
    right: tuple[Tensor, Tensor | None],
    p: int,
    q: int,
) -> Tensor:
    """:class:`~genzoo.nn.gated_resnet.InputUL` at ``(p, q)``, ``[n, out]``, from the weights of
    its ``down`` (``1 x 3``) and ``right`` (``2 x 1``) convolutions; ``x`` padded by
    :data:`SHIFTED_PAD`."""
    value = x.data.new_zeros(x.data.shape[0], down[0].shape[0])
    if p > 0:  # shift_down(conv_1x3(x)) at (p, q) = conv_1x3 at (p - 1, q): rows offset by 1
        value = value + conv_at(x, *down, p, q)
    if q > 0:  # shift_right(conv_2x1(x)) at (p, q) = conv_2x1 at (p, q - 1): cols offset by 1
        value = value + conv_at(x, *right, p, q)
    return value


class GatedResidualCache:
    """A :class:`~genzoo.nn.gated_resnet.GatedResidual` evaluated one region at a time (eval
    mode: no dropout), for labels ``y`` fixed for the run.

    A block with spatial convolutions keeps two padded buffers, ``concat_elu`` of its input and of
    its inner activation; regions must then be computed in an order in which everything the
    convolutions read already exists (rows top to bottom, or positions in raster order). A block
    of ``1 x 1`` convolutions keeps nothing.

    Args:
        block: the trained block.
        n: batch size.
        y: LongTensor ``[n]`` labels, or ``None``.
        size: ``(height, width)`` of the block's map (spatial blocks only).
        padding: the buffers' zero padding, as the block's convolutions pad.
    """

    def __init__(
        self,
        block: GatedResidual,
        n: int,
        y: Tensor | None,
        size: tuple[int, int] | None = None,
        padding: tuple[int, int, int, int] = SHIFTED_PAD,
    ) -> None:
        self.conv1, self.conv2 = conv_weights(block.conv_in), conv_weights(block.conv_out)
        self.aux = None if block.aux is None else conv_weights(block.aux)
        weight = self.conv1[0]
        self.bias = None if block.embed is None or y is None else block.embed(y)
        self.act: PaddedBuffer | None = None
        self.mid: PaddedBuffer | None = None
        if tuple(weight.shape[-2:]) != (1, 1):
            wide = weight.shape[1]  # concat_elu doubles the features
            self.act = PaddedBuffer(weight, n, wide, *size, padding)
            self.mid = PaddedBuffer(weight, n, wide, *size, padding)

    def __call__(
        self, x: Tensor, aux: Tensor | None = None, p: int | None = None, q: int | None = None
    ) -> Tensor:
        """The block's output at a region from its input ``x`` and auxiliary input ``aux`` there
        (row: ``[n, C, W]``; position: ``[n, C]``). A spatial block needs the region: row ``p``
        or position ``(p, q)``; a ``1 x 1`` block works on any values."""
        if self.act is None:
            h = pointwise(concat_elu(x), *self.conv1)
        else:
            write_region(self.act, p, q, concat_elu(x))
            h = conv_region(self.act, self.conv1, p, q)
        if self.aux is not None and aux is not None:
            h = h + pointwise(concat_elu(aux), *self.aux)
        if self.mid is None:
            h = pointwise(concat_elu(h), *self.conv2)
        else:
            write_region(self.mid, p, q, concat_elu(h))
            h = conv_region(self.mid, self.conv2, p, q)
        if self.bias is not None:
            h = h + (self.bias if x.dim() == 2 else self.bias[:, :, None])
        a, b = h.chunk(2, dim=1)
        return x + a * torch.sigmoid(b)
