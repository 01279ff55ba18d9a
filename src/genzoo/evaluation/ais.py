"""Annealed importance sampling (AIS) log-likelihoods of decoder-based generative models.

Neal 2001 ("Annealed importance sampling"); applied to GAN generators and VAE decoders by Wu,
Burda, Salakhutdinov & Grosse 2017 ("On the quantitative analysis of decoder-based generative
models"). A decoder ``g: R^L -> R^D`` (a GAN generator, or a VAE decoder's mean) is turned into a
density with a Gaussian observation model::

    p(x) = ∫ N(z; 0, I_L) N(x; g(z), sigma^2 I_D) dz

Intermediate distributions ``f_t(z) = p(z) p(x|z)^{beta_t}`` anneal from the prior
(``beta_0 = 0``) to the unnormalised posterior (``beta_T = 1``). Each chain starts from
``z_0 ~ p(z)``; for ``t = 1..T`` the log weight gains ``(beta_t - beta_{t-1}) log p(x | z_{t-1})``
and, for ``t < T``, ``z_t`` is drawn by one Hamiltonian Monte Carlo transition (``leapfrog_steps``
leapfrog steps, then Metropolis accept/reject) that leaves ``f_t`` invariant. With ``K`` chains
per image the estimate is::

    log p̂(x) = logsumexp_k(log w_k) - log K

``E[w_k] = p(x)`` (Neal 2001), so by Jensen's inequality ``E[log p̂(x)] <= log p(x)``: the estimate
is a *stochastic lower bound* — it underestimates on average, the more so with fewer steps, and
rises towards ``log p(x)`` as ``steps`` and ``chains`` grow. (Wu et al. also bound the gap from
above with bidirectional Monte Carlo on simulated data; that is not implemented here.)

Schedules: ``"sigmoid"`` (Wu et al.): ``beta_t`` is ``sigmoid`` of ``T + 1`` points evenly spaced
over ``[-4, 4]``, rescaled to start at 0 and end at 1 — small steps near both ends; ``"linear"``:
evenly spaced.

Step size: as in Wu et al., the leapfrog step size is nudged toward ``target_acceptance``:
multiplied by 1.02 after a transition when the moving-average acceptance probability (decay 0.9)
exceeds the target, by 0.98 otherwise, clipped to ``[1e-4, max(0.5, step_size)]``. Deviation:
the step size is shared by an image's chains and adapted *only* from the acceptance of
``tuning_chains`` extra chains per image whose weights are discarded. A chain whose step size
depends on its own history no longer leaves ``f_t`` invariant, and the estimate is then biased
*upwards*: adapting every chain from its own acceptance overestimated the 1-D nonlinear test
case by ≈ +0.06 nats (6 standard errors, 1000 steps), sharing one step size among an image's 32
chains still by ≈ +0.02. With separate tuning chains every estimating chain runs a sequence of
kernels independent of its own path, so ``E[w_k] = p(x)`` holds exactly. ``tuning_chains=0``
keeps ``step_size`` fixed.

Units: ``log p(x)`` is a density over continuous ``x`` in nats and depends on the scaling of
``x`` and on ``sigma`` (Wu et al. choose ``sigma`` on validation data); it is not a discrete
log-likelihood and not comparable with bits/dim. For reference, Wu et al. report GAN-50 627 and
VAE-50 991 nats on continuous MNIST.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from genzoo.distributions.gaussian import (
    LOG_2PI,
    gaussian_log_prob,
    standard_normal,
    standard_normal_log_prob,
)
from genzoo.errors import ConfigError

SCHEDULES = ("sigmoid", "linear")
_SIGMOID_RADIUS = 4.0
_STEP_INCREASE, _STEP_DECREASE, _ACCEPTANCE_DECAY = 1.02, 0.98, 0.9
_MIN_STEP, _MAX_STEP = 1e-4, 0.5


@dataclass
class AISResult:
    """Output of :func:`ais`.

    Attributes:
        log_likelihood: Tensor ``[N]``, ``log p̂(x)`` in nats (a stochastic lower bound).
        log_weights: Tensor ``[N, chains]``, the log importance weight of every chain.
        acceptance: mean HMC acceptance probability over all transitions of the estimating
            chains (NaN when ``steps == 1``: there is no transition).
        step_size: Tensor ``[N]``, every image's step size after the last adaptation.
    """

    log_likelihood: Tensor
    log_weights: Tensor
    acceptance: float
    step_size: Tensor


def gaussian_observation_log_likelihood(x: Tensor, mean: Tensor, sigma: float) -> Tensor:
    """``log N(x; mean, sigma^2 I)`` summed over the last dimension.

    Args:
        x, mean: ``[..., D]`` (broadcastable); sigma: positive standard deviation.

    Returns:
        ``[...]`` in nats.
    """
    sigma = _check_positive(sigma, "sigma")
    log_var = torch.as_tensor(2.0 * math.log(sigma), dtype=mean.dtype, device=mean.device)
    return gaussian_log_prob(x, mean, log_var)


def linear_gaussian_log_marginal(x: Tensor, weight: Tensor, bias: Tensor, sigma: float) -> Tensor:
    """Exact ``log p(x)`` for the linear decoder ``g(z) = weight @ z + bias``.

    ``log N(x; bias, W W^T + sigma^2 I_D)``, computed in float64 through the ``L x L`` matrix
    ``M = sigma^2 I_L + W^T W`` (Woodbury identity and matrix determinant lemma)::

        (x-b)^T C^{-1} (x-b) = (|r|^2 - r^T W M^{-1} W^T r) / sigma^2,   r = x - b
        log det C = 2 (D - L) log sigma + log det M

    Args:
        x: Tensor ``[N, D]``; weight: ``[D, L]``; bias: ``[D]``; sigma: ``> 0``.

    Returns:
        float64 Tensor ``[N]`` in nats.
    """
    sigma = _check_positive(sigma, "sigma")
    if x.dim() != 2 or weight.dim() != 2 or bias.dim() != 1:
        raise ConfigError(
            f"expected x [N, D], weight [D, L], bias [D]; got {tuple(x.shape)}, "
            f"{tuple(weight.shape)}, {tuple(bias.shape)}"
        )
    d, latent = weight.shape
    if x.shape[1] != d or bias.shape[0] != d:
        raise ConfigError(
            f"dimensions disagree: x has D={x.shape[1]}, weight has D={d}, bias has {bias.shape[0]}"
        )
    x, w, b = (t.detach().to(torch.float64) for t in (x, weight, bias))
    r = x - b
    m = sigma**2 * torch.eye(latent, dtype=torch.float64, device=w.device) + w.T @ w
    chol = torch.linalg.cholesky(m)
    y = torch.linalg.solve_triangular(chol, (r @ w).T, upper=False)  # [L, N]
    quad = ((r**2).sum(-1) - (y**2).sum(0)) / sigma**2
    log_det = 2 * (d - latent) * math.log(sigma) + 2 * torch.log(torch.diagonal(chol)).sum()
    return -0.5 * (d * LOG_2PI + log_det + quad)


def annealing_schedule(steps: int, schedule: str = "sigmoid") -> Tensor:
    """The inverse temperatures ``beta_0 = 0 < ... < beta_steps = 1``: float64 Tensor
    ``[steps + 1]`` (see the module docstring for the two schedules)."""
    steps = _check_count(steps, "steps")
    if schedule == "linear":
        return torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
    if schedule == "sigmoid":
        s = torch.sigmoid(
            torch.linspace(-_SIGMOID_RADIUS, _SIGMOID_RADIUS, steps + 1, dtype=torch.float64)
        )
        beta = (s - s[0]) / (s[-1] - s[0])
        beta[0], beta[-1] = 0.0, 1.0
        return beta
    raise ConfigError(f"unknown schedule {schedule!r}; choose one of {SCHEDULES}")


@torch.no_grad()
def ais(
    decode: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    latent_dim: int,
    sigma: float,
    steps: int = 1000,
    chains: int = 16,
    leapfrog_steps: int = 10,
    step_size: float = 0.05,
    target_acceptance: float = 0.65,
    tuning_chains: int = 4,
    schedule: str = "sigmoid",
    generator: torch.Generator | None = None,
    batch_size: int | None = None,
) -> AISResult:
    """AIS estimate of ``log p(x)`` under ``p(z) = N(0, I)``, ``p(x|z) = N(g(z), sigma^2 I)``.

    Args:
        decode: differentiable ``g``: Tensor ``[B, latent_dim] -> [B, D]`` (flatten image
            outputs). Put modules in eval mode first. Only gradients with respect to ``z`` are
            taken (``torch.autograd.grad``); parameters' ``.grad`` are left untouched.
        x: float Tensor ``[N, D]``; its dtype and device are used for every computation.
        latent_dim: ``L``, the decoder's input size.
        sigma: observation standard deviation, ``> 0``, in the units of ``x``.
        steps: number of annealing increments ``T`` (``T - 1`` HMC transitions per chain).
        chains: independent chains ``K`` per image whose weights form the estimate.
        leapfrog_steps: leapfrog steps per HMC transition.
        step_size: initial leapfrog step size.
        target_acceptance: acceptance probability the step sizes are nudged toward.
        tuning_chains: extra chains per image that only adapt the step size (their weights
            are discarded; cost ``(K + tuning_chains) / K``); ``0``: fixed ``step_size``.
        schedule: ``"sigmoid"`` or ``"linear"``.
        generator: the only source of randomness; ``None``: a fresh CPU generator seeded with 0
            (the global RNG is never used).
        batch_size: images per batch (``batch_size * (chains + tuning_chains)`` chains run
            together); ``None``: all. Results depend on it: batches draw from the generator in
            turn.

    Returns:
        :class:`AISResult` (``log_likelihood [N]`` in nats, ``log_weights [N, K]``, ...).
    """
    sigma = _check_positive(sigma, "sigma")
    step_size = _check_positive(step_size, "step_size")
    latent_dim = _check_count(latent_dim, "latent_dim")
    chains = _check_count(chains, "chains")
    leapfrog_steps = _check_count(leapfrog_steps, "leapfrog_steps")
    betas = annealing_schedule(steps, schedule).tolist()
    tuning_chains = _check_count(tuning_chains, "tuning_chains", minimum=0)
    if not 0.0 < float(target_acceptance) < 1.0:
        raise ConfigError(f"target_acceptance must lie in (0, 1), got {target_acceptance}")
    if not isinstance(x, Tensor) or x.dim() != 2 or not x.is_floating_point() or x.numel() == 0:
        raise ConfigError("x must be a non-empty float Tensor [N, D]; flatten images first")
    n = x.shape[0]
    batch_size = n if batch_size is None else _check_count(batch_size, "batch_size")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    sampler = _AIS(
        decode,
        latent_dim,
        sigma,
        leapfrog_steps,
        step_size,
        float(target_acceptance),
        tuning_chains,
        generator,
    )
    parts = [sampler.run(x[s : s + batch_size], betas, chains) for s in range(0, n, batch_size)]
    log_weights = torch.cat([p[0] for p in parts])
    acceptance = (
        float(torch.cat([p[1].flatten() for p in parts]).mean()) if len(betas) > 2 else float("nan")
    )
    return AISResult(
        log_likelihood=torch.logsumexp(log_weights, dim=1) - math.log(chains),
        log_weights=log_weights,
        acceptance=acceptance,
        step_size=torch.cat([p[2] for p in parts]),
    )


def ais_log_likelihood(decode: Callable[[Tensor], Tensor], x: Tensor, **options: Any) -> Tensor:
    """``ais(decode, x, **options).log_likelihood``: Tensor ``[N]`` of AIS estimates of
    ``log p(x)`` in nats, a stochastic lower bound (see :func:`ais` for the options)."""
    return ais(decode, x, **options).log_likelihood


class _AIS:
    """The annealing loop for one batch of images, all ``images * chains`` chains at once."""

    def __init__(
        self,
        decode: Callable[[Tensor], Tensor],
        latent_dim: int,
        sigma: float,
        leapfrog_steps: int,
        step_size: float,
        target: float,
        tuning_chains: int,
        generator: torch.Generator,
    ) -> None:
        self.decode = decode
        self.latent_dim = latent_dim
        self.sigma = sigma
        self.leapfrog_steps = leapfrog_steps
        self.step_size = step_size
        self.max_step = max(_MAX_STEP, step_size)
        self.target = target
        self.tuning_chains = tuning_chains
        self.generator = generator

    def run(self, x: Tensor, betas: list[float], chains: int) -> tuple[Tensor, Tensor, Tensor]:
        """Returns log weights ``[n, K]``, acceptance probabilities ``[T - 1, n, K]`` and final
        step sizes ``[n]``."""
        n, width = x.shape[0], chains + self.tuning_chains
        # [n * width, D]: an image's chains are adjacent, its tuning chains last
        x_rep = x.repeat_interleave(width, dim=0)
        z = self._normal((x_rep.shape[0], self.latent_dim), x)
        ll, grad = self._log_lik_and_grad(z, x_rep, check=True)
        eps = torch.full((n, 1), self.step_size, dtype=x.dtype, device=x.device)
        avg_accept = torch.full((n, 1), self.target, dtype=x.dtype, device=x.device)
        log_w = torch.zeros_like(ll)
        accepts = []
        for t in range(1, len(betas)):
            log_w = log_w + (betas[t] - betas[t - 1]) * ll
            if t == len(betas) - 1:
                break  # the last transition would not change any weight
            eps_rows = eps.expand(n, width).reshape(-1, 1)
            z, ll, grad, prob = self._hmc(z, ll, grad, x_rep, betas[t], eps_rows)
            prob = prob.view(n, width)
            accepts.append(prob[:, :chains])
            if self.tuning_chains:  # adapt from the tuning chains only: see the module docstring
                tuning = prob[:, chains:].mean(1, keepdim=True)
                avg_accept = _ACCEPTANCE_DECAY * avg_accept + (1 - _ACCEPTANCE_DECAY) * tuning
                eps = torch.where(
                    avg_accept > self.target, eps * _STEP_INCREASE, eps * _STEP_DECREASE
                ).clamp(_MIN_STEP, self.max_step)
        accept = torch.stack(accepts) if accepts else x.new_zeros(0, n, chains)
        return log_w.view(n, width)[:, :chains], accept, eps.view(n)

    def _hmc(
        self, z0: Tensor, ll0: Tensor, grad0: Tensor, x_rep: Tensor, beta: float, eps: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One HMC transition leaving ``p(z) p(x|z)^beta`` invariant, for every chain."""
        p0 = self._normal(z0.shape, z0)
        z, ll, grad = z0, ll0, grad0
        p = p0 + 0.5 * eps * (beta * grad - z)  # grad of log f = beta * grad log p(x|z) - z
        for i in range(self.leapfrog_steps):
            z = z + eps * p
            ll, grad = self._log_lik_and_grad(z, x_rep)
            half = 0.5 if i == self.leapfrog_steps - 1 else 1.0
            p = p + half * eps * (beta * grad - z)
        log_f0 = standard_normal_log_prob(z0) + beta * ll0
        log_f1 = standard_normal_log_prob(z) + beta * ll
        log_ratio = log_f1 - 0.5 * (p**2).sum(-1) - log_f0 + 0.5 * (p0**2).sum(-1)
        log_ratio = torch.nan_to_num(log_ratio, nan=-math.inf, posinf=-math.inf)
        uniform = torch.rand(z0.shape[0], generator=self.generator, device=self.generator.device)
        accept = torch.log(uniform.to(device=z0.device, dtype=z0.dtype)) < log_ratio
        prob = torch.exp(log_ratio.clamp(max=0.0))
        z = torch.where(accept[:, None], z, z0)
        grad = torch.where(accept[:, None], grad, grad0)
        return z, torch.where(accept, ll, ll0), grad, prob

    def _log_lik_and_grad(
        self, z: Tensor, x_rep: Tensor, check: bool = False
    ) -> tuple[Tensor, Tensor]:
        """``log p(x|z)`` ``[B]`` and its gradient with respect to ``z`` ``[B, L]``."""
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            if check:
                try:
                    mean = self.decode(z)
                except (RuntimeError, ValueError, TypeError) as err:
                    raise ConfigError(
                        f"decode failed on latents of shape {tuple(z.shape)} ({z.dtype}, "
                        f"{z.device}) — check latent_dim and that the decoder uses x's dtype and "
                        f"device: {err}"
                    ) from err
                if not isinstance(mean, Tensor) or mean.shape != x_rep.shape:
                    shape = tuple(mean.shape) if isinstance(mean, Tensor) else type(mean)
                    raise ConfigError(
                        f"decode must map [B, {self.latent_dim}] to [B, {x_rep.shape[1]}] like x, "
                        f"got {shape}; flatten image outputs and check latent_dim"
                    )
            else:
                mean = self.decode(z)
            ll = gaussian_observation_log_likelihood(x_rep, mean, self.sigma)
            if ll.requires_grad:
                (grad,) = torch.autograd.grad(ll.sum(), inputs=z, allow_unused=True)
            else:
                grad = None
        if grad is None:  # the decoder ignores z
            grad = torch.zeros_like(z)
        return ll.detach(), grad.detach()

    def _normal(self, shape: tuple[int, ...], like: Tensor) -> Tensor:
        return standard_normal(shape, self.generator, like.device).to(like.dtype)


def _check_positive(value: float, name: str) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive finite number, got {value}")
    return value


def _check_count(value: int, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
