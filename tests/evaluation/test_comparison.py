"""The density table: one split only, bounds labelled as bounds, the IWAE bound used only where
it covers every test image, conditional likelihoods marked, models without a density set apart."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

import genzoo
from genzoo.errors import ConfigError, ModelError
from genzoo.evaluation.comparison import density_comparison, density_table
from genzoo.evaluation.run_evaluation import fingerprint_test_images

SPLIT = {"dataset": "digits", "levels": 17, "shape": [1, 8, 8], "num_test_images": 297,
         "uniform_bits_per_dim": math.log2(17)}  # fmt: skip


def _summary(bits: float, n: int = 297) -> dict:
    nats = bits * 64 * math.log(2)
    return {"bits_per_dim": bits, "bits_per_dim_stderr": 0.01, "nll_nats": nats,
            "nll_nats_stderr": 0.5, "num_images": n}  # fmt: skip


def _run(root: Path, name: str, model: str, density: str, num_classes=None, **metrics) -> Path:
    run = root / name
    run.mkdir()
    (run / "config.json").write_text(
        json.dumps({"model": model, "config": {"shape": [1, 8, 8], "num_classes": num_classes}})
    )
    payload = {**SPLIT, "model": model, "density": density, **metrics}
    (run / "metrics.json").write_text(json.dumps(payload))
    return run


def _bound(iwae_images: int, elbo: float, iwae: float) -> dict:
    bound = {"elbo": _summary(elbo), "iwae": _summary(iwae, iwae_images), "k": 1000,
             "elbo_on_iwae_images": _summary(elbo, iwae_images), "reconstruction_nats": 70.0,
             "kl_nats": 10.0, "iwae_images": iwae_images, "num_images": 297}  # fmt: skip
    return {"bound": bound, "test": {**bound["iwae"], "density": "bound", "k": 1000}}


def test_rows_are_sorted_labelled_and_use_the_estimate_that_covers_every_image(tmp_path):
    exact = _run(tmp_path, "pixelcnn", "pixelcnn", "exact", test=_summary(1.9))
    full = _run(tmp_path, "vae", "vae", "bound", **_bound(297, elbo=2.3, iwae=2.2))
    part = _run(tmp_path, "iwae", "iwae", "bound", **_bound(100, elbo=2.25, iwae=2.0))
    gan = _run(tmp_path, "gan", "dcgan", "none")
    result = density_comparison([full, gan, exact, part])
    rows = {r["run"]: r for r in result["rows"]}
    assert [r["model"] for r in result["rows"]] == ["pixelcnn", "vae", "iwae"]  # by bits/dim
    assert rows[str(full)]["bits_per_dim"] == 2.2 and rows[str(full)]["estimate"] == "IWAE k=1000"
    # the IWAE bound of `part` (2.0) covers 100 images only: its ELBO on all 297 is used
    assert rows[str(part)]["bits_per_dim"] == 2.25 and "ELBO" in rows[str(part)]["estimate"]
    assert rows[str(exact)]["estimate"] == ""
    assert result["no_density"] == [{"model": "dcgan", "run": str(gan)}]
    assert result["uniform_bits_per_dim"] == pytest.approx(math.log2(17))
    table = density_table(result)
    assert "| vae | bound: IWAE k=1000 | 2.2000 ± 0.0100 |" in table
    assert "| pixelcnn | exact | 1.9000 ± 0.0100 |" in table
    assert "- bound: upper bound on the true bits/dim" in table and "dcgan" in table
    assert (
        f"| uniform (reference) | exact | {math.log2(17):.4f} | {64 * math.log(17):.2f} |" in table
    )
    assert all(line.count("|") == 6 for line in table.splitlines() if line.startswith("|"))


def test_conditional_likelihoods_are_marked(tmp_path):
    run = _run(tmp_path, "c", "pixelcnn", "exact", num_classes=10, test=_summary(1.8))
    result = density_comparison([run])
    assert result["rows"][0]["conditional"] is True
    table = density_table(result)
    assert "exact, conditional on the label" in table and "log p(x | y)" in table
    assert all(line.count("|") == 6 for line in table.splitlines() if line.startswith("|"))


@pytest.mark.parametrize(
    ("key", "value"),
    [("dataset", "fashion-mnist"), ("levels", 2), ("shape", [1, 4, 4]), ("num_test_images", 100)],
)
def test_runs_on_different_splits_are_refused(tmp_path, key, value):
    a = _run(tmp_path, "a", "pixelcnn", "exact", test=_summary(1.9))
    b = _run(tmp_path, "b", "pixelcnn", "exact", test=_summary(1.9))
    metrics = json.loads((b / "metrics.json").read_text())
    metrics[key] = value
    (b / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ConfigError, match=f"different test split.*{key}"):
        density_comparison([a, b])


def test_the_test_images_fingerprint_tells_splits_apart(tmp_path):
    digits = genzoo.load_dataset("digits")
    # same sizes and levels, the test images in another order
    other = dataclasses.replace(digits, test=digits.test.flip(0))
    same = fingerprint_test_images(digits)
    again = fingerprint_test_images(genzoo.load_dataset("digits"))
    assert same == again != fingerprint_test_images(other)
    a = _run(tmp_path, "a", "pixelcnn", "exact", test=_summary(1.9), test_sha256=same)
    b = _run(tmp_path, "b", "vae", "exact", test=_summary(1.8), test_sha256=same)
    assert len(density_comparison([a, b])["rows"]) == 2
    flipped = fingerprint_test_images(other)
    c = _run(tmp_path, "c", "nade", "exact", test=_summary(1.8), test_sha256=flipped)
    with pytest.raises(ConfigError, match=r"different test split.*test_sha256"):
        density_comparison([a, c])
    old = _run(tmp_path, "old", "made", "exact", test=_summary(1.8))  # no fingerprint recorded
    assert len(density_comparison([a, c, old])["rows"]) == 3  # falls back to sizes and levels


def test_a_likelihood_on_part_of_the_test_set_is_refused(tmp_path):
    run = _run(tmp_path, "a", "gmm", "bound", test=_summary(3.0, n=100))
    with pytest.raises(ConfigError, match="covers 100 of the 297"):
        density_comparison([run])


def test_missing_metrics_and_no_directories(tmp_path):
    with pytest.raises(ModelError, match="genzoo eval"):
        density_comparison([tmp_path])
    with pytest.raises(ConfigError, match="at least one"):
        density_comparison([])


FAILED = {"log_z_lower_bound": {"passed": False, "ais_log_z": 10.0,
                                "certain_lower_bound": 12.0, "margin": -2.0}}  # fmt: skip
PASSED = {"log_z_lower_bound": {"passed": True, "margin": 1.0}, "schedule_spread": {"spread": 0.1}}


def test_an_estimate_that_failed_a_check_is_invalid_not_a_likelihood(tmp_path):
    exact = _run(tmp_path, "pixelcnn", "pixelcnn", "exact", test=_summary(1.9))
    bad = _run(tmp_path, "dbn", "dbn", "bound", test={**_summary(0.5), "checks": FAILED})
    good = _run(tmp_path, "rbm", "rbm", "estimate", test={**_summary(2.5), "checks": PASSED})
    result = density_comparison([bad, good, exact])
    # the invalid 0.5 would be best: it sorts last instead, its failure named
    assert [r["model"] for r in result["rows"]] == ["pixelcnn", "rbm", "dbn"]
    assert [r["failed_checks"] for r in result["rows"]] == [[], [], ["log_z_lower_bound"]]
    table = density_table(result)
    assert f"| dbn | bound | invalid (failed log_z_lower_bound) | — | {bad} |" in table
    assert "0.5000" not in table and "| rbm | estimate | 2.5000 ± 0.0100 |" in table
    assert "- invalid: the estimate failed a check" in table
    assert all(line.count("|") == 6 for line in table.splitlines() if line.startswith("|"))
    negative = density_table(density_comparison([good, exact]))  # negative control
    assert "invalid" not in negative
