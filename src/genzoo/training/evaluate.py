"""Periodic evaluation during training: the model's own ``loss`` metrics on held-out images.

Only ``model.loss`` is called (in eval mode, without gradients), so any model works; for density
models these are the NLL in nats per image and bits/dim. The final, reported evaluation is
:func:`genzoo.evaluation.evaluate_likelihood`'s job, after training.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from genzoo.data.dataset import Dataset, Split
from genzoo.errors import ConfigError
from genzoo.models.base import GenerativeModel, with_condition
from genzoo.training.batches import STREAM_EVAL, STREAM_VALIDATION, derive_seed, seeded_generator

if TYPE_CHECKING:  # Lightning Fabric takes ~1 s to import; only annotations need it here
    from lightning_fabric import Fabric

EVAL_BATCH = 256


def split_validation(dataset: Dataset, count: int, seed: int) -> tuple[Dataset, Dataset]:
    """``(train part, validation part)``: ``count`` training images drawn with ``seed`` go to the
    validation part (as its ``test`` split); the rest, in their original order, stay for training.
    Labels and conditions follow their images.

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
        train_condition=take(dataset.train_condition, kept),
    )
    validation = dataclasses.replace(
        dataset,
        test=dataset.train[held],
        test_labels=take(dataset.train_labels, held),
        test_raw=dataset.train_raw[held],
        test_condition=take(dataset.train_condition, held),
    )
    return train, validation


def eval_split(
    dataset: Dataset, model: GenerativeModel, count: int, rank: int, world: int
) -> Split | None:
    """This rank's share of the first ``count`` test images, with what the model takes of their
    labels and conditions; ``None`` when the test split is empty.

    Ranks take every ``world``-th image; with fewer images than ranks each rank takes all.
    """
    n = min(count, int(dataset.test.shape[0]))
    if n == 0:
        return None
    index = torch.arange(n)
    if n >= world:
        index = index[rank::world]
    part = dataset.take("test", index)
    caps = model.capabilities
    return Split(
        part.x,
        part.y if caps.class_conditional else None,
        part.c if caps.image_conditional else None,
    )


@torch.no_grad()
def evaluate(
    fabric: Fabric,
    model: GenerativeModel,
    data: Split,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> dict[str, float]:
    """Image-weighted mean of every scalar ``model.loss`` metric over all ranks' ``data``.

    Args:
        fabric: the run's Fabric (device, collectives).
        model: the (EMA) model; evaluated in eval mode, its mode restored afterwards.
        data: this rank's held-out images ``x [N, C, H, W]`` (``N >= 1``) with the labels
            ``y [N]`` and conditions ``c`` the model takes (else ``None``).
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
    x = data.x
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(derive_seed(0, STREAM_EVAL, fabric.global_rank))
            for start in range(0, x.shape[0], EVAL_BATCH):
                part = slice(start, start + EVAL_BATCH)
                xb = fabric.to_device(x[part]).contiguous(memory_format=memory_format)
                yb = None if data.y is None else fabric.to_device(data.y[part])
                cb = None if data.c is None else fabric.to_device(data.c[part])
                outputs = model.loss(xb, yb, **with_condition(cb))  # full precision
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
