"""Pixel Recursive Super Resolution — Dahl, Norouzi & Shlens, ICCV 2017 (arXiv:1702.00783).

``p(x | c) = prod_d softmax(A_d(c) + B_d(x_<d))[x_d]``: a *conditioning network* reads the whole
conditioning image ``c`` and gives logits ``A(c)`` for every sub-pixel of the target; a *prior
network* — a Gated PixelCNN (:class:`~genzoo.models.autoregressive.gated_pixelcnn.GatedPixelCNN`)
over the target alone — gives causal logits ``B(x_<d)``; the two are added before the softmax and
trained jointly. The likelihood is exact. As in the paper, the loss adds the cross-entropy of the
conditioning logits alone, ``-log softmax(A_d(c))[x_d]`` (weight ``aux_weight``), so that the
conditioning network must explain the target by itself and the prior cannot learn to ignore it.

The conditioning network is a small ResNet: a ``3 x 3`` convolution on the scaled condition,
``cond_blocks`` residual blocks at the condition's resolution, one transposed convolution with
kernel = stride = the scale factor ``(H / H_c, W / W_c)`` to the target's size, ``cond_blocks``
more residual blocks there, and a ``1 x 1`` convolution to ``levels`` logits per sub-pixel. Any
condition whose height and width divide the target's works: super-resolution (``c`` the image
downsampled 2x or 4x, same channels) and colorization (``c`` the luminance at full size, one
channel; the factor is then 1).

Cached sampling: the conditioning logits depend on ``c`` only, so the incremental sampler runs
the conditioning network once per image and adds its logits to those of the Gated PixelCNN's own
cache (:class:`~genzoo.models.autoregressive.gated_pixelcnn._GatedCache`).

Deviations from the paper:

* networks far smaller than the paper's (its prior has 20 gated layers and its conditioning
  ResNet works on 8x8 -> 32x32 faces and bedrooms); sizes are constructor arguments;
* no batch normalisation in the conditioning ResNet, so that ``log p(x | c)`` of an image never
  depends on the other images of its batch;
* one transposed convolution by the whole factor instead of a stack of stride-2 ones, so that any
  integer factor per side works (1 for colorization, 3 for 21 -> 7 ...);
* ``levels`` is any ``K >= 2`` (the paper: 256), an optional class label ``y`` conditions the prior
  (the paper has none), and sampling has no temperature (the paper samples sharpened softmaxes
  ``softmax(logits / T)``; here samples follow ``p(x | c)`` exactly).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from torch import Tensor, nn

from genzoo.core.params import Constraint, Float, Int, depth
from genzoo.distributions import categorical_log_prob
from genzoo.errors import ModelError
from genzoo.models.autoregressive.base import (
    PIXEL_MODEL_RECIPE,
    AutoregressiveModel,
    IncrementalSampler,
)
from genzoo.models.autoregressive.gated_pixelcnn import GatedPixelCNN
from genzoo.models.registry import register_model


class _ResBlock(nn.Module):
    """``x + conv3x3(relu(conv3x3(relu(x))))``, a pre-activation ResNet block (no norm)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)


