"""What every time-series model shares: input checks, standardisation, and the likelihood's units.

A model is fitted on a standardised copy ``z = (x - mean_) / scale_`` of its training series
(``mean_``/``scale_`` from the training part only) and works in ``z`` internally. Densities are
reported for the *original* series: with ``x_t = mean_ + scale_ * z_t`` the change of variables
gives, per step,

    log p(x_t | x_<t) = log p_z(z_t | z_<t) - log scale_,

so a held-out log-likelihood of ``T`` steps carries the Jacobian ``-T log scale_`` (nats).

Held-out log-likelihood, the quantity every model reports:

    log p(test | history) = log p(history, test) - log p(history)
                          = sum_t log p(test_t | history, test_<t),

the predictive log-likelihood of the test segment given everything before it (one-step-ahead
predictions chained by the product rule, each conditioned on the *observed* past). Models differ
only in how much of ``history`` they can use (the HMM: all of it, through the filtered state; a
causal convolution: its receptive field).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from genzoo.errors import ConfigError, DatasetError, ModelError
from genzoo.timeseries.data import Series

ParamTable = dict[str, tuple[Callable[[Any], bool], str]]


def as_values(x: Any, what: str = "X") -> np.ndarray:
    """``x`` (a :class:`Series`, array ``[T]`` or ``[T, 1]``, tensor or list) as float64 ``[T]``."""
    if isinstance(x, Series):
        return np.asarray(x.values, dtype=np.float64)
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    values = np.asarray(x, dtype=np.float64)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ConfigError(f"{what} must be a univariate series [T] or [T, 1], got {values.shape}")
    if not np.isfinite(values).all():
        raise DatasetError(f"{what} contains NaN or inf; fill the gaps first (interpolate_gaps)")
    return values


class SeriesModel:
    """Base class: scikit-learn style ``fit``, held-out likelihoods and simulation.

    Subclasses define ``_PARAMS`` (parameter name → (check, what it must be)) and the hooks
    ``_fit_standardized``, ``_log_densities`` and ``_moments`` (all on the standardised scale).
    Fitted attributes end in ``_``; ``mean_`` and ``scale_`` are the standardisation.
    """

    _PARAMS: ClassVar[ParamTable] = {}
    min_train_length = 3

    # -- parameters --------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (the model's configuration)."""
        return {name: getattr(self, name) for name in self._PARAMS}

    def _validate_params(self) -> None:
        for name, (check, requirement) in self._PARAMS.items():
            value = getattr(self, name)
            try:
                ok = bool(check(value))
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ConfigError(
                    f"{type(self).__name__}: {name}={value!r} is invalid; it must be {requirement}"
                )

    def _check_fitted(self) -> None:
        if not hasattr(self, "scale_"):
            raise ModelError(f"this {type(self).__name__} is not fitted yet; call fit(X) first")

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X: Any, y: None = None) -> SeriesModel:
        """Fit on the training series ``X`` ``[T]`` (or ``[T, 1]``, or a :class:`Series`).

        ``y`` is ignored (scikit-learn convention). Returns ``self``.
        """
        self._validate_params()
        x = as_values(X)
        if x.shape[0] < self.min_train_length:
            raise DatasetError(
                f"{type(self).__name__} needs at least {self.min_train_length} training values, "
                f"got {x.shape[0]}; use a longer series or a shorter test part"
            )
        scale = float(x.std())
        if not scale > 0.0:
            raise DatasetError("the training series is constant; there is nothing to model")
        self.mean_ = float(x.mean())
        self.scale_ = scale
        self.n_train_ = int(x.shape[0])
        self._fit_standardized(self._standardize(x))
        return self

    def _standardize(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean_) / self.scale_

    def _joined(self, X: Any, history: Any) -> tuple[np.ndarray, int]:
        """Standardised ``history`` + ``X`` and the index where ``X`` starts."""
        self._check_fitted()
        x = as_values(X)
        h = np.empty(0) if history is None else as_values(history, "history")
        return self._standardize(np.concatenate([h, x])), int(h.shape[0])

    # -- likelihoods -------------------------------------------------------------------------
    def score_samples(self, X: Any, history: Any = None) -> np.ndarray:
        """Per-step ``log p(x_t | history, x_<t)`` of ``X`` ``[T]``, nats, original units: ``[T]``.

        ``history``: the observed values before ``X`` (``None``: ``X`` starts the series).
        """
        z, start = self._joined(X, history)
        return self._log_densities(z, start) - math.log(self.scale_)

    def log_likelihood(self, X: Any, history: Any = None) -> float:
        """``log p(X | history)`` in nats: the sum of :meth:`score_samples`."""
        return float(self.score_samples(X, history).sum())

    def score(self, X: Any, history: Any = None) -> float:
        """Mean per-step held-out log-likelihood (nats per step): the mean of ``score_samples``."""
        return float(self.score_samples(X, history).mean())

    def predictive_moments(self, X: Any, history: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """One-step-ahead predictive mean and standard deviation of each ``x_t`` given ``x_<t``.

        Returns ``(mean [T], std [T])`` in original units for the steps of ``X``.
        """
        z, start = self._joined(X, history)
        mean, std = self._moments(z, start)
        return self.mean_ + self.scale_ * mean, self.scale_ * std

    def predictive_log_density(self, values: Any, history: Any = None) -> np.ndarray:
        """``log p(x_{T} = v | history)`` for each candidate ``v`` of ``values`` ``[M]``: ``[M]``.

        The one-step-ahead predictive density of the value right after ``history`` ``[T]``
        (``None``: the first value of a series), in nats and original units; for one ``v`` it
        equals ``score_samples([v], history)[0]``.
        """
        self._check_fitted()
        z = self._standardize(np.empty(0) if history is None else as_values(history, "history"))
        v = self._standardize(as_values(values, "values"))
        return self._next_log_density(z, v) - math.log(self.scale_)

    def _simulation_inputs(self, history: Any, horizon: int, n_paths: int) -> np.ndarray:
        self._check_fitted()
        if int(horizon) < 1 or int(n_paths) < 1:
            raise ConfigError(f"horizon and n_paths must be >= 1, got {horizon} and {n_paths}")
        h = np.empty(0) if history is None else as_values(history, "history")
        return self._standardize(h)

    def _unstandardize(self, z: np.ndarray) -> np.ndarray:
        return self.mean_ + self.scale_ * z

    # -- hooks ---------------------------------------------------------------------------------
    def _fit_standardized(self, z: np.ndarray) -> None:
        raise NotImplementedError

    def _log_densities(self, z: np.ndarray, start: int) -> np.ndarray:
        """``log p(z_t | z_<t)`` for ``t = start .. T-1`` (standardised scale): ``[T - start]``."""
        raise NotImplementedError

    def _moments(self, z: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and std of ``z_t`` given ``z_<t`` for ``t = start .. T-1``."""
        raise NotImplementedError

    def _next_log_density(self, z: np.ndarray, v: np.ndarray) -> np.ndarray:
        """``log p(z_T = v_m | z_0..z_{T-1})`` for each candidate ``v_m``: ``[M]``."""
        raise NotImplementedError
