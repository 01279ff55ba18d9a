"""--validation (a held-out part of the training set) and --keep-best (early stopping)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

import genzoo
from genzoo.data import Dataset
from genzoo.errors import ConfigError
from genzoo.training import TrainConfig, train
from genzoo.training.evaluate import split_validation

from .helpers import assert_identical, load_ckpt, quick, tiny_gated, weights


def test_split_is_disjoint_seeded_and_keeps_the_training_order(small: Dataset) -> None:
    train_part, val = split_validation(small, 30, seed=0)
    assert train_part.train.shape[0] == 70 and val.test.shape[0] == 30
    for part, images, labels in (
        (train_part, "train", "train_labels"),
        (val, "test", "test_labels"),
    ):
        rows = getattr(part, images).flatten(1)
        for row, label in zip(rows, getattr(part, labels)):  # labels travel with their images
            k = int((small.train.flatten(1) == row).all(1).nonzero()[0])
            assert int(small.train_labels[k]) == int(label)
    flat = small.train.flatten(1)
    index = {tuple(row.tolist()): k for k, row in enumerate(flat)}
    assert len(index) == len(flat)  # unique images: recover which indices went where
    kept = [index[tuple(r.tolist())] for r in train_part.train.flatten(1)]
    held = [index[tuple(r.tolist())] for r in val.test.flatten(1)]
    assert kept == sorted(kept) and not set(kept) & set(held)
    assert sorted(kept + held) == list(range(100))
    again, _ = split_validation(small, 30, seed=0)
    other, _ = split_validation(small, 30, seed=1)
    assert torch.equal(again.train, train_part.train)
    assert not torch.equal(other.train, train_part.train)
    assert small.train.shape[0] == 100  # the dataset itself is untouched
    with pytest.raises(ConfigError, match="no training images"):
        split_validation(small, 100, seed=0)


def test_keep_best_needs_a_validation_split() -> None:
    with pytest.raises(ConfigError, match="--validation"):
        TrainConfig(steps=5, keep_best=True).validate()
    with pytest.raises(ConfigError, match="--eval-every"):
        TrainConfig(steps=5, keep_best=True, validation=10, eval_every=0).validate()


def _eval_rows(out: Path) -> list[tuple[int, float]]:
    with (out / "metrics.csv").open() as fh:
        return [
            (int(r["step"]), float(r["eval_loss"])) for r in csv.DictReader(fh) if r["eval_loss"]
        ]


def test_keep_best_ends_with_the_lowest_validation_loss(small: Dataset, tmp_path: Path) -> None:
    # 16 training images, a large learning rate, no EMA: the validation loss turns up by step 30
    config = quick(
        steps=30,
        batch_size=8,
        validation=84,
        keep_best=True,
        eval_every=3,
        lr=3e-2,
        ema_decay=0.0,
        warmup_steps=0,
        precision="32",
    )
    model = tiny_gated(small, channels=32, head_channels=32)
    result = train(model, small, config, tmp_path)
    rows = _eval_rows(tmp_path)
    best_step, best_loss = min(rows, key=lambda r: r[1])
    assert result.best_eval["step"] == best_step
    assert result.best_eval["loss"] == pytest.approx(best_loss, rel=1e-6)
    assert best_step != 30, "the run should have over-shot; make the test harder"
    _, val = split_validation(small, 84, seed=config.seed)
    with torch.no_grad():
        loss = float(model.float().loss(val.test)["loss"])
    assert loss == pytest.approx(best_loss, rel=1e-5)  # the model holds the best weights
    saved = genzoo.load_model(tmp_path)  # and so does the exported model
    assert_identical(weights(saved.state_dict()), weights(model.state_dict()))
    last = load_ckpt(tmp_path)["model"]  # while the checkpoint continues from the last step
    assert any(not torch.equal(last[k].cpu(), v) for k, v in model.state_dict().items())


def test_keep_best_survives_a_resume(small: Dataset, tmp_path: Path) -> None:
    config = {"validation": 30, "keep_best": True, "eval_every": 2, "lr": 3e-2, "ema_decay": 0.0}
    full = tiny_gated(small)
    train(full, small, quick(steps=12, **config), tmp_path / "full")
    train(tiny_gated(small), small, quick(steps=6, **config), tmp_path / "part")
    fresh = tiny_gated(small, seed=5)
    result = train(fresh, small, quick(steps=12, **config), tmp_path / "part", resume=True)
    assert result.best_eval is not None
    assert_identical(weights(full.state_dict()), weights(fresh.state_dict()))
