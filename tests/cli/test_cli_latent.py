"""The command line for latent-variable models: bounds in `eval`, reconstructions, interpolation."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from genzoo.cli.main import main

TINY = ["--latent-dim", "4", "--channels", "8", "--hidden", "32"]


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "vae"
    argv = ["train", "vae", "--data", "digits", "--steps", "200", "--batch-size", "64"]
    assert main([*argv, "--out", str(out), "--iwae-k", "20", "--iwae-images", "30", *TINY]) == 0
    return out


def test_train_reports_elbo_terms_and_iwae_bound(vae_run, capsys):
    metrics = json.loads((vae_run / "metrics.json").read_text())
    bound = metrics["bound"]
    assert bound["k"] == 20 and bound["iwae_images"] == 30 and bound["num_images"] == 297
    elbo_nats = -bound["elbo"]["nll_nats"]
    assert elbo_nats == pytest.approx(bound["reconstruction_nats"] - bound["kl_nats"], rel=1e-6)
    assert bound["kl_nats"] >= 0
    # the IWAE bound is tighter than the ELBO on the same images (paired, k = 20)
    assert bound["iwae"]["bits_per_dim"] < bound["elbo_on_iwae_images"]["bits_per_dim"]
    assert metrics["test"]["bits_per_dim"] == bound["iwae"]["bits_per_dim"]
    assert Image.open(vae_run / "reconstruction.png").size[0] > 64


def test_eval_with_chosen_k_prints_both_bounds(vae_run, capsys):
    assert main(["eval", str(vae_run), "--iwae-k", "5", "--iwae-images", "0"]) == 0
    out = capsys.readouterr().out
    assert "test ELBO" in out and "IWAE bound (k=5)" in out and "on the first 297 images" in out


def test_interpolate_writes_a_grid(vae_run, tmp_path, capsys):
    out = tmp_path / "interp.png"
    assert (
        main(["interpolate", str(vae_run), "--out", str(out), "--pairs", "3", "--steps", "5"]) == 0
    )
    width, height = Image.open(out).size
    assert width > height  # 3 rows of 5 images


def test_interpolate_needs_a_latent_model(tmp_path, capsys):
    out = tmp_path / "ar"
    argv = ["train", "pixel_independent", "--data", "digits", "--steps", "2", "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["interpolate", str(out), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no latent space" in err and len(err.splitlines()) == 1
    assert "genzoo eval, genzoo sample, genzoo complete" in err  # what does work on it


@pytest.mark.parametrize("flags", [["--iwae-k", "0"], ["--iwae-images", "-1"]])
def test_bad_bound_flags(vae_run, flags, capsys):
    assert main(["eval", str(vae_run), *flags]) == 2
    assert "must be" in capsys.readouterr().err


def test_model_k_and_evaluation_k_are_separate_flags(tmp_path):
    out = tmp_path / "iwae"
    argv = ["train", "iwae", "--data", "digits", "--steps", "3", "--k", "2", *TINY]
    assert main([*argv, "--iwae-k", "3", "--iwae-images", "5", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["config"]["k"] == 2
    assert json.loads((out / "metrics.json").read_text())["bound"]["k"] == 3
