"""PixelCNN++ — Salimans, Karpathy, Chen & Kingma, "PixelCNN++: Improving the PixelCNN with
Discretized Logistic Mixture Likelihood and Other Modifications", ICLR 2017.

Two causal streams without a blind spot, built from shifted convolutions instead of masks: ``u``
sees the rows strictly above (a down-shifted ``2 x 3`` convolution, shifted down once more at the
input) and ``ul`` the rows above plus the current row strictly to the left (a down-shifted
``1 x 3`` plus a right-shifted ``2 x 1`` at the input, then down-right-shifted ``2 x 2``
convolutions). Gated residual blocks ``x + a * sigmoid(b)`` with ``[a, b] = conv(concat_elu(
conv(concat_elu(x)) + nin(concat_elu(aux))))`` (dropout before the second convolution); ``ul``
blocks take ``u`` as auxiliary input. Three resolutions linked by stride-2 convolutions and
stride-2 transposed convolutions, with U-Net short-cuts: every up-pass block consumes one stored
down-pass activation. Weight normalisation everywhere, a class bias in every block, and
``nin(elu(ul))`` to the parameters of a discretized logistic mixture over whole pixels
(:mod:`genzoo.distributions.logistic`), which models the colours of a pixel in order R, G, B
through the linear mean dependence, so the network itself only looks at earlier pixels.

Receptive field: every pixel in the rows above (through ``u`` and the low resolutions), but on
the current row only ``2 + 4 * blocks`` pixels to the left (one per full-resolution ``ul``
convolution on the path; 6 by default, 22 in the paper's CIFAR model); a test pins this down.

Deviations from the paper and from openai/pixel-cnn:

* up-sampling uses ``2 x 2`` stride-2 transposed convolutions in both streams (the paper: ``2 x 3``
  for ``u``), so each high-resolution position depends on exactly one low-resolution position
  ``(r // 2, c // 2)``; that keeps the cached sampler simple and is causal without a shift.
* weight normalisation (``torch.nn.utils.parametrizations.weight_norm``) without the paper's
  data-dependent initialisation; instead the second convolution of every block starts with its
  gain scaled by 0.1 (the paper's ``init_scale=0.1``), so the residual stack starts near identity.
* the class bias is an embedding per block (the paper: a one-hot ``h`` times a matrix, the same).
* any ``levels >= 2`` and image size (odd sizes: padding as in the paper, transposed outputs
  cropped), any number of colours and of ``resolutions``; Polyak averaging lives in
  ``genzoo.training`` (EMA), not in the model. ``forward`` recovers the integer image from the
  scaled one by rounding (the mixture's colour dependence uses the discrete values).
* smaller defaults for a small CPU: 32 filters and 1 block per resolution (paper: 160 and 5;
  570k parameters, about Gated PixelCNN's default size), 5 mixtures (paper: 10; 17-level digits
  need few). Dropout 0.5 as in the paper, against overfitting the 1,500 training digits in long
  runs; it slows short runs down (not tuned further; measurements in the docs' results).

Cached sampling (Ramachandran et al. 2017, :class:`_PixelCNNppCache`): ``u`` at resolution ``l``
depends only on rows above, so each of its rows is computed once, when the first pixel of the
matching full-resolution row is requested; ``ul`` at ``l`` is computed at one position when the
full-resolution pixel ``(2^l p, 2^l q)`` is requested (its inputs then all exist). The network runs
once per pixel; its channels only re-evaluate the mixture given the channels already sampled.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from genzoo.core.params import Constraint, Float, Int, depth
from genzoo.distributions import logistic_mixture_channels
from genzoo.distributions import logistic_mixture_logits as mixture_logits
from genzoo.models.autoregressive.base import PIXEL_MODEL_RECIPE, LogisticMixtureModel
from genzoo.models.registry import register_model
from genzoo.nn.gated_resnet import GatedResidual, InputUL, ShiftedConv, nin, shift
from genzoo.nn.incremental import SHIFTED_PAD as PAD
from genzoo.nn.incremental import (
    GatedResidualCache,
    PaddedBuffer,
    conv_region,
    conv_weights,
    down_shifted_input_row,
    input_ul_at,
    pointwise,
    previous_pixel,
    read_region,
    write_region,
)


@dataclass(frozen=True)
class Node:
    """One activation map of the network: ``ops[k]`` computes node ``k`` from ``inputs``."""

    stream: str  # "u" (rows above) or "ul" (rows above and the current row to the left)
    level: int  # resolution: the map is ``ceil(H / 2**level) x ceil(W / 2**level)``
    kind: str  # "input", "block", "down" or "up"
    inputs: tuple[int, ...]  # node indices: the main input, then auxiliary ones (blocks)


@register_model("pixelcnn_pp")
class PixelCNNpp(LogisticMixtureModel):
    """PixelCNN++ with ``filters`` features per stream and a logistic mixture output.

    Args:
        filters: features of both streams at every resolution.
        blocks: gated residual blocks per resolution in the down pass (the up pass has one
            more at all but the lowest resolution).
        num_mixtures: logistic components of the per-pixel mixture.
        resolutions: number of resolutions (each halves height and width).
        dropout: dropout probability inside the residual blocks (training only).
    """

    train_defaults: ClassVar[dict[str, Any]] = PIXEL_MODEL_RECIPE

    params: ClassVar[dict[str, Constraint]] = {
        "filters": Int(min=1),
        "blocks": depth(),
        "num_mixtures": Int(min=1),
        "resolutions": depth(),
        "dropout": Float(0.0, 1.0, max_open=True),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        filters: int = 32,
        blocks: int = 1,
        num_mixtures: int = 5,
        resolutions: int = 3,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(shape=shape, levels=levels, num_classes=num_classes)
        colors, height, width = self.shape
        self.sizes = [(-(-height // 2**lv), -(-width // 2**lv)) for lv in range(resolutions)]
        nodes: list[Node] = []
        ops = nn.ModuleList()

        def add(stream: str, level: int, kind: str, inputs: tuple[int, ...] = ()) -> int:
            right = stream == "ul"
            if kind == "input":  # the image plus a channel of ones, which marks the border
                op: nn.Module = (
                    InputUL(colors + 1, filters)
                    if right
                    else ShiftedConv(colors + 1, filters, (2, 3), right=False)
                )
            elif kind == "block":
                aux = filters * (len(inputs) - 1)
                kernel = (2, 2) if right else (2, 3)
                op = GatedResidual(
                    filters,
                    partial(ShiftedConv, kernel=kernel, right=right),
                    aux_channels=aux,
                    num_classes=self.num_classes,
                    dropout=dropout,
                    init_scale=0.1,  # the paper's init_scale: the stack starts near identity
                )
            elif kind == "down":
                op = ShiftedConv(
                    filters, filters, (2, 2) if right else (2, 3), right=right, stride=2
                )
            else:  # per output channel, as in the paper (a transposed weight is [in, out, ..])
                op = weight_norm(nn.ConvTranspose2d(filters, filters, 2, stride=2), dim=1)
            nodes.append(Node(stream, level, kind, inputs))
            ops.append(op)
            return len(nodes) - 1

        u, ul = add("u", 0, "input"), add("ul", 0, "input")
        u_skips, ul_skips = [u], [ul]
        for level in range(resolutions):  # down pass, storing every activation
            if level > 0:
                u, ul = add("u", level, "down", (u,)), add("ul", level, "down", (ul,))
                u_skips.append(u)
                ul_skips.append(ul)
            for _ in range(blocks):
                u = add("u", level, "block", (u,))
                ul = add("ul", level, "block", (ul, u))
                u_skips.append(u)
                ul_skips.append(ul)
        u, ul = u_skips.pop(), ul_skips.pop()
        for level in reversed(range(resolutions)):  # up pass, consuming them (U-Net)
            if level < resolutions - 1:
                u, ul = add("u", level, "up", (u,)), add("ul", level, "up", (ul,))
            for _ in range(blocks + (level < resolutions - 1)):
                u = add("u", level, "block", (u, u_skips.pop()))
                ul = add("ul", level, "block", (ul, u, ul_skips.pop()))
        self.nodes = tuple(nodes)
        self.ops = ops
        self.head = nin(filters, logistic_mixture_channels(num_mixtures, colors))

    # ------------------------------------------------------------------ network
    def mixture_params(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Mixture parameters ``[B, P, H, W]`` of every pixel given the earlier pixels.

        Args:
            x: float ``[B, C, H, W]`` scaled to ``[-1, 1]``; y: LongTensor ``[B]`` or ``None``.
        """
        x = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
        out: list[Tensor] = []
        for node, op in zip(self.nodes, self.ops):
            first = out[node.inputs[0]] if node.inputs else x
            if node.kind == "block":
                aux = [out[k] for k in node.inputs[1:]]
                out.append(op(first, torch.cat(aux, dim=1) if aux else None, y))
            elif node.kind == "up":
                height, width = self.sizes[node.level]
                out.append(op(first)[:, :, :height, :width])
            elif node.kind == "input" and node.stream == "u":
                out.append(shift(op(first), rows=1))
            else:
                out.append(op(first))
        return self.head(F.elu(out[-1]))

    def incremental_sampler(self, n: int, y: Tensor | None) -> _PixelCNNppCache:
        return _PixelCNNppCache(self, n, y)


