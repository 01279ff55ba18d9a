"""``genzoo ood`` and ``genzoo classify`` end to end on digits (MNIST as the outliers), and their
refusals: one line on stderr, exit 2."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo
from genzoo.cli.main import main
from genzoo.evaluation.classify import class_log_prior, classification_metrics, predict_log_proba

QUICK = ["--data", "digits", "--batch-size", "64", "--no-sample-quality", "--lr", "0.05"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ood")
    commands = {
        "model": ["train", "pixel_independent", "--steps", "150", *QUICK],
        "background": ["train", "pixel_independent", "--steps", "150", "--perturb", "0.2", *QUICK],
        "bayes": [
            "train", "mixture_categorical", "--data", "digits", "--conditional",
            "--components", "1", "--no-sample-quality",
        ],
        "gan": ["train", "gan", "--steps", "2", *QUICK],
    }  # fmt: skip
    for name, command in commands.items():
        assert main([*command, "--out", str(root / name)]) == 0, name
    return root


def _one_line_error(capsys, text: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("genzoo: error:") and text in err[0], err


def test_ood_writes_json_and_figure_beside_the_run(runs, capsys) -> None:
    run = runs / "model"
    own = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    code = main(
        [
            "ood", str(run), "--ood-data", "mnist", "--size", "8", "--levels", "17",
            "--background", str(runs / "background"), "--bootstrap", "50",
            "--batch-sizes", "1,10",
        ]
    )  # fmt: skip
    assert code == 0
    folder = run / "evaluations" / "ood-mnist-levels17-size8"
    summary = json.loads((folder / "ood.json").read_text())
    assert set(summary["scores"]) == {
        "likelihood",
        "likelihood-ratio",
        "input-complexity-png",
        "input-complexity-webp",
        "input-complexity-lzma",
    }
    assert summary["num_in"] == 297 and summary["ood_data"] == "mnist"
    for metrics in summary["scores"].values():
        assert 0 <= metrics["auroc"] <= 1 and metrics["auroc_ci"][0] <= metrics["auroc"]
    assert set(summary["typicality"]["by_batch_size"]) == {"1", "10"}
    # the run's mean bits/dim on its test images is the one of its own evaluation
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert summary["bits_per_dim"]["in"] == pytest.approx(test["bits_per_dim"], rel=1e-6)
    assert Image.open(folder / "ood.png").size[0] > 400
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == own  # untouched
    out = capsys.readouterr().out
    assert "likelihood-ratio" in out and "AUROC" in out


def test_ood_out_option_and_score_selection(runs, tmp_path) -> None:
    out = tmp_path / "here"
    code = main(
        [
            "ood", str(runs / "model"), "--ood-data", "mnist", "--size", "8", "--levels", "17",
            "--scores", "likelihood", "--bootstrap", "0", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((out / "ood.json").read_text())
    assert list(summary["scores"]) == ["likelihood"] and "typicality" not in summary


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--ood-data", "mnist"], "--size 8 --levels 17"),
        (["--ood-data", "mnist", "--size", "8"], "--levels 17"),
        (["--ood-data", "digits", "--scores", "likelihood-ratio"], "--background RUN2"),
    ],
)
def test_ood_refusals(runs, capsys, args, text) -> None:
    assert main(["ood", str(runs / "model"), *args]) == 2
    _one_line_error(capsys, text)


def test_ood_refuses_a_model_without_density(runs, capsys) -> None:
    assert main(["ood", str(runs / "gan"), "--ood-data", "digits"]) == 2
    _one_line_error(capsys, "no density")


def test_classify_prints_bayes_rule_next_to_baselines(runs, capsys) -> None:
    assert main(["classify", str(runs / "bayes")]) == 0
    out = capsys.readouterr().out
    for name in ("Bayes' rule", "logistic_regression", "cnn", "accuracy", "ECE"):
        assert name in out
    result = json.loads((runs / "bayes" / "evaluations" / "classify" / "classify.json").read_text())
    digits = genzoo.load_dataset("digits")
    model = genzoo.load_model(runs / "bayes")
    prior = class_log_prior(digits.train_labels, 10)
    expected = classification_metrics(
        predict_log_proba(model, digits.test, prior), digits.test_labels
    )
    got = result["classifiers"]["mixture_categorical (Bayes' rule)"]
    assert got == pytest.approx(expected)
    assert np.exp(result["log_prior"]) == pytest.approx(
        (torch.bincount(digits.train_labels) / len(digits.train_labels)).tolist()
    )
    assert 0.8 < got["accuracy"] < result["classifiers"]["cnn"]["accuracy"]  # naive Bayes < CNN
    assert math.isfinite(got["nll"]) and 0 <= got["ece"] <= 1


@pytest.mark.parametrize(("run", "text"), [("model", "unconditional"), ("gan", "no density")])
def test_classify_refusals(runs, capsys, run, text) -> None:
    assert main(["classify", str(runs / run)]) == 2
    _one_line_error(capsys, text)


def test_classify_refuses_unlabelled_data(runs, tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "unlabelled.npz"
    np.savez(path, x=rng.integers(0, 256, (40, 8, 8), dtype=np.uint8))
    code = main(["classify", str(runs / "bayes"), "--data", f"npz:{path}", "--levels", "17"])
    assert code == 2
    _one_line_error(capsys, "no labels")


def test_train_perturb_flag_is_recorded(runs) -> None:
    config = json.loads((runs / "background" / "train_config.json").read_text())
    assert config["train_config"]["perturb"] == 0.2
    assert main(["train", "pixel_independent", "--perturb", "1.5", *QUICK, "--out", "x"]) == 2
