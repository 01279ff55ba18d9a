"""The command line of sample quality and of the continuous-space likelihood estimates: a tiny GAN
trained on digits reports labelled FID/KID/precision/recall/density/coverage with its floor; `eval`
scores samples by default only for a model without a density (as `train`), takes counts and
estimator flags; bad flags and unsupported models give one line and exit 2."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from genzoo.cli.main import main

TINY_GAN = ["--latent-dim", "4", "--channels", "4"]
QUICK = ["--steps", "5", "--batch-size", "32"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """The feature network is trained once into a temporary ``$GENZOO_CACHE``."""
    path = tmp_path_factory.mktemp("genzoo-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENZOO_CACHE", str(path))
        yield path


def run_main(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def gan_run(cache, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("runs") / "dcgan"
    code, printed = run_main(["train", "dcgan", "--data", "digits", *QUICK, *TINY_GAN,
                              "--out", str(out)])  # fmt: skip
    assert code == 0
    return out, printed


@pytest.fixture(scope="module")
def ar_run(cache, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "independent"
    assert run_main(["train", "pixel_independent", "--data", "digits", "--steps", "2",
                     "--out", str(out)])[0] == 0  # fmt: skip
    return out


def test_train_reports_labelled_sample_quality_for_a_gan(gan_run, cache):
    run, printed = gan_run
    quality = json.loads((run / "metrics.json").read_text())["sample_quality"]
    net = quality["feature_network"]
    assert net["name"] == "classifier:digits" and net["key"].startswith("digits-")
    assert net["test_accuracy"] > 0.95 and net["feature_dim"] == 128
    assert quality["num_samples"] == quality["num_reference"] == 297  # the whole test set
    for part in ("samples", "floor"):
        metrics = quality[part]
        assert set(metrics) >= {"fid", "kid", "kid_std", "precision", "recall", "density",
                                "coverage", "num_real", "num_fake"}  # fmt: skip
        assert (metrics["num_real"], metrics["num_fake"]) == (297, 297)
    # five steps of training: far from the real-vs-real floor
    assert quality["samples"]["fid"] > 3 * quality["floor"]["fid"]
    # the classifier was cached in $GENZOO_CACHE, not in the home directory
    assert (cache / "feature-networks" / net["key"]).is_dir()
    lines = printed.splitlines()
    header = next(line for line in lines if line.startswith("sample quality:"))
    assert "classifier:digits" in header and "test accuracy" in header and "297" in header
    for group in ("FID", "KID", "precision", "density"):
        assert sum(line.strip().startswith(group) for line in lines) == 1, group
        assert "floor" in next(line for line in lines if line.strip().startswith(group))


def test_eval_with_counts_and_both_estimators(gan_run, capsys):
    run, _ = gan_run
    argv = ["eval", str(run), "--quality-samples", "60", "--quality-reference", "100",
            "--parzen", "--parzen-samples", "100", "--ais", "--ais-images", "2", "--ais-steps",
            "4", "--ais-chains", "2", "--ais-sigma", "0.1"]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    quality = metrics["sample_quality"]
    assert (quality["num_samples"], quality["num_reference"]) == (60, 100)
    assert (quality["floor"]["num_fake"], quality["floor"]["num_real"]) == (60, 100)
    parzen, ais = metrics["parzen"], metrics["ais"]
    assert parzen["num_samples"] == 100 and "not comparable" in parzen["units"]
    assert ais["sigma"] == 0.1 and ais["num_images"] == 2 and ais["steps"] == 4
    assert ais["log_likelihood_mean"] < 0  # a barely trained generator, far from the data
    out = capsys.readouterr().out
    assert out.count("not comparable with bits/dim") == 2 and "unreliable" in out
    assert "60 samples vs 100 test images" in out


def test_sample_quality_at_train_time_is_on_for_gans_only_unless_asked(cache, ar_run, tmp_path):
    metrics = json.loads((ar_run / "metrics.json").read_text())
    assert "sample_quality" not in metrics and "test" in metrics
    out = tmp_path / "ar"
    argv = ["train", "pixel_independent", "--data", "digits", "--steps", "2", "--out", str(out)]
    assert run_main([*argv, "--sample-quality", "--quality-samples", "20"])[0] == 0
    assert json.loads((out / "metrics.json").read_text())["sample_quality"]["num_samples"] == 20
    out = tmp_path / "gan"
    argv = ["train", "gan", "--data", "digits", *QUICK, "--hidden", "8", "--out", str(out)]
    assert run_main([*argv, "--no-sample-quality"])[0] == 0
    assert "sample_quality" not in json.loads((out / "metrics.json").read_text())


def test_eval_draws_quality_samples_by_default_only_for_a_model_without_a_density(
    gan_run, ar_run, capsys
):
    # as `genzoo train`: a density model's eval draws no quality samples unless asked ...
    assert main(["eval", str(ar_run), "--progress"]) == 0
    assert "sample_quality" not in json.loads((ar_run / "metrics.json").read_text())
    plan = next(line for line in capsys.readouterr().err.splitlines() if "evaluating:" in line)
    assert "skipped: sample quality (--sample-quality runs it)" in plan
    assert main(["eval", str(ar_run), "--sample-quality", "--quality-samples", "20"]) == 0
    quality = json.loads((ar_run / "metrics.json").read_text())["sample_quality"]
    assert quality["num_samples"] == 20
    # ... and a GAN's does (its only numbers), against the whole test set
    run, _ = gan_run
    assert main(["eval", str(run), "--progress"]) == 0
    quality = json.loads((run / "metrics.json").read_text())["sample_quality"]
    assert quality["num_samples"] == quality["num_reference"] == 297
    plan = next(line for line in capsys.readouterr().err.splitlines() if "evaluating:" in line)
    assert "297 samples for sample quality" in plan and "skipped" not in plan


def test_eval_skips_sample_quality_on_request(ar_run):
    code, printed = run_main(["eval", str(ar_run), "--no-sample-quality"])
    assert code == 0 and "sample quality" not in printed
    assert "sample_quality" not in json.loads((ar_run / "metrics.json").read_text())


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--quality-samples", "1"], "--quality-samples must be None or an integer >= 2"),
        (["--quality-reference", "0"], "--quality-reference must be an integer >= 2"),
        (["--feature-network", "lenet"], "invalid choice"),
        (["--inception-weights", "w.pth"], "needs --feature-network inception"),
        (["--parzen", "--parzen-samples", "0"], "--parzen-samples must be an integer >= 1"),
        (["--ais", "--ais-sigma", "abc"], "--ais-sigma: expected a comma list of float"),
        (["--ais", "--ais-sigma", "0.1,-1"], "--ais-sigma must be a list of at least 1"),
        (["--ais", "--ais-steps", "0"], "--ais-steps must be an integer >= 1"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(gan_run, flags, message, capsys):
    assert main(["eval", str(gan_run[0]), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("genzoo: error:") and message in err and len(err.splitlines()) == 1


def test_ais_on_an_autoregressive_model_is_refused_in_one_line(ar_run, capsys):
    assert main(["eval", str(ar_run), "--ais"]) == 2
    err = capsys.readouterr().err.strip()
    assert "AIS needs a decoder" in err and "--parzen" in err and len(err.splitlines()) == 1


def test_missing_inception_weights_name_the_path(ar_run, cache, capsys):
    argv = ["eval", str(ar_run), "--feature-network", "inception", "--inception-weights",
            str(cache / "nowhere.pth")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "nowhere.pth" in err and len(err.splitlines()) == 1


def test_conditional_gan_trains_reports_label_agreement_and_interpolates(cache, tmp_path):
    out = tmp_path / "cond"
    argv = ["train", "sngan", "--data", "digits", "--conditional", *QUICK, *TINY_GAN,
            "--out", str(out)]  # fmt: skip
    code, printed = run_main(argv)
    assert code == 0 and "requested class" in printed
    quality = json.loads((out / "metrics.json").read_text())["sample_quality"]
    assert 0 <= quality["label_agreement"] <= 1 and quality["floor_label_agreement"] > 0.95
    assert json.loads((out / "config.json").read_text())["config"]["num_classes"] == 10
    grid = tmp_path / "walk.png"
    code, printed = run_main(["interpolate", str(out), "--out", str(grid), "--pairs", "3",
                              "--steps", "5"])  # fmt: skip
    assert code == 0 and "great circles" in printed
    width, height = Image.open(grid).size
    assert width > height  # 3 rows of 5 images


def test_unlabelled_data_skips_default_sample_quality_but_refuses_an_explicit_request(
    cache, tmp_path, capsys
):
    import numpy as np

    images = np.random.default_rng(0).integers(0, 256, (60, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "x.npz", x=images)
    out = tmp_path / "gan"
    argv = ["train", "gan", "--data", f"npz:{tmp_path / 'x.npz'}", "--levels", "4", *QUICK,
            "--hidden", "8", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0  # the GAN default: on, skipped with a note, before training
    assert "sample quality skipped" in capsys.readouterr().err
    assert "sample_quality" not in json.loads((out / "metrics.json").read_text())
    assert main(["eval", str(out), "--sample-quality"]) == 2  # explicitly asked: an error
    err = capsys.readouterr().err.strip()
    assert "has none" in err and "--feature-network inception" in err
    assert len(err.splitlines()) == 1
