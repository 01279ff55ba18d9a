"""Generative models of univariate time series, for simulation and planning.

* :mod:`~genzoo.timeseries.data`: four real series shipped with statsmodels and a CSV loader;
  chronological train/test splits.
* :class:`GaussianHMMForecaster` (``"hmm"``, a wrapper of hmmlearn's Gaussian HMM),
  :class:`CausalConvForecaster` (``"causal_ar"``, dilated causal convolutions: PixelCNN in 1-D)
  and the baseline :class:`SeasonalRandomWalk` (``"naive"``): scikit-learn style ``fit``,
  ``score_samples``/``score`` (held-out log-likelihood in nats, densities of the original
  series), ``sample(n, random_state) -> (X, y)``, and ``simulate(history, horizon, n_paths,
  random_state)`` → paths ``[n_paths, horizon]``; ``save(dir)`` / :func:`load_forecaster`.
* :mod:`~genzoo.timeseries.forecast`: CRPS from samples (fair and empirical), quantile bands,
  interval coverage, evaluation, PNG plot.
"""

from genzoo.timeseries.base import (
    FORECASTERS,
    SeriesModel,
    create_forecaster,
    load_forecaster,
    register_forecaster,
)
from genzoo.timeseries.causal_ar import CausalConvForecaster, CausalConvNet
from genzoo.timeseries.data import (
    Series,
    available_series,
    interpolate_gaps,
    load_csv_series,
    load_series,
    series_from_spec,
    split_series,
)
from genzoo.timeseries.forecast import (
    crps_from_samples,
    crps_gaussian,
    evaluate_forecaster,
    interval_coverage,
    plot_forecast,
    quantile_bands,
)
from genzoo.timeseries.hmm import GaussianHMMForecaster
from genzoo.timeseries.naive import SeasonalRandomWalk

__all__ = [
    "FORECASTERS",
    "CausalConvForecaster",
    "CausalConvNet",
    "GaussianHMMForecaster",
    "SeasonalRandomWalk",
    "Series",
    "SeriesModel",
    "available_series",
    "create_forecaster",
    "crps_from_samples",
    "crps_gaussian",
    "evaluate_forecaster",
    "interpolate_gaps",
    "interval_coverage",
    "load_csv_series",
    "load_forecaster",
    "load_series",
    "plot_forecast",
    "quantile_bands",
    "register_forecaster",
    "series_from_spec",
    "split_series",
]
