"""Generative adversarial nets — Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair,
Courville & Bengio, NeurIPS 2014.

The original two-player game ``min_G max_D E[log D(x)] + E[log(1 - D(G(z)))]`` with
fully-connected networks. ``loss="minimax"`` trains the generator on the game's own objective,
``log(1 - D(G(z)))``, whose gradient vanishes while the discriminator confidently rejects the
samples (early in training); ``loss="non_saturating"`` (the default) uses the paper's fix,
maximising ``log D(G(z))`` instead: the same fixed point, strong gradients early. Both, and the
alternating update, are shared with the other GANs (:mod:`genzoo.models.gan.base`).

Deviations: Gaussian noise instead of uniform; LeakyReLU + dropout in the discriminator instead
of maxout units; ``tanh`` outputs in ``[-1, 1]`` (real images are dequantised into the same range,
see the base module); class conditioning as in the rest of the family.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from genzoo.core.params import Constraint, Float, Int, depth
from genzoo.models.gan.base import AdversarialModel, Discriminator, Generator, leaky_relu
from genzoo.models.registry import register_model


@register_model("gan")
class GAN(AdversarialModel):
    """Fully-connected generator and discriminator.

    Args:
        hidden: width of every hidden layer.
        layers: hidden layers in each network.
        dropout: dropout probability in the discriminator.
        (and ``latent_dim``, ``loss``, ``gradient_penalty``, ``critic_steps``, ``class_dim`` of
        :class:`~genzoo.models.gan.base.AdversarialModel`)
    """

    params: ClassVar[dict[str, Constraint]] = {
        "hidden": Int(min=1),
        "layers": depth(),
        "dropout": Float(0.0, 1.0, max_open=True),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        latent_dim: int = 64,
        hidden: int = 512,
        layers: int = 2,
        dropout: float = 0.3,
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
        g: list[nn.Module] = []
        width = self.generator_input_dim
        for _ in range(layers):
            g += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        g += [nn.Linear(width, self.num_dims), nn.Unflatten(1, self.shape)]
        self.generator = Generator(nn.Sequential(*g), num_classes, class_dim)
        d: list[nn.Module] = [nn.Flatten()]
        width = self.num_dims
        for _ in range(layers):
            d += [nn.Linear(width, hidden), leaky_relu(), nn.Dropout(dropout)]
            width = hidden
        self.discriminator = Discriminator(
            nn.Sequential(*d), hidden, num_classes, bias=self.critic_bias
        )
