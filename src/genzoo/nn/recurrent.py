"""Two-dimensional LSTM layers of PixelRNN (van den Oord, Kalchbrenner & Kavukcuoglu, ICML 2016).

Both layers are residual: they map ``[B, channels, H, W]`` (``channels`` = 2h in the paper) to the
same shape, ``x + up(h)``, where ``h`` is the hidden map of an LSTM with ``hidden`` (= h) features
per gate and ``up`` a mask-B ``1 x 1`` convolution back to ``channels`` features.

An LSTM step takes pre-activations ``[o, f, i, g]`` (input-to-state plus state-to-state) and the
previous cell ``c``: ``c' = sigmoid(f) c + sigmoid(i) tanh(g)``, ``h' = sigmoid(o) tanh(c')``.

Colour order: gate feature ``k`` of every gate belongs to colour group ``k % colors`` (the
input-to-state masks use ``out_period = hidden``), so ``h`` and ``c`` feature ``k`` are in group
``k % colors`` too. Input-to-state convolutions are masked (mask B) at the current pixel;
state-to-state convolutions read only pixels that are entirely in the past and need no mask.

Training runs one Python step per row (Row LSTM) or per diagonal (Diagonal BiLSTM), each step
vectorised over the batch and the whole row or diagonal. For cached sampling, :meth:`stepper`
returns per-layer recurrent state that advances one pixel at a time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.nn.incremental import linear_weights
from genzoo.nn.masked import MaskedConv1x1, ShiftedConv2d, shift_down


def lstm_cell(gates: Tensor, c: Tensor, dim: int = 1) -> tuple[Tensor, Tensor]:
    """One LSTM update from pre-activations ``gates = [o, f, i, g]`` (4 chunks along ``dim``).

    Args:
        gates: ``[..., 4 * hidden, ...]`` pre-activations.
        c: previous cell state, ``gates``'s shape with ``hidden`` along ``dim``.

    Returns:
        ``(h, c)`` of the shape of ``c``.
    """
    o, f, i, g = gates.chunk(4, dim)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def skew(x: Tensor) -> Tensor:
    """Shift row ``i`` of ``x [B, C, H, W]`` right by ``i``: ``[B, C, H, W + H - 1]``, zero-filled.

    Pixel ``(i, j)`` lands in column ``i + j``, so every column of the result is one diagonal.
    """
    b, c, h, w = x.shape
    flat = F.pad(x, (0, h)).flatten(2)  # rows of width w + h, one after the other
    return flat[:, :, : h * (w + h - 1)].view(b, c, h, w + h - 1)


def unskew(x: Tensor, width: int) -> Tensor:
    """Inverse of :func:`skew`: ``[B, C, H, W + H - 1]`` -> ``[B, C, H, width]``."""
    b, c, h, _ = x.shape
    flat = F.pad(x.flatten(2), (0, h))
    return flat.view(b, c, h, width + h)[:, :, :, :width]


def masked_input_to_state(channels: int, hidden: int, colors: int, taps: int) -> ShiftedConv2d:
    """Input-to-state convolution over the ``taps`` pixels of the row ending at the current one.

    Maps ``[B, channels, H, W]`` to the ``4 * hidden`` gate pre-activations; the current pixel's
    tap is masked by colour group (mask B), feature ``k`` of every gate being in group
    ``k % colors`` (``out_period = hidden``).
    """
    return ShiftedConv2d(
        channels,
        4 * hidden,
        (1, taps),
        direction="right",
        colors=colors,
        mask_type="B",
        out_period=hidden,
    )


class RowLSTM(nn.Module):
    """Row LSTM residual layer: rows are processed top to bottom, each row at once.

    * input-to-state: a masked ``1 x 3`` convolution along the row. Its right tap is always
      masked, so it is computed as a ``1 x 2`` convolution over columns ``j-1, j`` whose tap at
      ``j`` is masked by colour group (mask B); computed for the whole map before the recurrence.
    * state-to-state: a ``1 x 3`` convolution over the previous row's hidden state, columns
      ``j-1 .. j+1``; the cell state comes from the pixel above.

    The state at ``(i, j)`` therefore sees a triangle above it (row ``i - d`` at columns
    ``j - d - 1 .. j + d``) and nothing more: the rest of the context is a blind spot by design.
    """

    def __init__(self, channels: int, hidden: int, colors: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.input_to_state = masked_input_to_state(channels, hidden, colors, taps=2)
        # no bias: the input-to-state bias already provides one
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, 3, padding=1, bias=False)
        self.up = MaskedConv1x1(hidden, channels, colors=colors)

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, channels, H, W]`` -> ``x + up(h)``, same shape."""
        batch, _, _, width = x.shape
        pre = self.input_to_state(x)
        h = c = x.new_zeros(batch, self.hidden, width)
        rows = []
        # unbind, not pre[:, :, i] in the loop: each indexing step's backward would zero-fill a
        # gradient of the whole map, O(H^2) in all
        for pre_row in pre.unbind(2):
            h, c = lstm_cell(pre_row + self.state_to_state(h), c)
            rows.append(h)
        return x + self.up(torch.stack(rows, dim=2))

    def stepper(self, n: int, width: int) -> RowLSTMStepper:
        """Recurrent state for generating ``n`` images of width ``width`` pixel by pixel."""
        return RowLSTMStepper(self, n, width)


