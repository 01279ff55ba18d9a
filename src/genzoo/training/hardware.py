"""Lightning Fabric set-up: the strategy, the memory format, and a quiet start.

The precision and accelerator choices live in :mod:`genzoo.training.config`; this module turns
them into a :class:`~lightning_fabric.Fabric`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch
from lightning_fabric import Fabric
from lightning_fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment
from torch import nn

from genzoo.data.dataset import Dataset
from genzoo.errors import ConfigError
from genzoo.models.base import GenerativeModel, with_condition
from genzoo.training.config import TrainConfig


def make_fabric(config: TrainConfig, accelerator: str, precision: str, strategy: str) -> Fabric:
    """A launched :class:`Fabric`; Lightning's INFO messages are silenced meanwhile.

    With a multi-process strategy on one machine, launching re-runs the calling script for
    ranks >= 1. Under an external launcher (torchrun, SLURM's srun), which has started every
    process already, Fabric reads the ranks from its environment and launches nothing; more
    than one machine (``num_nodes > 1``) is refused without one (see :func:`check_cluster`).
    """
    check_cluster(config)
    with _quiet_lightning():
        try:
            fabric = Fabric(
                accelerator=accelerator,
                devices=config.devices,
                num_nodes=config.num_nodes,
                strategy=strategy,
                precision=precision,  # type: ignore[arg-type]
            )
        except (ValueError, RuntimeError, TypeError) as exc:
            raise ConfigError(
                f"cannot set up --accelerator {accelerator} --devices {config.devices} "
                f"--num-nodes {config.num_nodes} --strategy {strategy} --precision {precision}: "
                f"{exc}"
            ) from None
        fabric.launch()
    return fabric


def external_launcher() -> str | None:
    """The launcher that started this process, as Fabric detects it: ``"torchrun"`` (torchrun
    / ``torch.distributed.run``), ``"slurm"`` (``srun`` in a SLURM job), or ``None``."""
    if TorchElasticEnvironment.detect():
        return "torchrun"
    if SLURMEnvironment.detect():
        return "slurm"
    return None


def check_cluster(config: TrainConfig) -> None:
    """Refuse ``num_nodes > 1`` outside torchrun or SLURM.

    Without an external launcher Fabric would start this machine's processes and wait, without
    end, for the other machines to join a rendezvous that nothing started.
    """
    if config.num_nodes == 1 or external_launcher() is not None:
        return
    n, d = config.num_nodes, config.devices
    raise ConfigError(
        f"--num-nodes {n} needs a launcher that starts genzoo on every machine; on machine R "
        f"(0..{n - 1}) run `torchrun --nnodes {n} --nproc-per-node {d} --node-rank R "
        f"--master-addr HOST0 --master-port 29500 --no-python genzoo train ... --num-nodes {n} "
        f"--devices {d}`, or in a SLURM job `srun genzoo train ...` with --nodes {n} "
        f"--ntasks-per-node {d} (see the guide's 'More than one machine')"
    )


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Hide Lightning's INFO chatter ("Using bfloat16 AMP", the DDP banner); warnings pass."""
    logger = logging.getLogger("lightning_fabric")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def resolve_strategy(config: TrainConfig, model: GenerativeModel, dataset: Dataset) -> str:
    """The Fabric strategy for ``config.strategy``.

    ``"ddp"`` (and ``"auto"`` with several processes: ``devices * num_nodes > 1``) becomes
    ``"ddp"``, or
    ``"ddp_find_unused_parameters_true"`` when some parameters get no gradient from
    ``model.loss`` — plain DDP would fail at the second step.
    """
    processes = config.devices * config.num_nodes
    ddp = config.strategy == "ddp" or (config.strategy == "auto" and processes > 1)
    if not ddp:
        return config.strategy
    return "ddp_find_unused_parameters_true" if unused_parameters(model, dataset) else "ddp"


def unused_parameters(model: GenerativeModel, dataset: Dataset) -> list[str]:
    """Names of trainable parameters that get no gradient from ``model.loss`` on 2 images.

    Leaves no trace: runs under a forked RNG, computes no ``.grad`` and restores the buffers
    (e.g. normalisation statistics) that the training-mode pass updated.
    """
    part = dataset.take("train", slice(0, 2))
    caps = model.capabilities
    x = part.x
    y = part.y if caps.class_conditional else None
    c = part.c if caps.image_conditional else None
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    was_training = model.training
    buffers = [b.detach().clone() for b in model.buffers()]
    with torch.random.fork_rng(devices=[]):
        model.train()
        try:
            loss = model.loss(x, y, **with_condition(c))["loss"]
            grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
        finally:
            model.train(was_training)
            with torch.no_grad():
                for b, saved in zip(model.buffers(), buffers, strict=True):
                    b.copy_(saved)
    return [n for (n, _), g in zip(named, grads, strict=True) if g is None]


def set_memory_format(model: nn.Module, memory_format: torch.memory_format) -> None:
    """Convert the 4-D parameters and buffers (e.g. convolution masks) in place.

    Buffers matter: a channels-last weight times a row-major mask is slower than either layout
    alone. Tensors already contiguous in ``memory_format`` are left alone: for tensors with
    singleton dimensions (``[O, I, 1, k]`` masks) conversion only permutes meaningless strides,
    which DDP's buffer broadcast then rejects as overlapping memory.
    """
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            if t.dim() == 4 and not t.is_contiguous(memory_format=memory_format):
                t.data = t.data.contiguous(memory_format=memory_format)
