"""Good defaults: `genzoo train MODEL --minutes M` with no tuning flag gets the model's
recommended recipe (and says so), digits is the default data, and every flag still overrides."""

from __future__ import annotations

import json

from genzoo.cli.main import main

SMALL = ["--channels", "8", "--num-layers", "2", "--head-channels", "8", "--no-sample-quality"]


def _record(out):
    return json.loads((out / "train_config.json").read_text())


def test_a_time_budget_gets_the_recommended_recipe_and_a_validation_split(tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["train", "gated_pixelcnn", "--minutes", "0.03", *SMALL, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    line = next(t for t in err.splitlines() if "recommended recipe" in t)
    for flag in ("--lr 0.003", "--ema-decay 0.995", "--validation 200", "--keep-best",
                 "--eval-every 100", "--dropout 0.5"):  # fmt: skip
        assert flag in line, flag
    record = _record(out)
    recipe = record["train_config"]
    assert (recipe["lr"], recipe["ema_decay"]) == (0.003, 0.995)
    assert (recipe["validation"], recipe["keep_best"], recipe["eval_every"]) == (200, True, 100)
    assert record["model_config"]["dropout"] == 0.5
    assert record["dataset"]["name"] == "digits"  # --data defaults to digits


def test_flags_override_the_recipe_and_a_step_budget_holds_nothing_out(tmp_path, capsys):
    out = tmp_path / "g"
    argv = ["train", "gated_pixelcnn", "--minutes", "0.03", "--lr", "1e-3", "--dropout", "0",
            "--validation", "0", *SMALL, "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    recipe = _record(out)["train_config"]
    assert recipe["lr"] == 1e-3 and recipe["validation"] == 0 and not recipe["keep_best"]
    assert _record(out)["model_config"]["dropout"] == 0.0
    steps = tmp_path / "s"
    assert main(["train", "gated_pixelcnn", "--steps", "3", *SMALL, "--out", str(steps)]) == 0
    assert _record(steps)["train_config"]["validation"] == 0  # a step budget is left as given


def test_a_model_without_a_recipe_says_nothing(tmp_path, capsys):
    out = tmp_path / "m"
    argv = ["train", "mixture_categorical", "--components", "2", "--steps", "3", "--out", str(out)]
    assert main(argv) == 0
    assert "recommended recipe" not in capsys.readouterr().err
