"""Shared machinery of latent-variable models: ELBO, IWAE bound, sampling, completion.

A model ``p(x) = \\int p(x | z) p(z) dz`` with an inference network ``q(z | x)``. A subclass defines
the networks through five hooks (:meth:`LatentVariableModel.posterior`, ``sample_posterior``,
``log_prior``, ``sample_prior``, ``decoder_params``) and optionally an analytic ``kl``; this base
class owns every estimator, so they are written once:

* ``elbo(x, k)`` — ``E_q[log p(x|z)] - KL(q(z|x) || p(z))`` (Kingma & Welling 2014), with the KL in
  closed form when the model has one, else by Monte Carlo; ``k`` samples average the first term.
* ``iwae_bound(x, k)`` — ``log (1/k) sum_i p(x, z_i) / q(z_i | x)`` with ``z_i ~ q`` (Burda et al.
  2016), computed with a running ``logsumexp`` over chunks of samples so memory stays bounded for
  any ``k``. It rises with ``k`` towards ``log p(x)`` and ``k = 1`` is the ELBO.
* ``log_prob(x)`` — the IWAE bound with ``k = DEFAULT_K`` (1,000) importance samples: a lower
  bound on ``log p(x)``, hence ``density == "bound"``. With no generator it draws its noise from a
  generator seeded with 0, so the same images give the same numbers.

An image-conditional subclass (``image_conditional = True``, e.g. the conditional VAE of Sohn et
al. 2015) models ``p(x | c) = \\int p(x | z, c) p(z | c) dz`` with ``q(z | x, c)``: the estimators
take ``c=`` and hand it on to the hooks ``posterior``, ``log_prior``, ``sample_prior``,
``decoder_params``, ``kl`` and ``embed`` as a keyword ``c`` — only when it is given, so the hooks
of unconditional models keep their signatures — and every bound is then one of ``log p(x | c)``.

All likelihoods are of the *discrete* images (see :mod:`genzoo.distributions.pixel`), so the
bits/dim are comparable with the autoregressive models' exact ones.

Completion (``sample(known=..., mask=...)``) runs the pseudo-Gibbs chain of Rezende, Mohamed &
Wierstra (2014, section 5.3): ``z ~ q(z | x)``, ``x' ~ p(x | z)``, given pixels clamped, repeated
``completion_steps`` times from an unconditional sample. It approximates ``p(unknown | known)``;
unlike the autoregressive models' top-half completion it is never exact.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor

from genzoo.core.params import Constraint, Int, OneOf, Optional, depth
from genzoo.distributions.pixel import LIKELIHOODS, PixelLikelihood
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.models.base import GenerativeModel, with_condition

#: importance samples of ``log_prob`` (and of ``genzoo eval``) unless told otherwise
DEFAULT_K = 1000
#: decoder outputs (parameter-map elements) held at once by the estimators
CHUNK_ELEMENTS = 2**24
#: the parameter-table entry of a model's ``likelihood`` (:func:`resolve_likelihood`)
LIKELIHOOD_CHOICE = OneOf("auto", *LIKELIHOODS)
#: parameter-table entries of the convolutional encoder and decoder
#: (:mod:`genzoo.nn.convnets`) and of the pixel likelihood, shared by the models built on them
CONV_PARAMS: dict[str, Constraint] = {
    "channels": Int(min=1),
    "stages": Optional(depth(0)),
    "hidden": Int(min=1),
    "likelihood": LIKELIHOOD_CHOICE,
    "num_mixtures": Int(min=1),
}


def resolve_likelihood(likelihood: str, levels: int) -> str:
    """``"auto"``: Bernoulli for binary images, categorical up to 64 levels, logistic above.

    ``likelihood`` is one :data:`LIKELIHOOD_CHOICE` accepts (the models' parameter tables check
    it; :class:`~genzoo.distributions.pixel.PixelLikelihood` refuses any other).
    """
    if likelihood == "auto":
        return "bernoulli" if levels == 2 else "categorical" if levels <= 64 else "logistic"
    return likelihood


class LatentVariableModel(GenerativeModel):
    """Base class for ``p(x) = E_{p(z)} p(x | z)`` with an encoder ``q(z | x)``.

    Subclasses set ``self.likelihood`` (a :class:`PixelLikelihood`) and define the hooks.
    ``z`` is any tensor ``[..., *latent_shape]``; the estimators add a leading sample axis ``k``.
    """

    density = "bound"
    bound_estimator = "iwae"
    per_dim_log_prob = False
    completion = "pseudo-gibbs"
    latent = "encoder"
    has_features = True
    reconstructs = True
    #: sweeps of the pseudo-Gibbs chain used for completion
    completion_steps: ClassVar[int] = 20
    #: whether ``q(z | x)`` is a proper density we sample from (False for VQ-VAE's argmin code),
    #: which makes ``exp(iwae_bound)`` an unbiased estimate of ``p(x)``
    stochastic_encoder: ClassVar[bool] = True
    #: importance samples of the training objective: 1 is the ELBO, k > 1 the IWAE bound
    train_samples: int = 1
    #: weight of the KL term in the ELBO objective (beta-VAE; 1 is the ELBO)
    beta: float = 1.0
    likelihood: PixelLikelihood

    # -------------------------------------------------------------- hooks
    # (an image-conditional model's hooks also take the keyword ``c``, its conditions on the
    # model's device with the batch of their first tensor argument: ``x [B]`` or ``z [.., N]``)
    def posterior(self, x: Tensor, y: Tensor | None) -> Any:
        """Parameters of ``q(z | x)`` for integer ``x [B, C, H, W]`` (computed once per batch)."""
        raise NotImplementedError

    def sample_posterior(
        self, q: Any, k: int, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        """``k`` reparameterised draws ``z [k, B, ...]`` and their ``log q(z | x)`` ``[k, B]``."""
        raise NotImplementedError

    def log_prior(self, z: Tensor, y: Tensor | None) -> Tensor:
        """``log p(z)`` for ``z [k, B, ...]`` (labels ``y [B]``): ``[k, B]``."""
        raise NotImplementedError

    def sample_prior(self, n: int, y: Tensor | None, generator: torch.Generator | None) -> Tensor:
        """``n`` draws ``z [n, ...]`` of the prior."""
        raise NotImplementedError

    def decoder_params(self, z: Tensor, y: Tensor | None) -> Tensor:
        """Parameters ``[N, P, H, W]`` of ``p(x | z)`` for ``z [N, ...]`` (labels ``y [N]``)."""
        raise NotImplementedError

    def kl(self, q: Any, y: Tensor | None) -> Tensor | None:
        """Closed-form ``KL(q(z | x) || p(z))`` ``[B]``, or ``None`` to estimate it by sampling."""
        return None

    def embed(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Deterministic latent of ``x`` that :meth:`decode` accepts (e.g. the posterior mean)."""
        raise NotImplementedError

    @torch.no_grad()
    def features(self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None) -> Tensor:
        """:meth:`embed` flattened: ``[B, F]`` (the posterior mean for ``vae``/``iwae``)."""
        self.check_input(x, y, c)
        return self.embed(x.to(self.device), y, **self._device_condition(c)[1]).flatten(1)

    # -------------------------------------------------------------- decoding
    def log_likelihood(
        self, x: Tensor, z: Tensor, y: Tensor | None, c: Tensor | None = None
    ) -> Tensor:
        """``log p(x | z)`` (``log p(x | z, c)``) for ``z [k, B, ...]``: ``[k, B]``, decoded in
        memory-bounded chunks."""
        k, b = z.shape[:2]
        flat_z = z.flatten(0, 1)
        flat_x = x.unsqueeze(0).expand(k, *x.shape).flatten(0, 1)
        flat_y = None if y is None else y.unsqueeze(0).expand(k, b).flatten()
        flat_c = None if c is None else c.unsqueeze(0).expand(k, *c.shape).flatten(0, 1)
        step = self._chunk(1)
        parts = [
            self.likelihood.log_prob(
                self.decoder_params(
                    flat_z[i : i + step],
                    _part(flat_y, i, step),
                    **with_condition(_part(flat_c, i, step)),
                ),
                flat_x[i : i + step],
            )
            for i in range(0, flat_z.shape[0], step)
        ]
        return torch.cat(parts).view(k, b)

    def decode(
        self,
        z: Tensor,
        y: Tensor | None = None,
        *,
        c: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Images from latents ``z [N, ...]``: LongTensor ``[N, C, H, W]``.

        With a ``generator``, a draw from ``p(x | z)``; without, its per-sub-pixel mean rounded to
        the nearest level (the usual way to show a VAE's output). ``c``: conditions ``[N, ...]``.
        """
        y = self._labels(y, z.shape[0])
        self.check_condition(c, z.shape[0])
        params = self.decoder_params(z.to(self.device), y, **self._device_condition(c)[1])
        if generator is not None:
            return self.likelihood.sample(params, generator)
        return self.likelihood.mean(params).round().long().clamp_(0, self.levels - 1)

    def decoder_mean(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """The mean image of ``p(x | z)`` in the unit cube: ``(E[x | z] + 1/2) / levels``.

        ``E[x | z]`` is the likelihood's expected level of every sub-pixel (in ``[0, levels - 1]``,
        see :meth:`PixelLikelihood.mean`), mapped so that level ``k`` sits at its bin centre
        ``(k + 1/2) / levels`` — the continuous space of the likelihood estimators for models
        without a usable density (:func:`genzoo.evaluation.evaluate_ais`), shared with the GANs'
        ``decoder_mean``. A Gaussian observation model around this mean is a *different* model
        from the VAE's own discrete likelihood; its AIS numbers are not the VAE's bound.

        Args:
            z: latents ``[N, ...]`` as :meth:`decode` takes them; y: labels ``[N]``.

        Returns:
            float Tensor ``[N, C, H, W]`` in ``[0, 1]``, differentiable in ``z``.
        """
        params = self.decoder_params(z.to(self.device), self._labels(y, z.shape[0]))
        return (self.likelihood.mean(params) + 0.5) / self.levels

    @torch.no_grad()
    def reconstruct(
        self,
        x: Tensor,
        y: Tensor | None = None,
        *,
        c: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``decode(embed(x))``: LongTensor ``[B, C, H, W]``."""
        self.check_input(x, y, c)
        z = self.embed(x.to(self.device), y, **self._device_condition(c)[1])
        return self.decode(z, y, generator=generator, **with_condition(c))

    @torch.no_grad()
    def interpolate(
        self,
        x1: Tensor,
        x2: Tensor,
        steps: int = 8,
        y: Tensor | None = None,
        *,
        c: Tensor | None = None,
    ) -> Tensor:
        """Decode the straight line between the latents of ``x1`` and ``x2`` ``[B, C, H, W]``.

        Returns LongTensor ``[steps, B, C, H, W]``; row 0 reconstructs ``x1``, the last ``x2``.
        ``c``: the conditions ``[B, ...]`` of an image-conditional model (one per path).
        """
        if steps < 2:
            raise ConfigError(f"steps must be at least 2, got {steps}")
        self.check_input(x1, y, c)
        self.check_input(x2, y, c)
        z1 = self.embed(x1.to(self.device), y, **self._device_condition(c)[1])
        z2 = self.embed(x2.to(self.device), y, **self._device_condition(c)[1])
        t = torch.linspace(0, 1, steps, device=z1.device, dtype=z1.dtype)
        t = t.view(steps, *[1] * z1.dim())
        path = ((1 - t) * z1 + t * z2).flatten(0, 1)
        yy = None if y is None else y.to(self.device).repeat(steps)
        cc = with_condition(None if c is None else c.repeat(steps, 1, 1, 1))
        return self.decode(path, yy, **cc).view(steps, *x1.shape)

    # -------------------------------------------------------------- estimators
    def elbo_terms(
        self,
        x: Tensor,
        y: Tensor | None = None,
        *,
        c: Tensor | None = None,
        k: int = 1,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """The ELBO and its two terms per image, in nats.

        Returns:
            ``{"elbo", "reconstruction", "kl"}``, each ``[B]``: ``reconstruction`` =
            ``E_q[log p(x | z)]`` averaged over ``k`` samples, ``kl`` = ``KL(q || p)`` (closed
            form when available, else averaged over the same samples), ``elbo`` = their
            difference.
        """
        x, y = self._inputs(x, y, k, c)
        c, cc = self._device_condition(c)
        q = self.posterior(x, y, **cc)
        z, log_q = self.sample_posterior(q, k, generator)
        reconstruction = self.log_likelihood(x, z, y, c).mean(0)
        kl = self.kl(q, y, **cc)
        if kl is None:
            kl = (log_q - self.log_prior(z, y, **cc)).mean(0)
        return {"elbo": reconstruction - kl, "reconstruction": reconstruction, "kl": kl}

    def elbo(
        self,
        x: Tensor,
        y: Tensor | None = None,
        k: int = 1,
        *,
        c: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Evidence lower bound per image in nats, ``[B]`` (see :meth:`elbo_terms`)."""
        return self.elbo_terms(x, y, k=k, generator=generator, **with_condition(c))["elbo"]

    def log_weights(
        self,
        x: Tensor,
        y: Tensor | None = None,
        k: int = 1,
        *,
        c: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``log p(x, z_i) - log q(z_i | x)`` for ``k`` posterior draws: ``[k, B]``."""
        x, y = self._inputs(x, y, k, c)
        c, cc = self._device_condition(c)
        q = self.posterior(x, y, **cc)
        z, log_q = self.sample_posterior(q, k, generator)
        return self.log_likelihood(x, z, y, c) + self.log_prior(z, y, **cc) - log_q

    def iwae_bound(
        self,
        x: Tensor,
        y: Tensor | None = None,
        k: int = DEFAULT_K,
        *,
        c: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The ``k``-sample importance-weighted bound per image in nats, ``[B]``.

        Samples are drawn in chunks and combined by a running ``logsumexp``, so memory does not
        grow with ``k``.
        """
        x, y = self._inputs(x, y, k, c)
        c, cc = self._device_condition(c)
        q = self.posterior(x, y, **cc)
        step = max(1, self._chunk(x.shape[0]))
        total = torch.full((x.shape[0],), -math.inf, dtype=torch.float64, device=x.device)
        for start in range(0, k, step):
            z, log_q = self.sample_posterior(q, min(step, k - start), generator)
            log_w = self.log_likelihood(x, z, y, c) + self.log_prior(z, y, **cc) - log_q
            total = torch.logaddexp(total, torch.logsumexp(log_w.double(), 0))
        return (total - math.log(k)).to(torch.promote_types(self.dtype, torch.float32))

    def log_prob(
        self,
        x: Tensor,
        y: Tensor | None = None,
        *,
        c: Tensor | None = None,
        per_dim: bool = False,
        k: int = DEFAULT_K,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Lower bound on ``log p(x)`` (``log p(x | c)``): the IWAE bound with ``k`` (default
        1,000) samples, ``[B]``.

        Without a ``generator`` one seeded with 0 is used, so repeated calls agree.
        """
        self.check_condition(c, x.shape[0])
        if per_dim:
            raise UnsupportedError(
                f"{self.name} has no per-sub-pixel log-likelihood (its log_prob is a bound on "
                "the whole image); call log_prob(x) for the per-image bound"
            )
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        return self.iwae_bound(x, y, k, generator=generator, **with_condition(c))

    def loss(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None
    ) -> dict[str, Tensor]:
        """The training objective per sub-pixel: the negative ELBO, or the negative IWAE bound.

        With ``train_samples == 1`` (VAE): ``-(E_q[log p(x|z)] - beta KL)``, ``beta`` weighting
        the KL (beta-VAE; 1 gives the ELBO). Metrics: ``elbo`` (nats per image, beta = 1),
        ``reconstruction``, ``kl`` and ``bits_per_dim`` of the ELBO.

        With ``train_samples = k > 1`` (IWAE): ``-log (1/k) sum_i w_i``; metrics ``iwae`` (nats),
        ``elbo`` (the mean of ``log w_i``, same samples) and ``bits_per_dim`` of the IWAE bound.
        Both ``bits_per_dim`` are upper bounds on the true bits/dim.
        """
        self.check_condition(c, x.shape[0])
        scale = 1.0 / (self.num_dims * math.log(2))
        if self.train_samples > 1:
            log_w = self.log_weights(x, y, self.train_samples, **with_condition(c))
            bound = torch.logsumexp(log_w, 0) - math.log(self.train_samples)
            objective = -bound.mean()
            return {
                "loss": objective / self.num_dims,
                "iwae": -objective.detach(),
                "elbo": log_w.mean().detach(),
                "bits_per_dim": objective.detach() * scale,
            }
        terms = self.elbo_terms(x, y, **with_condition(c))
        objective = -(terms["reconstruction"] - self.beta * terms["kl"]).mean()
        elbo = terms["elbo"].mean().detach()
        return {
            "loss": objective / self.num_dims,
            "elbo": elbo,
            "reconstruction": terms["reconstruction"].mean().detach(),
            "kl": terms["kl"].mean().detach(),
            "bits_per_dim": -elbo * scale,
        }

    # -------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample(
        self,
        n: int,
        y: Tensor | None = None,
        *,
        c: Tensor | None = None,
        generator: torch.Generator | None = None,
        known: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        """Ancestral samples ``z ~ p(z)``, ``x ~ p(x | z)``: LongTensor ``[n, C, H, W]``.

        With ``known``/``mask`` the unknown sub-pixels are filled in by the pseudo-Gibbs chain
        described in the module docstring (approximate); given values are never changed.
        """
        was_training = self.training
        self.eval()
        try:
            given, full_mask, y = self.prepare_sampling(n, y, known, mask, c)
            cc = self._device_condition(c)[1]
            z = self.sample_prior(n, y, generator, **cc)
            x = self.likelihood.sample(self.decoder_params(z, y, **cc), generator)
            if known is None:
                return x
            for _ in range(self.completion_steps):
                x = torch.where(full_mask, given, x)
                z, _ = self.sample_posterior(self.posterior(x, y, **cc), 1, generator)
                x = self.likelihood.sample(self.decoder_params(z[0], y, **cc), generator)
            return torch.where(full_mask, given, x)
        finally:
            self.train(was_training)

    # -------------------------------------------------------------- helpers
    def _inputs(
        self, x: Tensor, y: Tensor | None, k: int, c: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        if int(k) < 1:
            raise ConfigError(f"the number of importance samples k must be positive, got {k}")
        self.check_input(x, y, c)
        return x.to(self.device).long(), None if y is None else y.to(self.device)

    def _device_condition(self, c: Tensor | None) -> tuple[Tensor | None, dict[str, Tensor]]:
        """``c`` on the model's device, and the keywords that hand it to the hooks."""
        c = None if c is None else c.to(self.device)
        return c, with_condition(c)

    def _labels(self, y: Tensor | None, n: int) -> Tensor | None:
        if y is None:
            y = self.default_labels(n)
        self.check_labels(y, n)
        return None if y is None else y.to(self.device)

    def _chunk(self, batch: int) -> int:
        """Decoder outputs per pass (``batch = 1``) or samples per chunk for ``batch`` images."""
        per_output = self.likelihood.param_channels * self.shape[1] * self.shape[2]
        return max(1, CHUNK_ELEMENTS // (per_output * max(1, batch)))


def _part(y: Tensor | None, start: int, step: int) -> Tensor | None:
    return None if y is None else y[start : start + step]
