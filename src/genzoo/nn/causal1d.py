"""Causal 1-D convolutions: the PixelCNN masks for a sequence (van den Oord et al. 2016a, b).

``CausalConv1d`` with kernel ``k`` and dilation ``d`` computes, for a sequence ``x [B, C, T]``,

    y[t] = b + sum_{i=0}^{k-1} W_i x[t - s - i d],     s = 0 (include_current) or 1 (exclude),

with zeros before the start of the sequence. It is a plain ``nn.Conv1d`` applied after
``(k - 1) d + s`` zeros of left padding, the last ``s`` outputs dropped: padding instead of a
mask, as in WaveNet (van den Oord et al. 2016b). ``include_current=False`` is the analogue of
PixelCNN's mask A (the first layer must not see ``x_t`` when predicting it);
``include_current=True`` is mask B (later layers may see position ``t`` of features that
themselves only saw ``x_<t``). The layer at position ``t`` sees ``(k - 1) d + 1`` positions,
ending at ``t - s``.

``GatedCausalBlock``: ``h + W_1x1 (tanh(a) * sigmoid(b))`` with ``[a, b]`` a dilated causal
convolution of ``h`` (include_current) — the gated activation of Gated PixelCNN / WaveNet with a
residual connection, returned once (the block already adds ``h``: do not wrap it again).

``init_parameters(module, generator)`` redraws every convolution's parameters with PyTorch's
default rule (Kaiming-uniform weight with ``a = sqrt(5)``, uniform bias in ``±1/sqrt(fan_in)``)
from an explicit generator, so a model's initialisation does not touch the global RNG.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.errors import ConfigError


class CausalConv1d(nn.Conv1d):
    """Dilated 1-D convolution whose output at ``t`` sees only inputs ``<= t`` (or ``< t``).

    Args:
        in_channels, out_channels, kernel_size, dilation, bias: as ``nn.Conv1d``.
        include_current: ``True`` (mask B): the taps end at ``t``; ``False`` (mask A): at ``t-1``.

    Shapes: ``[B, in_channels, T] -> [B, out_channels, T]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        dilation: int = 1,
        include_current: bool = True,
        bias: bool = True,
    ) -> None:
        if kernel_size < 1 or dilation < 1:
            raise ConfigError(
                f"kernel_size and dilation must be >= 1, got {kernel_size} and {dilation}"
            )
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation, bias=bias)
        self.include_current = include_current
        self.shift = 0 if include_current else 1
        self.left_padding = (kernel_size - 1) * dilation + self.shift

    @property
    def span(self) -> int:
        """Number of consecutive input positions one output sees: ``(k - 1) d + 1``."""
        return (self.kernel_size[0] - 1) * self.dilation[0] + 1

    def forward(self, x: Tensor) -> Tensor:
        t = x.shape[-1]
        y = self._conv_forward(F.pad(x, (self.left_padding, 0)), self.weight, self.bias)
        return y[..., :t]


class GatedCausalBlock(nn.Module):
    """Residual gated block: ``h + proj(tanh(a) * sigmoid(b))``, ``[a, b] = causal_conv(h)``.

    Shapes: ``[B, channels, T] -> [B, channels, T]``; sees ``(k - 1) * dilation`` more past steps.
    """

    def __init__(self, channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.conv = CausalConv1d(
            channels, 2 * channels, kernel_size, dilation=dilation, include_current=True
        )
        self.proj = nn.Conv1d(channels, channels, 1)

    def forward(self, h: Tensor) -> Tensor:
        a, b = self.conv(h).chunk(2, dim=1)
        return h + self.proj(torch.tanh(a) * torch.sigmoid(b))


@torch.no_grad()
def init_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """Redraw the weight and bias of every ``nn.Conv1d``/``nn.Linear`` in ``module`` from
    ``generator`` with PyTorch's default initialisation rule."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv1d, nn.Linear)):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            if layer.bias is not None:
                fan_in = layer.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
