"""Annealed importance sampling against exact marginals: the linear-Gaussian closed form (itself
checked against torch's MultivariateNormal and quadrature), a nonlinear decoder against 1-D
quadrature, the lower-bound behaviour with few steps, determinism, step-size adaptation, and
input validation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genzoo.errors import ConfigError
from genzoo.evaluation.ais import (
    AISResult,
    ais,
    ais_log_likelihood,
    annealing_schedule,
    gaussian_observation_log_likelihood,
    linear_gaussian_log_marginal,
)

F64 = torch.float64


def seeded(seed):
    return torch.Generator().manual_seed(seed)


def linear_model(latent=2, dim=6, sigma=0.5, n=8, seed=0, scale=1.0):
    """A random linear decoder and ``n`` images drawn from the model itself."""
    g = seeded(seed)
    weight = scale * torch.randn(dim, latent, generator=g, dtype=F64)
    bias = 0.3 * torch.randn(dim, generator=g, dtype=F64)
    z = torch.randn(n, latent, generator=g, dtype=F64)
    x = z @ weight.T + bias + sigma * torch.randn(n, dim, generator=g, dtype=F64)
    return weight, bias, x


def quadrature_log_marginal(decode, x, sigma, lo=-12.0, hi=12.0, points=24001):
    """``log ∫ N(z; 0, 1) N(x; g(z), sigma^2 I) dz`` for L = 1 by a dense Riemann sum."""
    z = torch.linspace(lo, hi, points, dtype=F64)[:, None]
    mean = decode(z)  # [P, D]
    log_prior = -0.5 * (z[:, 0] ** 2 + math.log(2 * math.pi))
    log_lik = gaussian_observation_log_likelihood(x[:, None, :], mean[None], sigma)  # [N, P]
    return torch.logsumexp(log_prior + log_lik, dim=1) + math.log((hi - lo) / (points - 1))


def test_observation_log_likelihood_is_the_isotropic_gaussian():
    x, mean = torch.randn(4, 5, dtype=F64), torch.randn(4, 5, dtype=F64)
    expected = torch.distributions.Normal(mean, 0.3).log_prob(x).sum(-1)
    torch.testing.assert_close(gaussian_observation_log_likelihood(x, mean, 0.3), expected)


def test_linear_gaussian_marginal_is_exact():
    weight, bias, x = linear_model(latent=3, dim=7, sigma=0.4, n=5)
    cov = weight @ weight.T + 0.4**2 * torch.eye(7, dtype=F64)
    expected = torch.distributions.MultivariateNormal(bias, cov).log_prob(x)
    got = linear_gaussian_log_marginal(x, weight, bias, 0.4)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)
    # L = 1: brute-force quadrature of the integral over z
    weight, bias, x = linear_model(latent=1, dim=4, sigma=0.3, n=5, seed=1)
    quad = quadrature_log_marginal(lambda z: z @ weight.T + bias, x, 0.3)
    got = linear_gaussian_log_marginal(x, weight, bias, 0.3)
    torch.testing.assert_close(got, quad, atol=1e-8, rtol=0)
    # negative control: forgetting the observation noise in the covariance is far off
    wrong = torch.distributions.MultivariateNormal(
        bias, weight @ weight.T + 1e-3 * torch.eye(4, dtype=F64)
    ).log_prob(x)
    assert (wrong - quad).abs().max() > 1.0


def test_schedules_run_from_zero_to_one():
    for kind in ("sigmoid", "linear"):
        beta = annealing_schedule(100, kind)
        assert beta.shape == (101,) and beta[0] == 0.0 and beta[-1] == 1.0
        assert (beta.diff() > 0).all()
        torch.testing.assert_close(beta + beta.flip(0), torch.ones(101, dtype=F64))  # symmetric
    sigmoid = annealing_schedule(100, "sigmoid").diff()
    assert sigmoid[0] < 0.2 * sigmoid[50]  # small steps at the ends, large in the middle
    torch.testing.assert_close(annealing_schedule(1), torch.tensor([0.0, 1.0], dtype=F64))


def test_ais_matches_linear_gaussian_marginal():
    weight, bias, x = linear_model()
    exact = linear_gaussian_log_marginal(x, weight, bias, 0.5)
    result = ais(
        lambda z: z @ weight.T + bias,
        x,
        latent_dim=2,
        sigma=0.5,
        steps=300,
        chains=64,
        generator=seeded(1),
    )
    assert isinstance(result, AISResult)
    assert result.log_likelihood.shape == (8,) and result.log_weights.shape == (8, 64)
    assert result.log_likelihood.dtype == F64
    torch.testing.assert_close(
        result.log_likelihood, torch.logsumexp(result.log_weights, 1) - math.log(64)
    )
    error = (result.log_likelihood - exact).abs()
    assert error.mean() < 0.1 and error.max() < 0.3, error
    # the mean tolerance is tight enough to notice a 10% error in the observation noise
    assert (linear_gaussian_log_marginal(x, weight, bias, 0.45) - exact).abs().mean() > 0.1


def test_few_steps_underestimate_and_error_shrinks_with_steps():
    weight, bias, x = linear_model(seed=2)
    exact = linear_gaussian_log_marginal(x, weight, bias, 0.5)
    errors = []
    for steps in (1, 10, 100):
        est = ais_log_likelihood(
            lambda z: z @ weight.T + bias,
            x,
            latent_dim=2,
            sigma=0.5,
            steps=steps,
            chains=16,
            generator=seeded(3),
        )
        errors.append(est - exact)
    mean_abs = [float(e.abs().mean()) for e in errors]
    assert mean_abs[0] > mean_abs[1] > mean_abs[2], mean_abs
    # a stochastic lower bound: with few steps the estimate is clearly below log p(x)
    assert float(errors[0].mean()) < -1.0 and float(errors[1].mean()) < -0.1
    assert (errors[0] < 0).float().mean() >= 0.75


def test_nonlinear_decoder_matches_quadrature():
    g = seeded(4)
    a, c = torch.randn(3, generator=g, dtype=F64) * 2, torch.randn(3, generator=g, dtype=F64)

    def decode(z):  # [B, 1] -> [B, 3], a curve with a bend: the posterior is not Gaussian
        return torch.tanh(a * z + c) + 0.3 * z**2

    sigma = 0.3
    z = torch.randn(6, 1, generator=g, dtype=F64)
    x = decode(z) + sigma * torch.randn(6, 3, generator=g, dtype=F64)
    exact = quadrature_log_marginal(decode, x, sigma)
    est = ais_log_likelihood(
        decode, x, latent_dim=1, sigma=sigma, steps=300, chains=32, generator=seeded(5)
    )
    error = (est - exact).abs()
    assert error.mean() < 0.1 and error.max() < 0.3, error
    # negative control: a Gaussian fitted to the decoder's output moments is a different density
    means = decode(torch.randn(4000, 1, generator=g, dtype=F64))
    cov = torch.cov(means.T) + sigma**2 * torch.eye(3, dtype=F64)
    moment = torch.distributions.MultivariateNormal(means.mean(0), cov).log_prob(x)
    assert (moment - exact).abs().mean() > 0.3


def test_same_seed_same_result_and_batches_run_together():
    _, _, x = linear_model(n=3)
    kwargs = dict(latent_dim=2, sigma=0.5, steps=20, chains=4)
    decode = nn.Linear(2, 6).double()
    first = ais(decode, x, generator=seeded(7), **kwargs)
    second = ais(decode, x, generator=seeded(7), **kwargs)
    assert torch.equal(first.log_weights, second.log_weights)
    assert torch.equal(first.step_size, second.step_size)
    other = ais(decode, x, generator=seeded(8), **kwargs)
    assert not torch.equal(first.log_weights, other.log_weights)
    # no generator: a fixed default, and the global RNG is neither used nor advanced
    state = torch.random.get_rng_state()
    default = ais(decode, x, **kwargs)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(default.log_weights, ais(decode, x, **kwargs).log_weights)
    # only gradients with respect to z: the decoder's parameters keep .grad = None, even when
    # called under no_grad
    with torch.no_grad():
        ais(decode, x, generator=seeded(7), **kwargs)
    assert all(p.grad is None for p in decode.parameters())
    # image batches: same shapes, every image still close to its own estimate
    batched = ais(decode, x, generator=seeded(7), batch_size=2, **kwargs)
    assert batched.log_weights.shape == (3, 4)


def test_step_size_adapts_toward_target_acceptance():
    weight, bias, x = linear_model(n=4, seed=6)
    decode = lambda z: z @ weight.T + bias  # noqa: E731
    kwargs = dict(latent_dim=2, sigma=0.5, steps=200, chains=8, generator=seeded(9))
    default = ais(decode, x, **kwargs)
    assert 0.3 < default.acceptance < 0.95
    strict = ais(decode, x, target_acceptance=0.95, **kwargs)
    loose = ais(decode, x, target_acceptance=0.4, **kwargs)
    assert strict.acceptance > default.acceptance > loose.acceptance
    assert strict.step_size.median() < default.step_size.median() < loose.step_size.median()
    assert math.isnan(ais(decode, x, **{**kwargs, "steps": 1}).acceptance)  # no transition


def test_bad_input_raises_config_error():
    decode = nn.Linear(2, 6).double()
    x = torch.randn(3, 6, dtype=F64)
    good = dict(latent_dim=2, sigma=0.5, steps=5, chains=2)
    bad = [
        dict(sigma=0.0),
        dict(sigma=-1.0),
        dict(steps=0),
        dict(chains=0),
        dict(leapfrog_steps=0),
        dict(step_size=0.0),
        dict(target_acceptance=1.0),
        dict(schedule="geometric"),
        dict(batch_size=0),
        dict(latent_dim=3),  # the decoder takes 2
    ]
    for override in bad:
        with pytest.raises(ConfigError):
            ais_log_likelihood(decode, x, **{**good, **override})
    with pytest.raises(ConfigError):  # output is not [B, D]
        ais_log_likelihood(lambda z: z, x, **good)
    with pytest.raises(ConfigError):  # decoder in float32, data in float64
        ais_log_likelihood(nn.Linear(2, 6), x, **good)
    with pytest.raises(ConfigError):  # images must be flattened
        ais_log_likelihood(decode, x.view(3, 1, 2, 3), **good)
    with pytest.raises(ConfigError):
        linear_gaussian_log_marginal(x, torch.randn(5, 2, dtype=F64), torch.zeros(6), 0.5)
