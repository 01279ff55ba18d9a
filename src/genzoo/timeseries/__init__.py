"""Generative models of univariate time series, for simulation and planning.

* :mod:`~genzoo.timeseries.data`: four real series shipped with statsmodels and a CSV loader;
  chronological train/test splits.
* :class:`GaussianHMMForecaster` (a wrapper of hmmlearn's Gaussian HMM) and
  :class:`CausalConvForecaster` (dilated causal convolutions, PixelCNN in 1-D): scikit-learn
  style ``fit``; held-out ``log_likelihood(test, history)`` in nats, densities of the original
  series; ``simulate(history, horizon, n_paths, seed)`` → paths ``[n_paths, horizon]``.
* :mod:`~genzoo.timeseries.forecast`: CRPS from samples, quantile bands, evaluation, PNG plot.
"""

from genzoo.timeseries.causal_ar import CausalConvForecaster, CausalConvNet
from genzoo.timeseries.data import (
    Series,
    available_series,
    interpolate_gaps,
    load_csv_series,
    load_series,
    split_series,
)
from genzoo.timeseries.forecast import (
    crps_from_samples,
    crps_gaussian,
    evaluate_forecaster,
    plot_forecast,
    quantile_bands,
)
from genzoo.timeseries.hmm import GaussianHMMForecaster

__all__ = [
    "CausalConvForecaster",
    "CausalConvNet",
    "GaussianHMMForecaster",
    "Series",
    "available_series",
    "crps_from_samples",
    "crps_gaussian",
    "evaluate_forecaster",
    "interpolate_gaps",
    "load_csv_series",
    "load_series",
    "plot_forecast",
    "quantile_bands",
    "split_series",
]