class ConditioningNetwork(nn.Module):
    """Scaled condition ``[B, C_c, H_c, W_c]`` -> logits ``[B, levels, C, H, W]``.

    Args:
        in_channels: ``C_c``.
        channels: features of every layer.
        blocks: residual blocks before and after the upsampling.
        factor: ``(H / H_c, W / W_c)``.
        levels, colors: the target's levels and channels ``C``.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        blocks: int,
        factor: tuple[int, int],
        levels: int,
        colors: int,
    ) -> None:
        super().__init__()
        self.levels, self.colors = levels, colors
        self.input = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.low = nn.Sequential(*[_ResBlock(channels) for _ in range(blocks)])
        self.up = nn.ConvTranspose2d(channels, channels, kernel_size=factor, stride=factor)
        self.high = nn.Sequential(*[_ResBlock(channels) for _ in range(blocks)])
        self.out = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, levels * colors, 1))

    def forward(self, c: Tensor) -> Tensor:
        h = self.high(self.up(self.low(self.input(c))))
        out = self.out(h)
        return out.view(out.shape[0], self.levels, self.colors, *out.shape[2:])


@register_model("pixel_recursive_sr")
class PixelRecursiveSR(AutoregressiveModel):
    """Conditioning-ResNet logits plus Gated PixelCNN prior logits: ``p(x | c)`` (and ``y``).

    Args:
        condition_shape: ``(C_c, H_c, W_c)`` with ``H_c`` dividing ``H`` and ``W_c`` dividing ``W``.
        condition_levels: levels of the conditioning image.
        channels, num_layers, kernel_size, input_kernel_size, head_channels, dropout: the Gated
            PixelCNN prior's (see :class:`GatedPixelCNN`).
        cond_channels: features of the conditioning ResNet.
        cond_blocks: its residual blocks at each of the two resolutions.
        aux_weight: weight of the conditioning logits' own cross-entropy in the loss (0: off).
    """

    train_defaults: ClassVar[dict[str, Any]] = PIXEL_MODEL_RECIPE

    paper = "Dahl, Norouzi & Shlens 2017, Pixel Recursive Super Resolution"
    image_conditional = True
    params: ClassVar[dict[str, Constraint]] = {
        # the prior is a Gated PixelCNN built from these: its own table entries
        **{k: v for k, v in GatedPixelCNN.params.items() if k != "embedding_dim"},
        "cond_channels": Int(min=1),
        "cond_blocks": depth(0),
        "aux_weight": Float(min=0.0),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        condition_shape: tuple[int, int, int] | list[int] | None = None,
        condition_levels: int | None = None,
        channels: int = 32,
        num_layers: int = 6,
        kernel_size: int = 3,
        input_kernel_size: int = 7,
        head_channels: int = 64,
        dropout: float = 0.0,
        cond_channels: int = 32,
        cond_blocks: int = 2,
        aux_weight: float = 1.0,
    ) -> None:
        super().__init__(
            shape=shape,
            levels=levels,
            num_classes=num_classes,
            condition_shape=condition_shape,
            condition_levels=condition_levels,
        )
        colors = self.shape[0]
        cond_colors = self.condition_shape[0]  # type: ignore[index]
        self.factor = self.condition_factor()
        self.aux_weight = float(aux_weight)
        self.conditioning = ConditioningNetwork(
            cond_colors, cond_channels, cond_blocks, self.factor, self.levels, colors
        )
        self.prior = GatedPixelCNN(
            shape=self.shape,
            levels=self.levels,
            num_classes=self.num_classes,
            channels=channels,
            num_layers=num_layers,
            kernel_size=kernel_size,
            input_kernel_size=input_kernel_size,
            head_channels=head_channels,
            dropout=dropout,
        )

    def condition_logits(self, c: Tensor) -> Tensor:
        """``A(c)``: logits ``[B, levels, C, H, W]`` of integer ``c [B, *condition_shape]``."""
        return self.conditioning(self.scale_condition(c))

    def forward(self, x: Tensor, y: Tensor | None = None, c: Tensor | None = None) -> Tensor:
        """Logits ``[B, levels, C, H, W]`` = ``A(c) + B(x_<d)``.

        Args:
            x: float ``[B, C, H, W]``, the target scaled to ``[-1, 1]``.
            y: LongTensor ``[B]`` labels of a class-conditional model, or ``None``.
            c: LongTensor ``[B, *condition_shape]``, the conditioning images' integer levels.
        """
        if c is None:
            raise ModelError(f"{self.name} is conditioned on an image: pass c")
        return self.condition_logits(c) + self.prior(x, y)

    def loss(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None
    ) -> dict[str, Tensor]:
        """``-log p(x | c) / D + aux_weight * (-log softmax(A(c))[x]) / D`` (nats per sub-pixel).

        ``nll_nats`` and ``bits_per_dim`` are those of ``p(x | c)`` alone;
        ``condition_bits_per_dim`` is the conditioning network's own.
        """
        self.check_input(x, y, c)
        x, c = x.to(self.device), c.to(self.device)  # type: ignore[union-attr]
        cond = self.condition_logits(c)
        log_p = categorical_log_prob(cond + self.prior(self.scale(x), y), x).flatten(1).sum(1)
        nll = -log_p.mean()
        per_dim = nll / self.num_dims
        aux = -categorical_log_prob(cond, x).flatten(1).sum(1).mean() / self.num_dims
        return {
            "loss": per_dim + self.aux_weight * aux if self.aux_weight else per_dim,
            "nll_nats": nll.detach(),
            "bits_per_dim": per_dim.detach() / math.log(2),
            "condition_bits_per_dim": aux.detach() / math.log(2),
        }

    def incremental_sampler(self, n: int, y: Tensor | None, c: Tensor) -> _ConditionedCache:
        """The prior's cache plus the conditioning logits, computed once for the ``n`` images."""
        return _ConditionedCache(self.prior.incremental_sampler(n, y), self.condition_logits(c))


class _ConditionedCache:
    """``A(c)`` computed once; ``B`` from the Gated PixelCNN's incremental sampler."""

    def __init__(self, prior: IncrementalSampler, condition_logits: Tensor) -> None:
        self.prior, self.condition = prior, condition_logits

    def logits(self, x: Tensor, i: int, j: int, c: int) -> Tensor:
        return self.prior.logits(x, i, j, c) + self.condition[:, :, c, i, j]
