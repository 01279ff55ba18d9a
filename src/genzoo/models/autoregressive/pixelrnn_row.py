"""PixelRNN with Row LSTM layers — van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent
Neural Networks", ICML 2016 (section 3.1).

A ``7 x 7`` mask-A convolution to 2h features, ``num_layers`` Row LSTM layers with h features per
gate, each wrapped in a residual connection (``x + 1x1(h)`` back to 2h, as in the paper), then
``ReLU -> 1x1 -> ReLU -> 1x1`` to a ``levels``-way softmax per sub-pixel; colour masks give R the
context, G the context and R, B the context, R and G. A Row LSTM processes the image row by row:
input-to-state is a masked ``1 x 3`` convolution along the row (computed for the whole map at
once), state-to-state a ``1 x 3`` convolution over the previous row's hidden state.

**Blind spot, by design**: the state at ``(i, j)`` sees a triangle above it — row ``i - d`` at
columns ``j - d - 1 .. j + d`` — so with the ``7 x 7`` input convolution and ``L`` layers the
conditional of pixel ``(i, j)`` sees row ``i - D`` (``D >= 1``) at columns ``j - D - L - 3 .. j +
D + 2`` and only the ``L + 3`` pixels left of it in its own row (the paper's figure 4; the
Diagonal BiLSTM, ``pixelrnn_diag``, sees the whole context).

Deviations from the paper: ``levels`` is any ``K >= 2`` (the paper uses 256); an optional class
embedding is added after the input convolution for class-conditional models (the paper is
unconditional); the masked ``1 x 3`` input-to-state kernel, whose right tap is always masked, is
stored as a ``1 x 2`` kernel over columns ``j-1, j`` (the same function, no dead weights); the
state-to-state convolution has no bias (the input-to-state one provides it); the defaults are
far smaller than the paper's 12 layers of h = 128 on CIFAR-10 (see the class docstring).
"""

from __future__ import annotations

from genzoo.models.autoregressive.pixelrnn import PixelRNN
from genzoo.models.registry import register_model
from genzoo.nn.recurrent import RowLSTM


@register_model("pixelrnn_row")
class PixelRNNRowLSTM(PixelRNN):
    """PixelRNN with ``num_layers`` residual Row LSTM layers of ``channels`` (h) features.

    Defaults are sized for a small CPU: each layer is a Python loop over rows, so small steps
    are overhead-bound and depth costs more than width. The defaults are 3 layers of h = 32 (a
    64-feature residual stream, like ``pixelcnn``'s default). Measured speed and bits/dim: the
    docs' results pages.

    Args:
        channels: hidden features per LSTM gate (h); the residual stream has 2h features.
        num_layers: residual Row LSTM layers.
        head_channels: features of the two ``1 x 1`` output layers.
    """

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        channels: int = 32,
        num_layers: int = 3,
        head_channels: int = 64,
    ) -> None:
        super().__init__(
            shape=shape,
            levels=levels,
            num_classes=num_classes,
            channels=channels,
            num_layers=num_layers,
            head_channels=head_channels,
            layer=RowLSTM,
        )
