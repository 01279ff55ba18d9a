"""CRPS, quantile bands, forecaster evaluation and the PNG plot."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from PIL import Image

from genzoo.errors import ConfigError
from genzoo.timeseries import (
    GaussianHMMForecaster,
    Series,
    crps_from_samples,
    crps_gaussian,
    evaluate_forecaster,
    load_series,
    plot_forecast,
    quantile_bands,
)


def crps_by_integration(samples: np.ndarray, y: float) -> float:
    """``integral (F_n(t) - 1{y <= t})^2 dt``, exact for the piecewise-constant integrand."""
    knots = np.sort(np.append(samples, y))
    mids = 0.5 * (knots[1:] + knots[:-1])
    cdf = (samples[None, :] <= mids[:, None]).mean(1)
    step = (mids >= y).astype(float)
    return float(((cdf - step) ** 2 * np.diff(knots)).sum())


def test_sorting_and_pairwise_crps_agree_and_equal_the_integral():
    rng = np.random.default_rng(0)
    paths = rng.normal(size=(37, 6))
    paths[:5, 0] = paths[5, 0]  # ties
    truth = rng.normal(size=6)
    for estimator in ("fair", "empirical"):
        fast = crps_from_samples(paths, truth, estimator=estimator)
        slow = crps_from_samples(paths, truth, estimator=estimator, method="pairwise")
        assert fast == pytest.approx(slow, abs=1e-12)
    exact = [crps_by_integration(paths[:, h], truth[h]) for h in range(6)]
    assert fast == pytest.approx(exact, abs=1e-12)  # the empirical CRPS is the integral
    # the two differ by the mean pairwise distance over 2n: E|X - X'| / (2 n) on average
    gap = crps_from_samples(paths, truth, estimator="empirical") - crps_from_samples(paths, truth)
    pairwise = np.abs(paths[:, None] - paths[None]).sum((0, 1)) / (37 * 36)
    assert gap == pytest.approx(pairwise / (2 * 37), abs=1e-12)


def test_fair_crps_is_unbiased_for_few_paths():
    """Mean fair CRPS of 5-sample forecasts = closed-form CRPS; the empirical one is biased."""
    rng = np.random.default_rng(4)
    reps, n, s = 200_000, 5, 1.5
    truth = rng.normal(size=reps) * 2.0  # outcomes, scored against N(0, s^2) forecasts
    paths = s * rng.standard_normal((n, reps))
    exact = crps_gaussian(0.0, s, truth).mean()
    fair = crps_from_samples(paths, truth)
    se = fair.std() / math.sqrt(reps)
    assert abs(fair.mean() - exact) < 4 * se
    # negative control: the empirical form is high by E|X - X'| / (2n) = s / (sqrt(pi) n)
    empirical = crps_from_samples(paths, truth, estimator="empirical").mean()
    assert empirical - exact == pytest.approx(s / (math.sqrt(math.pi) * n), abs=5 * se)
    assert empirical - exact > 20 * se


def test_crps_approaches_the_gaussian_closed_form():
    mean, std = np.array([0.0, 1.0, -2.0, 5.0]), np.array([1.0, 0.5, 2.0, 3.0])
    truth = np.array([0.3, 2.5, -2.0, -1.0])
    closed = crps_gaussian(mean, std, truth)
    n = 20000
    # stratified "samples" (the normal quantiles at (i + 1/2) / n): error O(1/n)
    u = np.array([NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)])
    assert crps_from_samples(mean + std * u[:, None], truth) == pytest.approx(closed, rel=1e-3)
    # random samples: Monte Carlo error below 4 standard errors (sd of the estimate <= std/sqrt(n))
    paths = mean + std * np.random.default_rng(1).standard_normal((n, 4))
    assert np.all(np.abs(crps_from_samples(paths, truth) - closed) < 4 * std / math.sqrt(n))
    # negative control: the score tells a forecast with twice the scale apart
    wide = crps_from_samples(mean + 2 * std * u[:, None], truth)
    assert wide == pytest.approx(crps_gaussian(mean, 2 * std, truth), rel=1e-3)
    assert np.all(np.abs(wide - closed) > 0.05 * closed)
    # known value: CRPS(N(0, 1), 0) = 2 phi(0) - 1/sqrt(pi) = (sqrt(2) - 1) / sqrt(pi)
    assert crps_gaussian(0.0, 1.0, 0.0) == pytest.approx((math.sqrt(2) - 1) / math.sqrt(math.pi))


def test_degenerate_forecasts():
    truth = np.array([1.0, -2.0, 3.5])
    assert np.all(crps_from_samples(np.tile(truth, (50, 1)), truth) == 0.0)
    assert crps_from_samples(np.tile(truth + 0.5, (50, 1)), truth) == pytest.approx([0.5] * 3)
    with pytest.raises(ConfigError, match="horizon"):
        crps_from_samples(np.zeros((5, 2)), truth)
    with pytest.raises(ConfigError):
        crps_from_samples(np.zeros((5, 3)), truth, method="loop")
    with pytest.raises(ConfigError, match="estimator"):
        crps_from_samples(np.zeros((5, 3)), truth, estimator="nrg")
    with pytest.raises(ConfigError, match="at least 2"):
        crps_from_samples(np.zeros((1, 3)), truth)


def test_quantile_bands():
    paths = np.arange(101.0)[:, None] * np.array([1.0, 2.0])
    bands = quantile_bands(paths)
    assert bands.shape == (5, 2)
    assert bands[:, 0].tolist() == [5.0, 25.0, 50.0, 75.0, 95.0] and np.all(
        np.diff(bands, axis=0) > 0
    )
    with pytest.raises(ConfigError):
        quantile_bands(paths, (0.5, 1.5))


class IIDGaussian:
    """An exact forecaster of i.i.d. N(m, s^2) data, to test the evaluation's wiring."""

    def __init__(self, m: float, s: float) -> None:
        self.m, self.s = m, s
        self.seen: list[int] = []

    def fit(self, X, y=None):
        self.seen.append(len(X))
        return self

    def score_samples(self, X, history=None):
        return (
            -0.5 * math.log(2 * math.pi * self.s**2)
            - 0.5 * ((np.asarray(X) - self.m) / self.s) ** 2
        )

    def simulate(self, history, horizon, n_paths, seed):
        return self.m + self.s * np.random.default_rng(seed).standard_normal((n_paths, horizon))


