"""Causal convolutional AR model: causality, normalisation, AR(1) recovery, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genzoo.errors import ConfigError, ModelError
from genzoo.nn.causal1d import CausalConv1d, GatedCausalBlock, init_parameters
from genzoo.timeseries import CausalConvForecaster, CausalConvNet

PHI, SIGMA, LEVEL = 0.8, 0.5, 3.0
SMALL = dict(
    channels=16,
    dilations=(1, 2),
    n_components=1,
    n_steps=300,
    window=64,
    batch_size=16,
    validation_fraction=0.0,
)


def ar1(t: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.empty(t)
    x[0] = rng.normal() * SIGMA / math.sqrt(1 - PHI**2)
    for i in range(1, t):
        x[i] = PHI * x[i - 1] + SIGMA * rng.normal()
    return LEVEL + x


@pytest.fixture(scope="module")
def series() -> np.ndarray:
    return ar1(2500, seed=0)


@pytest.fixture(scope="module")
def fitted(series) -> CausalConvForecaster:
    return CausalConvForecaster(**SMALL, lr=1e-2, random_state=0).fit(series[:2000])


def seen_positions(layer, t: int, length: int = 20, channels: int = 1) -> list[int]:
    x = torch.randn(1, channels, length, dtype=torch.float64, generator=torch.Generator())
    x.requires_grad_()
    layer(x)[0, :, t].sum().backward()
    return torch.nonzero(x.grad[0].abs().sum(0)).flatten().tolist()


def test_causal_conv_sees_exactly_its_taps():
    mask_a = CausalConv1d(1, 2, 3, dilation=2, include_current=False).double()
    mask_b = CausalConv1d(1, 2, 3, dilation=2, include_current=True).double()
    assert seen_positions(mask_a, 10) == [5, 7, 9] and mask_a.span == 5
    assert seen_positions(mask_b, 10) == [6, 8, 10]
    assert seen_positions(mask_a, 0) == [] and seen_positions(mask_b, 1) == [1]
    block = GatedCausalBlock(3, 2, 4).double()
    for layer in (mask_a, mask_b, block):
        init_parameters(layer, torch.Generator().manual_seed(0))
    assert seen_positions(block, 10, channels=3) == [6, 10]  # residual + taps t-4, t
    assert mask_a(torch.zeros(2, 1, 7, dtype=torch.float64)).shape == (2, 2, 7)


def test_init_parameters_uses_only_the_given_generator():
    net_a, net_b = CausalConvNet(8, 2, (1, 2), 2), CausalConvNet(8, 2, (1, 2), 2)
    torch.manual_seed(0)
    init_parameters(net_a, torch.Generator().manual_seed(5))
    state = torch.random.get_rng_state()
    init_parameters(net_b, torch.Generator().manual_seed(5))
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    for p, q in zip(net_a.parameters(), net_b.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("kernel_size, dilations", [(2, (1, 2, 4)), (3, (1, 3))])
def test_network_output_depends_on_exactly_the_receptive_field(kernel_size, dilations):
    # 32 channels: with very few, every ReLU unit of the head can be off at a position by chance
    net = CausalConvNet(32, kernel_size, dilations, 2).double()
    init_parameters(net, torch.Generator().manual_seed(0))
    inputs = torch.Generator().manual_seed(1)
    r = net.receptive_field
    assert r == kernel_size + (kernel_size - 1) * sum(dilations)
    length = r + 12
    for t in (0, 3, r, length - 1):
        z = torch.randn(1, length, dtype=torch.float64, generator=inputs).requires_grad_()
        observed = torch.ones(1, length, dtype=torch.float64, requires_grad=True)
        sum(p[0, t].sum() for p in net(z, observed)).backward()
        seen = (z.grad[0] != 0) | (observed.grad[0] != 0)
        assert not seen[t:].any()  # the current and future steps: exactly zero gradient
        assert seen[max(0, t - r) : t].all() and not seen[: max(0, t - r)].any()


def test_history_beyond_the_receptive_field_is_ignored(fitted, series):
    r = fitted.receptive_field_
    history, test = series[:2000], series[2000:2050]
    full = fitted.log_likelihood(test, history)
    # float32 network: equal up to summation order
    assert fitted.log_likelihood(test, history[-r:]) == pytest.approx(full, abs=1e-5)
    # negative control: one value fewer than the receptive field changes the first step
    assert abs(fitted.log_likelihood(test, history[-(r - 1) :]) - full) > 1e-3


def test_predictive_density_integrates_to_one_in_original_units(series):
    x = 40.0 * series[:300]  # a missing Jacobian would integrate to scale_ (~27)
    model = CausalConvForecaster(**{**SMALL, "n_components": 3, "n_steps": 5}).fit(x)
    for history in (x[:150], x[:1]):
        mean, std = model.predictive_moments([0.0], history)
        grid = np.linspace(mean[0] - 15 * std[0], mean[0] + 15 * std[0], 6001)
        density = np.exp(model.predictive_log_density(grid, history))
        assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-5)
        assert np.trapezoid(grid * density, grid) == pytest.approx(mean[0], abs=1e-4 * std[0])
        v = grid[2500]
        assert model.score_samples([v], history)[0] == pytest.approx(
            math.log(density[2500]), abs=1e-6
        )


def test_learns_an_ar1_process(fitted, series):
    history, test = series[:2000], series[2000:]
    previous = np.r_[history[-1], test[:-1]]
    true_mean = LEVEL + PHI * (previous - LEVEL)
    mean, std = fitted.predictive_moments(test, history)
    assert np.sqrt(np.mean((mean - true_mean) ** 2)) < 0.2 * SIGMA
    assert std.mean() == pytest.approx(SIGMA, rel=0.05)
    true_ll = -0.5 * math.log(2 * math.pi * SIGMA**2) - 0.5 * ((test - true_mean) / SIGMA) ** 2
    iid_ll = -0.5 * math.log(2 * math.pi * math.e * SIGMA**2 / (1 - PHI**2))
    score = fitted.score(test, history)
    assert score == pytest.approx(true_ll.mean(), abs=0.03)
    assert score > iid_ll + 0.4  # far from ignoring the past
    assert fitted.loss_history_[-50:].mean() < fitted.loss_history_[:10].mean() - 0.3


def test_simulated_paths_have_the_ar1_autocorrelation(fitted, series):
    paths = fitted.simulate(series[:2000], 120, 200, 0)
    x = paths[:, 20:] - paths[:, 20:].mean()
    rho = (x[:, 1:] * x[:, :-1]).mean() / x.var()
    assert rho == pytest.approx(PHI, abs=0.04)
    assert paths.var() == pytest.approx(SIGMA**2 / (1 - PHI**2), rel=0.15)


def test_sampler_matches_the_one_step_density(fitted, series):
    history = series[:2000]
    first = fitted.simulate(history, 1, 20000, torch.Generator().manual_seed(3))[:, 0]
    mean, std = fitted.predictive_moments([0.0], history)
    assert first.mean() == pytest.approx(mean[0], abs=4 * std[0] / math.sqrt(20000))
    assert first.std() == pytest.approx(std[0], rel=0.02)


def test_fixed_seeds_are_deterministic(series):
    x = series[:300]
    kwargs = {**SMALL, "n_steps": 20}
    a = CausalConvForecaster(**kwargs, random_state=7).fit(x)
    b = CausalConvForecaster(**kwargs, random_state=7).fit(x)
    c = CausalConvForecaster(**kwargs, random_state=8).fit(x)
    assert np.array_equal(a.loss_history_, b.loss_history_)
    assert not np.array_equal(a.loss_history_, c.loss_history_)
    assert np.array_equal(a.simulate(x, 10, 5, 1), b.simulate(x, 10, 5, 1))
    assert not np.array_equal(a.simulate(x, 10, 5, 1), a.simulate(x, 10, 5, 2))


def test_scaling_the_data_shifts_the_log_likelihood_by_the_jacobian(series):
    x, kwargs = series[:400], {**SMALL, "n_steps": 30}
    ll = CausalConvForecaster(**kwargs).fit(x[:300]).log_likelihood(x[300:], x[:300])
    for c in (4.0, 0.125):  # powers of two: the standardised data are bitwise identical
        model = CausalConvForecaster(**kwargs).fit(c * x[:300])
        shifted = model.log_likelihood(c * x[300:], c * x[:300])
        assert shifted - ll == pytest.approx(-100 * math.log(c), abs=1e-6)


def test_validation_keeps_the_best_weights(series):
    x = series[:400]
    model = CausalConvForecaster(
        **{**SMALL, "n_steps": 100, "validation_fraction": 0.25, "eval_every": 10, "lr": 3e-2}
    ).fit(x)
    steps, nll = model.validation_history_.T
    assert steps.tolist() == list(range(10, 101, 10)) and model.n_validation_ == 100
    assert model.best_step_ == steps[np.argmin(nll)]
    # the kept weights are the best ones: recompute their validation NLL (standardised nats)
    recomputed = -np.mean(model.score_samples(x[300:], x[:300]) + math.log(model.scale_))
    assert recomputed == pytest.approx(nll.min(), abs=1e-9)
    # a large learning rate over-fits 300 values: keeping the last weights would fail above
    assert nll[-1] > nll.min() + 0.02


def test_errors():
    with pytest.raises(ModelError, match="fit"):
        CausalConvForecaster().simulate(np.zeros(5), 3, 2, 0)
    with pytest.raises(ConfigError, match="dilations"):
        CausalConvForecaster(dilations=(1, 0)).fit(np.arange(20.0))
    with pytest.raises(ConfigError, match="lr"):
        CausalConvForecaster(lr=0).fit(np.arange(20.0))
    with pytest.raises(ConfigError, match="validation_fraction"):
        CausalConvForecaster(validation_fraction=0.6).fit(np.arange(20.0))
