"""Parzen-window (Gaussian kernel density) log-likelihood estimates for models without a density.

Breuleux, Bengio & Vincent 2011 ("Quickly generating representative samples from an RBM-derived
process"); used for GANs by Goodfellow et al. 2014 ("Generative adversarial nets"). Draw ``M``
samples ``s_i`` from the model, put an isotropic Gaussian of width ``sigma`` on each, and score
test points under the mixture::

    log p_sigma(x) = logsumexp_i( -|x - s_i|^2 / (2 sigma^2) ) - log M - (D / 2) log(2 pi sigma^2)

in nats per point. ``sigma`` is chosen to maximise the mean log-density of a *validation* set over
a grid (:func:`select_bandwidth`); the test mean and its standard error over test points are then
reported (:func:`parzen_estimate`), as in the GAN paper.

Read the numbers with great care:

* Theis, van den Oord & Bethge 2016 ("A note on the evaluation of generative models") showed that
  Parzen estimates are poor even in moderate dimension — far from the true log-likelihood even
  with millions of samples — and Wu, Burda, Salakhutdinov & Grosse 2017 showed they can rank
  models *wrongly*. Prefer annealed importance sampling (:mod:`genzoo.evaluation.ais`) where a
  decoder is available.
* The original GAN paper reported 225 ± 2 nats on MNIST with pixels scaled to ``[0, 1]``. The
  scaling is chosen by the caller and changes the number by ``D * log(scale)``: pass data scaled
  like the original (pixels in ``[0, 1]``) to compare with it.
* This is a density over continuous vectors, so it can be positive and it is *not* comparable
  with discrete log-likelihoods or bits/dim (:mod:`genzoo.evaluation.likelihood`).

Implementation: everything is computed in float64 on the device of ``samples``; the
``[N, M]`` matrix of squared distances is never built whole but in blocks of at most
``max_elements`` entries (default 2M: 16 MB per block, well under 100 MB with its temporaries),
combined across blocks with logsumexp. One block of distances serves every bandwidth of a grid.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from genzoo.errors import ConfigError

#: Default bandwidth grid: 20 values log-spaced over ``[0.01, 1]`` (suits data scaled to [0, 1]).
DEFAULT_SIGMAS: tuple[float, ...] = tuple(float(s) for s in torch.logspace(-2, 0, 20).tolist())

#: Entries of one block of the distance matrix (float64): 16 MB.
DEFAULT_MAX_ELEMENTS = 2_000_000


def parzen_log_density(
    samples: Tensor, x: Tensor, sigma: float, *, max_elements: int = DEFAULT_MAX_ELEMENTS
) -> Tensor:
    """Log-density of ``x`` under the Gaussian Parzen window centred on ``samples``.

    Args:
        samples: Tensor ``[M, D]``, the kernel centres (model samples).
        x: Tensor ``[N, D]``, points to score.
        sigma: kernel standard deviation, ``> 0``.
        max_elements: largest block of the ``[N, M]`` distance matrix built at once.

    Returns:
        float64 Tensor ``[N]``: ``log((1/M) sum_i N(x; s_i, sigma^2 I))`` in nats.
    """
    samples, x = _check_pair(samples, x, "samples", "x")
    return _log_densities(samples, x, [_check_sigma(sigma)], max_elements)[0]


def select_bandwidth(
    samples: Tensor,
    validation: Tensor,
    sigmas: Any = None,
    *,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> tuple[float, dict[float, float]]:
    """Choose the ``sigma`` that maximises the mean validation log-density over a grid.

    Args:
        samples: Tensor ``[M, D]``, model samples.
        validation: Tensor ``[V, D]``, held-out data (not the test set).
        sigmas: positive bandwidths to try; ``None``: :data:`DEFAULT_SIGMAS` (20 values
            log-spaced over ``[0.01, 1]``).

    Returns:
        ``(best_sigma, {sigma: mean validation log-density})``. If the best is the smallest or
        largest value of the grid the optimum may lie outside it: nothing is raised, but
        ``best_sigma`` then equals ``min`` / ``max`` of the returned keys (and
        :func:`parzen_estimate` reports ``"sigma_at_grid_edge": True``) — widen the grid.
    """
    samples, validation = _check_pair(samples, validation, "samples", "validation")
    grid = _check_grid(sigmas)
    means = _log_densities(samples, validation, grid, max_elements).mean(dim=1)
    scores = {s: float(v) for s, v in zip(grid, means.tolist())}
    best = max(scores, key=lambda s: scores[s])
    return best, scores


def parzen_estimate(
    samples: Tensor,
    validation: Tensor,
    test: Tensor,
    sigmas: Any = None,
    *,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> dict[str, Any]:
    """The Parzen-window estimate of Goodfellow et al. 2014: bandwidth on ``validation``, score
    ``test``.

    Args:
        samples: Tensor ``[M, D]``, model samples; validation ``[V, D]``; test ``[N, D]`` —
            scaled as the caller decides (the GAN paper used pixels in ``[0, 1]``).
        sigmas: bandwidth grid (see :func:`select_bandwidth`).

    Returns:
        ``{"log_density_mean", "log_density_sem" (standard error over test points, NaN if
        N = 1), "sigma", "sigma_at_grid_edge", "num_samples", "num_validation", "num_test", "dim",
        "scores" ({str(sigma): mean validation log-density})}`` — plain Python numbers, in nats.
    """
    samples, validation = _check_pair(samples, validation, "samples", "validation")
    _, test = _check_pair(samples, test, "samples", "test")
    sigma, scores = select_bandwidth(samples, validation, sigmas, max_elements=max_elements)
    log_density = parzen_log_density(samples, test, sigma, max_elements=max_elements)
    n = log_density.numel()
    sem = float(log_density.std() / math.sqrt(n)) if n > 1 else float("nan")
    return {
        "log_density_mean": float(log_density.mean()),
        "log_density_sem": sem,
        "sigma": sigma,
        "sigma_at_grid_edge": len(scores) > 1 and sigma in (min(scores), max(scores)),
        "num_samples": int(samples.shape[0]),
        "num_validation": int(validation.shape[0]),
        "num_test": n,
        "dim": int(samples.shape[1]),
        "scores": {repr(s): v for s, v in scores.items()},
    }


def _log_densities(samples: Tensor, x: Tensor, sigmas: list[float], max_elements: int) -> Tensor:
    """``[S, N]`` log-densities for every bandwidth; each distance block is shared by all ``S``."""
    if int(max_elements) < 1:
        raise ConfigError(f"max_elements must be >= 1, got {max_elements}")
    (n, d), m = x.shape, samples.shape[0]
    rows = max(1, min(n, max_elements // m))
    cols = max(1, min(m, max_elements // rows))
    x_sq = (x**2).sum(-1)
    s_sq = (samples**2).sum(-1)
    out = []
    for r in range(0, n, rows):
        xr = x[r : r + rows]
        partial = []  # [S, rows] logsumexp over each block of samples
        for c in range(0, m, cols):
            sc = samples[c : c + cols]
            # |x - s|^2 = |x|^2 + |s|^2 - 2 x.s, clamped: rounding can make it slightly negative.
            d2 = x_sq[r : r + rows, None] + s_sq[None, c : c + cols] - 2.0 * (xr @ sc.T)
            d2 = d2.clamp_min_(0.0)
            partial.append(torch.stack([torch.logsumexp(d2 * (-0.5 / s**2), 1) for s in sigmas]))
        out.append(torch.logsumexp(torch.stack(partial), dim=0))
    log_norm = torch.tensor(
        [math.log(m) + 0.5 * d * math.log(2 * math.pi * s**2) for s in sigmas],
        dtype=torch.float64,
        device=x.device,
    )
    return torch.cat(out, dim=1) - log_norm[:, None]


def _as_matrix(t: Any, name: str) -> Tensor:
    t = torch.as_tensor(t)
    if t.is_complex():
        raise ConfigError(f"{name} must be a real tensor, got dtype {t.dtype}")
    if t.dim() != 2:
        raise ConfigError(
            f"{name} must be 2-D [count, dim], got shape {tuple(t.shape)}; flatten it"
        )
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ConfigError(f"{name} is empty (shape {tuple(t.shape)}); pass at least one vector")
    t = t.to(torch.float64)
    if not torch.isfinite(t).all():
        raise ConfigError(f"{name} contains NaN or infinite values")
    return t


def _check_pair(a: Any, b: Any, name_a: str, name_b: str) -> tuple[Tensor, Tensor]:
    a, b = _as_matrix(a, name_a), _as_matrix(b, name_b)
    if a.shape[1] != b.shape[1]:
        raise ConfigError(
            f"{name_a} has dimension {a.shape[1]} but {name_b} has {b.shape[1]}; "
            "both must be flattened the same way"
        )
    return a, b.to(a.device)


def _check_sigma(sigma: float) -> float:
    sigma = float(sigma)
    if not (math.isfinite(sigma) and sigma > 0):
        raise ConfigError(f"sigma must be a positive finite number, got {sigma}")
    return sigma


def _check_grid(sigmas: Any) -> list[float]:
    if sigmas is None:
        return list(DEFAULT_SIGMAS)
    grid = [float(s) for s in torch.as_tensor(sigmas, dtype=torch.float64).flatten().tolist()]
    if not grid:
        raise ConfigError("sigmas is empty; pass at least one bandwidth or None for the default")
    return [_check_sigma(s) for s in grid]
