"""Gaussian HMM: parameter recovery, simulation statistics, exact likelihood identities."""

from __future__ import annotations

import math

import numpy as np
import pytest

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
    paths, states = fitted.simulate(data, 400, 400, 1, return_states=True)
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
    assert fitted.score(test, history) == pytest.approx(fitted.score_samples(test, history).mean())
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
    with pytest.raises(ConfigError, match=r"\[T\]"):
        GaussianHMMForecaster(2).fit(np.zeros((10, 2)))
