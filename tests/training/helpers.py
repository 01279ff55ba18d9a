"""Helpers of the training tests: small data, tiny models, quick recipes, a diverging model."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import genzoo
from genzoo.data import Dataset
from genzoo.models.base import GenerativeModel
from genzoo.training import TrainConfig

TINY_GATED = {"channels": 8, "num_layers": 2, "head_channels": 8}


def subset(data: Dataset, n_train: int, n_test: int) -> Dataset:
    """The first ``n_train`` training and ``n_test`` test images of ``data``."""

    def first(t: Tensor | None, n: int) -> Tensor | None:
        return None if t is None else t[:n]

    return dataclasses.replace(
        data,
        train=data.train[:n_train],
        train_raw=data.train_raw[:n_train],
        train_labels=first(data.train_labels, n_train),
        test=data.test[:n_test],
        test_raw=data.test_raw[:n_test],
        test_labels=first(data.test_labels, n_test),
        train_condition=first(data.train_condition, n_train),
        test_condition=first(data.test_condition, n_test),
    )


def tiny_gated(data: Dataset, seed: int = 0, **overrides: Any) -> GenerativeModel:
    torch.manual_seed(seed)
    kwargs = {**TINY_GATED, **overrides}
    return genzoo.create_model("gated_pixelcnn", shape=data.shape, levels=data.levels, **kwargs)


def quick(**overrides: Any) -> TrainConfig:
    """A fast recipe for tests: 16-image batches, no progress bar, few steps."""
    values: dict[str, Any] = {
        "steps": 6,
        "batch_size": 16,
        "warmup_steps": 2,
        "eval_every": 0,
        "eval_images": 20,
        "log_every": 2,
        "checkpoint_every": 0,
        "lr": 3e-3,
    }
    values.update(overrides)
    return TrainConfig(**values)


def weights(state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def assert_identical(a: dict[str, Tensor], b: dict[str, Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs"


def load_ckpt(out: Path) -> dict[str, Any]:
    return torch.load(out / "checkpoint.pt", weights_only=True)


class ExplodingModel(GenerativeModel):
    """A per-pixel categorical whose loss becomes NaN from its ``nan_at``-th training call on,
    or whose loss stays finite while its gradients are NaN from the ``nan_grad_at``-th call on.

    Defined (and never registered) here only to test the engine's divergence handling.
    """

    density = "exact"

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        nan_at: int = 10**9,
        nan_grad_at: int = 10**9,
    ) -> None:
        super().__init__(shape=shape, levels=levels, num_classes=num_classes)
        self.logits = nn.Parameter(torch.zeros(levels, *self.shape))
        self.nan_at = nan_at
        self.nan_grad_at = nan_grad_at
        self.calls = 0

    def log_prob(self, x: Tensor, y: Tensor | None = None, *, per_dim: bool = False) -> Tensor:
        log_p = torch.log_softmax(self.logits, dim=0)
        index = x.long().unsqueeze(1)
        per_d = log_p.unsqueeze(0).expand(x.shape[0], -1, -1, -1, -1).gather(1, index).squeeze(1)
        return per_d if per_dim else per_d.flatten(1).sum(1)

    def loss(self, x: Tensor, y: Tensor | None = None) -> dict[str, Tensor]:
        out = super().loss(x, y)
        if self.training:
            self.calls += 1
            if self.calls >= self.nan_at:
                out["loss"] = out["loss"] * math.nan
            if self.calls >= self.nan_grad_at:
                # forward: + 0; backward: 0 * d sqrt(-1) = NaN for every logit
                hidden = torch.sqrt(self.logits.sum() * 0 - 1)
                out["loss"] = out["loss"] + torch.where(torch.tensor(True), 0.0, hidden)
        return out
