"""Pixel likelihoods of decoders: normalisation, sampling and means for every kind."""

from __future__ import annotations

import pytest
import torch
from scipy.stats import chisquare

from genzoo.distributions.pixel import PixelLikelihood
from genzoo.errors import ConfigError
from tests.models.tiny import all_images

CASES = [("bernoulli", 1, 2), ("bernoulli", 3, 2), ("categorical", 1, 5), ("categorical", 3, 3),
         ("logistic", 1, 7), ("logistic", 3, 3), ("logistic", 1, 256)]  # fmt: skip


def random_params(lik: PixelLikelihood, b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 2 * torch.randn(b, lik.param_channels, h, w, generator=g, dtype=torch.float64)


@pytest.mark.parametrize(("kind", "colors", "levels"), CASES)
def test_log_prob_normalises_over_every_image(kind, colors, levels):
    """sum_x p(x | params) = 1 over the whole space of a 1x1 or 1x2 image."""
    lik = PixelLikelihood(kind, colors, levels, num_mixtures=2)
    shape = (colors, 1, 2 if colors == 1 else 1)
    x = all_images(shape, levels)
    params = random_params(lik, 1, *shape[1:]).expand(x.shape[0], -1, -1, -1)
    total = lik.log_prob(params, x).double().logsumexp(0).exp()
    assert abs(float(total) - 1) < 1e-6
    per_level = lik.logits(params[:1], x[:1]).exp().sum(1)
    torch.testing.assert_close(per_level, torch.ones_like(per_level), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("kind", "colors", "levels"), CASES)
def test_samples_follow_log_prob_and_mean_is_the_expectation(kind, colors, levels):
    lik = PixelLikelihood(kind, colors, levels, num_mixtures=2)
    shape = (colors, 1, 1)
    params = random_params(lik, 1, 1, 1, seed=1)
    x = all_images(shape, levels)
    probs = lik.log_prob(params.expand(x.shape[0], -1, -1, -1), x).double().exp()
    n = 20000
    draws = lik.sample(params.expand(n, -1, -1, -1), torch.Generator().manual_seed(0))
    code = (draws.flatten(1) * levels ** torch.arange(colors - 1, -1, -1)).sum(1)
    counts = torch.bincount(code, minlength=probs.numel()).double()
    keep = probs * n >= 5
    observed, expected = counts[keep], probs[keep] * n
    if not keep.all():  # rare outcomes pooled into one cell
        observed = torch.cat([observed, counts[~keep].sum(0, keepdim=True)])
        expected = torch.cat([expected, probs[~keep].sum(0, keepdim=True) * n])
    expected *= observed.sum() / expected.sum()
    assert chisquare(observed.numpy(), expected.numpy()).pvalue > 1e-3
    if kind != "logistic" or colors == 1:  # independent channels: the exact expectation
        exact = (probs[:, None] * x.flatten(1).double()).sum(0)
        torch.testing.assert_close(lik.mean(params).flatten().double(), exact, atol=1e-5, rtol=0)


def test_logistic_mean_of_rgb_is_the_expectation_given_the_rounded_earlier_means():
    """Colour c's mean from survival sums equals the expectation under the table of every level
    given the earlier colours at their rounded means (the documented convention)."""
    lik = PixelLikelihood("logistic", 3, 9, num_mixtures=3)
    params = random_params(lik, 4, 2, 3, seed=2)
    mean = lik.mean(params)
    x = mean.round().long().clamp(0, 8)
    table = lik.logits(params, x).exp()  # colour c given the rounded earlier colours of x
    expected = (table * torch.arange(9, dtype=table.dtype).view(1, -1, 1, 1, 1)).sum(1)
    torch.testing.assert_close(mean, expected, rtol=0, atol=1e-9)


def test_bad_likelihoods_raise():
    with pytest.raises(ConfigError, match="levels=2"):
        PixelLikelihood("bernoulli", 1, 17)
    with pytest.raises(ConfigError, match="choose one of"):
        PixelLikelihood("gaussian", 1, 17)
