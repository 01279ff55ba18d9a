"""The Gaussian (seasonal) random walk baseline: exact likelihood and sample statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genzoo.errors import ConfigError
from genzoo.timeseries import SeasonalRandomWalk


def normal_log_pdf(x, m, s):
    return -0.5 * math.log(2 * math.pi * s**2) - 0.5 * ((x - m) / s) ** 2


@pytest.fixture(scope="module")
def walk() -> np.ndarray:
    rng = np.random.default_rng(0)
    return 50.0 + np.cumsum(0.3 + 2.0 * rng.standard_normal(3000))


def test_log_likelihood_is_the_random_walk_density(walk):
    model = SeasonalRandomWalk(1).fit(walk[:2000])
    steps = np.diff(walk[:2000])
    assert (model.drift_, model.step_std_) == pytest.approx((steps.mean(), steps.std()))
    expected = normal_log_pdf(walk[2000:], walk[1999:-1] + model.drift_, model.step_std_)
    assert model.score_samples(walk[2000:], walk[:2000]) == pytest.approx(expected, abs=1e-10)
    # negative control: a model of the wrong season scores the same data far worse
    assert (
        model.score(walk[2000:], history=walk[:2000])
        > SeasonalRandomWalk(12).fit(walk[:2000]).score(walk[2000:], history=walk[:2000]) + 0.5
    )


def test_seasonal_sample_statistics_match_the_parameters():
    t = np.arange(1200)
    rng = np.random.default_rng(1)
    x = 10 * np.sin(2 * np.pi * t / 12) + np.cumsum(rng.standard_normal(1200))
    model = SeasonalRandomWalk(12).fit(x)
    sample, labels = model.sample(6000, random_state=2)
    steps = sample[12:, 0] - sample[:-12, 0]
    assert steps.mean() == pytest.approx(model.drift_, abs=4 * model.step_std_ / math.sqrt(5988))
    assert steps.std() == pytest.approx(model.step_std_, rel=0.03)
    assert labels[:12].tolist() == [-1] * 12 and set(labels[12:].tolist()) == {0}
    paths = model.simulate(x, 24, 4000, 3)  # h steps ahead: x_{T+h-12k} + k drifts, k s^2
    k = np.arange(24) // 12 + 1
    lagged = x[-12:][np.arange(24) % 12]
    assert paths.mean(0) == pytest.approx(lagged + k * model.drift_, abs=0.15 * model.step_std_)
    assert paths.std(0) == pytest.approx(np.sqrt(k) * model.step_std_, rel=0.06)


def test_errors():
    with pytest.raises(ConfigError, match="difference"):
        SeasonalRandomWalk(0).fit(np.arange(30.0) ** 2)
