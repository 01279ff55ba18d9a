"""An image-conditional model through the whole CLI: train with --task, eval, sample, resume.

The model (``pixel_recursive_sr``) is the first image-conditional one; nothing in ``training/``,
``evaluation/`` or ``cli/`` knows it by name — the task and the declared capability carry it.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from genzoo.cli.main import main
from genzoo.core.run import RunFolder
from genzoo.data import load_dataset
from genzoo.data.tasks import box_downsample
from genzoo.models import load_model

MODEL = "pixel_recursive_sr"
TINY = ["--batch-size", "32", "--seed", "0", "--eval-every", "0", "--no-sample-quality"]


def _train(out, *extra):
    return main(["train", MODEL, "--data", "digits", "--task", "super-resolution", "--scale", "2",
                 "--out", str(out), *TINY, *extra])  # fmt: skip


@pytest.fixture(scope="module")
def sr_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("task") / "sr"
    assert _train(out, "--steps", "20", "--checkpoint-every", "10") == 0
    return out


def test_training_records_the_task_and_an_exact_conditional_likelihood(sr_run):
    run = RunFolder(sr_run)
    assert run.read_data_spec()["task"] == {"name": "super-resolution", "scale": 2}
    metrics = run.read_metrics()
    assert metrics.task == {"name": "super-resolution", "scale": 2}
    assert metrics.test.density == "exact" and metrics.test.num_images == 297
    assert 0 < metrics.test.bits_per_dim < math.log2(17)  # learned something beyond uniform
    model = load_model(sr_run)
    assert model.condition_shape == (1, 4, 4) and model.condition_levels == 17
    # the recorded number is log p(x | c) of the test images given their own conditions
    data = load_dataset("digits", task="super-resolution", task_options={"scale": 2})
    test = data.take("test", slice(None))
    with torch.no_grad():
        nll = -model.log_prob(test.x, c=test.c).double().mean()
    assert float(nll) == pytest.approx(metrics.test.nll_nats, rel=1e-4)
    # negative control: other conditions give another (worse on average) likelihood
    with torch.no_grad():
        shuffled = -model.log_prob(test.x, c=test.c.roll(1, 0)).double().mean()
    assert float(shuffled) > float(nll)
    assert (sr_run / "samples.png").is_file() and not (sr_run / "completion.png").exists()


def test_eval_on_its_own_data_reproduces_the_number(sr_run, capsys):
    before = RunFolder(sr_run).read_metrics().test.bits_per_dim
    assert main(["eval", str(sr_run), "--no-sample-quality"]) == 0
    assert f"{before:.4f} bits/dim" in capsys.readouterr().out
    assert RunFolder(sr_run).read_metrics().test.bits_per_dim == pytest.approx(before, rel=1e-6)


def test_sample_is_given_the_test_conditions(sr_run, tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert main(["sample", str(sr_run), "--n", "6", "--out", str(out)]) == 0
    assert "given the conditions of the first 6 test images" in capsys.readouterr().out
    saved = np.load(out)
    data = load_dataset("digits")
    expected = box_downsample(data.test[:6], 2).numpy()
    assert np.array_equal(saved["c"], expected)
    assert saved["x"].shape == (6, 1, 8, 8) and saved["x"].min() >= 0 and saved["x"].max() < 17
    assert main(["sample", str(sr_run), "--n", "6", "--out", str(tmp_path / "s.png")]) == 0


def test_resume_continues_with_the_same_flags(tmp_path, capsys):
    out = tmp_path / "r"
    assert _train(out, "--steps", "10") == 0
    # the natural move after an interruption: the same command with --resume (and more steps)
    assert _train(out, "--steps", "20", "--resume") == 0
    train_config = json.loads((out / "train_config.json").read_text())
    assert train_config["train_config"]["steps"] == 20
    capsys.readouterr()
    # a different hyper-parameter is refused, naming both values
    assert _train(out, "--steps", "30", "--resume", "--channels", "7") == 2
    err = capsys.readouterr().err
    assert "--channels 7" in err and "the run has" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", MODEL, "--data", "digits", "--steps", "1"], "--task"),
        (["train", "pixelcnn", "--data", "digits", "--task", "super-resolution"],
         "does not take a conditioning image"),
        (["train", MODEL, "--data", "digits", "--task", "colorization"], "colour"),
        (["train", MODEL, "--data", "digits", "--scale", "2"], "pass --task too"),
        (["train", MODEL, "--data", "digits", "--task", "super-resolution", "--scale", "3"],
         "does not divide"),
        (["train", MODEL, "--data", "digits", "--task", "super-resolution", "--scale", "1"],
         "--scale must be an integer >= 2"),
    ],
)  # fmt: skip
def test_task_errors_are_one_line(argv, message, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("genzoo: error:") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()  # refused before anything was written


def test_tasks_lists_every_task_and_its_options(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert "super-resolution" in out and "colorization" in out and "--scale" in out
