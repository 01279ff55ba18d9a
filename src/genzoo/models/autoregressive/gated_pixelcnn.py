"""Gated PixelCNN — van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves & Kavukcuoglu,
"Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016.

Vertical and horizontal stacks wired without a blind spot, gated ``tanh * sigmoid`` units, residual
connections in the horizontal stack and skip connections to the output, class-conditional biases
``V y`` in every layer, and colour masks (R | context, G | context + R, B | context + R + G). Layer
details in :class:`genzoo.nn.gated.GatedLayer`.

Deviations from the paper: ``levels`` is any ``K >= 2``; the first layer uses a ``7 x 7`` receptive
field (vertical ``4 x 7``, horizontal ``1 x 4`` with mask A) and later layers ``kernel_size``; the
output head is ``ReLU -> 1x1 -> ReLU -> 1x1`` on the sum of skips; optional dropout inside the gated
units (off by default) regularises small datasets.

Optional ``embedding_dim`` (single-channel images only): the input enters as a learned embedding of
its integer level instead of one scalar channel, for inputs whose levels are unordered symbols —
e.g. VQ-VAE's code indices, where the scaled index would impose a meaningless order. The first
layer then reads ``embedding_dim`` channels. The first layer never has a residual connection (it
would add the current pixel itself to the horizontal stack: a leak when its input width equals
``channels``).

Cached sampling (Ramachandran et al. 2017, :class:`_GatedCache`): the vertical stack at row ``r``
sees the whole of rows ``<= r``, so it is computed a row at a time once row ``r`` is complete (at
the start of row ``r + 1``, the first row that reads it through the down-shift); the horizontal
stack is computed at one position per step.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from genzoo.core.params import Constraint, Float, Int, Optional, depth
from genzoo.errors import ConfigError
from genzoo.models.autoregressive.base import PIXEL_MODEL_RECIPE, AutoregressiveModel
from genzoo.models.registry import register_model
from genzoo.nn import CategoricalHead
from genzoo.nn.gated import GatedLayer, gate
from genzoo.nn.incremental import PaddedBuffer, conv_at, conv_row, conv_weights, pointwise


@register_model("gated_pixelcnn")
class GatedPixelCNN(AutoregressiveModel):
    """Gated PixelCNN with ``num_layers`` gated layers of ``channels`` features.

    Args:
        channels: features per stack.
        num_layers: gated layers, the first one with mask A.
        kernel_size: odd kernel width of the layers after the first.
        input_kernel_size: odd kernel width of the first layer.
        head_channels: features of the output ``1 x 1`` layers.
        dropout: dropout probability on the gated activations (training only).
        embedding_dim: if set, the integer input goes through a learned ``levels x embedding_dim``
            embedding instead of being scaled to one channel (needs one colour channel).
    """

    train_defaults: ClassVar[dict[str, Any]] = PIXEL_MODEL_RECIPE
    #: dropout against over-fitting 1,500 digits in minutes-long runs (the benchmarks' recipe)
    recommended: ClassVar[dict[str, Any]] = {"dropout": 0.5}

    params: ClassVar[dict[str, Constraint]] = {
        "channels": Int(min=1),
        "num_layers": depth(),
        "kernel_size": Int(min=1, odd=True),
        "input_kernel_size": Int(min=1, odd=True),
        "head_channels": Int(min=1),
        "dropout": Float(0.0, 1.0, max_open=True),
        "embedding_dim": Optional(Int(min=1)),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        channels: int = 64,
        num_layers: int = 8,
        kernel_size: int = 3,
        input_kernel_size: int = 7,
        head_channels: int = 128,
        dropout: float = 0.0,
        embedding_dim: int | None = None,
    ) -> None:
        super().__init__(shape=shape, levels=levels, num_classes=num_classes)
        colors = self.shape[0]
        if embedding_dim is not None and colors != 1:
            raise ConfigError(
                f"embedding_dim embeds the level of a single-channel image, got "
                f"embedding_dim={embedding_dim} with {colors} channels; leave it None"
            )
        # None keeps the scalar input (and the state dict of models saved without the option)
        self.embedding = None if embedding_dim is None else nn.Embedding(self.levels, embedding_dim)
        self.layers = nn.ModuleList(
            GatedLayer(
                (embedding_dim or colors) if i == 0 else channels,
                channels,
                input_kernel_size if i == 0 else kernel_size,
                colors=colors,
                mask_type="A" if i == 0 else "B",
                num_classes=self.num_classes,
                dropout=dropout,
                last=i == num_layers - 1,
            )
            for i in range(num_layers)
        )
        # the first layer's input includes the current pixel (mask A only hides it from the
        # convolutions): a residual there leaks x_ij whenever its input width equals `channels`
        self.layers[0].residual = False
        self.head = CategoricalHead(channels, head_channels, self.levels, colors)

    def input_features(self, x: Tensor) -> Tensor:
        """Input channels of the first layer for integer ``x [n, C, ...]``: ``[n, C_in, ...]``.

        ``C_in = C`` (the levels scaled to ``[-1, 1]``) or ``embedding_dim`` (their embedding).
        """
        if self.embedding is None:
            return self.scale(x)
        return self.embedding(x[:, 0].long()).movedim(-1, 1)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        if self.embedding is not None:  # integer levels back from the scaled input, by rounding
            levels = torch.round((x.detach() + 1.0) * ((self.levels - 1) / 2.0)).long()
            x = self.input_features(levels.clamp_(0, self.levels - 1))
        v = h = x
        skip = None
        for layer in self.layers:
            v, h, s = layer(v, h, y)
            skip = s if skip is None else skip + s
        return self.head(skip)

    def incremental_sampler(self, n: int, y: Tensor | None) -> _GatedCache:
        return _GatedCache(self, n, y)


class _GatedCache:
    """Vertical-stack rows and horizontal-stack positions, each computed once."""

    def __init__(self, model: GatedPixelCNN, n: int, y: Tensor | None) -> None:
        _, height, width = model.shape
        like = model.head[1].weight
        self.model = model
        self.layers = []
        for layer in model.layers:
            v_conv, h_conv = layer.v_conv, layer.h_conv
            bias_v = bias_h = None
            if layer.embed is not None and y is not None:
                bias_v, bias_h = layer.embed(y)[:, :, None].chunk(2, dim=1)
            channels = v_conv.conv.in_channels
            v_in = PaddedBuffer(like, n, channels, height, width, v_conv.padding)
            h_in = PaddedBuffer(like, n, channels, height, width, h_conv.padding)
            # Row 0 reads the down-shifted zeros above the image: the link is v_to_h's bias.
            link = layer.v_to_h.bias[None, :, None].expand(n, -1, width).clone()
            self.layers.append(
                {
                    "layer": layer,
                    "v_in": v_in,
                    "h_in": h_in,
                    "v": conv_weights(v_conv),
                    "h": conv_weights(h_conv),
                    "link": (layer.v_to_h.weight, layer.v_to_h.bias),
                    "h_out": None if layer.h_out is None else conv_weights(layer.h_out),
                    "skip": conv_weights(layer.skip),
                    "bias_v": bias_v,
                    "bias_h": None if bias_h is None else bias_h[:, :, 0],
                    "row_link": link,
                }
            )
        head = model.head
        self.head = [
            conv_weights(head[1]),
            conv_weights(head[3]),
        ]

    def _vertical_row(self, x: Tensor, r: int) -> None:
        """Run the vertical stack on the complete row ``r``; keep each layer's link to row r+1."""
        v = self.model.input_features(x[:, :, r])
        for state in self.layers:
            state["v_in"].write_row(r, v)
            v_pre = conv_row(state["v_in"], *state["v"], r)
            state["row_link"] = pointwise(v_pre, *state["link"])
            if state["bias_v"] is not None:
                v_pre = v_pre + state["bias_v"]
            v = gate(v_pre)

    def logits(self, x: Tensor, i: int, j: int, c: int) -> Tensor:
        if j == 0 and c == 0 and i > 0:
            self._vertical_row(x, i - 1)
        h = self.model.input_features(x[:, :, i, j])
        if c == 0 and j > 0:  # the previous pixel is now complete (the row above is never read)
            self.layers[0]["h_in"].write(i, j - 1, self.model.input_features(x[:, :, i, j - 1]))
        skip = None
        for state in self.layers:
            state["h_in"].write(i, j, h)
            h_pre = conv_at(state["h_in"], *state["h"], i, j) + state["row_link"][:, :, j]
            if state["bias_h"] is not None:
                h_pre = h_pre + state["bias_h"]
            gated = gate(h_pre)
            s = pointwise(gated, *state["skip"])
            skip = s if skip is None else skip + s
            if state["h_out"] is not None:
                h_new = pointwise(gated, *state["h_out"])
                h = h_new + state["h_in"].read(i, j) if state["layer"].residual else h_new
        out = pointwise(torch.relu(pointwise(torch.relu(skip), *self.head[0])), *self.head[1])
        return out.view(out.shape[0], self.model.levels, -1)[:, :, c]
