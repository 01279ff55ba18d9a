"""The network shared by the two PixelRNNs — van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel
Recurrent Neural Networks", ICML 2016 (section 3 and figure 5).

``7 x 7`` mask-A convolution to ``2h`` features -> ``num_layers`` residual LSTM layers (Row LSTM or
Diagonal BiLSTM, :mod:`genzoo.nn.recurrent`) -> ``ReLU -> 1x1 -> ReLU -> 1x1`` (mask B) to a
``levels``-way softmax per sub-pixel. The registered models are in ``pixelrnn_row.py`` and
``pixelrnn_diag.py``; this module also holds their cached sampler, which keeps every layer's
recurrent state and computes, per sub-pixel, only the pixel being generated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core.params import Constraint, Int, depth
from genzoo.models.autoregressive.base import PIXEL_MODEL_RECIPE, AutoregressiveModel
from genzoo.nn import CategoricalHead, MaskedConv2d
from genzoo.nn.incremental import conv_weights, linear_weights


class PixelRNN(AutoregressiveModel):
    """Input convolution, residual LSTM layers made by ``layer``, categorical head.

    ``layer(channels, hidden, colors)`` builds one residual layer (``[B, 2h, H, W]`` to the same
    shape) with a ``stepper(n, width)`` method for cached sampling.
    """

    train_defaults: ClassVar[dict[str, Any]] = PIXEL_MODEL_RECIPE

    #: columns computed past the right edge of the image (their outputs are dropped), so that a
    #: right-to-left direction starts where the input convolution's output holds the last pixel.
    extra_columns: ClassVar[int] = 0
    params: ClassVar[dict[str, Constraint]] = {
        "channels": Int(min=1),
        "num_layers": depth(),
        "head_channels": Int(min=1),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None,
        channels: int,
        num_layers: int,
        head_channels: int,
        layer: Callable[[int, int, int], nn.Module],
    ) -> None:
        super().__init__(shape=shape, levels=levels, num_classes=num_classes)
        colors, width = self.shape[0], 2 * channels
        self.input = MaskedConv2d(colors, width, 7, mask_type="A", colors=colors)
        self.embed = None if num_classes is None else nn.Embedding(self.num_classes, width)
        self.layers = nn.ModuleList(layer(width, channels, colors) for _ in range(num_layers))
        self.head = CategoricalHead(width, head_channels, self.levels, colors)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.input(F.pad(x, (0, self.extra_columns)))
        if self.embed is not None and y is not None:
            h = h + self.embed(y)[:, :, None, None]
        for layer in self.layers:
            h = layer(h)
        return self.head(h[:, :, :, : self.shape[2]])

    def incremental_sampler(self, n: int, y: Tensor | None) -> PixelRNNSampler:
        return PixelRNNSampler(self, n, y)


class PixelRNNSampler:
    """Cached generation (an :class:`~genzoo.models.autoregressive.base.IncrementalSampler`).

    Per call, only pixel ``(i, j)`` is computed: the input convolution on its causal
    neighbourhood, one step of every layer, the head — as matrix products with weights read once
    here. A pixel is recomputed for each of its colours; nothing at ``(i, j)`` depends on its last
    colour, so the states left by the last call are final. At the start of row ``i``, the extra
    columns of row ``i-1`` are stepped, then every layer's ``start_row(i)`` runs (the Diagonal
    BiLSTM's right-to-left pass over row ``i-1``).
    """

    def __init__(self, model: PixelRNN, n: int, y: Tensor | None) -> None:
        self.model = model
        self.width = model.shape[2]
        steps = self.width + model.extra_columns
        self.layers = [layer.stepper(n, steps) for layer in model.layers]  # type: ignore[operator]
        self.radius = model.input.kernel_size[0] // 2
        weight, self.b_input = conv_weights(model.input)
        self.w_input = weight[:, :, : self.radius + 1].flatten(1)  # rows below are masked out
        if model.embed is not None and y is not None:
            self.b_input = self.b_input + model.embed(y)  # [n, 2h]
        self.head = [
            linear_weights(m) if isinstance(m, nn.Conv2d) else m for m in model.head
        ]  # ReLU -> 1x1 -> ReLU -> 1x1

    def logits(self, x: Tensor, i: int, j: int, c: int) -> Tensor:
        if j == 0 and c == 0:
            if i > 0:  # row i-1 is final: its columns past the edge can be computed
                for col in range(self.width, self.width + self.model.extra_columns):
                    self._step(x, i - 1, col)
            for layer in self.layers:
                layer.start_row(i)
        h = self._step(x, i, j)
        for op in self.head:
            h = F.linear(h, *op) if isinstance(op, tuple) else op(h)
        return h.view(h.shape[0], self.model.levels, -1)[:, :, c]

    def _step(self, x: Tensor, i: int, j: int) -> Tensor:
        """Features ``[n, 2h]`` after the last layer at ``(i, j)``; ``j`` may pass the edge."""
        r, width = self.radius, self.width
        window = x[:, :, max(0, i - r) : i + 1, max(0, j - r) : j + r + 1]
        pad = (max(0, r - j), max(0, j + r + 1 - width), max(0, r - i), 0)
        patch = F.pad(self.model.scale(window), pad)  # [n, C, r + 1, 2r + 1], zeros outside
        h = F.linear(patch.flatten(1), self.w_input, self.b_input)
        for layer in self.layers:
            h = layer.step(h, j)
        return h
