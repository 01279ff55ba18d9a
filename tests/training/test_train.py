"""The training engine end to end on a few digits: learning, repeatability, exact resume,
budgets, clipping, divergence, outputs."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import sys
from pathlib import Path

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

import genzoo
from genzoo.data import Dataset
from genzoo.errors import ConfigError, TrainingError
from genzoo.training import TrainConfig, train
from genzoo.training.config import resolve_precision

from .helpers import (
    TINY_GATED,
    ExplodingModel,
    assert_identical,
    load_ckpt,
    quick,
    subset,
    tiny_gated,
    weights,
)


# ---------------------------------------------------------------------- learning
def test_loss_decreases_on_a_fixed_batch(digits: Dataset, tmp_path: Path) -> None:
    one_batch = subset(digits, 32, 32)  # every step sees the same 32 images
    model = tiny_gated(one_batch)
    x = one_batch.train
    with torch.no_grad():
        before = float(model.loss(x)["loss"])
    config = quick(steps=40, batch_size=32, lr=1e-2, ema_decay=0.0, log_every=10)
    result = train(model, one_batch, config, tmp_path)
    with torch.no_grad():
        after = float(model.loss(x)["loss"])
    assert after < before - 0.3, (before, after)
    rows = _rows(tmp_path)
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert result.steps == 40 and result.stop_reason == "steps"


def test_class_conditional_models_get_labels(small: Dataset, tmp_path: Path) -> None:
    model = tiny_gated(small, num_classes=10)
    result = train(model, small, quick(steps=3, eval_every=3), tmp_path)
    assert math.isfinite(result.eval_metrics["loss"])


# ---------------------------------------------------------------------- repeatability
def test_same_seed_same_weights_other_seed_other_weights(small: Dataset, tmp_path: Path) -> None:
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        model = tiny_gated(small, dropout=0.1)
        train(model, small, quick(seed=seed), tmp_path / name)
        runs[name] = load_ckpt(tmp_path / name)["model"]
    assert_identical(runs["a"], runs["b"])
    assert not all(torch.equal(runs["a"][k], runs["c"][k]) for k in runs["a"])


def _resume_matches(
    data: Dataset, tmp_path: Path, *, k: int, n: int, model_kwargs: dict, **config: object
) -> None:
    """N uninterrupted steps == k steps, stop, resume to N: bit for bit."""
    full = tiny_gated(data, **model_kwargs)
    train(full, data, quick(steps=n, **config), tmp_path / "full")
    part = tiny_gated(data, **model_kwargs)
    train(part, data, quick(steps=k, **config), tmp_path / "part")
    fresh = tiny_gated(data, seed=123, **model_kwargs)  # a new process would build a new model
    result = train(fresh, data, quick(steps=n, **config), tmp_path / "part", resume=True)
    assert result.resumed_from == k and result.steps == n
    a, b = load_ckpt(tmp_path / "full"), load_ckpt(tmp_path / "part")
    assert_identical(weights(a["model"]), weights(b["model"]))
    if a["ema"] is not None:
        assert_identical(weights(a["ema"]["weights"]), weights(b["ema"]["weights"]))
        assert a["ema"]["num_updates"] == b["ema"]["num_updates"] == n
    assert_identical(weights(full.state_dict()), weights(fresh.state_dict()))
    for key in ("step", "epoch", "batch_in_epoch", "images_seen"):
        assert a[key] == b[key], key
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert_identical(sa, sb)


def test_resume_is_bit_identical_with_default_settings(small: Dataset, tmp_path: Path) -> None:
    # defaults: EMA, gradient clipping, warm-up, channels_last; 6 steps per epoch, so the
    # interruption falls inside epoch 0 and the run crosses two epoch boundaries.
    defaults = TrainConfig()
    assert defaults.ema_decay > 0 and defaults.grad_clip > 0 and defaults.channels_last
    _resume_matches(small, tmp_path, k=5, n=14, model_kwargs={}, warmup_steps=4)


def test_resume_is_bit_identical_with_dropout_and_periodic_eval(
    small: Dataset, tmp_path: Path
) -> None:
    _resume_matches(
        small,
        tmp_path,
        k=6,
        n=10,
        model_kwargs={"dropout": 0.1},
        eval_every=3,
        checkpoint_every=4,
    )


def test_resume_is_bit_identical_with_cosine_decay(small: Dataset, tmp_path: Path) -> None:
    _resume_matches(small, tmp_path, k=4, n=9, model_kwargs={}, lr_schedule="cosine", decay_steps=9)


def test_resume_errors(small: Dataset, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match=r"no checkpoint at .*train without --resume"):
        train(tiny_gated(small), small, quick(), tmp_path / "none", resume=True)
    train(tiny_gated(small), small, quick(steps=2), tmp_path / "run")
    with pytest.raises(TrainingError, match=r"already holds a training run.*--resume"):
        train(tiny_gated(small), small, quick(steps=4), tmp_path / "run")
    other = tiny_gated(small, channels=4, head_channels=4)
    with pytest.raises(TrainingError, match="channels: saved 8, given 4"):
        train(other, small, quick(steps=4), tmp_path / "run", resume=True)
    with pytest.raises(TrainingError, match="--batch-size was 16, now 8"):
        train(tiny_gated(small), small, quick(steps=4, batch_size=8), tmp_path / "run", resume=True)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="cannot read checkpoint"):
        train(tiny_gated(small), small, quick(), tmp_path / "bad", resume=True)


def test_resume_may_lower_the_learning_rate(small: Dataset, tmp_path: Path) -> None:
    train(tiny_gated(small), small, quick(steps=2), tmp_path)
    train(tiny_gated(small), small, quick(steps=4, lr=1e-4, warmup_steps=0), tmp_path, resume=True)
    lrs = [float(r["lr"]) for r in _rows(tmp_path)]
    assert lrs == pytest.approx([3e-3, 1e-4])


# ---------------------------------------------------------------------- budgets
def test_epoch_budget(small: Dataset, tmp_path: Path) -> None:
    result = train(tiny_gated(small), small, quick(steps=0, epochs=2), tmp_path)
    assert result.steps == 12  # 100 // 16 = 6 full batches per epoch
    assert result.epochs == 2.0 and result.stop_reason == "epochs"
    state = load_ckpt(tmp_path)
    assert (state["epoch"], state["batch_in_epoch"], state["images_seen"]) == (2, 0, 192)


def test_minutes_budget_counts_training_time_only(small: Dataset, tmp_path: Path) -> None:
    config = quick(steps=0, minutes=0.01, eval_every=1, log_every=1)  # 0.6 s of training
    result = train(tiny_gated(small), small, config, tmp_path)
    assert result.stop_reason == "minutes" and result.steps > 0
    assert result.train_seconds >= 0.6
    per_step = result.train_seconds / result.steps
    assert result.train_seconds < 0.6 + 2 * per_step + 0.5
    # evaluation after every step is not counted in the budget
    assert result.elapsed_seconds > result.train_seconds


def test_resume_with_a_larger_budget_after_reaching_it(small: Dataset, tmp_path: Path) -> None:
    train(tiny_gated(small), small, quick(steps=3), tmp_path)
    done = train(tiny_gated(small), small, quick(steps=3), tmp_path, resume=True)
    assert done.steps == 3 and done.train_metrics == {}
    more = train(tiny_gated(small), small, quick(steps=5), tmp_path, resume=True)
    assert more.steps == 5
    # log_every=2, and a last row for the final step of each call
    assert [int(r["step"]) for r in _rows(tmp_path)] == [2, 3, 4, 5]


# ---------------------------------------------------------------------- clipping
def test_gradient_clipping_bounds_the_norm_seen_by_the_optimizer(
    small: Dataset, tmp_path: Path
) -> None:
    norms: list[float] = []

    def record(optimizer: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))

    handle = register_optimizer_step_pre_hook(record)
    try:
        train(tiny_gated(small), small, quick(grad_clip=0.05, log_every=1), tmp_path / "clip")
        clipped, norms[:] = list(norms), []
        train(tiny_gated(small), small, quick(grad_clip=0.0, log_every=1), tmp_path / "free")
        free = list(norms)
    finally:
        handle.remove()
    assert len(clipped) == len(free) == 6
    assert max(clipped) <= 0.05 * (1 + 1e-5)
    assert min(free) > 0.05  # so clipping really acted
    first_pre_clip = float(_rows(tmp_path / "clip")[0]["grad_norm"])
    assert first_pre_clip == pytest.approx(free[0], rel=1e-4)  # logged before clipping
    assert "grad_norm" not in _rows(tmp_path / "free")[0]


# ---------------------------------------------------------------------- divergence
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(small: Dataset, tmp_path: Path) -> None:
    model = ExplodingModel(shape=small.shape, levels=small.levels, nan_at=8)
    assert model.name == ""  # never registered: the engine needs nothing but model.loss
    config = quick(steps=20, checkpoint_every=3, grad_clip=0.5)
    with pytest.raises(TrainingError) as info:
        train(model, small, config, tmp_path)
    message = str(info.value)
    assert "at step 8" in message
    assert "--lr (now 0.003)" in message and "--grad-clip (now 0.5)" in message
    assert f"{tmp_path / 'checkpoint.pt'} (step 6)" in message
    state = load_ckpt(tmp_path)
    assert state["step"] == 6
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    assert (tmp_path / "model.safetensors").is_file()
    rows = _rows(tmp_path)
    assert [int(r["step"]) for r in rows] == [2, 4, 6]


def test_non_finite_weights_never_overwrite_a_good_checkpoint(
    small: Dataset, tmp_path: Path
) -> None:
    # the loss stays finite at step 6 but its gradients are NaN, so the weights written at the
    # step-6 checkpoint would be NaN: the engine refuses and names the step-3 checkpoint
    model = ExplodingModel(shape=small.shape, levels=small.levels, nan_grad_at=6)
    config = quick(steps=20, checkpoint_every=3)
    with pytest.raises(TrainingError, match=r"not finite at step 6.*checkpoint\.pt \(step 3\)"):
        train(model, small, config, tmp_path)
    state = load_ckpt(tmp_path)
    assert state["step"] == 3
    assert all(torch.isfinite(t).all() for t in state["model"].values())


# ---------------------------------------------------------------------- hardware settings
def test_memory_format_does_not_change_the_maths(small: Dataset, tmp_path: Path) -> None:
    runs = {}
    for channels_last in (True, False):
        model = tiny_gated(small)
        train(model, small, quick(channels_last=channels_last), tmp_path / str(channels_last))
        runs[channels_last] = weights(model.state_dict())
    for key in runs[True]:
        torch.testing.assert_close(runs[True][key], runs[False][key], rtol=1e-4, atol=1e-5)


def test_bf16_autocast_runs_on_cpu(
    small: Dataset, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    config = quick(steps=2, precision="bf16-mixed", eval_every=2)
    result = train(tiny_gated(small), small, config, tmp_path)
    assert capfd.readouterr() == ("", "")  # Lightning's "Using bfloat16 AMP" is silenced
    assert result.precision == "bf16-mixed"
    assert math.isfinite(result.train_metrics["loss"]) and math.isfinite(
        result.eval_metrics["loss"]
    )
    assert all(p.dtype == torch.float32 for p in genzoo.load_model(tmp_path).parameters())


# ---------------------------------------------------------------------- outputs
def test_metrics_csv_rows_columns_and_values(small: Dataset, tmp_path: Path) -> None:
    config = quick(steps=8, log_every=2, eval_every=4, warmup_steps=4)
    result = train(tiny_gated(small), small, config, tmp_path)
    rows = _rows(tmp_path)
    columns = list(rows[0])
    assert columns[:6] == ["step", "epoch", "elapsed", "train_seconds", "lr", "images_per_s"]
    assert {"loss", "bits_per_dim", "nll_nats", "grad_norm"} <= set(columns)
    assert {"eval_loss", "eval_bits_per_dim", "eval_nll_nats"} <= set(columns)
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8]
    assert [float(r["epoch"]) for r in rows] == pytest.approx([2 / 6, 4 / 6, 1, 8 / 6])
    assert [float(r["lr"]) for r in rows] == pytest.approx([1.5e-3, 3e-3, 3e-3, 3e-3])
    for r in rows:
        assert float(r["bits_per_dim"]) == pytest.approx(float(r["loss"]) / math.log(2), rel=1e-5)
        assert float(r["nll_nats"]) == pytest.approx(float(r["loss"]) * 64, rel=1e-5)
        assert float(r["images_per_s"]) > 0
    assert [r["eval_loss"] != "" for r in rows] == [False, True, False, True]
    elapsed = [float(r["elapsed"]) for r in rows]
    assert elapsed == sorted(elapsed)
    assert float(rows[-1]["eval_loss"]) == pytest.approx(result.eval_metrics["loss"], rel=1e-6)
    assert result.eval_metrics["step"] == 8
    assert float(rows[-1]["loss"]) == pytest.approx(result.train_metrics["loss"], rel=1e-6)
    assert any((tmp_path / "tb").iterdir())


def test_periodic_eval_uses_the_ema_weights(small: Dataset, tmp_path: Path) -> None:
    model = tiny_gated(small)
    result = train(model, small, quick(steps=6, eval_every=6, ema_decay=0.9), tmp_path)
    x = small.test[:20]
    with torch.no_grad():
        assert float(model.loss(x)["loss"]) == pytest.approx(result.eval_metrics["loss"], rel=1e-5)
        raw = tiny_gated(small)
        raw.load_state_dict(load_ckpt(tmp_path)["model"])
        raw.eval()
        assert float(raw.loss(x)["loss"]) != pytest.approx(result.eval_metrics["loss"], rel=1e-5)


def test_resume_drops_metric_rows_written_after_the_checkpoint(
    small: Dataset, tmp_path: Path
) -> None:
    train(tiny_gated(small), small, quick(steps=4, log_every=1), tmp_path)
    with open(tmp_path / "metrics.csv", "a") as handle:  # an interrupted run logged step 5
        handle.write("5" + "," * (len(_rows(tmp_path)[0]) - 1) + "\n")
    train(tiny_gated(small), small, quick(steps=6, log_every=1), tmp_path, resume=True)
    assert [int(r["step"]) for r in _rows(tmp_path)] == [1, 2, 3, 4, 5, 6]
    assert all(r["loss"] for r in _rows(tmp_path))


def test_outputs_and_the_model_left_in_place(small: Dataset, tmp_path: Path) -> None:
    model = tiny_gated(small)
    result = train(model, small, quick(steps=4), tmp_path)
    assert result.checkpoint_path == tmp_path / "checkpoint.pt"
    assert {p.name for p in tmp_path.iterdir()} >= {
        "checkpoint.pt",
        "config.json",
        "model.safetensors",
        "train_config.json",
        "metrics.csv",
    }
    assert not list(tmp_path.glob("*.tmp"))
    info = json.loads((tmp_path / "train_config.json").read_text())
    assert info["train_config"] == quick(steps=4).to_dict()
    assert info["dataset"]["name"] == "digits" and info["dataset"]["levels"] == 17
    assert info["dataset"]["shape"] == [1, 8, 8]
    # "auto": bf16-mixed where the CPU has native bf16 (AVX-512 BF16 / AMX), fp32 elsewhere
    assert info["precision"] == resolve_precision("auto", "cpu") and info["accelerator"] == "cpu"
    # the model: EMA weights, CPU, contiguous, eval mode; equal to the saved model
    state = load_ckpt(tmp_path)
    assert_identical(weights(model.state_dict()), weights(state["ema"]["weights"]))
    assert not model.training
    assert all(p.device.type == "cpu" and p.is_contiguous() for p in model.parameters())
    loaded = genzoo.load_model(tmp_path)
    assert_identical(weights(loaded.state_dict()), weights(model.state_dict()))
    # the checkpoint holds only safe types
    assert state["format"] == "genzoo-train-checkpoint" and state["version"] == 1
    assert state["model_config"] == model.config and len(state["rng"]) == 1
    assert state["scheduler"]["lr"] == 3e-3


def test_silent_by_default_and_a_progress_bar_on_request(
    small: Dataset, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    train(tiny_gated(small), small, quick(steps=4), tmp_path / "quiet")
    assert capfd.readouterr() == ("", "")
    train(tiny_gated(small), small, quick(steps=4, progress=True), tmp_path / "bar")
    out, err = capfd.readouterr()
    assert out == ""
    assert "4/4" in err and "loss=" in err and "bpd=" in err and "img/s=" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_default_bar_follows_the_terminal(
    small: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``progress=None`` (the default): a bar with an ETA when stderr is a terminal, nothing
    in a log or pipe; ``progress=False`` silences a terminal too."""
    from genzoo.core.progress import set_progress

    monkeypatch.delenv("GENZOO_PROGRESS", raising=False)
    set_progress(None)
    assert TrainConfig().progress is None
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    train(tiny_gated(small), small, quick(steps=4), tmp_path / "tty")
    shown = terminal.getvalue()
    assert "4/4" in shown and "step" in shown and "<" in shown  # count, unit, remaining time
    silenced = _Terminal()
    monkeypatch.setattr(sys, "stderr", silenced)
    train(tiny_gated(small), small, quick(steps=4, progress=False), tmp_path / "off")
    assert silenced.getvalue() == ""
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    train(tiny_gated(small), small, quick(steps=4), tmp_path / "log")
    assert log.getvalue() == ""