def test_evaluation_of_an_exact_forecaster():
    rng = np.random.default_rng(2)
    values = 10.0 + 2.0 * rng.standard_normal(4000)
    model = IIDGaussian(10.0, 2.0)
    result = evaluate_forecaster(model, Series("iid", values), 3000, n_paths=400, seed=3)
    assert model.seen == [1000] and (result["n_train"], result["n_test"]) == (1000, 3000)
    expected = -0.5 * math.log(2 * math.pi * math.e * 4.0)
    assert result["log_likelihood_per_step"] == pytest.approx(expected, abs=0.05)
    assert result["log_likelihood"] == pytest.approx(3000 * result["log_likelihood_per_step"])
    assert result["coverage"] == pytest.approx({"50": 0.5, "90": 0.9}, abs=0.02)
    # mean CRPS of the true Gaussian: E_y CRPS(N(m, s^2), y) = s / sqrt(pi)
    assert result["crps_mean"] == pytest.approx(2.0 / math.sqrt(math.pi), rel=0.03)
    widths = {"50": 2 * 0.6745 * 2.0, "90": 2 * 1.6449 * 2.0}
    assert result["interval_width"] == pytest.approx(widths, rel=0.03)
    assert result["history_used"] is None


def test_evaluation_of_the_hmm_on_a_real_series():
    nile = load_series("nile")
    model = GaussianHMMForecaster(2, n_init=1)
    result = evaluate_forecaster(model, nile, 20, n_paths=100, seed=0)
    assert model.n_train_ == 80
    direct = model.log_likelihood(nile.values[80:], nile.values[:80])
    assert result["log_likelihood"] == pytest.approx(direct, abs=1e-9)
    paths = model.simulate(nile.values[:80], 20, 100, 0)
    assert result["crps_mean"] == pytest.approx(crps_from_samples(paths, nile.values[80:]).mean())


def test_plot_forecast_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    history = np.sin(np.arange(60) / 5)
    paths = np.sin(np.arange(60, 80) / 5) + 0.1 * rng.standard_normal((50, 20))
    out = plot_forecast(history, np.sin(np.arange(60, 80) / 5), paths, tmp_path / "f.png")
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape == (360, 800, 3)
    red = (image[..., 0] > 180) & (image[..., 1] < 80) & (image[..., 2] < 80)
    rgb = image.astype(int)
    band = (rgb[..., 2] > 200) & (rgb[..., 2] - rgb[..., 0] > 20) & (rgb[..., 0] > 120)
    assert red.sum() > 50 and band.sum() > 500
    # the forecast (bands, truth) is drawn in the last quarter of the time axis: 20 of 80 steps
    # (below the legend, which shows the same colours at the top left)
    plot = slice(int(0.2 * 360), None)
    red_cols, band_cols = np.flatnonzero(red[plot].any(0)), np.flatnonzero(band[plot].any(0))
    assert red_cols.min() > 0.6 * 800 and band_cols.min() > 0.6 * 800
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]  # written atomically
