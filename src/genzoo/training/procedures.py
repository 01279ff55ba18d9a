"""Training procedures: what one optimiser step of a model's family is, behind one interface.

A model declares its procedure (``model.capabilities.training``: ``"likelihood"``,
``"adversarial"``, ``"fit"``); :data:`PROCEDURES` maps the name to an object whose ``run``
trains the model. The gradient engine (:mod:`genzoo.training.trainer`) owns devices, precision,
data order, checkpoints and evaluation, and calls the procedure's :meth:`StepProcedure.step`
once per optimiser step through a :class:`StepContext` — so it never knows which family it
trains, and a new family plugs in by registering a procedure.

* ``"likelihood"`` (:class:`LikelihoodStep`): minimise ``model.loss(x, y, c)["loss"]``.
* ``"adversarial"`` (:class:`AdversarialStep`): the two-player game of Goodfellow et al. 2014,
  Algorithm 1 (Gulrajani et al. 2017, Algorithm 1, for several critic steps).
* ``"fit"``: the model's own ``fit`` (e.g. EM), :mod:`genzoo.training.fitting`.

What a procedure asks of the model is part of its contract: every model offers ``players()``
(the modules that get one optimiser each) and ``batches_per_step``; an adversarial model also
``discriminator_loss`` and ``generator_loss``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor

from genzoo.core.registry import Registry
from genzoo.data.dataset import Dataset, Split
from genzoo.errors import TrainingError
from genzoo.models.base import GenerativeModel, with_condition
from genzoo.training.config import TrainConfig
from genzoo.training.evaluate import scalar, scalar_keys
from genzoo.training.result import TrainResult


class Procedure(Protocol):
    """Trains a model: ``run(model, dataset, config, out, resume)`` returns the
    :class:`TrainResult` and, for a distributed run, its last collective's tensor (which
    :func:`~genzoo.training.train` keeps alive until the process group is freed) or ``None``."""

    def run(
        self, model: GenerativeModel, dataset: Dataset, config: TrainConfig, out: Path, resume: bool
    ) -> tuple[TrainResult, Tensor | None]: ...


#: procedure name -> procedure; filled by :mod:`genzoo.training.engine` (the step procedures)
#: and :mod:`genzoo.training.fitting` (``"fit"``)
PROCEDURES: Registry[Procedure] = Registry("training procedure")


@dataclass
class StepContext:
    """What the engine lends a procedure for one optimiser step.

    Attributes:
        model: the model as set up by Fabric (its forward methods run on the device, under DDP).
        optimizers: one per ``model.players()``, in that order.
        next_batch: the next batch of the data order, on the device (``Split``: ``x``, ``y``,
            ``c``); a step that takes several batches calls it several times.
        update: ``update(loss, optimizer)`` back-propagates, clips, steps and clears the
            gradients; returns the gradient norm before clipping (``None`` without clipping).
        autocast: the precision context of the forward pass.
        record: ``record(outputs)`` turns a step's metrics into one tensor averaged over the
            processes and raises :class:`TrainingError` if a loss is not finite; call it before
            the update a non-finite loss must not reach.
    """

    model: Any
    optimizers: list[Any]
    next_batch: Callable[[], Split]
    update: Callable[[Tensor, Any], Tensor | None]
    autocast: Callable[[], AbstractContextManager[Any]]
    record: Callable[[dict[str, Any]], Tensor]


class StepProcedure:
    """A procedure made of optimiser steps, run by the gradient engine."""

    name: ClassVar[str] = ""
    #: the ``model.loss``-like methods the step calls (Fabric routes them through DDP)
    forward_methods: ClassVar[tuple[str, ...]] = ("loss",)
    #: metrics whose non-finite value stops the run
    losses: ClassVar[tuple[str, ...]] = ("loss",)

    def step(self, ctx: StepContext) -> tuple[Tensor, Tensor | None]:
        """One optimiser step; returns the recorded metrics and the gradient norm."""
        raise NotImplementedError


class LikelihoodStep(StepProcedure):
    """Minimise the model's loss (its negative log-likelihood or bound, or any objective)."""

    name = "likelihood"

    def step(self, ctx: StepContext) -> tuple[Tensor, Tensor | None]:
        batch = ctx.next_batch()
        with ctx.autocast():
            outputs = ctx.model.loss(batch.x, batch.y, **with_condition(batch.c))
        values = ctx.record(outputs)
        return values, ctx.update(outputs["loss"], ctx.optimizers[0])


class AdversarialStep(StepProcedure):
    """``batches_per_step`` discriminator updates, each on its own real batch against fresh
    generated images, then one generator update.

    The generator step back-propagates through the discriminator; those gradients are thrown
    away (``update`` clears them) before the next discriminator step. Records the last
    discriminator step's metrics with the generator's ``g_loss``, and returns the
    discriminator's gradient norm.
    """

    name = "adversarial"
    forward_methods = ("loss", "discriminator_loss", "generator_loss")
    losses = ("loss", "g_loss")

    def step(self, ctx: StepContext) -> tuple[Tensor, Tensor | None]:
        d_optimizer, g_optimizer = ctx.optimizers
        d_out: dict[str, Tensor] = {}
        grad_norm = None
        batch = ctx.next_batch()
        for i in range(ctx.model.module.batches_per_step):
            if i:
                batch = ctx.next_batch()
            with ctx.autocast():
                d_out = ctx.model.discriminator_loss(batch.x, batch.y, **with_condition(batch.c))
            grad_norm = ctx.update(d_out["loss"], d_optimizer)
        with ctx.autocast():
            g_out = ctx.model.generator_loss(batch.x, batch.y, **with_condition(batch.c))
        ctx.update(g_out["loss"], g_optimizer)
        d_optimizer.zero_grad(set_to_none=True)
        values = ctx.record({**d_out, "g_loss": g_out["loss"].detach()})
        return values, grad_norm


def metric_keys(outputs: Any) -> list[str]:
    """The scalar metrics of a step's first output, after checking the loss contract."""
    if not isinstance(outputs, dict) or "loss" not in outputs:
        raise TrainingError(
            "model.loss(x, y) must return a dict with a scalar 'loss'; fix the model's loss()"
        )
    loss = outputs["loss"]
    if not isinstance(loss, Tensor) or loss.numel() != 1 or not loss.requires_grad:
        raise TrainingError(
            "model.loss(x, y)['loss'] must be a scalar tensor that requires grad; fix the "
            "model's loss()"
        )
    return scalar_keys(outputs)


def stack_metrics(outputs: dict[str, Any], keys: list[str], device: torch.device) -> Tensor:
    """The metrics named ``keys`` as one float32 tensor (NaN where one is missing)."""
    return torch.stack([scalar(outputs, k, device) for k in keys])


def first_nonfinite(values: Tensor, keys: list[str], losses: tuple[str, ...]) -> float | None:
    """The first non-finite value among the ``losses`` metrics, or ``None``."""
    for key, value in zip(keys, values.tolist()):
        if key in losses and not math.isfinite(value):
            return value
    return None


# The procedures register themselves where they are defined; import those modules so that the
# registry is complete whoever imports it first (``genzoo.training`` itself is lazy).
from genzoo.training import engine as _engine  # noqa: E402, F401
from genzoo.training import fitting as _fitting  # noqa: E402, F401
