"""Layers: masked and shifted convolutions, gated blocks."""

from genzoo.nn.masked import (
    CategoricalHead,
    MaskedConv1x1,
    MaskedConv2d,
    ShiftedConv2d,
    causal_kernel_mask,
    center_mask,
    channel_groups,
    shift_down,
)

__all__ = [
    "CategoricalHead",
    "MaskedConv1x1",
    "MaskedConv2d",
    "ShiftedConv2d",
    "causal_kernel_mask",
    "center_mask",
    "channel_groups",
    "shift_down",
]
