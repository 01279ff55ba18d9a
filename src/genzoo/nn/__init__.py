"""Layers: masked and shifted convolutions, gated blocks, MADE layers, conv encoder/decoder."""

from genzoo.nn.convnets import ConvDecoder, ConvEncoder
from genzoo.nn.made import AutoregressiveMLP, MaskedLinear, made_masks
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
    "AutoregressiveMLP",
    "CategoricalHead",
    "ConvDecoder",
    "ConvEncoder",
    "MaskedConv1x1",
    "MaskedConv2d",
    "MaskedLinear",
    "ShiftedConv2d",
    "causal_kernel_mask",
    "center_mask",
    "channel_groups",
    "made_masks",
    "shift_down",
]
