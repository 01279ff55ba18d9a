"""Hierarchical VAE with ``L >= 2`` stochastic layers — the two-stochastic-layer model of Burda,
Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016 (the architecture of its
experiments), generalised to ``L`` layers.

Generative model, top-down: ``p(z_L) = N(0, I)``, ``p(z_l | z_{l+1})`` a diagonal Gaussian whose
mean and log-variance an MLP computes from ``z_{l+1}``, and ``p(x | z_1)`` a convolutional decoder
into a discrete pixel likelihood. Inference, bottom-up with the same factorisation:
``q(z_1 | x)`` from a convolutional encoder, then ``q(z_{l+1} | z_l)`` MLPs. ``z`` is *one*
concatenated vector ``[z_1, ..., z_L]`` of size ``d_1 + ... + d_L`` with ``d_1 = latent_dim`` and
``d_{l+1} = max(1, floor(latent_ratio * d_l))`` (the paper's MNIST model: 100 then 50), so the
estimators, sampling, completion and interpolation of
:class:`~genzoo.models.vae.base.LatentVariableModel` work unchanged; the decoder reads ``z_1``
(so ``interpolate`` moves along the line in ``z_1``; the upper part of ``z`` only rides along).
No closed-form KL: ``KL(q || p)`` is estimated from the same samples as the reconstruction term.
``k = 1`` trains the ELBO; ``k > 1`` the ``k``-sample IWAE bound, as in the paper's two-layer
experiments.

Deviations from the paper: convolutional networks (:mod:`genzoo.nn.convnets`) map ``x`` to
``q(z_1 | x)`` and ``z_1`` to ``p(x | z_1)`` instead of tanh MLPs; the latent MLPs use SiLU and
one width ``mlp_hidden`` for every layer; the likelihood is over discrete pixels (Bernoulli,
per-sub-pixel categorical or discretized logistic mixture, see :mod:`genzoo.distributions.pixel`);
log-variances are clamped to ``LOG_VAR_RANGE``. Class-conditional (``num_classes``): a label
embedding enters the encoder, the decoder and every latent MLP (``p(z_l | z_{l+1}, y)``,
``q(z_{l+1} | z_l, y)``); the top prior stays ``N(0, I)``. Not a ladder VAE (Sønderby et al.
2016): the posterior is bottom-up only and shares no parameters with the prior.
"""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from genzoo.core.params import MAX_DEPTH, Check, Constraint, Float, Int, depth
from genzoo.distributions.gaussian import (
    gaussian_log_prob,
    standard_normal,
    standard_normal_log_prob,
)
from genzoo.distributions.pixel import PixelLikelihood, wide
from genzoo.models.registry import register_model
from genzoo.models.vae.base import CONV_PARAMS, LatentVariableModel, resolve_likelihood
from genzoo.models.vae.vae import LOG_VAR_RANGE
from genzoo.nn.convnets import ConvDecoder, ConvEncoder


class GaussianMLP(nn.Module):
    """``v [..., in]`` (labels ``y [B]``) -> mean and log-variance ``[..., out]`` of a Gaussian.

    Two hidden layers of width ``hidden`` (as each stochastic layer of Burda et al.); the label
    embedding, if any, is added to the first. Outputs are in at least float32, the log-variance
    clamped to ``LOG_VAR_RANGE``.
    """

    def __init__(
        self, in_features: int, out_features: int, hidden: int, num_classes: int | None
    ) -> None:
        super().__init__()
        self.inp = nn.Linear(in_features, hidden)
        self.label = None if num_classes is None else nn.Embedding(num_classes, hidden)
        self.body = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.out = nn.Linear(hidden, 2 * out_features)
        self.out_features = out_features

    def forward(self, v: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor]:
        h = self.inp(v)
        if self.label is not None and y is not None:
            h = h + self.label(y)  # [B, hidden] broadcasts over a leading sample axis
        h = wide(self.out(self.body(h)))
        mean, log_var = h[..., : self.out_features], h[..., self.out_features :]
        return mean, log_var.clamp(*LOG_VAR_RANGE)


def _draw(mean: Tensor, log_var: Tensor, eps: Tensor) -> tuple[Tensor, Tensor]:
    """Reparameterised ``z = mean + sigma * eps`` and ``log N(z; mean, sigma^2)`` ``[...]``."""
    z = mean + torch.exp(0.5 * log_var) * eps
    return z, standard_normal_log_prob(eps) - 0.5 * log_var.sum(-1)


