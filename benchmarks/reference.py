"""Reference implementations for the throughput benchmark: the same architectures written the way
existing public code writes them, fp32, NCHW.

* PixelCNN, Gated PixelCNN: every causal convolution a full ``k x k`` (or ``1 x k``) kernel
  multiplied by a mask, no cropping (as PyTorch ports of the papers do).
* PixelCNN++, PixelSNAIL: as the papers' reference code (openai/pixel-cnn, and PixelSNAIL's, which
  is built on it) and its PyTorch ports write them — zero-pad then convolve ("down-shifted" and
  "down-right-shifted" convolutions), weight normalisation recomputed as ``g * v / |v|`` in
  every call, ``nin`` as a linear layer over the channels of the permuted ``[B, H, W, C]`` map,
  and attention as a plain ``[N, N]`` score matrix with a strictly causal 0/1 mask. The loss is
  genzoo's discretized logistic mixture (:mod:`genzoo.distributions`): what is compared is the
  network. Unconditional models only (no class bias).

``load_from(ours)`` copies genzoo's weights into the reference so both compute the same function
(:func:`reference_gap` checks it; the benchmark refuses to time a reference that differs).
``log_prob(x)`` is the reference's log-likelihood in nats per image, as genzoo's ``log_prob``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.distributions import logistic_mixture_log_prob, logistic_mixture_logits
from genzoo.models.autoregressive.gated_pixelcnn import GatedPixelCNN
from genzoo.models.autoregressive.pixelcnn import PixelCNN
from genzoo.models.autoregressive.pixelcnn_pp import PixelCNNpp
from genzoo.models.autoregressive.pixelsnail import AttentionBlock, PixelSNAIL
from genzoo.nn.gated_resnet import GatedResidual, InputUL, ShiftedConv
from genzoo.nn.masked import causal_kernel_mask, center_mask


class Reference(nn.Module):
    """A reference network over scaled images; ``log_prob`` from its ``levels``-way logits."""

    levels: int

    def scale(self, x: Tensor) -> Tensor:
        """Integer levels ``[B, C, H, W]`` -> floats in ``[-1, 1]``."""
        return x.float() * (2.0 / (self.levels - 1)) - 1.0

    def log_prob(self, x: Tensor) -> Tensor:
        """``log p(x)`` in nats, ``[B]``, of integer images ``x [B, C, H, W]``."""
        logits = self(self.scale(x))
        return torch.log_softmax(logits, 1).gather(1, x.unsqueeze(1)).flatten(1).sum(1)


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


class RefPixelCNN(Reference):
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


class RefGatedPixelCNN(Reference):
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


# ------------------------------------------------------------------ PixelCNN++ and PixelSNAIL
def wn(v: Tensor, g: Tensor, dim: int) -> Tensor:
    """Weight normalisation ``g * v / |v|``, the norm over every dimension but ``dim``."""
    dims = [d for d in range(v.dim()) if d != dim]
    return g * v / torch.linalg.vector_norm(v, dim=dims, keepdim=True)


class RefConv(nn.Module):
    """Zero-pad, then a weight-normalised convolution (the paper code's shifted convolution)."""

    def __init__(self, ours: ShiftedConv) -> None:
        super().__init__()
        conv = ours.conv
        self.pad, self.stride = ours.padding, conv.stride
        self.v = nn.Parameter(torch.empty(conv.parametrizations.weight.original1.shape))
        self.g = nn.Parameter(torch.empty(conv.parametrizations.weight.original0.shape))
        self.bias = nn.Parameter(torch.empty(conv.bias.shape))

    @torch.no_grad()
    def load_from(self, ours: ShiftedConv) -> None:
        weight = ours.conv.parametrizations.weight
        self.v.copy_(weight.original1)
        self.g.copy_(weight.original0)
        self.bias.copy_(ours.conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(F.pad(x, self.pad), wn(self.v, self.g, 0), self.bias, self.stride)


class RefNIN(nn.Module):
    """``nin``: a weight-normalised linear layer over the channels of ``[B, H, W, C]``."""

    def __init__(self, ours: nn.Conv2d) -> None:
        super().__init__()
        self.v = nn.Parameter(torch.empty(ours.out_channels, ours.in_channels))
        self.g = nn.Parameter(torch.empty(ours.out_channels, 1))
        self.bias = nn.Parameter(torch.empty(ours.out_channels))

    @torch.no_grad()
    def load_from(self, ours: nn.Conv2d) -> None:
        weight = ours.parametrizations.weight
        self.v.copy_(weight.original1.flatten(1))
        self.g.copy_(weight.original0.flatten(1))
        self.bias.copy_(ours.bias)

    def forward(self, x: Tensor) -> Tensor:
        out = F.linear(x.permute(0, 2, 3, 1), wn(self.v, self.g, 0), self.bias)
        return out.permute(0, 3, 1, 2)


class RefDeconv(nn.Module):
    """Weight-normalised ``2 x 2`` stride-2 transposed convolution, cropped to ``size``."""

    def __init__(self, ours: nn.ConvTranspose2d, size: tuple[int, int]) -> None:
        super().__init__()
        weight = ours.parametrizations.weight
        self.size = size
        self.v = nn.Parameter(torch.empty(weight.original1.shape))
        self.g = nn.Parameter(torch.empty(weight.original0.shape))
        self.bias = nn.Parameter(torch.empty(ours.bias.shape))

    @torch.no_grad()
    def load_from(self, ours: nn.ConvTranspose2d) -> None:
        weight = ours.parametrizations.weight
        self.v.copy_(weight.original1)
        self.g.copy_(weight.original0)
        self.bias.copy_(ours.bias)

    def forward(self, x: Tensor) -> Tensor:
        out = F.conv_transpose2d(x, wn(self.v, self.g, 1), self.bias, stride=2)
        return out[:, :, : self.size[0], : self.size[1]]


def concat_elu(x: Tensor) -> Tensor:
    return F.elu(torch.cat([x, -x], dim=1))


def down_shift(x: Tensor) -> Tensor:
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def right_shift(x: Tensor) -> Tensor:
    return F.pad(x, (1, 0, 0, 0))[:, :, :, :-1]


def ref_layer(ours: nn.Module) -> RefConv | RefNIN:
    """The reference of a gated block's convolution: shifted, or ``nin`` (1 x 1)."""
    return RefConv(ours) if isinstance(ours, ShiftedConv) else RefNIN(ours)


class RefGatedResnet(nn.Module):
    """``x + a * sigmoid(b)``, ``[a, b] = conv(dropout(concat_elu(conv(concat_elu(x)) +
    nin(concat_elu(aux)))))``, as the paper's ``gated_resnet``."""

    def __init__(self, ours: GatedResidual) -> None:
        super().__init__()
        if ours.embed is not None:
            raise TypeError("the reference has no class bias; benchmark unconditional models")
        self.conv_in, self.conv_out = ref_layer(ours.conv_in), ref_layer(ours.conv_out)
        self.aux = None if ours.aux is None else RefNIN(ours.aux)
        self.p = ours.dropout.p if isinstance(ours.dropout, nn.Dropout) else 0.0

    def load_from(self, ours: GatedResidual) -> None:
        self.conv_in.load_from(ours.conv_in)
        self.conv_out.load_from(ours.conv_out)
        if self.aux is not None:
            self.aux.load_from(ours.aux)

    def forward(self, x: Tensor, aux: Tensor | None = None) -> Tensor:
        h = self.conv_in(concat_elu(x))
        if self.aux is not None and aux is not None:
            h = h + self.aux(concat_elu(aux))
        h = F.dropout(concat_elu(h), self.p, self.training)
        a, b = self.conv_out(h).chunk(2, dim=1)
        return x + a * torch.sigmoid(b)


class RefInputUL(nn.Module):
    """``down_shift(conv_1x3(x)) + right_shift(conv_2x1(x))``."""

    def __init__(self, ours: InputUL) -> None:
        super().__init__()
        self.down, self.right = RefConv(ours.down), RefConv(ours.right)

    def load_from(self, ours: InputUL) -> None:
        self.down.load_from(ours.down)
        self.right.load_from(ours.right)

    def forward(self, x: Tensor) -> Tensor:
        return down_shift(self.down(x)) + right_shift(self.right(x))


class MixtureReference(Reference):
    """A reference whose network gives discretized logistic mixture parameters (genzoo's loss)."""

    def mixture_params(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Log-probabilities ``[B, levels, C, H, W]`` of the scaled image ``x``, as genzoo's."""
        x_int = torch.round((x.detach() + 1.0) * ((self.levels - 1) / 2.0)).long()
        x_int = x_int.clamp_(0, self.levels - 1)
        return logistic_mixture_logits(self.mixture_params(x), x_int, self.levels)

    def log_prob(self, x: Tensor) -> Tensor:
        per_dim = logistic_mixture_log_prob(self.mixture_params(self.scale(x)), x, self.levels)
        return per_dim.flatten(1).sum(1)


class RefPixelCNNpp(MixtureReference):
    """PixelCNN++ written as the paper's code: a down pass storing every activation of both
    streams, an up pass consuming them; the layers in genzoo's order (so weights copy 1:1)."""

    def __init__(self, ours: PixelCNNpp) -> None:
        super().__init__()
        self.shape, self.levels = ours.shape, ours.levels
        self.resolutions, self.blocks = ours.config["resolutions"], ours.config["blocks"]
        layers = []
        for node, op in zip(ours.nodes, ours.ops):
            if node.kind == "block":
                layers.append(RefGatedResnet(op))
            elif node.kind == "up":
                layers.append(RefDeconv(op, ours.sizes[node.level]))
            elif isinstance(op, InputUL):
                layers.append(RefInputUL(op))
            else:
                layers.append(RefConv(op))
        self.layers = nn.ModuleList(layers)
        self.head = RefNIN(ours.head)
        self.load_from(ours)

    def load_from(self, ours: PixelCNNpp) -> None:
        for ref, op in zip(self.layers, ours.ops, strict=True):
            ref.load_from(op)
        self.head.load_from(ours.head)

    def mixture_params(self, x: Tensor) -> Tensor:
        x = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
        layers = iter(self.layers)
        u, ul = down_shift(next(layers)(x)), next(layers)(x)
        u_list, ul_list = [u], [ul]
        for level in range(self.resolutions):
            if level > 0:  # downsample
                u, ul = next(layers)(u), next(layers)(ul)
                u_list, ul_list = [*u_list, u], [*ul_list, ul]
            for _ in range(self.blocks):
                u = next(layers)(u)
                ul = next(layers)(ul, u)
                u_list, ul_list = [*u_list, u], [*ul_list, ul]
        u, ul = u_list.pop(), ul_list.pop()
        for level in reversed(range(self.resolutions)):
            if level < self.resolutions - 1:  # upsample
                u, ul = next(layers)(u), next(layers)(ul)
            for _ in range(self.blocks + (level < self.resolutions - 1)):
                u = next(layers)(u, u_list.pop())
                ul = next(layers)(ul, torch.cat([u, ul_list.pop()], dim=1))
        return self.head(F.elu(ul))


class RefAttention(nn.Module):
    """PixelSNAIL's attention block with a plain ``[N, N]`` score matrix and a 0/1 mask."""

    def __init__(self, ours: AttentionBlock, positions: int) -> None:
        super().__init__()
        self.context, self.query = RefGatedResnet(ours.context), RefGatedResnet(ours.query)
        self.mix = RefGatedResnet(ours.mix)
        attention = ours.attention
        self.heads = attention.heads
        self.split = [attention.key_channels, attention.value_channels]
        self.q = nn.Conv2d(attention.query.in_channels, attention.key_channels, 1)
        self.kv = nn.Conv2d(attention.key_value.in_channels, sum(self.split), 1)
        self.register_buffer("mask", torch.ones(positions, positions).tril(-1))

    def load_from(self, ours: AttentionBlock) -> None:
        self.context.load_from(ours.context)
        self.query.load_from(ours.query)
        self.mix.load_from(ours.mix)
        self.q.load_state_dict(ours.attention.query.state_dict())
        self.kv.load_state_dict(ours.attention.key_value.state_dict())

    def heads_of(self, x: Tensor) -> Tensor:
        """``[B, heads * D, H, W]`` -> ``[B, heads, H * W, D]``."""
        return x.reshape(x.shape[0], self.heads, -1, x.shape[2] * x.shape[3]).transpose(-1, -2)

    def forward(self, ul: Tensor, x: Tensor, background: Tensor) -> Tensor:
        b, c, h, w = ul.shape
        context = self.context(torch.cat([x, ul, background], dim=1))
        query = self.query(torch.cat([ul, background], dim=1))
        k, v = self.kv(context).split(self.split, dim=1)
        q, k, v = self.heads_of(self.q(query)), self.heads_of(k), self.heads_of(v)
        dot = q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5
        weights = torch.softmax(dot - (1.0 - self.mask) * 1e10, dim=-1) * self.mask
        out = (weights @ v).transpose(-1, -2).reshape(b, c, h, w)
        return self.mix(ul, out)


class RefPixelSNAIL(MixtureReference):
    def __init__(self, ours: PixelSNAIL) -> None:
        super().__init__()
        self.shape, self.levels = ours.shape, ours.levels
        positions = ours.shape[1] * ours.shape[2]
        self.num_resnets = ours.num_resnets
        self.u_input, self.ul_input = RefConv(ours.u_input), RefInputUL(ours.ul_input)
        self.u_blocks = nn.ModuleList(RefGatedResnet(b) for b in ours.u_blocks)
        self.ul_blocks = nn.ModuleList(RefGatedResnet(b) for b in ours.ul_blocks)
        self.attention = nn.ModuleList(RefAttention(a, positions) for a in ours.attention)
        self.head = nn.Conv2d(ours.head.in_channels, ours.head.out_channels, 1)
        self.register_buffer("background", ours.background.clone(), persistent=False)
        self.load_from(ours)

    def load_from(self, ours: PixelSNAIL) -> None:
        self.u_input.load_from(ours.u_input)
        self.ul_input.load_from(ours.ul_input)
        for refs, blocks in ((self.u_blocks, ours.u_blocks), (self.ul_blocks, ours.ul_blocks)):
            for ref, block in zip(refs, blocks, strict=True):
                ref.load_from(block)
        for ref, block in zip(self.attention, ours.attention, strict=True):
            ref.load_from(block)
        self.head.load_state_dict(ours.head.state_dict())

    def mixture_params(self, x: Tensor) -> Tensor:
        padded = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
        u, ul = down_shift(self.u_input(padded)), self.ul_input(padded)
        background = self.background.expand(x.shape[0], -1, -1, -1)
        for b, attention in enumerate(self.attention):
            for r in range(b * self.num_resnets, (b + 1) * self.num_resnets):
                u = self.u_blocks[r](u)
                ul = self.ul_blocks[r](ul, u)
            ul = attention(ul, x, background)
        return self.head(F.elu(ul))


# ------------------------------------------------------------------ choice and check
def reference_for(model: nn.Module) -> Reference:
    """The reference implementation of ``model``, with ``model``'s weights."""
    for cls, ref in (
        (GatedPixelCNN, RefGatedPixelCNN),
        (PixelCNNpp, RefPixelCNNpp),
        (PixelSNAIL, RefPixelSNAIL),
        (PixelCNN, RefPixelCNN),
    ):
        if isinstance(model, cls):
            return ref(model)
    raise TypeError(f"no reference implementation for {type(model).__name__}")


@torch.no_grad()
def reference_gap(model: nn.Module, ref: nn.Module, generator: torch.Generator) -> float:
    """Largest absolute difference of the log-probabilities (or logits) of ``model`` and ``ref``
    on two random integer images (both in eval mode: no dropout; modes restored after)."""
    modes = model.training, ref.training
    model.eval()
    ref.eval()
    try:
        x = torch.randint(0, model.levels, (2, *model.shape), generator=generator)
        scaled = x.float() * (2.0 / (model.levels - 1)) - 1.0
        gap = (model(scaled) - ref(scaled)).abs().max().item()
        gap_log_prob = (model.log_prob(x) - ref.log_prob(x)).abs().max().item()
    finally:
        model.train(modes[0])
        ref.train(modes[1])
    return max(gap, gap_log_prob / math.prod(model.shape))
