"""Causal 1-D layers are the image models' shifted/masked convolutions on a one-row image."""

from __future__ import annotations

import torch

from genzoo.nn.causal1d import CausalConv1d, GatedCausalBlock
from genzoo.nn.masked import ShiftedConv2d


def seen_positions(layer, t: int, length: int = 20, channels: int = 1) -> list[int]:
    x = torch.randn(1, channels, length, dtype=torch.float64, generator=torch.Generator())
    x.requires_grad_()
    layer(x)[0, :, t].sum().backward()
    return torch.nonzero(x.grad[0].abs().sum(0)).flatten().tolist()


def test_causal_conv_sees_exactly_its_taps():
    torch.manual_seed(0)
    mask_a = CausalConv1d(1, 2, 3, dilation=2, mask_type="A").double()
    mask_b = CausalConv1d(1, 2, 3, dilation=2, mask_type="B").double()
    assert seen_positions(mask_a, 10) == [6, 8]  # taps t-4, t-2; the tap on t is masked
    assert seen_positions(mask_b, 10) == [6, 8, 10]
    assert seen_positions(mask_a, 0) == [] and seen_positions(mask_b, 1) == [1]
    assert seen_positions(CausalConv1d(1, 1, 1, mask_type="A").double(), 5) == []
    block = GatedCausalBlock(3, 2, 4).double()
    assert seen_positions(block, 10, channels=3) == [6, 10]  # residual + taps t-4, t
    assert mask_a(torch.zeros(2, 1, 7, dtype=torch.float64)).shape == (2, 2, 7)


def test_the_1d_layer_is_the_shared_2d_one_on_a_single_row():
    torch.manual_seed(0)
    conv = CausalConv1d(2, 3, 3, dilation=2, mask_type="A").double()
    assert isinstance(conv, ShiftedConv2d) and conv.mask is not None
    assert conv.mask[:, :, 0, -1].sum() == 0 and conv.mask[:, :, 0, :-1].all()  # mask A
    assert CausalConv1d(2, 3, 3, mask_type="B").mask is None  # one colour: nothing to mask
    x = torch.randn(4, 2, 11, dtype=torch.float64)
    row = conv.conv._conv_forward(
        torch.nn.functional.pad(x[:, :, None, :], (4, 0, 0, 0)),
        conv.masked_weight(),
        conv.conv.bias,
    )
    assert torch.equal(conv(x), row[:, :, 0, :])


def test_dilated_shifted_conv_down_keeps_its_field_above_and_centred():
    down = ShiftedConv2d(1, 1, (2, 3), direction="down", dilation=2).double()
    x = torch.randn(1, 1, 9, 9, dtype=torch.float64, requires_grad=True)
    down(x)[0, 0, 4, 4].backward()
    seen = torch.nonzero(x.grad[0, 0]).tolist()
    assert seen == [[2, 2], [2, 4], [2, 6], [4, 2], [4, 4], [4, 6]]
    assert down(x).shape == x.shape
