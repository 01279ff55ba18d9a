"""PixelCNN++ building blocks shared by pixelcnn_pp and pixelsnail."""

from __future__ import annotations

from functools import partial

import torch

from genzoo.nn.gated_resnet import GatedResidual, InputUL, ShiftedConv, concat_elu, shift


def test_shift_moves_down_and_right_with_zeros():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    out = shift(x, rows=1, cols=2)
    assert torch.equal(out[0, 0, 1:, 2:], x[0, 0, :2, :2])
    assert not out[0, 0, 0].any() and not out[0, 0, :, :2].any()


def test_concat_elu_keeps_zero_padding_zero():
    assert torch.equal(concat_elu(torch.zeros(2, 3, 4, 4)), torch.zeros(2, 6, 4, 4))


def test_init_scale_scales_the_effective_second_convolution():
    conv = partial(ShiftedConv, kernel=(2, 3), right=False)
    torch.manual_seed(0)
    plain = GatedResidual(4, conv)
    torch.manual_seed(0)
    scaled = GatedResidual(4, conv, init_scale=0.1)
    torch.testing.assert_close(scaled.conv_out.conv.weight, 0.1 * plain.conv_out.conv.weight)
    torch.testing.assert_close(scaled.conv_in.conv.weight, plain.conv_in.conv.weight)


def test_streams_see_only_what_they_should():
    """down-shifted u: rows strictly above; InputUL: rows above and the row strictly left."""
    torch.manual_seed(0)
    x = torch.randn(1, 2, 5, 5, requires_grad=True)
    u = shift(ShiftedConv(2, 3, (2, 3), right=False)(x), rows=1)
    u[0, :, 2, 2].sum().backward()
    seen = x.grad.abs().sum(1)[0] > 0
    assert not seen[2:].any() and seen[1, 1:4].all()
    x.grad = None
    InputUL(2, 3)(x)[0, :, 2, 2].sum().backward()
    seen = x.grad.abs().sum(1)[0] > 0
    assert not seen[3:].any() and not seen[2, 2:].any()
    assert seen[2, 1] and seen[1, 1:4].all()
