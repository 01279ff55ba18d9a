"""Reference implementations for the throughput benchmark: the same architectures written the way
existing PyTorch libraries write them — every causal convolution a full ``k x k`` (or ``1 x k``)
kernel multiplied by a mask, fp32, NCHW, no cropping.

``load_from(ours)`` copies genzoo's weights into the reference so both compute the same function
(the benchmark checks that their logits agree before timing anything).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.models.autoregressive.gated_pixelcnn import GatedPixelCNN
from genzoo.models.autoregressive.pixelcnn import PixelCNN
from genzoo.nn.masked import causal_kernel_mask, center_mask


class RefMaskedConv(nn.Conv2d):
    """Masked convolution with an arbitrary fixed 0/1 mask, applied by multiplication."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int], mask: Tensor) -> None:
        super().__init__(cin, cout, kernel, padding=(kernel[0] // 2, kernel[1] // 2))
        self.register_buffer("mask", mask)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def conv_mask(cout, cin, kh, kw, colors, mask_type, *, keep_center_row=False, out_period=None):
    """Mask of a centred kernel; ``keep_center_row`` keeps the whole centre row (vertical stack)."""
    mask = causal_kernel_mask(cout, cin, (kh, kw), colors, mask_type, out_period)
    if keep_center_row:
        mask[:, :, kh // 2, :] = 1
    return mask


def ref_1x1(cin, cout, colors):
    return RefMaskedConv(cin, cout, (1, 1), center_mask(cout, cin, colors, "B")[:, :, None, None])


class RefPixelCNN(nn.Module):
    def __init__(self, ours: PixelCNN) -> None:
        super().__init__()
        colors, levels = ours.shape[0], ours.levels
        ch = ours.input.out_channels
        self.shape, self.levels = ours.shape, levels
        self.input = RefMaskedConv(colors, ch, (7, 7), conv_mask(ch, colors, 7, 7, colors, "A"))
        blocks = []
        for block in ours.blocks:
            half = block.body[1].out_channels
            blocks.append(
                nn.ModuleList(
                    [
                        ref_1x1(ch, half, colors),
                        RefMaskedConv(half, half, (3, 3), conv_mask(half, half, 3, 3, colors, "B")),
                        ref_1x1(half, ch, colors),
                    ]
                )
            )
        self.blocks = nn.ModuleList(blocks)
        head = ours.head[1].out_channels
        self.head1, self.head2 = ref_1x1(ch, head, colors), ref_1x1(head, levels * colors, colors)
        self.load_from(ours)

    @torch.no_grad()
    def load_from(self, ours: PixelCNN) -> None:
        self.input.weight.copy_(ours.input.weight)
        self.input.bias.copy_(ours.input.bias)
        for ref, block in zip(self.blocks, ours.blocks):
            for r, o in zip(ref, (block.body[1], block.body[3], block.body[5])):
                r.weight.copy_(o.weight)
                r.bias.copy_(o.bias)
        for r, o in ((self.head1, ours.head[1]), (self.head2, ours.head[3])):
            r.weight.copy_(o.weight)
            r.bias.copy_(o.bias)

    def forward(self, x: Tensor) -> Tensor:
        h = self.input(x)
        for a, b, c in self.blocks:
            h = h + c(F.relu(b(F.relu(a(F.relu(h))))))
        out = self.head2(F.relu(self.head1(F.relu(h))))
        return out.view(x.shape[0], self.levels, self.shape[0], *x.shape[2:])


class RefGatedPixelCNN(nn.Module):
    def __init__(self, ours: GatedPixelCNN) -> None:
        super().__init__()
        colors, levels = ours.shape[0], ours.levels
        self.shape, self.levels = ours.shape, levels
        self.layers = nn.ModuleList()
        for i, layer in enumerate(ours.layers):
            cin = layer.v_conv.conv.in_channels
            c2 = layer.v_conv.conv.out_channels
            k = layer.v_conv.conv.kernel_size[1]
            mask_type = "A" if i == 0 else "B"
            self.layers.append(
                nn.ModuleDict(
                    {
                        "v": RefMaskedConv(
                            cin,
                            c2,
                            (k, k),
                            conv_mask(c2, cin, k, k, colors, "B", keep_center_row=True),
                        ),
                        "h": RefMaskedConv(
                            cin,
                            c2,
                            (1, k),
                            conv_mask(c2, cin, 1, k, colors, mask_type, out_period=c2 // 2),
                        ),
                        "v2h": nn.Conv2d(c2, c2, 1),
                        "out": ref_1x1(c2 // 2, c2 // 2, colors),
                        "skip": ref_1x1(c2 // 2, c2 // 2, colors),
                    }
                )
            )
        ch, head = ours.head[1].in_channels, ours.head[1].out_channels
        self.head1, self.head2 = ref_1x1(ch, head, colors), ref_1x1(head, levels * colors, colors)
        self.load_from(ours)

    @torch.no_grad()
    def load_from(self, ours: GatedPixelCNN) -> None:
        for ref, layer in zip(self.layers, ours.layers):
            k = ref["v"].kernel_size[1]
            ref["v"].weight.zero_()
            ref["v"].weight[:, :, : k // 2 + 1, :] = layer.v_conv.conv.weight
            ref["v"].bias.copy_(layer.v_conv.conv.bias)
            ref["h"].weight.zero_()
            ref["h"].weight[:, :, :, : k // 2 + 1] = layer.h_conv.conv.weight
            ref["h"].bias.copy_(layer.h_conv.conv.bias)
            for name, o in (("v2h", layer.v_to_h), ("out", layer.h_out), ("skip", layer.skip)):
                if o is None:  # genzoo's last layer has no (unused) horizontal output
                    continue
                ref[name].weight.copy_(o.weight)
                ref[name].bias.copy_(o.bias)
        for r, o in ((self.head1, ours.head[1]), (self.head2, ours.head[3])):
            r.weight.copy_(o.weight)
            r.bias.copy_(o.bias)

    @staticmethod
    def gate(x: Tensor) -> Tensor:
        a, b = x.chunk(2, dim=1)
        return torch.tanh(a) * torch.sigmoid(b)

    def forward(self, x: Tensor) -> Tensor:
        v = h = x
        skip = 0
        for i, layer in enumerate(self.layers):
            v_pre = layer["v"](v)
            shifted = F.pad(v_pre, (0, 0, 1, 0))[:, :, :-1]
            h_pre = layer["h"](h) + layer["v2h"](shifted)
            gated = self.gate(h_pre)
            skip = skip + layer["skip"](gated)
            if i == len(self.layers) - 1:  # the last layer's stacks feed nothing further
                break
            h = (h if i else 0) + layer["out"](gated)
            v = self.gate(v_pre)
        out = self.head2(F.relu(self.head1(F.relu(skip))))
        return out.view(x.shape[0], self.levels, self.shape[0], *x.shape[2:])


def reference_for(model: nn.Module) -> nn.Module:
    if isinstance(model, GatedPixelCNN):
        return RefGatedPixelCNN(model)
    if isinstance(model, PixelCNN):
        return RefPixelCNN(model)
    raise TypeError(f"no reference implementation for {type(model).__name__}")
