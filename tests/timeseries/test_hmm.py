"""Gaussian HMM: parameter recovery, simulation statistics, exact likelihood identities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genzoo.errors import ConfigError, DatasetError, ModelError
from genzoo.timeseries import GaussianHMMForecaster

PI = np.array([0.5, 0.5])
A = np.array([[0.95, 0.05], [0.10, 0.90]])
MU = np.array([-1.0, 2.0])
SIGMA = np.array([0.5, 1.0])


def sample_hmm(t: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    states = np.empty(t, dtype=np.int64)
    states[0] = rng.choice(2, p=PI)
    for i in range(1, t):
        states[i] = rng.choice(2, p=A[states[i - 1]])
    return MU[states] + SIGMA[states] * rng.standard_normal(t), states


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return sample_hmm(3000, seed=0)[0]


@pytest.fixture(scope="module")
def fitted(data) -> GaussianHMMForecaster:
    return GaussianHMMForecaster(2, n_init=2, random_state=0).fit(data)


def stationary(transmat: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eig(transmat.T)
    p = np.real(v[:, np.argmin(np.abs(w - 1.0))])
    return p / p.sum()


def test_recovers_the_true_parameters(fitted):
    order = np.argsort(fitted.means_)  # labels are arbitrary: sort states by mean
    assert fitted.means_[order] == pytest.approx(MU, abs=0.08)
    assert fitted.variances_[order] == pytest.approx(SIGMA**2, rel=0.12)
    assert fitted.transmat_[np.ix_(order, order)] == pytest.approx(A, abs=0.03)
    assert fitted.n_train_ == 3000 and fitted.converged_


def test_simulated_paths_match_the_implied_statistics(fitted, data):
    paths, states = fitted.simulate(data, 400, 400, 1, return_labels=True)
    assert paths.shape == states.shape == (400, 400)
    x, s = paths[:, 100:], states[:, 100:]  # 0.85^100 ~ 1e-7: the chain has forgotten its start
    mu, var, p = fitted.means_, fitted.variances_, stationary(fitted.transmat_)
    mean = p @ mu
    variance = p @ (var + mu**2) - mean**2
    lag1 = (p[:, None] * fitted.transmat_ * np.outer(mu, mu)).sum() - mean**2
    assert x.mean() == pytest.approx(mean, abs=0.06)
    assert x.var() == pytest.approx(variance, rel=0.05)
    xc = x - x.mean()
    rho = (xc[:, 1:] * xc[:, :-1]).mean() / xc.var()
    assert rho == pytest.approx(lag1 / variance, abs=0.02)
    assert np.bincount(s.ravel(), minlength=2) / s.size == pytest.approx(p, abs=0.03)


def test_simulation_starts_from_the_filtered_state(fitted, data):
    history = np.concatenate([data, np.full(5, fitted.means_.max())])  # surely the high state
    f = fitted.filter_states(history)
    assert f.max() > 0.99
    paths = fitted.simulate(history, 5, 20000, np.random.default_rng(2))
    exact = np.array(
        [f @ np.linalg.matrix_power(fitted.transmat_, h) @ fitted.means_ for h in (1, 2, 3, 4, 5)]
    )
    sd = paths.std(0) / math.sqrt(paths.shape[0])
    assert np.all(np.abs(paths.mean(0) - exact) < 4 * sd)
    # negative control: starting from the stationary distribution would be far off
    assert abs(exact[0] - stationary(fitted.transmat_) @ fitted.means_) > 50 * sd[0]
    mean, std = fitted.predictive_moments([0.0], history)
    assert mean[0] == pytest.approx(exact[0], abs=1e-10)
    assert std[0] == pytest.approx(paths[:, 0].std(), rel=0.03)


def test_held_out_log_likelihood_is_a_difference_of_hmmlearn_scores(fitted, data):
    history, test = data[:2500], data[2500:]
    z = (data - fitted.mean_) / fitted.scale_
    direct = fitted.hmm_.score(z[:, None]) - fitted.hmm_.score(z[:2500, None])
    jacobian = -len(test) * math.log(fitted.scale_)
    assert fitted.log_likelihood(test, history) == pytest.approx(direct + jacobian, abs=1e-7)
    assert fitted.score_samples(test, history).sum() == pytest.approx(direct + jacobian, abs=1e-7)
    score = fitted.score(test, history=history)
    assert score == pytest.approx(fitted.score_samples(test, history).mean())
    with pytest.raises(ConfigError, match="history="):
        fitted.score(test, history)  # y is not the history: refuse instead of ignoring it
    whole = fitted.hmm_.score(z[:, None]) - len(data) * math.log(fitted.scale_)
    assert fitted.log_likelihood(data) == pytest.approx(whole, abs=1e-7)
    assert fitted.train_log_likelihood_ == pytest.approx(whole, abs=1e-7)
    # conditioning matters: without the history the first test steps are predicted from pi
    assert abs(fitted.log_likelihood(test) - fitted.log_likelihood(test, history)) > 1e-3


def test_scaling_the_data_shifts_the_log_likelihood_by_the_jacobian(data):
    x = data[:600]
    base = GaussianHMMForecaster(2, n_init=1).fit(x[:500])
    ll = base.log_likelihood(x[500:], x[:500])
    for c in (4.0, 0.25):  # powers of two: the standardised data are bitwise identical
        scaled = GaussianHMMForecaster(2, n_init=1).fit(c * x[:500])
        shifted = scaled.log_likelihood(c * x[500:], c * x[:500])
        assert shifted - ll == pytest.approx(-100 * math.log(c), abs=1e-9)
    scaled = GaussianHMMForecaster(2, n_init=1).fit(3.0 * x[:500] + 7.0)
    shifted = scaled.log_likelihood(3.0 * x[500:] + 7.0, 3.0 * x[:500] + 7.0)
    assert shifted - ll == pytest.approx(-100 * math.log(3.0), abs=1e-6)


def test_one_step_density_integrates_to_one_in_original_units(data):
    x = 50.0 * data[:300] + 1000.0  # a missing Jacobian would integrate to 50
    model = GaussianHMMForecaster(2, n_init=1).fit(x)
    mean, std = model.predictive_moments([0.0], x)
    grid = np.linspace(mean[0] - 12 * std[0], mean[0] + 12 * std[0], 4001)
    density = np.exp(model.predictive_log_density(grid, x))
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-6)
    assert np.trapezoid(grid * density, grid) == pytest.approx(mean[0], rel=1e-6)
    v = grid[1234]
    assert model.score_samples([v], x)[0] == pytest.approx(math.log(density[1234]), abs=1e-9)


def test_sample_statistics_match_the_parameters(fitted):
    x, states = fitted.sample(20000, random_state=4)
    assert x.shape == (20000, 1) and states.shape == (20000,)
    x = x[:, 0]
    for k in range(2):  # each state's emissions follow its Gaussian
        v = x[states == k]
        assert v.mean() == pytest.approx(fitted.means_[k], abs=4 * v.std() / math.sqrt(v.size))
        assert v.var() == pytest.approx(fitted.variances_[k], rel=0.05)
    p = stationary(fitted.transmat_)
    assert np.bincount(states, minlength=2) / states.size == pytest.approx(p, abs=0.03)
    pairs = np.zeros((2, 2))
    np.add.at(pairs, (states[:-1], states[1:]), 1)
    assert pairs / pairs.sum(1, keepdims=True) == pytest.approx(fitted.transmat_, abs=0.01)
    # the first state follows pi: over many short samples
    firsts = [fitted.sample(1, random_state=s)[1][0] for s in range(2000)]
    assert np.mean(firsts) == pytest.approx(fitted.startprob_[1], abs=0.035)
    assert np.array_equal(fitted.sample(50, random_state=4)[0], fitted.sample(50, 4)[0])


def test_differenced_model_is_the_model_of_the_differences(data):
    """``difference=1`` on a series = the plain model on its increments, exactly."""
    walk = np.cumsum(data[:800]) + 100.0  # a random walk with HMM increments
    on_levels = GaussianHMMForecaster(2, n_init=1, difference=1).fit(walk[:600])
    on_steps = GaussianHMMForecaster(2, n_init=1).fit(np.diff(walk[:600]))
    assert on_levels.means_ == pytest.approx(on_steps.means_, abs=1e-12)
    steps = np.diff(walk)
    assert on_levels.score_samples(walk[600:], walk[:600]) == pytest.approx(
        on_steps.score_samples(steps[599:], steps[:599]), abs=1e-9
    )
    # the first value of a new series has no lag: the Gaussian of the training values
    first = on_levels.score_samples(walk[:1])[0]
    expected = -0.5 * math.log(2 * math.pi * walk[:600].var()) - 0.5 * (
        (walk[0] - walk[:600].mean()) ** 2 / walk[:600].var()
    )
    assert first == pytest.approx(expected, abs=1e-12)
    # simulated futures integrate simulated increments from the last value, same draws
    paths = on_levels.simulate(walk[:600], 10, 7, 3)
    increments = on_steps.simulate(steps[:599], 10, 7, 3)
    assert paths == pytest.approx(walk[599] + np.cumsum(increments, axis=1), abs=1e-9)


def test_fixed_seeds_are_deterministic(data):
    a = GaussianHMMForecaster(3, random_state=1).fit(data[:500])
    b = GaussianHMMForecaster(3, random_state=1).fit(data[:500])
    assert np.array_equal(a.transmat_, b.transmat_) and np.array_equal(a.means_, b.means_)
    assert np.array_equal(a.simulate(data, 5, 4, 9), b.simulate(data, 5, 4, 9))
    assert not np.array_equal(a.simulate(data, 5, 4, 9), a.simulate(data, 5, 4, 10))


def test_forward_pass_survives_a_value_far_from_every_likely_state():
    """Scaled forward pass: all predicted mass on a state 5,000 nats less likely than another."""
    model = GaussianHMMForecaster(2, n_init=1).fit(sample_hmm(200, seed=3)[0])
    model._set_parameters([1.0, 0.0], np.eye(2), [0.0, 100.0], [1.0, 1.0])
    z = np.array([100.0, 0.5])
    exact = -0.5 * math.log(2 * math.pi) - 0.5 * z**2  # the chain stays in state 0
    assert model._log_densities(z, 0) == pytest.approx(exact, abs=1e-9)
    assert model._forward(z)[1].tolist() == [[1.0, 0.0], [1.0, 0.0]]


def test_errors():
    with pytest.raises(ModelError, match="fit"):
        GaussianHMMForecaster(2).score(np.zeros(5))
    with pytest.raises(ConfigError, match="covariance_type"):
        GaussianHMMForecaster(2, covariance_type="diagonal").fit(np.arange(20.0))
    with pytest.raises(ConfigError, match="n_states"):
        GaussianHMMForecaster(0).fit(np.arange(20.0))
    with pytest.raises(DatasetError, match="constant"):
        GaussianHMMForecaster(2).fit(np.ones(20))
    with pytest.raises(DatasetError, match="at least 5"):
        GaussianHMMForecaster(2).fit(np.arange(4.0))
    with pytest.raises(ConfigError, match="numpy"):
        GaussianHMMForecaster(2).fit(np.arange(20.0)).simulate(None, 3, 2, torch.Generator())
    with pytest.raises(ConfigError, match=r"\[T\]"):
        GaussianHMMForecaster(2).fit(np.zeros((10, 2)))
