"""The one line said before an evaluation: it names what evaluate_run will compute, estimates
only what it has a rate for, and is printed when progress is shown, never in a log."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genzoo.cli.main import main
from genzoo.core.metrics import RunMetrics
from genzoo.data import load_dataset
from genzoo.evaluation.config import EvalConfig
from genzoo.evaluation.plan import EvaluationPlan, PlannedPart, _duration, plan_evaluation
from tests.models.tiny import tiny_model


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_a_bound_model_names_the_elbo_and_the_iwae_k(digits) -> None:
    model = tiny_model("vae", digits.shape, digits.levels).float()
    state = torch.random.get_rng_state()
    config = EvalConfig(iwae_k=5000, iwae_images=100)
    plan = plan_evaluation(model, digits, config, quality=True)
    assert torch.equal(torch.random.get_rng_state(), state)  # timing leaves the RNG alone
    text = plan.describe()
    assert text.startswith("evaluating: ELBO on 297 images, IWAE k=5,000 on 100 images")
    assert "297 samples for sample quality" in text and "roughly" in text
    elbo, iwae = plan.parts[0].seconds, plan.parts[1].seconds
    assert elbo is not None and iwae == pytest.approx(elbo / 297 * 5000 * 100)


def test_cached_sampling_is_estimated_only_from_a_recorded_rate(digits) -> None:
    model = tiny_model("gated_pixelcnn", digits.shape, digits.levels).float()
    assert model.capabilities.cached_sampling
    config = EvalConfig()
    plan = plan_evaluation(model, digits, config, quality=True)
    quality = plan.parts[-1]
    assert quality.what == "297 samples for sample quality" and quality.seconds is None
    assert "not estimated: 64 samples and 8 completions (figures), 297 samples" in plan.describe()
    assert not plan.uses_recorded
    # a previous evaluation that timed 100 samples in 50 s: 0.5 s a sample
    scores = dict.fromkeys(
        ("fid", "kid", "kid_std", "precision", "recall", "density", "coverage"), 0.0
    )
    counts = dict.fromkeys(("num_real", "num_fake", "feature_dim", "k_pr", "k_dc"), 1)
    quality_scores = {**scores, **counts, "kid_subsets": 1, "kid_subset_size": 1}
    recorded = RunMetrics.from_dict(
        {
            "model": "gated_pixelcnn",
            "dataset": "digits",
            "levels": 17,
            "shape": [1, 8, 8],
            "num_test_images": 297,
            "density": "exact",
            "uniform_bits_per_dim": 4.09,
            "sample_quality": {
                "samples": quality_scores,
                "floor": quality_scores,
                "feature_network": {"name": "classifier", "feature_dim": 1},
                "num_samples": 100,
                "num_reference": 100,
                "sampling_seconds": 50.0,
            },
        }
    )
    plan = plan_evaluation(model, digits, config, quality=True, recorded=recorded)
    assert plan.parts[-1].seconds == pytest.approx(297 * 0.5)
    assert plan.parts[1].seconds == pytest.approx((64 + 3 * 8) * 0.5)
    assert plan.uses_recorded and "last evaluation" in plan.describe()


def test_parts_without_a_rate_get_no_number() -> None:
    plan = EvaluationPlan([PlannedPart("AIS on 10 images", None)])
    assert plan.seconds is None and plan.describe().endswith("duration not estimated")
    plan = EvaluationPlan([PlannedPart("a", 90.0), PlannedPart("b", None)])
    assert plan.describe() == (
        "evaluating: a, b; roughly 2 min at the rate timed now (not estimated: b)"
    )
    assert [_duration(s) for s in (0.2, 42, 150, 7200)] == ["1 s", "42 s", "2 min", "2.0 h"]


def test_a_plan_without_sample_quality_says_it_skips_it_and_how_to_run_it(digits) -> None:
    model = tiny_model("pixel_independent", digits.shape, digits.levels).float()
    plan = plan_evaluation(model, digits, EvalConfig(), quality=False)
    assert plan.skipped == ["sample quality"]
    assert not any("sample quality" in p.what for p in plan.parts)
    assert plan.describe().endswith("; skipped: sample quality")
    hinted = plan.describe({"sample quality": "--sq"})
    assert hinted.endswith("; skipped: sample quality (--sq runs it)")
    assert plan_evaluation(model, digits, EvalConfig(), quality=True).skipped == []
    bare = EvaluationPlan([PlannedPart("AIS", None)], skipped=["x"])
    assert bare.describe() == "evaluating: AIS; duration not estimated; skipped: x"


def test_gan_completions_by_latent_optimisation_are_not_given_the_samplers_rate(digits) -> None:
    model = tiny_model("dcgan", digits.shape, digits.levels).float()
    plan = plan_evaluation(model, digits, EvalConfig(), quality=True)
    names = {p.what: p.seconds for p in plan.parts}
    assert names["64 samples (figures)"] is not None
    assert names["8 completions (latent-optimisation)"] is None
    assert names["297 samples for sample quality"] is not None
    assert not any("NLL" in w for w in names)  # no density, no likelihood part


def test_eval_says_the_plan_when_progress_is_shown_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GENZOO_PROGRESS", raising=False)
    out = tmp_path / "run"
    argv = ["train", "pixel_independent", "--steps", "3", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--no-sample-quality"]) == 0  # stderr is not a terminal
    assert "evaluating:" not in capsys.readouterr().err
    assert main(["eval", str(out), "--progress"]) == 0  # a density: no sample quality by default
    lines = [line for line in capsys.readouterr().err.splitlines() if "evaluating:" in line]
    assert len(lines) == 1
    assert "test NLL on 297 images" in lines[0] and "64 samples" in lines[0]
    assert "samples for sample quality" not in lines[0] and "roughly" in lines[0]
    assert lines[0].endswith("; skipped: sample quality (--sample-quality runs it)")
