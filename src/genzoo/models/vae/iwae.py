"""Importance weighted autoencoder — Burda, Grosse & Salakhutdinov, "Importance Weighted
Autoencoders", ICLR 2016.

The networks of :class:`~genzoo.models.vae.vae.VAE`, trained on the ``k``-sample bound
``L_k = E[log (1/k) sum_i p(x, z_i) / q(z_i | x)]``, ``z_i ~ q(z | x)``, which is tighter than the
ELBO (``L_1``) and rises with ``k`` towards ``log p(x)``. The estimator is the shared one of
:class:`~genzoo.models.vae.base.LatentVariableModel` (``train_samples = k``); evaluation
(``log_prob``) uses 1,000 samples whatever ``k`` training used, as in the paper's ``L_5000``
protocol scaled down.

Deviations: as for ``vae`` (convolutional networks, discrete pixel likelihoods). ``beta`` is
ignored by the IWAE objective and therefore fixed at 1.
"""

from __future__ import annotations

from typing import Any, ClassVar

from genzoo.core.params import Check, Constraint, Float, Int
from genzoo.models.registry import register_model
from genzoo.models.vae.vae import VAE


@register_model("iwae")
class IWAE(VAE):
    """VAE networks trained on the ``k``-sample importance-weighted bound.

    Args:
        k: importance samples per image in the training objective.
    """

    params: ClassVar[dict[str, Constraint]] = {
        "k": Int(min=1),
        # the IWAE bound has no KL term to weight: only the default is accepted
        "beta": Check(Float(1.0, 1.0).accepts, "1 (iwae trains the importance-weighted bound)"),
    }

    def __init__(self, *, k: int = 5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.k = self.train_samples = int(k)