class _PixelCNNppCache:
    """Per-node buffers of every activation, and a :class:`GatedResidualCache` per block (which
    holds the block's ``concat_elu``'d input and inner activation).

    Every buffer is padded by :data:`PAD`; a convolution's output at ``(p, q)`` is then
    :func:`conv_at` at ``(p, q)`` (stride 2: at ``(2p, 2q)``), with offsets for the input layers
    that are shifted.
    """

    def __init__(self, model: PixelCNNpp, n: int, y: Tensor | None) -> None:
        self.model, self.n = model, n
        colors, height, width = model.shape
        like = model.head.weight
        self.x = PaddedBuffer(like, n, colors + 1, height, width, PAD)
        self.x.data[:, colors, 1:, 1:-1] = 1.0  # the channel of ones, known in advance
        self.raw: list[PaddedBuffer] = []
        self.blocks: list[GatedResidualCache | None] = []
        self.weights: list[dict[str, tuple[Tensor, Tensor | None]]] = []
        filters = model.head.in_channels
        for node, op in zip(model.nodes, model.ops):
            size = model.sizes[node.level]
            self.raw.append(PaddedBuffer(like, n, filters, *size, PAD))
            block = node.kind == "block"
            self.blocks.append(GatedResidualCache(op, n, y, size, PAD) if block else None)
            if block:
                parts = {}
            elif isinstance(op, InputUL):
                parts = {"down": op.down, "right": op.right}
            else:
                parts = {"conv": op}
            self.weights.append({name: conv_weights(m) for name, m in parts.items()})
        self.head = conv_weights(model.head)
        self.params: Tensor | None = None

    # ------------------------------------------------------------------ the protocol
    def logits(self, x: Tensor, i: int, j: int, c: int) -> Tensor:
        model = self.model
        if c == 0:  # the network runs once per pixel; the previous pixel is now complete
            previous = previous_pixel(i, j, model.shape[2])
            if previous is not None:
                pi, pj = previous
                self.x.data[:, :-1, pi + 1, pj + 1] = model.scale(x[:, :, pi, pj])
            if j == 0:
                self._rows(i)
            self._pixel(i, j)
        pixel = x[:, :, i : i + 1, j : j + 1]
        return mixture_logits(self.params, pixel, model.levels)[:, :, c, 0, 0]

    # ------------------------------------------------------------------ schedule
    def _rows(self, i: int) -> None:
        """Every ``u`` row that image row ``i`` makes computable (rows above are final)."""
        for k, node in enumerate(self.model.nodes):
            if node.stream == "u" and i % 2**node.level == 0:
                self._compute(k, i >> node.level, None)

    def _pixel(self, i: int, j: int) -> None:
        """Every ``ul`` position that pixel ``(i, j)`` makes computable, then the head."""
        for k, node in enumerate(self.model.nodes):
            lv = node.level
            if node.stream == "ul" and i % 2**lv == 0 and j % 2**lv == 0:
                self._compute(k, i >> lv, j >> lv)
        h = pointwise(F.elu(self.raw[-1].read(i, j)), *self.head)
        self.params = h[:, :, None, None]

    # ------------------------------------------------------------------ one node, one region
    def _compute(self, k: int, p: int, q: int | None) -> None:
        """Node ``k`` at row ``p`` (``q is None``) or position ``(p, q)`` of its resolution."""
        node, w = self.model.nodes[k], self.weights[k]
        if node.kind == "input" and node.stream == "u":
            value = down_shifted_input_row(self.x, w["conv"], p)
        elif node.kind == "input":
            value = input_ul_at(self.x, w["down"], w["right"], p, q)
        elif node.kind == "down":
            value = conv_region(
                self.raw[node.inputs[0]], w["conv"], 2 * p, q if q is None else 2 * q
            )
            if q is None:
                value = value[..., ::2]  # the stride-1 row, every other column
        elif node.kind == "up":
            weight, bias = w["conv"]
            low = self.raw[node.inputs[0]]
            if q is None:
                row = low.data[:, :, p // 2 + 1, 1:-1, None].transpose(2, 3)
                value = F.conv_transpose2d(row, weight[:, :, p % 2 : p % 2 + 1], bias, stride=2)
                value = value[:, :, 0, : self.model.sizes[node.level][1]]
            else:
                value = F.linear(low.read(p // 2, q // 2), weight[:, :, p % 2, q % 2].T, bias)
        else:
            aux = [read_region(self.raw[m], p, q) for m in node.inputs[1:]]
            residual = read_region(self.raw[node.inputs[0]], p, q)
            value = self.blocks[k](residual, torch.cat(aux, dim=1) if aux else None, p, q)
        write_region(self.raw[k], p, q, value)
