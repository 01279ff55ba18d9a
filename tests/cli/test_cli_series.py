"""``genzoo series``: list, fit, eval, simulate end to end; user errors are one line, exit 2."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from PIL import Image

from genzoo.cli.main import main
from genzoo.timeseries import evaluate_forecaster, load_forecaster, load_series

TINY_AR = ["--channels", "8", "--dilations", "1,2", "--n-steps", "20", "--eval-every", "5"]


@pytest.fixture(scope="module")
def hmm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("series") / "hmm-nile"
    argv = ["series", "fit", "hmm", "--series", "nile", "--n-states", "2", "--n-init", "1"]
    assert main([*argv, "--test-length", "20", "--out", str(out), "--paths", "100"]) == 0
    return out


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("csv") / "flow.csv"
    rng = np.random.default_rng(0)
    values = 5.0 + np.cumsum(rng.standard_normal(120))
    rows = ["day,note,flow", *(f"{i},x{i},{float(v)!r}" for i, v in enumerate(values))]
    path.write_text("\n".join(rows) + "\n")
    return path, values


def test_list_names_every_series_and_model(capsys):
    assert main(["series", "list"]) == 0
    out = capsys.readouterr().out
    for name, length in (("sunspots", 309), ("co2", 526), ("elnino", 732), ("nile", 100)):
        assert f"{name}" in out and f"T={length}" in out
    assert "csv:PATH[:COLUMN]" in out and "causal_ar" in out and "hmm" in out


def test_fit_saves_the_model_and_the_library_reproduces_its_metrics(hmm_run, capsys):
    metrics = json.loads((hmm_run / "metrics.json").read_text())
    assert (metrics["n_train"], metrics["n_test"], metrics["model"]) == (80, 20, "hmm")
    model = load_forecaster(hmm_run)
    assert model.n_states == 2 and model.n_train_ == 80 and model.random_state == 0
    nile = load_series("nile")
    direct = evaluate_forecaster(model, nile, 20, n_paths=100, seed=0, fit=False)
    assert metrics["log_likelihood"] == pytest.approx(direct["log_likelihood"], abs=1e-9)
    assert metrics["crps_mean"] == pytest.approx(direct["crps_mean"], abs=1e-9)
    assert metrics["coverage"] == direct["coverage"]
    assert metrics["log_likelihood_per_step"] == pytest.approx(metrics["log_likelihood"] / 20)
    assert -9 < metrics["log_likelihood_per_step"] < -5  # Nile: sd ~170, so ~ -6.6 nats if iid


def test_eval_recomputes_the_same_numbers(hmm_run, capsys):
    before = json.loads((hmm_run / "metrics.json").read_text())
    assert main(["series", "eval", str(hmm_run), "--paths", "100"]) == 0
    out = capsys.readouterr().out
    after = json.loads((hmm_run / "metrics.json").read_text())
    assert after == before
    assert "nats/step" in out and "CRPS" in out and "90% band" in out
    assert main(["series", "eval", str(hmm_run), "--paths", "100", "--seed", "1"]) == 0
    reseeded = json.loads((hmm_run / "metrics.json").read_text())
    assert reseeded["log_likelihood"] == before["log_likelihood"]  # no randomness in it
    assert reseeded["crps_mean"] != before["crps_mean"]  # other simulated paths


def test_simulate_writes_a_plot_and_every_path(hmm_run, tmp_path, capsys):
    png, table = tmp_path / "f.png", tmp_path / "paths.csv"
    argv = ["series", "simulate", str(hmm_run), "--out", str(png), "--csv", str(table)]
    assert main([*argv, "--horizon", "7", "--paths", "30", "--seed", "4"]) == 0
    assert Image.open(png).size == (800, 360)
    rows = list(csv.reader(table.open()))
    assert rows[0][:7] == ["step", "q5", "q25", "q50", "q75", "q95", "path_0"]
    assert len(rows) == 8 and len(rows[0]) == 6 + 30
    paths = np.array([[float(v) for v in row[6:]] for row in rows[1:]]).T
    model = load_forecaster(hmm_run)
    expected = model.simulate(load_series("nile").values, 7, 30, 4)  # after the whole series
    assert np.array_equal(paths, expected)  # repr round-trips float64
    assert np.allclose(
        [float(v) for v in rows[1][1:6]], np.quantile(paths[:, 0], [0.05, 0.25, 0.5, 0.75, 0.95])
    )


def test_fit_a_csv_column_with_model_flags(csv_file, tmp_path, capsys):
    path, values = csv_file
    out = tmp_path / "ar"
    argv = ["series", "fit", "causal_ar", "--series", f"csv:{path}:flow", *TINY_AR]
    assert main([*argv, "--difference", "1", "--test-fraction", "0.25", "--out", str(out)]) == 0
    model = load_forecaster(out)
    assert model.dilations == (1, 2) and model.difference == 1 and model.n_train_ == 90
    assert model.receptive_field_ == 2 + 1 * 3
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["dilations"] == [1, 2] and config["config"]["n_steps"] == 20
    series = json.loads((out / "series.json").read_text())
    assert np.array_equal(series["series"]["values"], values) and series["test_length"] == 30
    metrics = json.loads((out / "metrics.json").read_text())
    assert math.isfinite(metrics["log_likelihood"]) and metrics["history_used"] == 6
    png = tmp_path / "train.png"
    argv = ["series", "simulate", str(out), "--out", str(png), "--history", "train"]
    assert main(argv) == 0 and "after 90 observed values" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["series", "fit", "hmm", "--series", "sunspot", "--out", "o"], "unknown series"),
        (["series", "fit", "arima", "--series", "nile", "--out", "o"], "invalid choice"),
        (["series", "fit", "hmm", "--series", "csv:absent.csv", "--out", "o"], "no such CSV"),
        (["series", "fit", "hmm", "--series", "nile", "--out", "o", "--n-states", "0"], "n_states"),
        (
            ["series", "fit", "hmm", "--series", "nile", "--out", "o", "--test-length", "100"],
            "0 < test_length < T",
        ),
        (
            ["series", "fit", "causal_ar", "--series", "nile", "--out", "o", "--dilations", "1,a"],
            "comma",
        ),
        (["series", "eval", "absent"], "genzoo series fit"),
        (["series", "simulate", "absent", "--out", "x.png"], "not a saved time-series model"),
        (["series"], "required"),
    ],
)
def test_user_errors_are_one_line_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("genzoo: error:")
    assert message in err


def test_simulate_errors_on_a_real_run(hmm_run, tmp_path, capsys):
    argv = ["series", "simulate", str(hmm_run)]
    assert main([*argv, "--out", str(tmp_path / "x.jpg")]) == 2
    assert main([*argv, "--out", str(tmp_path / "x.png"), "--horizon", "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert ".png" in err[0] and "horizon" in err[1]
