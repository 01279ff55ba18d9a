"""pix2pix — Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional Adversarial
Networks", CVPR 2017.

An image-conditional GAN: a *U-Net* generator ``G(c, z)`` maps the conditioning image ``c``
(the low-resolution image of super-resolution, the gray image of colorization) to a target
image, and a *PatchGAN* discriminator ``D(c, x)`` scores every patch of a (condition, image)
pair as real or generated. The generator minimises the adversarial loss plus ``lambda`` times
the L1 distance to the true target (the paper's ``lambda = 100``, the ``l1_weight`` default):

    ``L_G = E[-log sigmoid(D(c, G(c, z)))] + lambda * E|x - G(c, z)|_1``,

averaged over patches and sub-pixels; the discriminator minimises the usual cross-entropy on
real pairs ``(c, x)`` and generated ones ``(c, G(c, z))`` (:mod:`genzoo.models.gan.base`, which
also owns dequantisation, sampling, completion by latent optimisation and the alternating
update). The L1 term compares the generator's output with the *bin centre* of each true level
on ``[-1, 1]`` — the point that quantises back to that level.

Noise. The paper's generator takes no noise vector: it found the network learns to ignore one,
and its only randomness is dropout kept on at test time, which gives "only minor stochasticity".
Here the randomness is a noise input instead, ``z ~ N(0, I)`` of ``latent_dim`` values tiled over
the image and stacked with the upsampled condition at the U-Net's input (the "add to input"
injection of BicycleGAN, Zhu et al. 2017), so that sampling draws from an explicit
``torch.Generator`` and completion can optimise ``z``. How much the samples for one ``c`` differ
is measured, not assumed (tests/models/gan/test_pix2pix.py: the per-pixel standard deviation
across samples for a fixed ``c``); with the L1 term at 100 the generator is pushed towards the
conditional median and may learn to ignore ``z``, as the paper reports.

Deviations: networks sized for small images — ``3 x 3`` convolutions; the U-Net downsamples
``stages`` times by stride-2 convolutions and upsamples by nearest neighbour + convolution to the
exact sizes it went through (any image size), with skip connections at every resolution; the
PatchGAN has ``patch_stages`` stride-2 layers (its receptive field: 9 pixels at one stage, 17 at
two, instead of the paper's 70); no batch or instance normalisation (each image is processed on
its own); the condition is brought to the target's size by nearest-neighbour upsampling (any
condition whose sides divide the target's); the discriminator's objective is not halved (Adam
is invariant to the scale); and, as every genzoo GAN, real images are dequantised for the
discriminator and samples quantised to the data's levels.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from genzoo.core.params import Constraint, Float, Int, Optional, depth
from genzoo.errors import ModelError
from genzoo.models.base import GenerativeModel
from genzoo.models.gan.base import AdversarialModel, generator_objective, leaky_relu
from genzoo.models.registry import register_model
from genzoo.nn.convnets import check_stages, default_stages


class _Labels(nn.Module):
    """A class embedding tiled over the image as extra input channels (none without classes)."""

    def __init__(self, num_classes: int | None, dim: int) -> None:
        super().__init__()
        self.embed = None if num_classes is None else nn.Embedding(num_classes, dim)
        self.channels = 0 if num_classes is None else dim

    def forward(self, h: Tensor, y: Tensor | None) -> Tensor:
        if self.embed is None:
            return h
        label = self.embed(y).to(h.dtype)[:, :, None, None].expand(-1, -1, *h.shape[-2:])
        return torch.cat([h, label], dim=1)


class UNet(nn.Module):
    """``[B, in, H, W]`` (and labels ``[B]``) -> ``[B, out, H, W]`` pre-activations: ``stages``
    stride-2 ``3 x 3`` convolutions down (LeakyReLU 0.2), the mirror up (nearest neighbour to the
    skip's size, the skip stacked, ``3 x 3`` convolution, ReLU), a ``3 x 3`` output convolution.
    A class embedding, when there are classes, is tiled and stacked with the input."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: int,
        stages: int,
        num_classes: int | None = None,
        class_dim: int = 16,
    ) -> None:
        super().__init__()
        widths = [channels * 2**i for i in range(stages + 1)]
        self.labels = _Labels(num_classes, class_dim)
        self.input = nn.Conv2d(in_channels + self.labels.channels, channels, 3, padding=1)
        self.down = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1) for i in range(stages)
        )
        self.up = nn.ModuleList(
            nn.Conv2d(widths[i + 1] + widths[i], widths[i], 3, padding=1) for i in range(stages)
        )
        self.output = nn.Conv2d(channels, out_channels, 3, padding=1)
        self.act_down, self.act_up = leaky_relu(), nn.ReLU()

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        h = self.act_down(self.input(self.labels(x, y)))
        skips = [h]
        for conv in self.down:
            h = self.act_down(conv(h))
            skips.append(h)
        skips.pop()
        for conv, skip in zip(reversed(self.up), reversed(skips)):
            h = nn.functional.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = self.act_up(conv(torch.cat([h, skip], dim=1)))
        return self.output(h)


