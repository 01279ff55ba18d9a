"""Masked and shifted convolutions: the mask matrices and what each output can see."""

from __future__ import annotations

import torch

from genzoo.nn import MaskedConv2d, ShiftedConv2d, causal_kernel_mask, center_mask, shift_down


def test_center_masks_follow_rgb_order():
    # outputs R, G, B; inputs R, G, B
    a = center_mask(3, 3, 3, "A")
    b = center_mask(3, 3, 3, "B")
    assert a.tolist() == [[0, 0, 0], [1, 0, 0], [1, 1, 0]]
    assert b.tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert center_mask(2, 2, 1, "A").sum() == 0 and center_mask(2, 2, 1, "B").all()


def test_kernel_mask_hides_the_future():
    m = causal_kernel_mask(1, 1, (5, 5), 1, "A")[0, 0]
    assert m[:2].all() and m[2, :2].all()
    assert m[2, 2:].sum() == 0 and m[3:].sum() == 0


def test_parameters_are_never_written_by_forward():
    conv = MaskedConv2d(3, 6, 3, mask_type="A", colors=3)
    before = conv.weight.detach().clone()
    conv(torch.randn(1, 3, 4, 4))
    assert torch.equal(conv.weight, before) and (before * (1 - conv.mask)).abs().sum() > 0


def test_shifted_convs_see_only_the_past():
    down = ShiftedConv2d(1, 1, (2, 3), direction="down").double()
    right = ShiftedConv2d(1, 1, (1, 2), direction="right", mask_type="A").double()
    x = torch.randn(1, 1, 5, 5, dtype=torch.float64, requires_grad=True)
    down(x)[0, 0, 2, 2].backward()
    seen = x.grad[0, 0] != 0
    assert seen[1:3, 1:4].all() and seen.sum() == 6  # rows i-1..i, columns j-1..j+1
    x.grad = None
    right(x)[0, 0, 2, 2].backward()
    seen = x.grad[0, 0] != 0
    assert seen[2, 1] and seen.sum() == 1  # mask A with one colour: only the pixel to the left


def test_shift_down():
    x = torch.arange(6.0).view(1, 1, 3, 2)
    assert shift_down(x)[0, 0].tolist() == [[0, 0], [0, 1], [2, 3]]
