"""Runs saved by genzoo 0.1 still load and give the numbers they gave then.

``tests/fixtures/legacy-v1/hmm-nile`` is a run directory of `genzoo series fit hmm --series nile
--test-length 10` written before the artifact core (``config.json`` with ``"kind": "timeseries"``,
``"params"`` and ``"fitted"``, no format version); its ``metrics.json`` is the evaluation genzoo
0.1 wrote (20 paths, seed 0).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from genzoo.timeseries import GaussianHMMForecaster, evaluate_forecaster, load_forecaster
from genzoo.timeseries.data import split_series
from genzoo.timeseries.runs import load_run

LEGACY = Path(__file__).parents[1] / "fixtures" / "legacy-v1" / "hmm-nile"


@pytest.fixture(scope="module")
def stored() -> dict:
    return json.loads((LEGACY / "metrics.json").read_text())


def test_the_fixture_is_in_the_old_format():
    meta = json.loads((LEGACY / "config.json").read_text())
    assert meta["kind"] == "timeseries" and "format_version" not in meta
    assert {"model", "params", "fitted"} <= set(meta)


def test_legacy_hmm_run_loads_with_its_stored_likelihood_and_forecast(stored):
    model, series, test_length, spec = load_run(LEGACY)
    assert isinstance(model, GaussianHMMForecaster) and spec == "nile" and test_length == 10
    assert model.get_params() == stored["params"]
    train, test = split_series(series, test_length=test_length)
    # the held-out log-likelihood given the whole training part, as stored
    assert model.log_likelihood(test.values, train.values) == pytest.approx(
        stored["log_likelihood"], rel=1e-12
    )
    result = evaluate_forecaster(
        model, series, test_length, stored["n_paths"], stored["seed"], fit=False
    )
    assert result["crps_mean"] == pytest.approx(stored["crps_mean"], rel=1e-12)
    assert np.allclose(result["crps_per_step"], stored["crps_per_step"], rtol=1e-12, atol=0)
    assert result["coverage"] == stored["coverage"]
    assert result["interval_width"] == pytest.approx(stored["interval_width"], rel=1e-12)
    # the fitted scalars come from the old "fitted" block, untouched
    assert model.train_log_likelihood_ == pytest.approx(-562.2440149370723, rel=1e-15)
    assert (model.n_iter_, model.converged_) == (49, True)


def test_legacy_model_resaves_in_the_new_format_and_scores_the_same(tmp_path):
    old = load_forecaster(LEGACY)
    old.save(tmp_path / "new")
    meta = json.loads((tmp_path / "new" / "config.json").read_text())
    assert (meta["kind"], meta["name"], meta["format_version"]) == ("series-model", "hmm", 2)
    new = load_forecaster(tmp_path / "new")
    x = np.linspace(600.0, 1300.0, 25)
    assert np.array_equal(new.score_samples(x[10:], x[:10]), old.score_samples(x[10:], x[:10]))
    assert np.array_equal(new.simulate(x, 6, 4, 0), old.simulate(x, 6, 4, 0))


def test_legacy_directory_is_not_modified_by_loading(tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(LEGACY, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    load_run(copy)
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
