"""Deep convolutional GAN — Radford, Metz & Chintala, "Unsupervised Representation Learning with
Deep Convolutional Generative Adversarial Networks", ICLR 2016.

The architecture guidelines of the paper: no pooling — the generator upsamples with fractionally
strided (transposed) ``4 x 4`` convolutions and the discriminator downsamples with strided ones;
batch normalisation in both networks except the generator's output and the discriminator's input
layer; ReLU in the generator with ``tanh`` at the output; LeakyReLU (slope 0.2) in the
discriminator; Adam with ``lr = 2e-4``, ``beta1 = 0.5`` (the CLI's defaults for this model).

Deviations: any image size — the generator starts from the map size that ``default_stages``
halvings of the image give (``7 x 7`` for 28x28, ``4 x 4`` for 8x8) and crops each doubling to
the exact size; a stride-1 ``3 x 3`` convolution at the discriminator's input and the generator's
output (so even one-stage 8x8 networks have two layers); the discriminator's last feature map is
flattened into a linear score (plus the projection term when conditional). ``critic_norm``
chooses batch norm (the paper), layer norm or none in the discriminator, and ``spectral_norm``
normalises its layers — the switches :mod:`wgan_gp <genzoo.models.gan.wgan_gp>` and
:mod:`sngan <genzoo.models.gan.sngan>` set.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from genzoo.core.params import Bool, Constraint, Int, OneOf, Optional, depth
from genzoo.errors import ConfigError
from genzoo.models.gan.base import AdversarialModel, Discriminator, Generator, leaky_relu
from genzoo.models.registry import register_model
from genzoo.nn.convnets import default_stages, stage_sizes

NORMS = ("batch", "layer", "none")


class _Crop(nn.Module):
    """Crop a map to ``size`` (a transposed convolution doubles; odd sizes need one row less)."""

    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        return x[..., : self.size[0], : self.size[1]]


def dcgan_generator(
    shape: tuple[int, int, int], in_features: int, channels: int, stages: int
) -> nn.Module:
    """``[B, in_features]`` -> ``[B, C, H, W]`` pre-activations: project, then upsample ``stages``
    times with ``4 x 4`` transposed convolutions (batch norm + ReLU), then a ``3 x 3`` output."""
    c, h, w = shape
    sizes = stage_sizes(h, w, stages)
    width = channels * 2**stages
    bottom = sizes[-1]
    layers: list[nn.Module] = [
        nn.Linear(in_features, width * bottom[0] * bottom[1]),
        nn.Unflatten(1, (width, *bottom)),
        nn.BatchNorm2d(width),
        nn.ReLU(),
    ]
    for size in reversed(sizes[:-1]):
        layers += [
            nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1, bias=False),
            _Crop(size),
            nn.BatchNorm2d(width // 2),
            nn.ReLU(),
        ]
        width //= 2
    layers.append(nn.Conv2d(width, c, 3, padding=1))
    return nn.Sequential(*layers)


def _norm(kind: str, width: int) -> list[nn.Module]:
    if kind == "batch":
        return [nn.BatchNorm2d(width)]
    if kind == "layer":  # normalise each image over (C, H, W): per-image, so penalties stay valid
        return [nn.GroupNorm(1, width)]
    return []


def spectral(module: nn.Module) -> nn.Module:
    """Spectrally normalise every convolution and linear layer of ``module`` (in place)."""
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d | nn.Linear):
            setattr(module, name, nn.utils.parametrizations.spectral_norm(child))
        else:
            spectral(child)
    return module


def feature_size(body: nn.Module, shape: tuple[int, int, int]) -> int:
    """Length of ``body``'s flattened output for one image of ``shape``."""
    with torch.no_grad():
        return int(body.eval()(torch.zeros(1, *shape)).flatten(1).shape[1])


@register_model("dcgan")
class DCGAN(AdversarialModel):
    """Convolutional generator and discriminator after Radford et al. 2016.

    Args:
        channels: feature maps at full resolution; doubled at every stride-2 stage.
        stages: stride-2 stages (``None``: 1 for 8x8, 2 for 28x28, 3 for 32x32).
        critic_norm: normalisation in the discriminator: ``batch`` (the paper), ``layer``, ``none``.
        spectral_norm: spectrally normalise every discriminator layer (Miyato et al. 2018).
        (and ``latent_dim``, ``loss``, ``gradient_penalty``, ``critic_steps``, ``class_dim`` of
        :class:`~genzoo.models.gan.base.AdversarialModel`)
    """

    params: ClassVar[dict[str, Constraint]] = {
        "channels": Int(min=1),
        "stages": Optional(depth(0)),
        "critic_norm": OneOf(*NORMS),
        "spectral_norm": Bool(),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        latent_dim: int = 64,
        channels: int = 32,
        stages: int | None = None,
        critic_norm: str = "batch",
        spectral_norm: bool = False,
        loss: str = "non_saturating",
        gradient_penalty: float = 0.0,
        critic_steps: int = 1,
        class_dim: int = 16,
    ) -> None:
        super().__init__(
            shape=shape,
            levels=levels,
            num_classes=num_classes,
            latent_dim=latent_dim,
            loss=loss,
            gradient_penalty=gradient_penalty,
            critic_steps=critic_steps,
            class_dim=class_dim,
        )
        if critic_norm == "batch" and gradient_penalty > 0:
            raise ConfigError(
                "the gradient penalty is a per-image quantity but batch norm mixes the images of "
                "a batch; use critic_norm='layer' or 'none' with gradient_penalty > 0"
            )
        _, h, w = self.shape
        stages = default_stages(h, w) if stages is None else int(stages)
        # the critic's stride-2 stages halve the side, rounding down: at most log2(min side)
        # (bit lengths, not 2**stages: stages=10**12 must be refused at once)
        if stages > min(h, w).bit_length() - 1:
            raise ConfigError(
                f"stages={stages} halves a {h}x{w} image below one pixel; pass at most "
                f"{min(h, w).bit_length() - 1} (log2 of the smaller side) or leave stages None"
            )
        body = dcgan_generator(self.shape, self.generator_input_dim, channels, stages)
        self.generator = Generator(body, num_classes, class_dim)
        d = self.critic_body(channels, stages, critic_norm)
        if spectral_norm:
            spectral(d)
        self.discriminator = Discriminator(
            d,
            feature_size(d, self.shape),
            num_classes,
            spectral_norm=spectral_norm,
            bias=self.critic_bias,
        )

    def critic_body(self, channels: int, stages: int, norm: str) -> nn.Module:
        """Images -> flattened features: a ``3 x 3`` input layer, then ``4 x 4`` stride-2 stages."""
        layers: list[nn.Module] = [nn.Conv2d(self.shape[0], channels, 3, padding=1), leaky_relu()]
        width = channels
        for _ in range(stages):
            layers += [nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)]
            layers += [*_norm(norm, 2 * width), leaky_relu()]
            width *= 2
        return nn.Sequential(*layers, nn.Flatten())
