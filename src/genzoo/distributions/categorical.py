"""Per-sub-pixel categorical distributions over ``levels`` values."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def categorical_log_prob(logits: Tensor, x: Tensor) -> Tensor:
    """``log softmax(logits)[x]`` per sub-pixel.

    Args:
        logits: ``[B, levels, C, H, W]`` (any float dtype; computed in float32).
        x: LongTensor ``[B, C, H, W]`` in ``[0, levels)``.

    Returns:
        ``[B, C, H, W]`` log-probabilities in nats.
    """
    log_probs = F.log_softmax(logits.float(), dim=1)
    return log_probs.gather(1, x.long().unsqueeze(1)).squeeze(1)


def inverse_cdf_sample(logits: Tensor, u: Tensor) -> Tensor:
    """Sample categories by inverting the CDF with given uniforms.

    Using pre-drawn uniforms (instead of ``torch.multinomial``) makes a sampler's output depend
    only on its generator's stream and the logits, so two samplers that compute the same
    conditionals (e.g. naive and cached) return the same images.

    Args:
        logits: ``[N, levels]``.
        u: ``[N]`` uniforms in ``[0, 1)``.

    Returns:
        LongTensor ``[N]`` in ``[0, levels)``.
    """
    cdf = torch.softmax(logits.double(), dim=-1).cumsum(dim=-1)
    index = (cdf < u.double().unsqueeze(-1) * cdf[..., -1:]).sum(dim=-1)
    return index.clamp_(max=logits.shape[-1] - 1)
