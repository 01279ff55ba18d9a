"""`genzoo probe / cluster / embed / compare` end to end on digits, with real numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

import genzoo
from genzoo.cli.main import main
from genzoo.evaluation.unsupervised import model_features

TINY = ["--latent-dim", "4", "--channels", "8", "--hidden", "32"]


def _train(out, model: str, *flags: str) -> None:
    argv = ["train", model, "--data", "digits", "--steps", "30", "--batch-size", "64"]
    assert main([*argv, "--out", str(out), *flags]) == 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    bound = ["--iwae-k", "5", "--iwae-images", "0", "--num-samples", "4"]
    _train(root / "vae", "vae", *TINY, *bound)
    _train(root / "pixel", "pixel_independent", "--num-samples", "4")
    return root


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("genzoo: error:")
    return err


def test_probe_baseline_without_a_model(tmp_path, capsys):
    out = tmp_path / "probe.json"
    assert main(["probe", "--data", "digits", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "1,500 training images" in text and "297 test images" in text
    rows = {r["representation"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["raw pixels"]["accuracy"] >= 0.9
    assert rows["PCA of pixels"]["dim"] == 16 and rows["PCA of pixels"]["accuracy"] >= 0.85


def test_probe_of_a_trained_vae(runs, tmp_path, capsys):
    out = tmp_path / "probe.json"
    assert main(["probe", str(runs / "vae"), "--max-train", "500", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| vae features | 4 |" in text and "| PCA of pixels | 4 |" in text
    rows = json.loads(out.read_text())["rows"]
    assert [r["dim"] for r in rows] == [4, 4, 64, 4]
    assert all(math.isfinite(r["accuracy"]) and 0.15 < r["accuracy"] <= 1 for r in rows)


def test_cluster_raw_digits(tmp_path, capsys):
    out = tmp_path / "cluster.json"
    argv = ["cluster", "--data", "digits", "--method", "kmeans", "--k", "10", "--json", str(out)]
    assert main(argv) == 0
    assert "k-means NMI" in capsys.readouterr().out
    raw, pca = json.loads(out.read_text())["rows"]
    assert raw["kmeans"]["nmi"] > 0.6 and pca["representation"] == "PCA of pixels"


def test_cluster_a_trained_vae_with_both_methods(runs, capsys):
    argv = ["cluster", str(runs / "vae"), "--max-train", "500", "--no-untrained"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "| vae features | 4 |" in text and "GMM (diag) NMI" in text and "untrained" not in text


def test_embed_writes_the_png_and_the_pca_coordinates(runs, tmp_path, capsys):
    png = tmp_path / "map.png"
    argv = ["embed", str(runs / "vae"), "--out", str(png), "--width", "500", "--height", "400"]
    assert main(argv) == 0
    assert "PCA of 4-D vae features" in capsys.readouterr().out
    assert Image.open(png).size == (500, 400)
    table = np.loadtxt(tmp_path / "map.csv", delimiter=",", skiprows=1)
    # the coordinates are the test features on the two leading principal axes of the training
    # features (eigenvectors of their covariance), up to the sign of each axis
    model, data = genzoo.load_model(runs / "vae"), genzoo.load_dataset("digits")
    train = model_features(model, data.train).astype(np.float64)
    test = model_features(model, data.test).astype(np.float64)
    _, vectors = np.linalg.eigh(np.cov(train, rowvar=False))
    expected = (test - train.mean(0)) @ vectors[:, ::-1][:, :2]
    coords = table[:, 1:3] * np.sign((table[:, 1:3] * expected).sum(0))
    np.testing.assert_allclose(coords, expected, rtol=1e-3, atol=1e-4)
    assert np.array_equal(table[:, 3], data.test_labels.numpy())


def test_embed_baseline_to_npz(tmp_path, capsys):
    png, coords = tmp_path / "raw.png", tmp_path / "raw.npz"
    assert main(["embed", "--data", "digits", "--out", str(png), "--coords", str(coords)]) == 0
    assert Image.open(png).size == (800, 640)
    assert np.load(coords)["coords"].shape == (297, 2)


def test_compare_builds_one_table_and_refuses_another_split(runs, tmp_path, capsys):
    out = tmp_path / "table.md"
    assert main(["compare", str(runs / "vae"), str(runs / "pixel"), "--out", str(out)]) == 0
    table = out.read_text()
    assert "| vae | bound: IWAE k=5 |" in table and "| pixel_independent | exact |" in table
    other = tmp_path / "binary"
    _train(other, "pixel_independent", "--levels", "2", "--num-samples", "4")
    capsys.readouterr()
    assert main(["compare", str(runs / "pixel"), str(other)]) == 2
    assert "different test split" in _one_line_error(capsys)


@pytest.mark.parametrize("verb", ["probe", "cluster", "embed"])
def test_a_model_without_features_is_one_line_and_exit_2(runs, verb, tmp_path, capsys):
    extra = ["--out", str(tmp_path / "x.png")] if verb == "embed" else []
    assert main([verb, str(runs / "pixel"), *extra]) == 2
    assert "no latent features" in _one_line_error(capsys)


def test_a_conditional_vae_is_refused(tmp_path, capsys):
    run = tmp_path / "cvae"
    _train(run, "vae", "--conditional", "--steps", "2", "--iwae-k", "2", "--num-samples", "4",
           "--iwae-images", "4", *TINY)  # fmt: skip
    capsys.readouterr()
    assert main(["probe", str(run)]) == 2
    assert "class-conditional" in _one_line_error(capsys)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["probe"], "pass a run directory, or --data"),
        (["probe", "--data", "digits", "--validation", "1.5"], "--validation"),
        (["cluster", "--data", "digits", "--k", "1"], "--k"),
        (["embed", "--data", "digits", "--out", "map.jpg"], ".png"),
        (["probe", "--data", "digits", "--max-train", "1"], "--max-train"),
    ],
)
def test_user_errors(argv, message, capsys):
    assert main(argv) == 2
    assert message in _one_line_error(capsys)
