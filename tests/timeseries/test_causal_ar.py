"""Causal convolutional AR model: causality, normalisation, AR(1) recovery, determinism."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from genzoo.errors import ConfigError, ModelError
from genzoo.timeseries import CausalConvForecaster, CausalConvNet, Series, evaluate_forecaster

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


@pytest.mark.parametrize("kernel_size, dilations", [(2, (1, 2, 4)), (3, (1, 3))])
def test_network_output_depends_on_exactly_the_receptive_field(kernel_size, dilations):
    # 32 channels: with very few, every ReLU unit of the head can be off at a position by chance
    torch.manual_seed(0)
    net = CausalConvNet(32, kernel_size, dilations, 2).double()
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
    score = fitted.score(test, history=history)
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


def causality_violations(model, x: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (changed d, affected t <= d): changing x_d alters the conditional of x_t, t <= d.

    The probe of the image models (``tests/models/test_contract.py``) on a series; the
    conditional ``p(x_t | x_<t)`` is compared through its mean and standard deviation.
    """
    base = np.stack(model.predictive_moments(x))
    bad = []
    for d in range(x.shape[0]):
        changed = x.copy()
        changed[d] += 1.7
        diff = (np.abs(np.stack(model.predictive_moments(changed)) - base) > 1e-9).any(0)
        bad += [(d, t) for t in range(d + 1) if diff[t]]
        if d + 1 < x.shape[0]:
            assert diff[d + 1], "the next step must depend on x_d"
    return bad


def test_perturbation_causality_probe(series):
    model = CausalConvForecaster(**{**SMALL, "n_steps": 5, "n_components": 2}).fit(series[:200])
    x = series[200:230].copy()
    assert causality_violations(model, x) == []
    # negative control: a first layer that sees its own position (mask B) must be caught
    leaky = copy.deepcopy(model)
    leaky.net_.input.mask = None
    bad = causality_violations(leaky, x)
    assert bad and all(d == t for d, t in bad)  # each step sees itself


@pytest.mark.parametrize("difference", [0, 1])
def test_joint_density_of_a_new_series_integrates_to_one(series, difference):
    """``integral p(x_0) p(x_1 | x_0) dx_0 dx_1 = 1``: the start of a series included."""
    x = 40.0 * series[:300]
    model = CausalConvForecaster(
        **{**SMALL, "n_steps": 5, "n_components": 3}, difference=difference
    ).fit(x)
    m0, s0 = model.predictive_moments([0.0])
    grid0 = np.linspace(m0[0] - 10 * s0[0], m0[0] + 10 * s0[0], 301)
    p0 = np.exp(model.predictive_log_density(grid0))
    inner = []
    for v in grid0:
        m1, s1 = model.predictive_moments([0.0], [v])
        grid1 = np.linspace(m1[0] - 12 * s1[0], m1[0] + 12 * s1[0], 2001)
        inner.append(np.trapezoid(np.exp(model.predictive_log_density(grid1, [v])), grid1))
    assert np.trapezoid(p0, grid0) == pytest.approx(1.0, abs=1e-4)
    assert np.trapezoid(p0 * np.array(inner), grid0) == pytest.approx(1.0, abs=1e-4)
    # the chained one-step densities are the joint density score_samples reports
    pair = np.array([grid0[100], grid0[180]])
    joint = (
        model.predictive_log_density(pair[:1])[0]
        + model.predictive_log_density(pair[1:], pair[:1])[0]
    )
    assert model.log_likelihood(pair) == pytest.approx(joint, abs=1e-5)  # float32 network


def mixture_cdf(model, paths: np.ndarray, history: np.ndarray) -> np.ndarray:
    """``F(x_t | x_<t)`` of each simulated value under the model's own conditionals."""
    z = np.concatenate([np.tile(history, (paths.shape[0], 1)), paths], 1) - model.mean_
    z = torch.as_tensor(z / model.scale_, dtype=torch.float32)
    with torch.no_grad():
        logits, means, log_scales = (p.double() for p in model.net_(z))
    h = history.shape[0]
    # the conditional of x_t comes from the output at position t (it sees x_<t only)
    u = (z.double()[:, h:, None] - means[:, h:]) / torch.exp(log_scales[:, h:])
    w = torch.softmax(logits[:, h:], -1)
    return (w * 0.5 * (1 + torch.erf(u / math.sqrt(2)))).sum(-1).numpy()


def test_sampler_matches_the_density_at_every_step(fitted, series):
    """Probability integral transform: F(x_t | sampled x_<t) is uniform at every step."""
    history = series[1900:2000]
    paths = fitted.simulate(history, 30, 400, 11)
    pit = mixture_cdf(fitted, paths, history)
    for values in (pit.ravel(), pit[:, -1]):
        ks = np.abs(np.sort(values) - (np.arange(values.size) + 0.5) / values.size).max()
        assert ks < 1.8 / math.sqrt(values.size)  # KS 99% critical value ~1.63 / sqrt(n)
    # negative control: a sampler with 20% too wide steps fails the same check
    wide = history[-1] + 1.2 * (paths - history[-1])
    bad = mixture_cdf(fitted, wide, history)[:, 0]
    assert np.abs(np.sort(bad) - (np.arange(400) + 0.5) / 400).max() > 1.8 / math.sqrt(400)


def test_sample_returns_a_series_and_its_components(fitted):
    x, y = fitted.sample(600, random_state=5)
    assert x.shape == (600, 1) and y.shape == (600,) and set(y.tolist()) == {0}  # K = 1
    # a new series: the same draws as simulating one path from an empty history
    assert np.array_equal(x[:, 0], fitted.simulate(None, 600, 1, 5)[0])
    v = x[50:, 0]
    sd_of_mean = SIGMA / (1 - PHI) / math.sqrt(v.size)  # AR(1): long-run variance
    assert abs(v.mean() - LEVEL) < 4 * sd_of_mean
    vc = v - v.mean()
    assert (vc[1:] * vc[:-1]).mean() / vc.var() == pytest.approx(PHI, abs=0.1)


def test_test_data_never_reaches_the_fit(series):
    """Two series that differ only after the split give identical fits (no leakage)."""
    kwargs = {**SMALL, "n_steps": 20, "validation_fraction": 0.2, "eval_every": 5}
    a, b = series[:260].copy(), series[:260].copy()
    b[200:] = 1e3  # a wildly different test part
    fits = [
        evaluate_forecaster(CausalConvForecaster(**kwargs), s, 60, n_paths=20)
        for s in (Series("a", a), Series("b", b))
    ]
    models = [CausalConvForecaster(**kwargs).fit(s[:200]) for s in (a, b)]
    assert np.array_equal(models[0].loss_history_, models[1].loss_history_)
    assert np.array_equal(models[0].validation_history_, models[1].validation_history_)
    assert fits[0]["n_train"] == 200 and fits[0]["log_likelihood"] != fits[1]["log_likelihood"]
