"""EM models through the training engine and the command line: the same run files as any model."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import genzoo
from genzoo.cli.main import main
from genzoo.training import TrainConfig, train


def test_train_dispatches_to_fit_and_honours_seed_validation_and_budget(tmp_path):
    data = genzoo.load_dataset("digits")
    runs = []
    for name, seed in [("a", 0), ("b", 0), ("c", 1)]:
        model = genzoo.create_model(
            "mixture_categorical", shape=data.shape, levels=data.levels, components=4
        )
        config = TrainConfig(seed=seed, steps=6, validation=100, eval_every=1, keep_best=True)
        runs.append((model, train(model, data, config, tmp_path / name)))
    (model, result), (same, _), (other, _) = runs
    assert result.steps <= 6 and result.stop_reason in ("steps", "converged")
    assert {p.name for p in tmp_path.joinpath("a").iterdir()} >= {
        "config.json",
        "model.safetensors",
        "train_config.json",
        "metrics.csv",
    }
    rows = list(csv.DictReader(open(tmp_path / "a" / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == list(range(1, result.steps + 1))
    train_nll = [float(r["nll_nats"]) for r in rows]
    assert train_nll == sorted(train_nll, reverse=True)  # EM with a small alpha: falling
    best = min(rows, key=lambda r: float(r["eval_loss"]))
    assert result.best_eval["step"] == int(best["step"])
    loaded = genzoo.load_model(tmp_path / "a")
    x = data.test[:20]
    assert np.allclose(loaded.log_prob(x), model.log_prob(x))
    assert np.allclose(same.log_prob(x), model.log_prob(x))  # --seed fixes the fit
    assert not np.allclose(other.log_prob(x), model.log_prob(x))
    # the 100 held-out images were not fitted: 1,400 training images remain
    info = json.loads((tmp_path / "a" / "train_config.json").read_text())
    assert info["model"] == "mixture_categorical" and info["strategy"] == "fit"


def test_cli_naive_bayes_prints_accuracy_and_gmm_its_bound(tmp_path, capsys):
    out = tmp_path / "nb"
    assert (
        main(
            [
                "train",
                "mixture_categorical",
                "--data",
                "digits",
                "--conditional",
                "--components",
                "1",
                "--out",
                str(out),
                "--num-samples",
                "8",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "test accuracy" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.85
    out = tmp_path / "gmm"
    assert (
        main(
            [
                "train",
                "gmm",
                "--data",
                "digits",
                "--components",
                "2",
                "--covariance-type",
                "diag",
                "--max-iter",
                "5",
                "--out",
                str(out),
                "--num-samples",
                "8",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "test NLL (bound)" in printed
    assert main(["eval", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["test"]["density"] == "bound"


def test_resume_is_refused(tmp_path):
    data = genzoo.load_dataset("digits")
    model = genzoo.create_model("gmm", shape=data.shape, levels=data.levels, components=1)
    with pytest.raises(genzoo.TrainingError, match="nothing to resume"):
        train(model, data, TrainConfig(), tmp_path / "r", resume=True)
