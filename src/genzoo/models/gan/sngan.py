"""Spectrally normalised GAN — Miyato, Kataoka, Koyama & Yoshida, "Spectral Normalization for
Generative Adversarial Networks", ICLR 2018 (conditional: Miyato & Koyama, "cGANs with Projection
Discriminator", ICLR 2018).

Every discriminator layer ``W`` is replaced by ``W / sigma(W)``, its largest singular value
estimated by one power iteration per training step, which bounds the discriminator's Lipschitz
constant without a penalty or batch statistics; trained with the hinge loss. The discriminator is
the paper's "standard CNN" (each stage a ``3 x 3`` stride-1 and a ``4 x 4`` stride-2 convolution,
LeakyReLU 0.1, a final ``3 x 3`` convolution, then a linear score); the generator is DCGAN's.
Adam with ``lr = 2e-4``, ``beta1 = 0.5``, ``beta2 = 0.999`` and one discriminator step per
generator step (the paper's setting C; the CLI's defaults for this model).

Deviations: widths start at ``channels`` and double per stage (the paper: 64 -> 512 for 32x32);
the number of stages follows the image size as in DCGAN.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from genzoo.models.gan.dcgan import DCGAN
from genzoo.models.registry import register_model


@register_model("sngan")
class SNGAN(DCGAN):
    """DCGAN generator with the spectrally normalised standard-CNN discriminator, hinge loss."""

    def __init__(
        self,
        *,
        loss: str = "hinge",
        spectral_norm: bool = True,
        critic_norm: str = "none",
        **kwargs: Any,
    ) -> None:
        super().__init__(loss=loss, spectral_norm=spectral_norm, critic_norm=critic_norm, **kwargs)

    def critic_body(self, channels: int, stages: int, norm: str) -> nn.Module:
        """The standard CNN: per stage ``3 x 3`` then ``4 x 4`` stride 2; a final ``3 x 3``."""
        act = nn.LeakyReLU(0.1)
        layers: list[nn.Module] = []
        width, previous = channels, self.shape[0]
        for _ in range(stages):
            layers += [nn.Conv2d(previous, width, 3, padding=1), act]
            layers += [nn.Conv2d(width, width, 4, stride=2, padding=1), act]
            previous, width = width, 2 * width
        layers += [nn.Conv2d(previous, width, 3, padding=1), act]
        return nn.Sequential(*layers, nn.Flatten())