class PatchDiscriminator(nn.Module):
    """``D(c, x)``: condition and image stacked, ``[B, C_c + C, H, W]`` -> patch scores ``[B, P]``.

    A ``3 x 3`` convolution, ``stages`` stride-2 ``3 x 3`` convolutions (LeakyReLU 0.2), and a
    ``3 x 3`` convolution to one logit per patch; a class embedding, when there are classes, is
    tiled and stacked with the input.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stages: int,
        bias: bool = True,
        num_classes: int | None = None,
        class_dim: int = 16,
    ) -> None:
        super().__init__()
        self.labels = _Labels(num_classes, class_dim)
        first = nn.Conv2d(in_channels + self.labels.channels, channels, 3, padding=1)
        layers: list[nn.Module] = [first, leaky_relu()]
        width = channels
        for _ in range(stages):
            layers += [nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), leaky_relu()]
            width *= 2
        layers.append(nn.Conv2d(width, 1, 3, padding=1, bias=bias))
        self.net = nn.Sequential(*layers)

    def forward(self, pair: Tensor, y: Tensor | None = None) -> Tensor:
        return self.net(self.labels(pair, y)).flatten(1)


@register_model("pix2pix")
class Pix2Pix(AdversarialModel):
    """U-Net generator ``G(c, z)`` and PatchGAN discriminator ``D(c, x)``; adversarial + L1.

    Args:
        condition_shape: ``(C_c, H_c, W_c)`` with ``H_c`` dividing ``H`` and ``W_c`` dividing ``W``.
        condition_levels: levels of the conditioning image.
        latent_dim: noise values tiled over the generator's input (0 is not allowed: use a
            regression network for a deterministic map).
        channels: features of the U-Net's first stage (doubled at every stage).
        stages: the U-Net's stride-2 stages (``None``: ``floor(log2(min(H, W))) - 1``).
        disc_channels: features of the PatchGAN's first layer (doubled at every stage).
        patch_stages: the PatchGAN's stride-2 stages (``None``: 1 for 8x8, 2 for 28x28).
        l1_weight: ``lambda``, the weight of the L1 term in the generator's loss (paper: 100).
        class_dim: size of the class embedding tiled into both networks (class-conditional).
        (and ``loss``, ``gradient_penalty``, ``critic_steps`` of
        :class:`~genzoo.models.gan.base.AdversarialModel`)
    """

    paper = "Isola, Zhu, Zhou & Efros 2017, Image-to-Image Translation with Conditional GANs"
    image_conditional = True
    # latent walks and AIS's decoder_mean draw z without a condition: not offered
    latent: ClassVar[str | None] = None
    gaussian_latent: ClassVar[bool] = False
    # patch scores of a (condition, image) pair are no image representation
    has_features: ClassVar[bool] = False
    features = GenerativeModel.features
    params: ClassVar[dict[str, Constraint]] = {
        "channels": Int(min=1),
        "stages": Optional(depth(0)),
        "disc_channels": Int(min=1),
        "patch_stages": Optional(depth(0)),
        "l1_weight": Float(min=0.0),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        condition_shape: tuple[int, int, int] | list[int] | None = None,
        condition_levels: int | None = None,
        latent_dim: int = 8,
        channels: int = 32,
        stages: int | None = None,
        disc_channels: int = 32,
        patch_stages: int | None = None,
        l1_weight: float = 100.0,
        loss: str = "non_saturating",
        gradient_penalty: float = 0.0,
        critic_steps: int = 1,
        class_dim: int = 16,
    ) -> None:
        super().__init__(
            shape=shape,
            levels=levels,
            num_classes=num_classes,
            condition_shape=condition_shape,
            condition_levels=condition_levels,
            latent_dim=latent_dim,
            loss=loss,
            gradient_penalty=gradient_penalty,
            critic_steps=critic_steps,
            class_dim=class_dim,
        )
        colors, height, width = self.shape
        cond_colors = self.condition_shape[0]  # type: ignore[index]
        self.factor = self.condition_factor()
        self.l1_weight = float(l1_weight)
        if stages is None:
            stages = max(0, math.floor(math.log2(min(height, width))) - 1)
        if patch_stages is None:
            patch_stages = default_stages(height, width)
        check_stages(int(stages), height, width)
        check_stages(int(patch_stages), height, width, name="patch_stages")
        labels = {"num_classes": self.num_classes, "class_dim": self.class_dim}
        self.generator = UNet(  # type: ignore[assignment]
            cond_colors + self.latent_dim, colors, channels, int(stages), **labels
        )
        self.discriminator = PatchDiscriminator(  # type: ignore[assignment]
            cond_colors + colors, disc_channels, int(patch_stages), self.critic_bias, **labels
        )

    # ------------------------------------------------------------------ the two networks
    def upsampled_condition(self, c: Tensor) -> Tensor:
        """Integer conditions ``[B, *condition_shape]`` scaled to ``[-1, 1]`` and brought to the
        target's size by nearest neighbour: ``[B, C_c, H, W]``."""
        up = self.scale_condition(c.to(self.device))
        return up.repeat_interleave(self.factor[0], 2).repeat_interleave(self.factor[1], 3)

    def generate(self, z: Tensor, y: Tensor | None = None, *, c: Tensor | None = None) -> Tensor:
        """``G(c, z)``: noise ``[B, latent_dim]``, conditions ``[B, *condition_shape]`` ->
        images ``[B, C, H, W]`` in ``[-1, 1]``."""
        cond = self.upsampled_condition(_given(c))
        noise = z.to(cond.dtype)[:, :, None, None].expand(-1, -1, *cond.shape[-2:])
        return torch.tanh(self.generator(torch.cat([cond, noise], dim=1), y))

    def critic(self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None) -> Tensor:
        """``D(c, x)``: patch logits ``[B, P]`` for float images ``x [B, C, H, W]`` in
        ``[-1, 1]`` and their integer conditions ``c``."""
        cond = self.upsampled_condition(_given(c))
        return self.discriminator(torch.cat([cond, x.to(cond.dtype)], dim=1), y)

    def bin_centres(self, x: Tensor) -> Tensor:
        """Integer levels -> the centre of their bin on ``[-1, 1]`` (what :meth:`quantize` maps
        back to the same level)."""
        return (x.to(self.dtype) + 0.5) * (2.0 / self.levels) - 1.0

    # ------------------------------------------------------------------ the generator's loss
    def generator_loss(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None
    ) -> dict[str, Tensor]:
        """``adversarial + l1_weight * L1`` on fresh samples ``G(c, z)`` for the batch's ``c``.

        Args:
            x: LongTensor ``[B, C, H, W]`` true targets; c: their conditions.

        Returns:
            ``{"loss", "g_loss"}`` (the whole objective), ``"g_adversarial"`` and ``"l1"`` (the
            mean absolute difference to the true targets' bin centres, per sub-pixel, on
            ``[-1, 1]``).
        """
        self.check_input(x, y, c)
        fake = self.generate(self.sample_latent(x.shape[0]), y, c=c)
        adversarial = generator_objective(self.critic(fake, y, c=c), self.loss_type)
        l1 = (fake - self.bin_centres(x.to(self.device))).abs().mean()
        objective = adversarial + self.l1_weight * l1
        return {
            "loss": objective,
            "g_loss": objective.detach(),
            "g_adversarial": adversarial.detach(),
            "l1": l1.detach(),
        }


def _given(c: Tensor | None) -> Tensor:
    if c is None:  # the losses and sampling check c first; only a direct call gets here
        raise ModelError("pix2pix is conditioned on an image: pass c")
    return c