class RowLSTMStepper:
    """A :class:`RowLSTM` advanced one pixel at a time (cached sampling).

    ``start_row(i)`` before the first pixel of row ``i``; then ``step(x, j)`` with the layer
    input at ``(i, j)`` for ``j = 0, 1, ...``; a pixel may be stepped again (once per colour) as
    long as its predecessors are final. Convolutions at one pixel are matrix products with the
    layer's (masked) weights, read once here.
    """

    def __init__(self, layer: RowLSTM, n: int, width: int) -> None:
        self.layer = layer
        self.w_in, self.b_in = linear_weights(layer.input_to_state)  # taps j-1, j
        self.w_up, self.b_up = linear_weights(layer.up)
        like = self.w_in
        # layer inputs of the current row; column j + 1 holds pixel j, column 0 stays zero
        self.inputs = like.new_zeros(n, layer.up.out_channels, width + 1)
        self.h, self.c, self.h_above, self.c_above = like.new_zeros(4, n, layer.hidden, width)
        self.from_above = like.new_zeros(n, 4 * layer.hidden, width)

    def start_row(self, i: int) -> None:
        if i > 0:  # the finished row becomes the row above; its buffers are overwritten next
            self.h, self.h_above = self.h_above, self.h
            self.c, self.c_above = self.c_above, self.c
        self.from_above = self.layer.state_to_state(self.h_above)

    def step(self, x: Tensor, j: int) -> Tensor:
        """Layer input ``x [n, channels]`` at ``(i, j)`` -> layer output ``[n, channels]``."""
        self.inputs[:, :, j + 1] = x
        window = self.inputs[:, :, j : j + 2].flatten(1)  # pixels j-1, j
        gates = F.linear(window, self.w_in, self.b_in) + self.from_above[:, :, j]
        h, c = lstm_cell(gates, self.c_above[:, :, j])
        self.h[:, :, j], self.c[:, :, j] = h, c
        return x + F.linear(h, self.w_up, self.b_up)