@register_model("vae_hierarchical")
class HierarchicalVAE(LatentVariableModel):
    """VAE with ``stochastic_layers`` Gaussian latent layers (Burda et al. 2016's 2-layer model).

    Args:
        latent_dim: size ``d_1`` of the bottom layer ``z_1``.
        stochastic_layers: ``L >= 2``, the number of latent layers.
        latent_ratio: ``d_{l+1} = max(1, floor(latent_ratio * d_l))`` (0.5: halving).
        mlp_hidden: width of the MLPs between latent layers.
        channels: features of the first convolution stage (doubled at every stride-2 stage).
        stages: stride-2 stages of encoder and decoder (default: down to a side of 4-7 pixels).
        hidden: width of the fully-connected layers of encoder and decoder.
        likelihood: ``"bernoulli"``, ``"categorical"``, ``"logistic"`` or ``"auto"``.
        num_mixtures: logistic components per pixel (``likelihood="logistic"``).
        k: importance samples of the training objective (1: the ELBO, > 1: the IWAE bound).
    """

    params: ClassVar[dict[str, Constraint]] = {
        "latent_dim": Int(min=1),
        "stochastic_layers": Check(
            depth(2).accepts,
            f"an integer >= 2 and <= {MAX_DEPTH} (for one latent layer use the vae or iwae model)",
        ),
        "latent_ratio": Float(min=0.0, min_open=True),
        "mlp_hidden": Int(min=1),
        **CONV_PARAMS,
        "k": Int(min=1),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        latent_dim: int = 32,
        stochastic_layers: int = 2,
        latent_ratio: float = 0.5,
        mlp_hidden: int = 128,
        channels: int = 32,
        stages: int | None = None,
        hidden: int = 256,
        likelihood: str = "auto",
        num_mixtures: int = 5,
        k: int = 1,
    ) -> None:
        super().__init__(shape=shape, levels=levels, num_classes=num_classes)
        self.train_samples = int(k)
        dims = [int(latent_dim)]
        for _ in range(int(stochastic_layers) - 1):
            # the tolerance keeps e.g. 0.29 * 100 (28.999...) at 29
            dims.append(max(1, math.floor(latent_ratio * dims[-1] + 1e-9)))
        #: sizes ``[d_1, ..., d_L]`` of the latent layers, bottom first
        self.latent_dims: list[int] = dims
        kind = resolve_likelihood(likelihood, self.levels)
        self.likelihood = PixelLikelihood(kind, self.shape[0], self.levels, num_mixtures)
        nets = {"channels": channels, "stages": stages, "hidden": hidden}
        self.encoder = ConvEncoder(self.shape, 2 * dims[0], num_classes=self.num_classes, **nets)
        self.decoder = ConvDecoder(
            self.shape,
            dims[0],
            self.likelihood.param_channels,
            num_classes=self.num_classes,
            **nets,
        )
        pairs = list(itertools.pairwise(dims))
        #: ``inference[l]``: ``q(z_{l+2} | z_{l+1})``; ``generative[l]``: ``p(z_{l+1} | z_{l+2})``
        self.inference = nn.ModuleList(
            GaussianMLP(lo, hi, mlp_hidden, self.num_classes) for lo, hi in pairs
        )
        self.generative = nn.ModuleList(
            GaussianMLP(hi, lo, mlp_hidden, self.num_classes) for lo, hi in pairs
        )

    # -------------------------------------------------------------- public interface
    def encode(self, x: Tensor, y: Tensor | None = None) -> list[tuple[Tensor, Tensor]]:
        """Means and log-variances of the ``L`` posterior layers, bottom first.

        Returns:
            ``[(mean_1, log_var_1), ..., (mean_L, log_var_L)]``, each tensor ``[B, d_l]``:
            ``q(z_1 | x)``, then ``q(z_{l+1} | z_l)`` evaluated at ``z_l = mean_l`` (the
            posterior means propagated deterministically).
        """
        self.check_input(x, y)
        y = None if y is None else y.to(self.device)
        mean, log_var, _ = self.posterior(x.to(self.device), y)
        layers = [(mean, log_var)]
        for net in self.inference:
            layers.append(net(layers[-1][0].to(self.dtype), y))
        return layers

    def embed(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The propagated posterior means (see :meth:`encode`), concatenated: ``[B, sum d_l]``."""
        return torch.cat([mean for mean, _ in self.encode(x, y)], -1)

    def split(self, z: Tensor) -> list[Tensor]:
        """``z [..., sum d_l]`` -> ``[z_1 [..., d_1], ..., z_L [..., d_L]]``."""
        return list(torch.split(z, self.latent_dims, dim=-1))

    # -------------------------------------------------------------- hooks
    def posterior(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
        """``q(z_1 | x)``'s mean and log-variance ``[B, d_1]``, and ``y`` for the upper layers."""
        h = wide(self.encoder(self.scale(x), y))
        d = self.latent_dims[0]
        return h[:, :d], h[:, d:].clamp(*LOG_VAR_RANGE), y

    def sample_posterior(
        self, q: tuple[Tensor, Tensor, Tensor | None], k: int, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        mean, log_var, y = q
        eps = standard_normal((k, *mean.shape), generator, mean.device).to(mean.dtype)
        z, log_q = _draw(mean, log_var, eps)
        layers = [z]
        for net in self.inference:
            mean, log_var = net(z.to(self.dtype), y)
            eps = standard_normal(mean.shape, generator, mean.device).to(mean.dtype)
            z, log_q_l = _draw(mean, log_var, eps)
            layers.append(z)
            log_q = log_q + log_q_l
        return torch.cat(layers, -1), log_q

    def log_prior(self, z: Tensor, y: Tensor | None) -> Tensor:
        layers = self.split(wide(z))
        log_p = standard_normal_log_prob(layers[-1])
        for net, below, above in zip(self.generative, layers[:-1], layers[1:]):
            mean, log_var = net(above.to(self.dtype), y)
            log_p = log_p + gaussian_log_prob(below, mean, log_var)
        return log_p

    def sample_prior(self, n: int, y: Tensor | None, generator: torch.Generator | None) -> Tensor:
        dtype = torch.promote_types(self.dtype, torch.float32)
        z = standard_normal((n, self.latent_dims[-1]), generator, self.device).to(dtype)
        layers = [z]
        for net in reversed(self.generative):
            mean, log_var = net(z.to(self.dtype), y)
            eps = standard_normal(mean.shape, generator, mean.device).to(mean.dtype)
            z = _draw(mean, log_var, eps)[0]
            layers.insert(0, z)
        return torch.cat(layers, -1).to(self.dtype)

    def decoder_params(self, z: Tensor, y: Tensor | None) -> Tensor:
        return self.decoder(z[..., : self.latent_dims[0]].to(self.dtype), y)
