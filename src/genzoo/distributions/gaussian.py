"""Diagonal Gaussian densities and KL divergences for continuous latent variables."""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_prob(z: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
    """``log N(z; mean, diag(exp(log_var)))`` summed over the last dimension.

    Args:
        z, mean, log_var: ``[..., D]`` (broadcastable).

    Returns:
        ``[...]`` in nats.
    """
    return -0.5 * (LOG_2PI + log_var + (z - mean) ** 2 * torch.exp(-log_var)).sum(-1)


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """``log N(z; 0, I)`` summed over the last dimension: ``[..., D] -> [...]``."""
    return -0.5 * (LOG_2PI + z**2).sum(-1)


def kl_standard_normal(mean: Tensor, log_var: Tensor) -> Tensor:
    """``KL(N(mean, diag(exp(log_var))) || N(0, I))`` in closed form, summed over the last dim.

    ``0.5 * sum(exp(log_var) + mean^2 - 1 - log_var)`` (Kingma & Welling 2014, appendix B).
    """
    return 0.5 * (torch.exp(log_var) + mean**2 - 1.0 - log_var).sum(-1)


def standard_normal(
    shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device
) -> Tensor:
    """``N(0, I)`` noise of ``shape`` drawn from ``generator``'s device, moved to ``device``."""
    source = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=source).to(device)
