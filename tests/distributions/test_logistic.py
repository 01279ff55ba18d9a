"""The discretized logistic mixture: normalisation, bins against numerical integration, the
whole-pixel mixture against brute force, and consistency of the two entry points."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad
from scipy.special import expit, logsumexp

from genzoo.distributions import (
    logistic_mixture_channels,
    logistic_mixture_log_prob,
    logistic_mixture_logits,
)
from genzoo.distributions.logistic import _bin_log_prob
from genzoo.errors import ConfigError


def random_params(k, colors, spatial=(2, 3), batch=3, seed=0, extreme=True):
    """Means well outside [-1, 1], scales from tiny to huge: the edge bins matter."""
    g = torch.Generator().manual_seed(seed)
    h, w = spatial
    p = logistic_mixture_channels(k, colors)
    params = torch.randn(batch, p, h, w, generator=g, dtype=torch.float64)
    if extreme:
        means = slice(k, k + colors * k)
        scales = slice(k + colors * k, k + 2 * colors * k)
        params[:, means] = 3.0 * (2 * torch.rand(batch, colors * k, h, w, generator=g) - 1)
        params[:, scales] = torch.empty(batch, colors * k, h, w).uniform_(-9, 3, generator=g)
        params[:, :k] *= 3
    return params


def test_channel_count():
    assert logistic_mixture_channels(10, 3) == 100  # PixelCNN++'s 10 * nr_mix for RGB
    assert logistic_mixture_channels(5, 1) == 15
    assert logistic_mixture_channels(2, 4) == 2 * (1 + 8 + 6)
    with pytest.raises(ConfigError):
        logistic_mixture_channels(0, 3)


@pytest.mark.parametrize("levels", [2, 3, 17, 256])
@pytest.mark.parametrize("colors", [1, 3])
def test_levels_sum_to_one(levels, colors):
    params = random_params(4, colors, seed=levels)
    x = torch.randint(0, levels, (3, colors, 2, 3), generator=torch.Generator().manual_seed(1))
    logits = logistic_mixture_logits(params, x, levels)
    assert logits.shape == (3, levels, colors, 2, 3)
    assert torch.isfinite(logits).all()
    total = logits.logsumexp(dim=1)
    torch.testing.assert_close(total, torch.zeros_like(total), atol=1e-12, rtol=0)
    # float32 inputs stay accurate to float32 rounding
    total32 = logistic_mixture_logits(params.float(), x, levels).logsumexp(dim=1)
    torch.testing.assert_close(total32, torch.zeros_like(total32), atol=2e-5, rtol=0)


def logistic_bin_mass(lo: float, hi: float, mean: float, scale: float) -> float:
    """Integral of the logistic density over [lo, hi] by adaptive quadrature (z = standardised)."""

    def pdf(z):
        return math.exp(-abs(z)) / (1.0 + math.exp(-abs(z))) ** 2

    a, b = (lo - mean) / scale, (hi - mean) / scale
    pieces = [(a, min(b, 0.0)), (max(a, 0.0), b)]  # split at the mode: quad sees the peak
    return sum(quad(pdf, u, v, epsabs=0, epsrel=1e-11, limit=200)[0] for u, v in pieces if u < v)


CASES = [(0.1, -2.0), (0.95, -4.0), (-1.3, -1.0), (2.0, -7.0), (0.0, 1.5), (0.3, 9.5), (-0.2, 8.9)]


@pytest.mark.parametrize("levels", [2, 3, 17, 256])
@pytest.mark.parametrize(("mean", "log_scale"), CASES)
def test_bins_match_numerical_integration(levels, mean, log_scale):
    x = torch.arange(levels).view(levels, 1, 1, 1)
    params = torch.tensor([0.0, mean, log_scale], dtype=torch.float64).view(1, 3, 1, 1)
    got = logistic_mixture_log_prob(params.expand(levels, -1, -1, -1), x, levels).flatten()
    half = 1.0 / (levels - 1)
    for level in range(levels):
        centre = 2 * level * half - 1
        lo = -math.inf if level == 0 else centre - half
        hi = math.inf if level == levels - 1 else centre + half
        mass = logistic_bin_mass(lo, hi, mean, math.exp(log_scale))
        if mass > 1e-280:
            assert float(got[level]) == pytest.approx(math.log(mass), abs=1e-8, rel=1e-8)
        else:  # quadrature underflows; the log-space value must still be finite and tiny
            assert math.isfinite(float(got[level])) and float(got[level]) < -600


def test_log_scales_are_clamped_at_minus_seven():
    x = torch.arange(17).view(17, 1, 1, 1)
    lo = torch.tensor([0.0, 0.3, -7.0], dtype=torch.float64).view(1, 3, 1, 1).expand(17, -1, -1, -1)
    lower = lo.clone()
    lower[:, 2] = -20.0
    torch.testing.assert_close(
        logistic_mixture_log_prob(lo, x, 17), logistic_mixture_log_prob(lower, x, 17)
    )


def brute_force_pixel_log_prob(params: np.ndarray, x: np.ndarray, levels: int, upto: int):
    """log p(x_0..x_upto) of one pixel, straight from the definition (numpy, float64)."""
    colors = x.shape[0]
    slots = 1 + 2 * colors + colors * (colors - 1) // 2
    k = params.shape[0] // slots

    def slot(s, comp):
        return params[k + s * k + comp]

    v = x * 2.0 / (levels - 1) - 1.0
    half = 1.0 / (levels - 1)
    logits = params[:k]
    log_pi = logits - logsumexp(logits)
    terms = []
    for comp in range(k):
        total = log_pi[comp]
        for c in range(upto + 1):
            mean = slot(c, comp)
            for earlier in range(c):
                mean += np.tanh(slot(2 * colors + c * (c - 1) // 2 + earlier, comp)) * v[earlier]
            inv = math.exp(-max(slot(colors + c, comp), -7.0))
            cdf_hi = 1.0 if x[c] == levels - 1 else expit(inv * (v[c] - mean + half))
            cdf_lo = 0.0 if x[c] == 0 else expit(inv * (v[c] - mean - half))
            total += math.log(cdf_hi - cdf_lo)
        terms.append(total)
    return logsumexp(terms)


@pytest.mark.parametrize("colors", [1, 2, 3])
def test_per_sub_pixel_conditionals_match_the_whole_pixel_mixture(colors):
    levels, k = 4, 3
    params = random_params(k, colors, spatial=(1, 1), batch=1, seed=colors, extreme=False)
    params[:, k:] *= 0.5  # moderate: the brute force uses the naive CDF difference
    pixels = torch.cartesian_prod(*[torch.arange(levels)] * colors).view(-1, colors, 1, 1)
    per_channel = logistic_mixture_log_prob(params.expand(len(pixels), -1, -1, -1), pixels, levels)
    p = params[0, :, 0, 0].numpy()
    for n, pixel in enumerate(pixels[:, :, 0, 0].numpy()):
        cumulative = per_channel[n, :, 0, 0].cumsum(0)
        for c in range(colors):
            expected = brute_force_pixel_log_prob(p, pixel.astype(float), levels, c)
            assert float(cumulative[c]) == pytest.approx(expected, abs=1e-10)
    # and the whole pixel space sums to one
    total = per_channel.sum(dim=(1, 2, 3)).logsumexp(0)
    assert float(total) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("levels", [2, 5, 256])
def test_logits_gathered_at_x_equal_log_prob(levels):
    params = random_params(5, 3, seed=levels)
    x = torch.randint(0, levels, (3, 3, 2, 3), generator=torch.Generator().manual_seed(2))
    gathered = logistic_mixture_logits(params, x, levels).gather(1, x.unsqueeze(1)).squeeze(1)
    expected = logistic_mixture_log_prob(params, x, levels)
    torch.testing.assert_close(gathered, expected, rtol=0, atol=1e-12)


def test_channel_c_depends_only_on_earlier_channels():
    params = random_params(3, 3, seed=5)
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 7, (3, 3, 2, 3), generator=g)
    base = logistic_mixture_logits(params, x, 7)
    for c in range(3):
        x2 = x.clone()
        x2[:, c:] = torch.randint(0, 7, x2[:, c:].shape, generator=g)
        changed = logistic_mixture_logits(params, x2, 7)
        torch.testing.assert_close(changed[:, :, : c + 1], base[:, :, : c + 1], rtol=0, atol=0)


def test_low_precision_is_computed_in_float32():
    params = random_params(4, 3, seed=9).bfloat16()
    x = torch.randint(0, 256, (3, 3, 2, 3), generator=torch.Generator().manual_seed(4))
    out = logistic_mixture_log_prob(params, x, 256)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    total = logistic_mixture_logits(params, x, 256).logsumexp(1)
    torch.testing.assert_close(total, torch.zeros_like(total), atol=2e-5, rtol=0)


def test_extreme_parameters_give_finite_values_and_gradients():
    levels = 256
    params = torch.zeros(4, 3, 1, 1, dtype=torch.float32)
    params[:, 1, 0, 0] = torch.tensor([1e4, -1e4, 0.0, 0.5])  # means far out
    params[:, 2, 0, 0] = torch.tensor([-30.0, -7.0, 200.0, 60.0])  # clamped, sharp, huge scales
    params.requires_grad_(True)
    x = torch.tensor([0, 255, 128, 17]).view(4, 1, 1, 1)
    lp = logistic_mixture_log_prob(params, x, levels)
    assert torch.isfinite(lp).all()
    lp.sum().backward()
    assert torch.isfinite(params.grad).all()
    total = logistic_mixture_logits(params.detach(), x, levels).logsumexp(1)
    torch.testing.assert_close(total, torch.zeros_like(total), atol=2e-5, rtol=0)


def test_negative_control_wrong_edge_bins_are_caught():
    """Treating the edge bins like inner ones (no -inf / +inf tails) loses mass: both the
    normalisation and the quadrature checks above would fail on it."""
    levels = 17
    grid = torch.arange(levels, dtype=torch.long)
    mean, log_scale = (
        torch.tensor(0.9, dtype=torch.float64),
        torch.tensor(-1.0, dtype=torch.float64),
    )
    right = _bin_log_prob(grid, mean, log_scale, levels).logsumexp(0)
    wrong = _bin_log_prob(grid, mean, log_scale, levels, edges=False)
    assert abs(float(right)) < 1e-12
    assert abs(float(wrong.logsumexp(0))) > 0.1
    top = logistic_bin_mass(1 - 1 / (levels - 1), math.inf, 0.9, math.exp(-1.0))
    assert abs(float(wrong[-1]) - math.log(top)) > 0.1


def test_bad_shapes_raise_config_errors():
    x = torch.zeros(2, 3, 2, 2, dtype=torch.long)
    with pytest.raises(ConfigError, match="multiple of 10"):
        logistic_mixture_log_prob(torch.zeros(2, 15, 2, 2), x, 4)
    with pytest.raises(ConfigError, match="agree"):
        logistic_mixture_log_prob(torch.zeros(2, 10, 3, 2), x, 4)
    with pytest.raises(ConfigError, match="levels"):
        logistic_mixture_logits(torch.zeros(2, 10, 2, 2), x, 1)
