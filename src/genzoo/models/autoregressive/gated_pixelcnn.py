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
"""

from __future__ import annotations

from torch import Tensor, nn

from genzoo.errors import ConfigError
from genzoo.models.autoregressive.base import AutoregressiveModel
from genzoo.models.registry import register_model
from genzoo.nn import CategoricalHead
from genzoo.nn.gated import GatedLayer


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
    """

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
    ) -> None:
        super().__init__(shape=shape, levels=levels, num_classes=num_classes)
        colors = self.shape[0]
        if num_layers < 1:
            raise ConfigError(f"num_layers must be at least 1, got {num_layers}")
        for name, k in (("kernel_size", kernel_size), ("input_kernel_size", input_kernel_size)):
            if k < 1 or k % 2 == 0:
                raise ConfigError(f"{name} must be a positive odd number, got {k}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
        self.layers = nn.ModuleList(
            GatedLayer(
                colors if i == 0 else channels,
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
        self.head = CategoricalHead(channels, head_channels, self.levels, colors)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        v = h = x
        skip = None
        for layer in self.layers:
            v, h, s = layer(v, h, y)
            skip = s if skip is None else skip + s
        return self.head(skip)
