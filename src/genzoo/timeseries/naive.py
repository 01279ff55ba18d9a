"""Gaussian (seasonal) random walk with drift: the naive baseline of probabilistic forecasting.

Model (the naive, seasonal naive and drift methods of Hyndman & Athanasopoulos, *Forecasting:
Principles and Practice*, 3rd ed., §5.2, with Gaussian errors): for a season ``m >= 1``

    x_t = x_{t-m} + c + e_t,     e_t ~ N(0, s^2) independent,

``m = 1`` is a random walk (with drift ``c``), ``m = 12`` the seasonal random walk of monthly
data. Maximum likelihood gives ``c`` and ``s`` as the mean and standard deviation of the training
differences ``x_t - x_{t-m}``, which is exactly the standardisation of
:mod:`genzoo.timeseries.base` with ``difference = m``: on the standardised scale the model is
``z_t ~ N(0, 1)`` i.i.d., nothing is learned beyond ``mean_ = c`` and ``scale_ = s``. The first
``m`` values of a new series follow the base class's level Gaussian.

It is here for scale: a learned model that does not beat it on held-out log-likelihood and CRPS
has learned nothing useful about the series' dynamics.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from genzoo.core.params import Constraint, Int
from genzoo.timeseries.base import SeriesModel, register_forecaster

LOG_2PI = math.log(2.0 * math.pi)


@register_forecaster("naive")
class SeasonalRandomWalk(SeriesModel):
    """Gaussian (seasonal) random walk with drift: the naive baseline.

    Args:
        difference: the season ``m`` (1: random walk; 12: seasonal random walk of monthly data).

    Fitted attributes: ``drift_`` (``c``) and ``step_std_`` (``s``), in the units of the series;
    ``mean_``/``scale_`` (the same numbers: the standardisation), ``level_mean_``,
    ``level_scale_``, ``train_log_likelihood_``, ``n_train_``.
    """

    #: the season must be >= 1 (the base class allows 0, no differencing)
    params: ClassVar[dict[str, Constraint]] = {"difference": Int(min=1)}

    def __init__(self, difference: int = 1) -> None:
        self.difference = difference

    @property
    def drift_(self) -> float:
        self._check_fitted()
        return self.mean_

    @property
    def step_std_(self) -> float:
        self._check_fitted()
        return self.scale_

    def _fit_standardized(self, z: np.ndarray) -> None:
        pass  # the standardisation is the whole fit

    def _log_densities(self, z: np.ndarray, start: int) -> np.ndarray:
        return -0.5 * (LOG_2PI + z[start:] ** 2)

    def _moments(self, z: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
        n = z.shape[0] - start
        return np.zeros(n), np.ones(n)

    def _next_log_density(self, z: np.ndarray, v: np.ndarray) -> np.ndarray:
        return -0.5 * (LOG_2PI + v**2)

    def _simulate(
        self, z: np.ndarray, horizon: int, n_paths: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return rng.standard_normal((n_paths, horizon)), np.zeros((n_paths, horizon), np.int64)

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {}, {}

    def _restore(self, scalars: dict[str, Any], arrays: dict[str, torch.Tensor]) -> None:
        pass
