"""Probabilistic forecasts from simulated paths: CRPS, quantile bands, evaluation, a PNG plot.

CRPS (continuous ranked probability score; Matheson & Winkler 1976, Gneiting & Raftery 2007,
eq. 21) of a predictive distribution ``F`` at the outcome ``y``, in the units of ``y`` (lower is
better):

    CRPS(F, y) = E|X - y| - 1/2 E|X - X'|,    X, X' ~ F independent.

From ``n`` simulated values ``x_1..x_n`` of ``F`` two estimators are offered:

* ``"fair"`` (the default; Ferro 2014, Zamo & Naveau 2018):
  ``(1/n) sum_i |x_i - y| - 1/(2 n (n-1)) sum_{i != j} |x_i - x_j|``, an *unbiased* estimate of
  ``CRPS(F, y)``: its expectation does not depend on ``n``, so scores from different numbers of
  paths compare;
* ``"empirical"``: the CRPS of the empirical distribution ``F_n`` of the samples,
  ``(1/n) sum_i |x_i - y| - 1/(2 n^2) sum_{i,j} |x_i - x_j| = integral (F_n(t) - 1{y <= t})^2 dt``,
  which exceeds the fair one by ``E|X - X'| / (2n)`` on average (biased up for finite ``n``).

The pairwise sum is ``O(n^2)``; sorted, ``sum_{i,j} |x_i - x_j| = 2 sum_i (2i - n - 1) x_(i)``
(1-based ranks), ``O(n log n)``; both are offered and tested equal. For a Gaussian,
``CRPS(N(m, s^2), y) = s [u (2 Phi(u) - 1) + 2 phi(u) - 1/sqrt(pi)]``, ``u = (y - m) / s``.

``evaluate_forecaster`` fits a model on the start of a series and scores it on the end: the
held-out log-likelihood ``log p(test | train)`` (one-step-ahead conditionals on the observed past;
see :mod:`genzoo.timeseries.base`), and the (fair) CRPS and central-interval coverage of
*multi-step* forecasts — paths simulated from the end of the training part over the whole test
segment.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy.special import ndtr

from genzoo.core.atomic import atomic_save
from genzoo.errors import ConfigError
from genzoo.timeseries.base import as_values
from genzoo.timeseries.data import Series, split_series

DEFAULT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
DEFAULT_LEVELS = (0.5, 0.9)
CRPS_ESTIMATORS = ("fair", "empirical")


class Forecaster(Protocol):
    """What :func:`evaluate_forecaster` needs (every time-series model provides it)."""

    def fit(self, X: Any, y: None = None) -> Any: ...

    def score_samples(self, X: Any, history: Any = None) -> np.ndarray: ...

    def simulate(
        self, history: Any, horizon: int, n_paths: int = ..., random_state: Any = ...
    ) -> Any: ...


def _paths_and_truth(paths: Any, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(paths, dtype=np.float64)
    y = as_values(truth, "truth")
    if x.ndim != 2 or x.shape[1] != y.shape[0] or x.shape[0] < 1:
        raise ConfigError(
            f"paths must be [n_paths, horizon] with horizon = len(truth) = {y.shape[0]}, got "
            f"{x.shape}"
        )
    return x, y


def crps_from_samples(
    paths: Any, truth: Any, *, estimator: str = "fair", method: str = "sort"
) -> np.ndarray:
    """CRPS of the forecast sampled by ``paths[:, h]`` at ``truth[h]``, per step.

    Args:
        paths: ``[n_paths, horizon]`` simulated values (``n_paths >= 2`` for ``"fair"``).
        truth: ``[horizon]`` outcomes.
        estimator: ``"fair"`` (unbiased for the sampled distribution) or ``"empirical"`` (the
            CRPS of the samples' empirical distribution); see the module docstring.
        method: ``"sort"`` (``O(n log n)``) or ``"pairwise"`` (``O(n^2)`` memory and time).

    Returns:
        ``float64 [horizon]``, in the units of ``truth``.
    """
    x, y = _paths_and_truth(paths, truth)
    n = x.shape[0]
    if estimator not in CRPS_ESTIMATORS:
        raise ConfigError(f"estimator must be one of {CRPS_ESTIMATORS}, got {estimator!r}")
    if estimator == "fair" and n < 2:
        raise ConfigError("the fair CRPS needs at least 2 paths; simulate more")
    spread = np.abs(x - y[None, :]).mean(0)
    if method == "sort":
        ranks = np.arange(1, n + 1, dtype=np.float64)[:, None]
        pair_sum = 2.0 * ((2.0 * ranks - n - 1.0) * np.sort(x, axis=0)).sum(0)
    elif method == "pairwise":
        pair_sum = np.abs(x[:, None, :] - x[None, :, :]).sum((0, 1))
    else:
        raise ConfigError(f"method must be 'sort' or 'pairwise', got {method!r}")
    pairs = n * (n - 1) if estimator == "fair" else n * n
    return spread - 0.5 * pair_sum / pairs


def crps_gaussian(mean: Any, std: Any, truth: Any) -> np.ndarray:
    """Closed-form CRPS of ``N(mean, std^2)`` at ``truth`` (broadcast arrays, ``std > 0``)."""
    m, s, y = (np.asarray(a, dtype=np.float64) for a in (mean, std, truth))
    u = (y - m) / s
    pdf = np.exp(-0.5 * u**2) / math.sqrt(2.0 * math.pi)
    return s * (u * (2.0 * ndtr(u) - 1.0) + 2.0 * pdf - 1.0 / math.sqrt(math.pi))


def quantile_bands(paths: Any, quantiles: Sequence[float] = DEFAULT_QUANTILES) -> np.ndarray:
    """Empirical quantiles of ``paths`` ``[n_paths, horizon]`` per step: ``[len(quantiles), H]``."""
    q = np.asarray(quantiles, dtype=np.float64)
    if q.ndim != 1 or ((q < 0) | (q > 1)).any():
        raise ConfigError(f"quantiles must be a list of numbers in [0, 1], got {quantiles}")
    return np.quantile(np.asarray(paths, dtype=np.float64), q, axis=0)


def level_key(level: float) -> str:
    """``0.9 -> "90"``: the key of a central interval in result dictionaries."""
    return f"{100 * level:g}"


def interval_coverage(
    paths: Any, truth: Any, levels: Sequence[float] = DEFAULT_LEVELS
) -> dict[str, dict[str, float]]:
    """Fraction of ``truth`` inside each central interval of ``paths``, and its mean width.

    The ``level`` interval runs from the ``(1 - level) / 2`` to the ``(1 + level) / 2`` empirical
    quantile of each step's paths. Returns ``{"coverage": {"50": .., "90": ..},
    "interval_width": {...}}`` (widths in the units of ``truth``); a calibrated forecast covers
    ``level`` of the outcomes.
    """
    x, y = _paths_and_truth(paths, truth)
    coverage, width = {}, {}
    for level in levels:
        if not 0.0 < float(level) < 1.0:
            raise ConfigError(f"interval levels must be in (0, 1), got {level}")
        lo, hi = quantile_bands(x, ((1.0 - level) / 2.0, (1.0 + level) / 2.0))
        coverage[level_key(level)] = float(((y >= lo) & (y <= hi)).mean())
        width[level_key(level)] = float((hi - lo).mean())
    return {"coverage": coverage, "interval_width": width}


def evaluate_forecaster(
    model: Forecaster,
    series: Series | Any,
    test_length: int,
    n_paths: int = 200,
    seed: int = 0,
    *,
    fit: bool = True,
    levels: Sequence[float] = DEFAULT_LEVELS,
) -> dict[str, Any]:
    """Fit ``model`` on all but the last ``test_length`` values and score it on them.

    Args:
        model: a time-series model (:class:`Forecaster`); fitted here on the training part
            unless ``fit=False`` (then it must have been fitted on exactly that part).
        series: a :class:`Series` or values ``[T]``.
        test_length: length ``H`` of the test segment at the end of the series.
        n_paths: simulated paths for the CRPS and the intervals.
        seed: seed passed to ``model.simulate``.
        levels: central probabilities of the intervals whose coverage is reported.

    Returns:
        ``{"n_train", "n_test", "log_likelihood" (nats, total), "log_likelihood_per_step"
        (nats per step), "crps_mean" (fair CRPS, units of the series), "crps_per_step" [H],
        "coverage" {"50": .., "90": ..}, "interval_width" {...}, "n_paths", "seed",
        "history_used"}``; ``history_used`` is the number of past values the likelihood can
        condition on (``None``: all of them).
    """
    if not isinstance(series, Series):
        series = Series("series", as_values(series))
    train, test = split_series(series, test_length=test_length)
    if fit:
        model.fit(train.values)
    elif getattr(model, "n_train_", len(train)) != len(train):
        raise ConfigError(
            f"the model was fitted on {model.n_train_} values, but the training part here has "
            f"{len(train)}; pass the split it was fitted on, or fit=True"
        )
    per_step = model.score_samples(test.values, history=train.values)
    paths = model.simulate(train.values, len(test), n_paths, seed)
    crps = crps_from_samples(paths, test.values)
    receptive = getattr(model, "receptive_field_", None)
    if receptive is not None:
        receptive += getattr(model, "difference", 0)
    return {
        "n_train": len(train),
        "n_test": len(test),
        "log_likelihood": float(per_step.sum()),
        "log_likelihood_per_step": float(per_step.mean()),
        "crps_mean": float(crps.mean()),
        "crps_per_step": crps,
        **interval_coverage(paths, test.values, levels),
        "n_paths": int(n_paths),
        "seed": int(seed),
        "history_used": None if receptive is None else min(int(receptive), len(train)),
    }


def plot_forecast(
    history: Any,
    truth: Any,
    paths: Any,
    path: str | os.PathLike[str],
    *,
    history_shown: int | None = 100,
    size: tuple[int, int] = (800, 360),
    title: str = "",
    start: int = 0,
    value_label: str = "value",
) -> Path:
    """Draw the observed history (black), the truth (red), the median forecast (blue) and its
    50 % / 90 % bands as a PNG (matplotlib), with a time axis, a value axis and a legend.

    Args:
        history: ``[T]`` values before the forecast; the last ``history_shown`` are drawn.
        truth: ``[H]`` outcomes (may be empty: ``[]``), paths ``[n_paths, H]``.
        path: output file. Returns it as a ``Path``.
        title: the figure's title.
        start: the time index of the first history value drawn (the axis counts from it).
        value_label: the value axis' label (with its unit, e.g. ``"flow (10^8 m^3)"``).

    When every observed value is non-negative (counts, flows), the bands are clipped at 0: the
    series' support, which a Gaussian model's paths may leave.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    h_vals = as_values(history, "history")
    if history_shown is not None:
        h_vals = h_vals[-int(history_shown) :]
    x = np.asarray(paths, dtype=np.float64)
    if x.ndim != 2:
        raise ConfigError(f"paths must be [n_paths, horizon], got {x.shape}")
    y = np.asarray(truth, dtype=np.float64).reshape(-1)
    bands = quantile_bands(x)  # 5, 25, 50, 75, 95 %
    observed = np.concatenate([h_vals, y])
    if observed.size and observed.min() >= 0:
        bands = np.clip(bands, 0.0, None)
    t_hist = start + np.arange(h_vals.shape[0])
    t_future = start + h_vals.shape[0] + np.arange(x.shape[1])
    width, height = size
    dpi = 100
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="white")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.fill_between(t_future, bands[0], bands[4], color=(200 / 255, 215 / 255, 240 / 255),
                    lw=0, label="90 % band")  # fmt: skip
    ax.fill_between(t_future, bands[1], bands[3], color=(140 / 255, 170 / 255, 225 / 255),
                    lw=0, label="50 % band")  # fmt: skip
    ax.plot(t_future, bands[2], color=(30 / 255, 60 / 255, 200 / 255), lw=2, label="median")
    ax.plot(t_hist, h_vals, color="black", lw=2, label="observed")
    if y.shape[0]:
        ax.plot(t_future[: y.shape[0]], y, color=(210 / 255, 30 / 255, 30 / 255), lw=2,
                label="held-out truth")  # fmt: skip
    ax.axvline(start + h_vals.shape[0] - 0.5, color="0.6", lw=1, ls="--")
    ax.set_xlabel("time step")
    ax.set_ylabel(value_label)
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small", frameon=False, ncols=5)
    ax.margins(x=0.01)
    figure.tight_layout()

    def write(handle: Any) -> None:
        figure.savefig(handle, format="png", dpi=dpi)

    return atomic_save(path, write)
