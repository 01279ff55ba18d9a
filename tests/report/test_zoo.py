"""run_zoo: the same data, budget, seed and test images for every model, one report, and a
second call that reuses the finished runs instead of training again."""

from __future__ import annotations

import json

import pytest

from genzoo.core.run import RunFolder
from genzoo.errors import ConfigError, TrainingError
from genzoo.evaluation.config import EvalConfig
from genzoo.report import run_zoo

MODELS = ["mixture_categorical", "dcgan"]
QUICK = EvalConfig(sample_quality=True, quality_samples=32, num_samples=16, num_completions=4)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo") / "zoo"
    lines: list[str] = []
    result = run_zoo(
        out,
        models=MODELS,
        minutes_per_model=0,
        steps_per_model=4,
        validation=100,
        evaluation=QUICK,
        say=lines.append,
    )
    return out, result, lines


def test_every_model_on_the_same_recipe_and_test_images(zoo):
    out, result, lines = zoo
    assert result.runs == [out / m for m in MODELS] and result.failed == {}
    recipes = [RunFolder(r).read_train_config() for r in result.runs]
    assert [r["model"] for r in recipes] == MODELS
    for key in ("steps", "seed", "validation", "minutes"):
        assert len({r["train_config"][key] for r in recipes}) == 1, key
    assert recipes[0]["train_config"]["steps"] == 4
    metrics = [RunFolder(r).read_metrics() for r in result.runs]
    assert len({m.test_sha256 for m in metrics}) == 1
    assert all(m.sample_quality is not None for m in metrics)  # the same metrics for all
    assert all(RunFolder(r).read_data_spec()["name"] == "digits" for r in result.runs)
    assert lines[0].startswith("zoo: 2 models on digits")


def test_report_has_a_row_per_model_by_family(zoo):
    out, result, _ = zoo
    assert result.report == out / "report" / "index.html" and result.report.is_file()
    summary = json.loads((out / "report" / "report.json").read_text())
    assert [r["family"] for r in summary["runs"]] == ["implicit", "classic"]


def test_second_call_reuses_finished_runs(zoo):
    out, _, _ = zoo
    before = {m: (out / m / "metrics.json").read_bytes() for m in MODELS}
    again = run_zoo(out, models=MODELS, steps_per_model=4, validation=100, evaluation=QUICK)
    assert again.reused == MODELS
    assert {m: (out / m / "metrics.json").read_bytes() for m in MODELS} == before


def test_a_run_of_another_recipe_is_refused(zoo):
    out, _, _ = zoo
    with pytest.raises(ConfigError, match="another steps"):
        run_zoo(out, models=MODELS, steps_per_model=5, validation=100)
    (out / "mixture_categorical" / "metrics.json").rename(out / "moved.json")
    try:
        with pytest.raises(TrainingError, match="unfinished"):
            run_zoo(out, models=MODELS, steps_per_model=4, validation=100)
    finally:
        (out / "moved.json").rename(out / "mixture_categorical" / "metrics.json")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"models": ["no_such_model"]}, "no_such_model"),
        ({"models": ["vae", "vae"]}, "twice"),
        ({"models": []}, "no model"),
        ({"minutes_per_model": 0, "steps_per_model": 0}, "give a budget"),
        ({"minutes_per_model": 1, "steps_per_model": 10}, "not both"),
        ({"steps_per_model": -1}, ">= 0"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        run_zoo(tmp_path / "zoo", **options)
    assert not (tmp_path / "zoo").exists()
