"""PixelRNN with Diagonal BiLSTM layers — van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel
Recurrent Neural Networks", ICML 2016 (section 3.2).

A ``7 x 7`` mask-A convolution to 2h features, ``num_layers`` Diagonal BiLSTM layers with h
features per gate, each wrapped in a residual connection (``x + 1x1(h)`` back to 2h, as in the
paper), then ``ReLU -> 1x1 -> ReLU -> 1x1`` to a ``levels``-way softmax per sub-pixel; colour masks
give R the context, G the context and R, B the context, R and G.

Each layer skews the map (row ``i`` shifted right by ``i``) so that a diagonal is one column and
scans the columns: masked ``1 x 1`` input-to-state, ``2 x 1`` state-to-state over the previous
column (the pixels above and to the left). A second direction runs on the mirrored map; its
output is shifted down one row before the two are added, so a single layer already sees the whole
context: **no blind spot** (tested) — once a boundary gap of the paper's design is closed (below).

Deviations from the paper: ``levels`` is any ``K >= 2`` (the paper uses 256); an optional class
embedding is added after the input convolution for class-conditional models (the paper is
unconditional); the layers run on the image plus one column past its right edge (the input
convolution's output there holds the last pixel of each row, which the paper's right-to-left
direction never receives: without it, pixel ``(i-1, W-1)`` is unseen from ``(i, j < W-4)`` at any
depth); the right-to-left direction's input-to-state is not masked — after the one-row
shift it only ever reads complete rows above, so a mask would only hide information; states
outside the image are zero (the paper does not say how the skewed borders are padded); the
state-to-state convolutions have no bias (the input-to-state ones provide it); the defaults are
far smaller than the paper's (7 layers of h = 16 on MNIST, 12 of h = 128 on CIFAR-10; see the
class docstring).
"""

from __future__ import annotations

from genzoo.models.autoregressive.pixelrnn import PixelRNN
from genzoo.models.registry import register_model
from genzoo.nn.recurrent import DiagonalBiLSTM


@register_model("pixelrnn_diag")
class PixelRNNDiagonalBiLSTM(PixelRNN):
    """PixelRNN with ``num_layers`` residual Diagonal BiLSTM layers of ``channels`` (h) features.

    Defaults are sized for a small CPU: each layer is a Python loop over the ``H + W`` diagonals
    (both directions in one grouped step), so depth costs more than width. One layer already sees
    the whole context; the defaults are 2 layers of h = 32 (a 64-feature residual stream).
    Measured speed and bits/dim: the docs' results pages.

    With the paper's ``7 x 7`` mask-A input convolution, the last pixel of a row, ``(i-1, W-1)``,
    appears in the convolution's output only at column ``W``, outside the image, so the
    right-to-left direction of row ``i-1`` never receives it and pixels ``(i, j < W-4)`` would not
    see it, however deep the network. The input convolution is therefore computed one column past
    the right edge (``extra_columns = 1``), where that direction starts; the extra column's
    outputs are dropped.

    Args:
        channels: hidden features per LSTM gate (h); the residual stream has 2h features.
        num_layers: residual Diagonal BiLSTM layers.
        head_channels: features of the two ``1 x 1`` output layers.
    """

    extra_columns = 1

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        channels: int = 32,
        num_layers: int = 2,
        head_channels: int = 64,
    ) -> None:
        super().__init__(
            shape=shape,
            levels=levels,
            num_classes=num_classes,
            channels=channels,
            num_layers=num_layers,
            head_channels=head_channels,
            layer=DiagonalBiLSTM,
        )