class DiagonalBiLSTM(nn.Module):
    """Diagonal BiLSTM residual layer: two directions scanning the image along diagonals.

    * left-to-right direction: masked ``1 x 1`` input-to-state (mask B); the state at ``(i, j)``
      comes from ``(i-1, j)`` and ``(i, j-1)`` by a ``2 x 1`` convolution over the previous
      column of the skewed map, the cell from ``(i, j-1)``. It sees everything above-left.
    * right-to-left direction: the same on the horizontally mirrored map (state from
      ``(i-1, j)`` and ``(i, j+1)``); its output is **shifted down one row** before it is added,
      so pixel ``(i, j)`` receives the state of ``(i-1, j)``: everything above and to the right,
      nothing of row ``i``. Its input-to-state is therefore unmasked.

    Together: the whole context, no blind spot. States outside the image are zero, as with zero
    padding. Both directions run in one loop over the ``H + W - 1`` diagonals.
    """

    def __init__(self, channels: int, hidden: int, colors: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.input_to_state = masked_input_to_state(channels, hidden, colors, taps=1)
        self.input_to_state_back = nn.Conv2d(channels, 4 * hidden, 1)
        # taps: [pixel above, previous pixel of the row (left, or right when mirrored)]
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, 2, bias=False)
        self.state_to_state_back = nn.Conv1d(hidden, 4 * hidden, 2, bias=False)
        self.up = MaskedConv1x1(hidden, channels, colors=colors)

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, channels, H, W]`` -> ``x + up(h_fwd + shift_down(h_back))``, same shape."""
        batch, channels, height, width = x.shape
        hid = self.hidden
        # Skew the input and its mirror image (the right-to-left direction's input) and put the
        # diagonals first: [K, B, 2 * channels, H] with K = H + W - 1, diagonal k holding the
        # pixels i + j = k. The 1 x 1 input-to-state convolutions then run on it as a batch of
        # K * B one-pixel-wide maps, giving per-step slices that are contiguous in memory.
        both = skew(torch.cat([x, x.flip(3)], dim=1)).permute(3, 0, 1, 2)
        forward_in, back_in = both.reshape(-1, 2 * channels, height, 1).chunk(2, dim=1)
        pre = torch.cat([self.input_to_state(forward_in), self.input_to_state_back(back_in)], 1)
        inside = skew(x.new_ones(1, 1, height, width))[0, 0]  # [H, K], 1 inside the image
        # both directions' 2 x 1 state-to-state convolutions as one grouped convolution
        weight = torch.cat([self.state_to_state.weight, self.state_to_state_back.weight])
        h = c = x.new_zeros(batch, 2, hid, height)
        columns = []
        # unbind, not indexing, in the loop: see RowLSTM.forward
        for k, pre_column in enumerate(pre.view(-1, batch, 8 * hid, height).unbind(0)):
            # row r of diagonal k-1 is the left neighbour, row r-1 the one above
            above_and_left = F.pad(h.flatten(1, 2), (1, 0))
            gates = pre_column + F.conv1d(above_and_left, weight, groups=2)
            h, c = lstm_cell(gates.view(batch, 2, 4 * hid, height), c, dim=2)
            h, c = h * inside[:, k], c * inside[:, k]  # states outside the image are zero
            columns.append(h.flatten(1, 2))
        hidden_map = torch.stack(columns).permute(1, 2, 3, 0)  # [B, 2h, H, H + W - 1]
        forward, back = unskew(hidden_map, width).chunk(2, dim=1)
        return x + self.up(forward + shift_down(back.flip(3)))

    def stepper(self, n: int, width: int) -> DiagonalBiLSTMStepper:
        """Recurrent state for generating ``n`` images of width ``width`` pixel by pixel."""
        return DiagonalBiLSTMStepper(self, n, width)


class DiagonalBiLSTMStepper:
    """A :class:`DiagonalBiLSTM` advanced one pixel at a time (cached sampling).

    The left-to-right state at ``(i, j)`` is computed from ``(i, j-1)`` and ``(i-1, j)`` at each
    step; the right-to-left states of row ``i-1`` are computed at once, right to left, by
    ``start_row(i)``, when that row is final (row ``i`` only ever receives row ``i-1``'s).
    Convolutions at one pixel are matrix products with the layer's (masked) weights.
    """

    def __init__(self, layer: DiagonalBiLSTM, n: int, width: int) -> None:
        self.w_in, self.b_in = linear_weights(layer.input_to_state)
        self.w_back_in, self.b_back_in = linear_weights(layer.input_to_state_back)
        self.w_state, _ = linear_weights(layer.state_to_state)  # taps: above, left
        self.w_back_state, _ = linear_weights(layer.state_to_state_back)  # above, right
        self.w_up, self.b_up = linear_weights(layer.up)
        like = self.w_in
        self.inputs = like.new_zeros(n, width, layer.up.out_channels)  # current row
        self.h, self.c, self.h_above, self.back = like.new_zeros(4, n, layer.hidden, width)
        self.zero = like.new_zeros(n, layer.hidden)

    def start_row(self, i: int) -> None:
        if i == 0:
            return
        self.h, self.h_above = self.h_above, self.h
        back_above = self.back
        pre = F.linear(self.inputs, self.w_back_in, self.b_back_in)  # the finished row i-1
        self.back = torch.empty_like(back_above)
        h = c = self.zero
        for j in reversed(range(pre.shape[1])):
            neighbours = torch.stack([back_above[:, :, j], h], dim=2).flatten(1)
            h, c = lstm_cell(pre[:, j] + F.linear(neighbours, self.w_back_state), c)
            self.back[:, :, j] = h

    def step(self, x: Tensor, j: int) -> Tensor:
        """Layer input ``x [n, channels]`` at ``(i, j)`` -> layer output ``[n, channels]``."""
        self.inputs[:, j] = x
        left_h, left_c = (self.h[:, :, j - 1], self.c[:, :, j - 1]) if j else (self.zero,) * 2
        neighbours = torch.stack([self.h_above[:, :, j], left_h], dim=2).flatten(1)
        gates = F.linear(x, self.w_in, self.b_in) + F.linear(neighbours, self.w_state)
        h, c = lstm_cell(gates, left_c)
        self.h[:, :, j], self.c[:, :, j] = h, c
        return x + F.linear(h + self.back[:, :, j], self.w_up, self.b_up)
