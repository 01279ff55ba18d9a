"""Run directories of time-series models: what ``genzoo series fit/eval/simulate`` read and write.

A run directory holds

* ``config.json`` + ``model.safetensors``: the fitted model (:meth:`SeriesModel.save`);
* ``series.json``: the whole series (values, name, unit, ...), how it was named (``spec``) and
  ``test_length``, the held-out end the model never saw — so evaluation and plots use exactly
  the data of the fit, even if a CSV file changes later;
* ``metrics.json``: the last evaluation (:func:`evaluate_run`).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from genzoo.core.atomic import atomic_write, atomic_write_json
from genzoo.core.run import RunFolder
from genzoo.errors import ConfigError, DatasetError, ModelError
from genzoo.timeseries.base import SeriesModel, create_forecaster, load_forecaster
from genzoo.timeseries.data import Series, series_from_spec, split_series
from genzoo.timeseries.forecast import DEFAULT_QUANTILES, evaluate_forecaster, quantile_bands

SERIES_NAME = "series.json"
METRICS_NAME = RunFolder.METRICS_JSON
DEFAULT_TEST_FRACTION = 0.1


def _write_json(path: Path, payload: dict[str, Any]) -> Path:
    """``payload`` as indented JSON, atomically, keys in the order given."""
    return atomic_write_json(path, payload, sort_keys=False)


def held_out_length(
    series: Series, test_length: int | None = None, test_fraction: float | None = None
) -> int:
    """The held-out length: ``test_length``, or ``round(test_fraction * T)`` (default 10%)."""
    if test_length is not None and test_fraction is not None:
        raise ConfigError("give --test-length or --test-fraction, not both")
    if test_length is None:
        fraction = DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"the test fraction must be in (0, 1), got {fraction}")
        test_length = max(1, round(fraction * len(series)))
    split_series(series, test_length=test_length)  # validates 0 < n < T
    return int(test_length)


def fit_run(
    model: str | SeriesModel,
    spec: str,
    out: str | os.PathLike[str],
    *,
    test_length: int | None = None,
    test_fraction: float | None = None,
    csv_options: dict[str, Any] | None = None,
    **params: Any,
) -> tuple[SeriesModel, Series, int]:
    """Fit ``model`` (a name and its ``params``, or an unfitted model) on the training part.

    The series ``spec`` (``"nile"``, ``"csv:PATH[:COLUMN]"``) is split chronologically; the model
    sees only the first ``T - test_length`` values. Writes the run directory ``out`` (see the
    module docstring) and returns ``(fitted model, whole series, test_length)``.
    """
    series = series_from_spec(spec, **(csv_options or {}))
    n_test = held_out_length(series, test_length, test_fraction)
    if isinstance(model, str):
        model = create_forecaster(model, **params)
    elif params:
        raise ConfigError("pass hyper-parameters either to the model or to fit_run, not both")
    train, _ = split_series(series, test_length=n_test)
    model.fit(train.values)
    directory = Path(out)
    model.save(directory)
    payload = {"spec": spec, "test_length": n_test, "series": series.to_dict()}
    _write_json(directory / SERIES_NAME, payload)
    return model, series, n_test


def load_run(run_dir: str | os.PathLike[str]) -> tuple[SeriesModel, Series, int, str]:
    """``(model, whole series, test_length, spec)`` of a run directory of :func:`fit_run`."""
    directory = Path(run_dir)
    model = load_forecaster(directory)
    series_file = directory / SERIES_NAME
    if not series_file.is_file():
        raise ModelError(
            f"{directory} has no {SERIES_NAME}; it was not written by `genzoo series fit`"
        )
    try:
        payload = json.loads(series_file.read_text())
        series = Series.from_dict(payload["series"])
        test_length, spec = int(payload["test_length"]), str(payload["spec"])
    except (ValueError, KeyError, TypeError, DatasetError) as err:
        raise ModelError(f"{series_file} is not a valid saved series: {err}") from None
    return model, series, test_length, spec


def evaluate_run(
    run_dir: str | os.PathLike[str], *, n_paths: int = 200, seed: int = 0
) -> dict[str, Any]:
    """Score a run's model on its held-out end and write ``metrics.json``; returns the metrics.

    Keys: those of :func:`~genzoo.timeseries.forecast.evaluate_forecaster` (``crps_per_step``
    as a list) plus ``model``, ``series``, ``unit``, ``spec``, ``crps_estimator``.
    """
    model, series, test_length, spec = load_run(run_dir)
    result = evaluate_forecaster(model, series, test_length, n_paths, seed, fit=False)
    metrics = {
        "model": model.name,
        "params": model.get_params(),
        "series": series.name,
        "unit": series.unit,
        "spec": spec,
        "crps_estimator": "fair",
        **result,
        "crps_per_step": [float(v) for v in result["crps_per_step"]],
    }
    _write_json(Path(run_dir) / METRICS_NAME, metrics)
    return metrics


def simulate_run(
    run_dir: str | os.PathLike[str],
    *,
    horizon: int | None = None,
    n_paths: int = 200,
    seed: int = 0,
    history: str = "all",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate futures of a run's series: ``(history values [T], truth [<= H], paths [N, H])``.

    ``history="all"``: from the end of the whole series (its real, unknown future; ``truth``
    is empty); ``"train"``: from the end of the training part, so ``truth`` is the held-out
    values that the horizon covers. ``horizon`` defaults to the test length.
    """
    model, series, test_length, _ = load_run(run_dir)
    if history not in ("all", "train"):
        raise ConfigError(f"history must be 'all' or 'train', got {history!r}")
    horizon = test_length if horizon is None else horizon
    if history == "all":
        past, truth = series.values, np.empty(0)
    else:
        train, test = split_series(series, test_length=test_length)
        past, truth = train.values, test.values[:horizon]
    paths = model.simulate(past, horizon, n_paths, seed)
    return past, truth, paths


def write_paths_csv(
    path: str | os.PathLike[str], paths: np.ndarray, quantiles: tuple = DEFAULT_QUANTILES
) -> Path:
    """CSV with one row per future step: ``step``, the quantile bands, then every path."""
    bands = quantile_bands(paths, quantiles)
    header = ["step"] + [f"q{100 * q:g}" for q in quantiles]
    header += [f"path_{i}" for i in range(paths.shape[0])]
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(header)
    for h in range(paths.shape[1]):
        values = [*bands[:, h].tolist(), *paths[:, h].tolist()]
        writer.writerow([h + 1, *map(repr, values)])
    return atomic_write(path, text.getvalue())
