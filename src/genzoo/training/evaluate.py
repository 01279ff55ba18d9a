"""Periodic evaluation during training: the model's own ``loss`` metrics on held-out images.

Only ``model.loss`` is called (in eval mode, without gradients), so any model works; for density
models these are the NLL in nats per image and bits/dim. The final, reported evaluation is
:func:`genzoo.evaluation.evaluate_likelihood`'s job, after training.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from lightning_fabric import Fabric
from torch import Tensor

from genzoo.data.dataset import Dataset
from genzoo.errors import ConfigError
from genzoo.models.base import GenerativeModel
from genzoo.training.batches import STREAM_EVAL, STREAM_VALIDATION, derive_seed, seeded_generator

EVAL_BATCH = 256


def split_validation(dataset: Dataset, count: int, seed: int) -> tuple[Dataset, Dataset]:
    """``(train part, validation part)``: ``count`` training images drawn with ``seed`` go to the
    validation part (as its ``test`` split); the rest, in their original order, stay for training.

    Raises :class:`ConfigError` if fewer than one training image would remain.
    """
    n = int(dataset.train.shape[0])
    if count >= n:
        raise ConfigError(
            f"--validation {count} would leave no training images ({n} in {dataset.name}); "
            "hold out fewer"
        )
    perm = torch.randperm(n, generator=seeded_generator(seed, STREAM_VALIDATION))
    held, kept = perm[:count].sort().values, perm[count:].sort().values

    def take(t: Tensor | None, index: Tensor) -> Tensor | None:
        return None if t is None else t[index]

    train = dataclasses.replace(
        dataset,
        train=dataset.train[kept],
        train_labels=take(dataset.train_labels, kept),
        train_raw=dataset.train_raw[kept],
    )
    validation = dataclasses.replace(
        dataset,
        test=dataset.train[held],
        test_labels=take(dataset.train_labels, held),
        test_raw=dataset.train_raw[held],
    )
    return train, validation


def eval_split(
    dataset: Dataset, model: GenerativeModel, count: int, rank: int, world: int
) -> tuple[Tensor | None, Tensor | None]:
    """This rank's share of the first ``count`` test images, and their labels.

    Ranks take every ``world``-th image; with fewer images than ranks each rank takes all.
    Returns ``(None, None)`` when the test split is empty.
    """
    n = min(count, int(dataset.test.shape[0]))
    if n == 0:
        return None, None
    index = torch.arange(n)
    if n >= world:
        index = index[rank::world]
    y = None
    if model.num_classes is not None and dataset.test_labels is not None:
        y = dataset.test_labels[index]
    return dataset.test[index], y


@torch.no_grad()
def evaluate(
    fabric: Fabric,
    model: GenerativeModel,
    x: Tensor,
    y: Tensor | None,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> dict[str, float]:
    """Image-weighted mean of every scalar ``model.loss`` metric over all ranks' ``x``.

    Args:
        fabric: the run's Fabric (device, collectives).
        model: the (EMA) model; evaluated in eval mode, its mode restored afterwards.
        x: LongTensor ``[N, C, H, W]``, this rank's held-out images (``N >= 1``).
        y: LongTensor ``[N]`` labels for a conditional model, else ``None``.
        memory_format: layout of the batches (the model's layout).

    Runs without autocast: under ``bf16-mixed`` training the logged numbers are still the full
    precision ones, comparable with the final evaluation. Runs under a forked RNG with a fixed
    seed, so a stochastic loss (e.g. a VAE's) uses the same noise at every evaluation and the
    training stream is never disturbed.
    """
    was_training = model.training
    model.eval()
    devices = [fabric.device] if fabric.device.type == "cuda" else []
    keys: list[str] = []
    sums = torch.zeros(0, dtype=torch.float64, device=fabric.device)
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(derive_seed(0, STREAM_EVAL, fabric.global_rank))
            for start in range(0, x.shape[0], EVAL_BATCH):
                xb = fabric.to_device(x[start : start + EVAL_BATCH])
                xb = xb.contiguous(memory_format=memory_format)
                yb = None if y is None else fabric.to_device(y[start : start + EVAL_BATCH])
                outputs = model.loss(xb, yb)  # full precision, like the final evaluation
                keys = keys or scalar_keys(outputs)
                values = torch.stack([scalar(outputs, k, xb.device) for k in keys])
                values = values.double() * xb.shape[0]
                sums = values if sums.numel() == 0 else sums + values
    finally:
        model.train(was_training)
    count = torch.tensor([float(x.shape[0])], dtype=torch.float64, device=sums.device)
    total = torch.cat([sums, count])
    if fabric.world_size > 1:
        total = fabric.all_reduce(total, reduce_op="sum")
    return {k: float(v) / float(total[-1]) for k, v in zip(keys, total[:-1], strict=True)}


def scalar_keys(outputs: dict[str, Any]) -> list[str]:
    """Keys of a ``model.loss`` dict holding a number or a one-element tensor, ``loss`` first."""
    keys = [
        k
        for k, v in outputs.items()
        if isinstance(v, int | float) or (isinstance(v, Tensor) and v.numel() == 1)
    ]
    return sorted(keys, key=lambda k: k != "loss")


def scalar(outputs: dict[str, Any], key: str, device: torch.device) -> Tensor:
    """``outputs[key]`` as a detached float32 0-d tensor on ``device`` (NaN when missing)."""
    value = outputs.get(key, math.nan)
    if isinstance(value, Tensor):
        return value.detach().float().reshape(()).to(device)
    return torch.tensor(float(value), device=device)
