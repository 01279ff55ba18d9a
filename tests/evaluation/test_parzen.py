"""Parzen-window estimates: the explicit mixture formula, normalisation, convergence to a known
density with a cross-validated bandwidth, chunking, and input validation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from genzoo.errors import ConfigError
from genzoo.evaluation.parzen import (
    DEFAULT_SIGMAS,
    parzen_estimate,
    parzen_log_density,
    select_bandwidth,
)


def normal(n, d, seed):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def standard_normal_log_density(x):
    return -0.5 * (x**2).sum(1) - 0.5 * x.shape[1] * math.log(2 * math.pi)


def test_matches_explicit_mixture_of_gaussians():
    samples, x, sigma = normal(5, 3, 0), 1.5 * normal(4, 3, 1), 0.7
    expected = [
        math.log(
            np.mean(
                [
                    multivariate_normal(mean=s.numpy(), cov=sigma**2 * np.eye(3)).pdf(xi.numpy())
                    for s in samples
                ]
            )
        )
        for xi in x
    ]
    got = parzen_log_density(samples, x, sigma)
    assert got.dtype == torch.float64 and got.shape == (4,)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)
    # float32 input is computed in float64 all the same
    got32 = parzen_log_density(samples.float(), x.float(), sigma)
    assert got32.dtype == torch.float64
    np.testing.assert_allclose(got32.numpy(), expected, atol=1e-5)
    # negative control: a wrong normalisation (e.g. forgetting 1/M) would be off by log 5
    assert abs(float(got[0]) - (expected[0] + math.log(5))) > 1.0


def test_density_integrates_to_one_far_from_the_samples_too():
    samples = torch.tensor([[-2.0], [0.3], [0.35], [4.0]], dtype=torch.float64)
    grid = torch.linspace(-12, 16, 28001, dtype=torch.float64)[:, None]
    log_p = parzen_log_density(samples, grid, 0.2)
    mass = float(torch.exp(log_p).sum() * (grid[1, 0] - grid[0, 0]))
    assert mass == pytest.approx(1.0, abs=1e-9)
    # far from every sample the logsumexp must not underflow to -inf
    far = parzen_log_density(samples, torch.tensor([[200.0]], dtype=torch.float64), 0.2)
    assert torch.isfinite(far).all()


def test_converges_to_true_density_of_a_gaussian():
    d, grid = 2, torch.logspace(math.log10(0.05), 0, 10)
    validation, test = normal(500, d, 1), normal(500, d, 2)
    truth = standard_normal_log_density(test)
    errors, sigmas = [], []
    for m in (100, 1_000, 10_000):
        samples = normal(m, d, 10 + m)
        sigma, _ = select_bandwidth(samples, validation, grid)
        est = parzen_log_density(samples, test, sigma)
        errors.append(float((est - truth).abs().mean()))
        sigmas.append(sigma)
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 0.1, errors
    assert sigmas[0] > sigmas[1] > sigmas[2], sigmas  # more samples, narrower kernels
    # negative control: the same large sample with a badly chosen width is visibly wrong
    wide = parzen_log_density(samples, test, 1.0)
    assert float((wide - truth).abs().mean()) > 0.3


def test_bandwidth_is_near_the_rule_of_thumb_and_edges_are_visible():
    d, m = 2, 2_000
    samples, validation = normal(m, d, 3), normal(400, d, 4)
    sigma, scores = select_bandwidth(samples, validation)
    assert list(scores) == list(DEFAULT_SIGMAS)
    assert scores[sigma] == max(scores.values())
    # Silverman's rule for a standard normal in d dimensions: (4 / (d + 2))^(1/(d+4)) m^(-1/(d+4))
    silverman = (4 / (d + 2)) ** (1 / (d + 4)) * m ** (-1 / (d + 4))
    assert silverman / 1.6 < sigma < 1.6 * silverman
    out = parzen_estimate(samples, validation, normal(50, d, 5))
    assert out["sigma"] == sigma and out["sigma_at_grid_edge"] is False
    # a grid that stops far below the optimum: its top value wins, and the report says so
    sigma, scores = select_bandwidth(samples, validation, [0.001, 0.003, 0.01])
    assert sigma == 0.01 and len(scores) == 3
    edge = parzen_estimate(samples, validation, normal(50, d, 5), [0.001, 0.003, 0.01])
    assert edge["sigma_at_grid_edge"] is True


@pytest.mark.parametrize("max_elements", [1, 7, 64, 999])
def test_chunking_gives_the_single_block_result(max_elements):
    samples, x = normal(37, 4, 6), normal(23, 4, 7)
    whole = parzen_log_density(samples, x, 0.4, max_elements=10**9)
    chunked = parzen_log_density(samples, x, 0.4, max_elements=max_elements)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-12)
    grid = [0.1, 0.4, 2.0]
    assert select_bandwidth(samples, x, grid, max_elements=max_elements)[1] == pytest.approx(
        select_bandwidth(samples, x, grid, max_elements=10**9)[1], abs=1e-12
    )


def test_estimate_report_is_consistent_and_json_able():
    samples, validation, test = normal(300, 3, 8), normal(100, 3, 9), normal(40, 3, 10)
    out = parzen_estimate(samples, validation, test, [0.2, 0.5, 1.0])
    json.dumps(out, allow_nan=False)
    per_point = parzen_log_density(samples, test, out["sigma"])
    assert out["log_density_mean"] == pytest.approx(float(per_point.mean()), abs=1e-12)
    assert out["log_density_sem"] == pytest.approx(float(per_point.std() / math.sqrt(40)))
    assert (out["num_samples"], out["num_validation"], out["num_test"], out["dim"]) == (
        300,
        100,
        40,
        3,
    )
    assert set(out["scores"]) == {"0.2", "0.5", "1.0"}
    assert out["scores"][repr(out["sigma"])] == max(out["scores"].values())


def test_bad_input_raises_config_error():
    s, x = normal(10, 3, 0), normal(5, 3, 1)
    bad_calls = [
        lambda: parzen_log_density(s, normal(5, 4, 1), 0.5),  # dims mismatch
        lambda: parzen_log_density(s, x, 0.0),
        lambda: parzen_log_density(s, x, -1.0),
        lambda: parzen_log_density(s, x, float("nan")),
        lambda: parzen_log_density(s[:0], x, 0.5),  # empty sample
        lambda: parzen_log_density(s, x[:0], 0.5),  # empty points
        lambda: parzen_log_density(s[0], x, 0.5),  # not [M, D]
        lambda: parzen_log_density(s, torch.full((2, 3), float("nan")), 0.5),
        lambda: parzen_log_density(s, x, 0.5, max_elements=0),
        lambda: select_bandwidth(s, x, []),
        lambda: select_bandwidth(s, x, [0.1, -0.2]),
        lambda: parzen_estimate(s, x, normal(4, 2, 3)),
        lambda: parzen_estimate(s, x[:0], x),
    ]
    for call in bad_calls:
        with pytest.raises(ConfigError):
            call()
