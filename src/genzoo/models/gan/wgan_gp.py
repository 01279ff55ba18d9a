"""Wasserstein GAN with gradient penalty — Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville,
"Improved Training of Wasserstein GANs", NeurIPS 2017.

The critic estimates the Wasserstein-1 distance ``E[D(x)] - E[D(G(z))]`` over 1-Lipschitz
functions; instead of clipping weights (the original WGAN), the Lipschitz constraint is
encouraged by penalising ``lambda (||grad D(x_hat)||_2 - 1)^2`` at random interpolates of real
and generated images, ``lambda = 10``. ``critic_steps = 5`` critic updates per generator update,
Adam with ``lr = 1e-4``, ``beta1 = 0``, ``beta2 = 0.9`` (the CLI's defaults for this model). The
loss and penalty are the family's shared ones (:mod:`genzoo.models.gan.base`).

The networks are DCGAN's; as the paper prescribes, the critic has no batch normalisation (which
would make the per-image penalty depend on the batch): layer normalisation instead.
"""

from __future__ import annotations

from typing import Any, ClassVar

from genzoo.models.gan.dcgan import DCGAN
from genzoo.models.registry import register_model


@register_model("wgan_gp")
class WGANGP(DCGAN):
    """DCGAN networks trained as a WGAN-GP critic and generator (see the module docstring)."""

    train_defaults: ClassVar[dict[str, Any]] = {
        "lr": 1e-4,
        "adam_beta1": 0.0,
        "adam_beta2": 0.9,
        "grad_clip": 0.0,
        "warmup_steps": 0,
    }

    def __init__(
        self,
        *,
        loss: str = "wasserstein",
        gradient_penalty: float = 10.0,
        critic_steps: int = 5,
        critic_norm: str = "layer",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            loss=loss,
            gradient_penalty=gradient_penalty,
            critic_steps=critic_steps,
            critic_norm=critic_norm,
            **kwargs,
        )
