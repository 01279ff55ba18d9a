"""PixelRNN (Row LSTM, Diagonal BiLSTM): parity with a per-pixel reference, cached sampling,
receptive fields. The shared contract (normalisation, causality, ...) runs over both models in
``test_contract.py``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import genzoo
from genzoo.errors import ConfigError
from genzoo.nn.recurrent import skew, unskew
from tests.models.test_contract import generation_order, unseen_predecessors
from tests.models.tiny import peaked, tiny_model

MODELS = ["pixelrnn_row", "pixelrnn_diag"]


# ---------------------------------------------------------------- a plain per-pixel reference
def effective_weight(module) -> Tensor:
    """Weight of a ShiftedConv2d or MaskedConv1x1 with its colour mask applied."""
    weight = module.conv.weight if hasattr(module, "conv") else module.weight
    return weight if module.mask is None else weight * module.mask


def lstm(gates: Tensor, c_prev: Tensor) -> tuple[Tensor, Tensor]:
    o, f, i, g = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def row_lstm_reference(layer, z: Tensor) -> Tensor:
    """One Row LSTM layer, pixel by pixel, from its weights."""
    batch, _, height, width = z.shape
    w_in, b_in = effective_weight(layer.input_to_state)[:, :, 0], layer.input_to_state.conv.bias
    w_ss = layer.state_to_state.weight  # [4h, h, 3]: columns j-1, j, j+1 of the row above
    h = z.new_zeros(batch, layer.hidden, height, width)
    c = torch.zeros_like(h)
    for i in range(height):
        for j in range(width):
            gates = b_in.expand(batch, -1).clone()
            for tap, col in enumerate((j - 1, j)):
                if col >= 0:
                    gates += z[:, :, i, col] @ w_in[:, :, tap].T
            c_prev = z.new_zeros(batch, layer.hidden)
            if i > 0:
                c_prev = c[:, :, i - 1, j]
                for tap, col in enumerate((j - 1, j, j + 1)):
                    if 0 <= col < width:
                        gates += h[:, :, i - 1, col] @ w_ss[:, :, tap].T
            h[:, :, i, j], c[:, :, i, j] = lstm(gates, c_prev)
    return z + layer.up(h)


def diagonal_bilstm_reference(layer, z: Tensor) -> Tensor:
    """One Diagonal BiLSTM layer, pixel by pixel in image coordinates (no skewing)."""
    batch, _, height, width = z.shape
    w_f, b_f = effective_weight(layer.input_to_state)[:, :, 0, 0], layer.input_to_state.conv.bias
    w_b, b_b = layer.input_to_state_back.weight[:, :, 0, 0], layer.input_to_state_back.bias
    s_f, s_b = layer.state_to_state.weight, layer.state_to_state_back.weight  # [above, previous]
    zero = z.new_zeros(batch, layer.hidden)
    hf, cf, hb, cb = (z.new_zeros(batch, layer.hidden, height, width) for _ in range(4))
    for i in range(height):
        for j in range(width):  # left to right: from (i-1, j) and (i, j-1)
            gates = z[:, :, i, j] @ w_f.T + b_f
            if i > 0:
                gates = gates + hf[:, :, i - 1, j] @ s_f[:, :, 0].T
            if j > 0:
                gates = gates + hf[:, :, i, j - 1] @ s_f[:, :, 1].T
            hf[:, :, i, j], cf[:, :, i, j] = lstm(gates, cf[:, :, i, j - 1] if j > 0 else zero)
        for j in reversed(range(width)):  # right to left: from (i-1, j) and (i, j+1)
            gates = z[:, :, i, j] @ w_b.T + b_b
            if i > 0:
                gates = gates + hb[:, :, i - 1, j] @ s_b[:, :, 0].T
            if j < width - 1:
                gates = gates + hb[:, :, i, j + 1] @ s_b[:, :, 1].T
            c_prev = cb[:, :, i, j + 1] if j < width - 1 else zero
            hb[:, :, i, j], cb[:, :, i, j] = lstm(gates, c_prev)
    out = hf.clone()
    out[:, :, 1:] += hb[:, :, :-1]  # the right-to-left output, one row down
    return z + layer.up(out)


REFERENCES = {"pixelrnn_row": row_lstm_reference, "pixelrnn_diag": diagonal_bilstm_reference}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("shape", [(1, 4, 5), (3, 5, 3)])
def test_forward_equals_per_pixel_reference(name, shape, generator):
    model = tiny_model(name, shape, levels=4, num_classes=3)
    x = torch.randint(0, 4, (3, *shape), generator=generator)
    y = torch.tensor([0, 2, 1])
    extra = 1 if name == "pixelrnn_diag" else 0  # one column past the right edge, then dropped
    with torch.no_grad():
        z = model.input(F.pad(model.scale(x), (0, extra))) + model.embed(y)[:, :, None, None]
        for layer in model.layers:
            z = REFERENCES[name](layer, z)
        expected = model.head(z[:, :, :, : shape[2]])
        torch.testing.assert_close(model.logits(x, y), expected, rtol=0, atol=1e-10)


def test_skew_moves_row_i_right_by_i():
    x = torch.arange(1.0, 13.0).view(1, 1, 3, 4)
    s = skew(x)
    assert s.shape == (1, 1, 3, 6)
    for i in range(3):
        assert torch.equal(s[0, 0, i, i : i + 4], x[0, 0, i])
        assert s[0, 0, i].count_nonzero() == 4
    assert torch.equal(unskew(s, 4), x)


# ---------------------------------------------------------------- cached sampling
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("shape", [(1, 4, 5), (3, 3, 4), (1, 1, 3), (3, 5, 1)])
def test_cached_logits_equal_full_forward(name, shape, generator):
    """Every call of the cached sampler equals the full network, whatever later sub-pixels hold."""
    model = peaked(tiny_model(name, shape, levels=4, num_classes=2))
    x = torch.randint(0, 4, (5, *shape), generator=generator)
    y = torch.tensor([0, 1, 1, 0, 1])
    with torch.no_grad():
        full = model.logits(x, y)
        sampler = model.incremental_sampler(5, y)
        order = generation_order(shape)
        for k, (c, i, j) in enumerate(order):
            junk = torch.randint(0, 4, x.shape, generator=generator)
            for c2, i2, j2 in order[:k]:
                junk[:, c2, i2, j2] = x[:, c2, i2, j2]  # only the past is final
            got = sampler.logits(junk, i, j, c)
            torch.testing.assert_close(got, full[:, :, c, i, j], rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("shape", [(1, 4, 5), (3, 3, 4), (3, 1, 2), (1, 6, 2)])
@pytest.mark.parametrize("num_classes", [None, 3])
def test_cached_sampling_equals_naive(name, shape, num_classes):
    model = peaked(tiny_model(name, shape, levels=5, num_classes=num_classes))
    y = None if num_classes is None else torch.tensor([2, 0, 1, 1, 0, 2])
    samples = {
        method: model.sample(6, y, generator=torch.Generator().manual_seed(5), method=method)
        for method in ("cached", "naive")
    }
    assert torch.equal(samples["cached"], samples["naive"])


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("shape", [(1, 4, 5), (3, 4, 3)])
def test_cached_completion_equals_naive(name, shape, generator):
    model = peaked(tiny_model(name, shape, levels=4, num_classes=2))
    known = torch.randint(0, 4, (6, *shape), generator=generator)
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    top_half = torch.zeros(shape, dtype=torch.bool)
    top_half[:, : shape[1] // 2] = True
    scattered = torch.rand(6, *shape, generator=generator) < 0.4
    for mask in (top_half, scattered):
        out = {
            method: model.sample(
                6,
                y,
                known=known,
                mask=mask,
                generator=torch.Generator().manual_seed(2),
                method=method,
            )
            for method in ("cached", "naive")
        }
        assert torch.equal(out["cached"], out["naive"])
        assert torch.equal(out["cached"][mask.expand_as(known)], known[mask.expand_as(known)])


# ---------------------------------------------------------------- receptive fields
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("shape", [(1, 7, 7), (3, 6, 6)])
def test_diagonal_bilstm_has_no_blind_spot(shape, num_layers):
    torch.manual_seed(0)
    model = genzoo.create_model(
        "pixelrnn_diag", shape=shape, levels=4, channels=6, num_layers=num_layers, head_channels=8
    ).double()
    c, h, w = shape
    for target in [(c - 1, h - 1, w - 1), (0, h // 2, 1), (c - 1, h - 2, 0), (0, h - 1, w // 2)]:
        assert unseen_predecessors(model, shape, target) == []


def test_paper_diagonal_bilstm_misses_the_last_pixel_of_the_row_above():
    """Negative control, and why ``extra_columns = 1``: with the input convolution cut at the
    image edge (the paper's design), ``(i-1, W-1)`` is unseen from ``(i, j < W-4)`` at any depth."""
    torch.manual_seed(0)
    shape = (1, 7, 9)
    model = genzoo.create_model(
        "pixelrnn_diag", shape=shape, levels=4, channels=6, num_layers=3, head_channels=8
    ).double()
    model.extra_columns = 0
    assert unseen_predecessors(model, shape, (0, 3, 1)) == [(0, 2, 8)]
    assert unseen_predecessors(model, shape, (0, 5, 4)) == [(0, 4, 8)]
    assert unseen_predecessors(model, shape, (0, 5, 5)) == []


@pytest.mark.parametrize("num_layers", [1, 3])
def test_row_lstm_sees_a_triangle(num_layers):
    """Row ``i - D`` is seen at columns ``j - D - L - 3 .. j + D + 2`` (7x7 input conv, L layers);
    the current row only ``L + 3`` pixels to the left: the paper's triangular receptive field."""
    torch.manual_seed(0)
    shape = (1, 9, 13)
    model = genzoo.create_model(
        "pixelrnn_row", shape=shape, levels=4, channels=6, num_layers=num_layers, head_channels=8
    ).double()
    for i, j in [(8, 9), (6, 3), (4, 12)]:
        unseen = unseen_predecessors(model, shape, (0, i, j))
        expected = []
        for _, i2, j2 in generation_order(shape):
            if (i2, j2) >= (i, j):
                break
            d, e = i - i2, j2 - j
            left = d + num_layers + 3
            if not (-left <= e <= (d + 2 if d > 0 else -1)):
                expected.append((0, i2, j2))
        assert unseen == expected
        assert unseen  # the blind spot exists: the field is a triangle, not the whole context


def test_bad_hyperparameters_raise_config_errors():
    for name in MODELS:
        for key, value in [("channels", 0), ("num_layers", 0), ("head_channels", -1)]:
            with pytest.raises(ConfigError, match=f"{key}={value} is invalid"):
                genzoo.create_model(name, shape=(1, 4, 4), levels=3, **{key: value})