def test_old_train_configs_with_a_boolean_progress_still_load() -> None:
    for value in (False, True, None):
        assert TrainConfig.from_dict({"steps": 3, "progress": value}).validate().progress is value


def test_dynamic_binarization(digits: Dataset, tmp_path: Path) -> None:
    binary = subset(genzoo.load_dataset("digits", levels=2), 100, 20)
    with pytest.raises(ConfigError, match="--binarize dynamic needs binary data"):
        train(tiny_gated(digits), subset(digits, 100, 20), quick(binarize="dynamic"), tmp_path)
    runs = {}
    for mode in ("static", "dynamic"):
        model = tiny_gated(binary)
        train(model, binary, quick(binarize=mode, ema_decay=0.0), tmp_path / mode)
        runs[mode] = weights(model.state_dict())
    assert not all(torch.equal(runs["static"][k], runs["dynamic"][k]) for k in runs["static"])


def test_model_and_data_mismatches_are_config_errors(small: Dataset, tmp_path: Path) -> None:
    wrong = genzoo.create_model("gated_pixelcnn", shape=(1, 8, 8), levels=2, **TINY_GATED)
    with pytest.raises(ConfigError, match="levels=data\\.levels"):
        train(wrong, small, quick(), tmp_path)
    with pytest.raises(ConfigError, match="exceeds the 100 training images"):
        train(tiny_gated(small), small, quick(batch_size=128), tmp_path)
    unlabelled = dataclasses.replace(small, train_labels=None, test_labels=None)
    with pytest.raises(ConfigError, match="has no labels"):
        train(tiny_gated(small, num_classes=10), unlabelled, quick(), tmp_path)
    with pytest.raises(ConfigError, match="--lr"):
        train(tiny_gated(small), small, quick(lr=-1.0), tmp_path)


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_cosine_over_minutes_decays_with_the_training_time(small: Dataset, tmp_path: Path) -> None:
    # no --decay-steps: the cosine runs over the time budget. Each logged rate is the last
    # step's, computed from the seconds before that step, so it lies between the formula at
    # the previous row's seconds and at this row's.
    budget = 3.0
    config = quick(steps=0, minutes=budget / 60, lr_schedule="cosine", warmup_steps=0, log_every=1)
    train(tiny_gated(small), small, config, tmp_path)
    rows = _rows(tmp_path)
    assert len(rows) > 5

    def rate(seconds: float) -> float:
        return 3e-3 * 0.5 * (1 + math.cos(math.pi * min(seconds / budget, 1.0)))

    previous = 0.0
    for row in rows:
        seconds, lr = float(row["train_seconds"]), float(row["lr"])
        assert rate(seconds) - 1e-9 <= lr <= rate(previous) + 1e-9, row
        previous = seconds
    assert float(rows[0]["lr"]) > 0.5 * 3e-3 > float(rows[-1]["lr"])  # it decayed
