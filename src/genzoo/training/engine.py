"""The gradient engine: optimiser steps of a :class:`~genzoo.training.procedures.StepProcedure`.

Lightning Fabric supplies the device, precision (autocast) and data-parallel wrapping; the loop
itself is explicit and knows no model family: the procedure's ``step`` is called once per
optimiser step (likelihood: ``model.loss`` -> backward -> clip -> AdamW; adversarial: the
two-player game), then the EMA, logging, periodic evaluation and checkpoints follow.

Reproducibility. The data order is a function of ``(seed, epoch)`` (see
:mod:`genzoo.training.batches`), dynamic binarisation of ``(seed, step)``, input perturbation
(``perturb``) of ``(seed, epoch, batch)``, the global RNGs (used by dropout) are seeded from
``(seed, rank)`` and saved per rank in every checkpoint, and evaluation runs under a forked RNG
so it never perturbs training. On CPU, ``N`` uninterrupted steps and ``k`` steps + resume to
``N`` give bit-identical weights.

Faults. Rank 0 holds the run folder's lock (:func:`~genzoo.training.checkpoint.hold_run`) from
before the checkpoint is read until the last file is written, so a second process refuses
before touching anything. Ctrl-C (SIGINT) in the main thread is deferred to the end of the
current step: the run then writes a checkpoint and raises :class:`TrainingInterrupted`, and
resuming continues bit-identically (a second Ctrl-C interrupts at once, without a checkpoint).
A non-finite loss or weights stop the run with the last good checkpoint intact; a full disk
raises :class:`~genzoo.errors.StorageError` with the previous checkpoint intact.

Distribution. ``devices=2, strategy="ddp"`` runs one process per device (Fabric re-executes the
calling script for ranks >= 1; with ``num_nodes > 1``, torchrun or SLURM has started every
process); each rank computes the loss on its slice of the global batch and DDP averages the
gradients, which equals the gradient of the global batch mean. Statistics a model keeps outside
the gradient are summed over the ranks through the model's ``reduce_statistics``.
"""

from __future__ import annotations

import contextlib
import copy
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

import genzoo
from genzoo.core.progress import progress_enabled
from genzoo.core.run import RunFolder
from genzoo.data.dataset import Dataset, Split, dynamic_binarize
from genzoo.errors import ConfigError, StorageError, TrainingError
from genzoo.models.base import GenerativeModel, with_condition
from genzoo.training.batches import (
    STREAM_BINARIZE,
    STREAM_GLOBAL,
    STREAM_PERTURB,
    BatchOrder,
    derive_seed,
    perturb,
    seeded_generator,
    shard,
)
from genzoo.training.checkpoint import (
    FORMAT,
    VERSION,
    atomic_torch_save,
    damaged_checkpoint,
    gather_rng,
    hold_run,
    load_checkpoint,
    restore_rng,
    seed_all,
    to_cpu,
)
from genzoo.training.checks import check_data, check_resume, dataset_info
from genzoo.training.config import (
    TrainConfig,
    check_batch_split,
    resolve_accelerator,
    resolve_precision,
)
from genzoo.training.ema import ExponentialMovingAverage, has_batch_norm, refresh_batch_norm
from genzoo.training.evaluate import eval_split, evaluate, split_validation
from genzoo.training.hardware import make_fabric, resolve_strategy, set_memory_format
from genzoo.training.metrics import MetricsWriter
from genzoo.training.procedures import (
    PROCEDURES,
    AdversarialStep,
    LikelihoodStep,
    StepContext,
    StepProcedure,
    first_nonfinite,
    metric_keys,
    stack_metrics,
)
from genzoo.training.result import TrainResult, write_train_config
from genzoo.training.schedule import LRSchedule

#: Pause (GIL released) before a distributed run releases its process group; see train().
SETTLE_SECONDS = 0.1
#: training batches that re-estimate the averaged weights' batch-norm statistics
NORM_BATCHES = 16


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training after a step; a checkpoint of that step was written.

    A :class:`KeyboardInterrupt` (code that catches it still does); its message names the step
    and the checkpoint, and ``resume=True`` (``--resume``) continues from it.
    """

    def __init__(self, message: str, step: int, checkpoint: Path) -> None:
        super().__init__(message)
        self.step = step
        self.checkpoint = checkpoint


@dataclass
class Progress:
    """Where the run is; saved in, and restored from, the checkpoint."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    images_seen: int = 0
    train_seconds: float = 0.0
    elapsed: float = 0.0  # wall-clock seconds before this call (earlier sessions)
    last_eval: dict[str, float] | None = None

    @classmethod
    def from_checkpoint(cls, state: dict[str, Any]) -> Progress:
        return cls(
            step=int(state["step"]),
            epoch=int(state["epoch"]),
            batch_in_epoch=int(state["batch_in_epoch"]),
            images_seen=int(state["images_seen"]),
            train_seconds=float(state["train_seconds"]),
            elapsed=float(state["elapsed"]),
            last_eval=state.get("last_eval"),
        )

    def advance(self, images: int, steps_per_epoch: int, seconds: float) -> None:
        """One optimizer step (of every player) done: count it and move to the next batch."""
        self.step += 1
        self.images_seen += images
        self.train_seconds += seconds
        self.next_batch(steps_per_epoch)

    def next_batch(self, steps_per_epoch: int) -> None:
        """Move to the next batch of the data order (a GAN's critic takes several per step)."""
        self.batch_in_epoch += 1
        if self.batch_in_epoch == steps_per_epoch:
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0


@dataclass
class Budget:
    """How long the run goes and its learning-rate schedule."""

    kind: str
    max_steps: int | None
    max_seconds: float | None
    steps_per_epoch: int  # optimizer steps per epoch
    schedule: LRSchedule


@dataclass
class Session:
    """Everything one call of the engine holds (built by :func:`_set_up`)."""

    procedure: StepProcedure
    model: GenerativeModel
    dataset: Dataset
    train_data: Dataset
    eval_source: Dataset
    config: TrainConfig
    run: RunFolder
    fabric: Any
    hardware: dict[str, Any]
    state: dict[str, Any] | None
    wall_start: float
    memory_format: torch.memory_format = torch.contiguous_format
    fmodel: Any = None
    raw: Any = None
    optimizers: list[Any] = field(default_factory=list)
    foptimizers: list[Any] = field(default_factory=list)
    ema: ExponentialMovingAverage | None = None
    progress: Progress = field(default_factory=Progress)
    order: BatchOrder | None = None
    budget: Budget | None = None
    best: GenerativeModel | None = None
    best_eval: dict[str, float] | None = None
    last_ckpt: int | None = None
    norm_batches: list[Split] = field(default_factory=list)
    interrupted: bool = False
    #: training seconds the schedule sees: this rank's, or the mean over the processes (so
    #: that a schedule by time gives every rank the same rate); set before every step
    schedule_seconds: float = 0.0

    @property
    def rank(self) -> int:
        return self.fabric.global_rank

    @property
    def world(self) -> int:
        return self.fabric.world_size

    @property
    def averaged(self) -> Any:
        """The weights that are evaluated and saved: the EMA copy, or the raw model."""
        return self.ema.module if self.ema is not None else self.raw


# ---------------------------------------------------------------------------------------------
def run_steps(
    procedure: StepProcedure,
    model: GenerativeModel,
    dataset: Dataset,
    config: TrainConfig,
    out: Path,
    resume: bool,
) -> tuple[TrainResult, Tensor | None]:
    """Train ``model`` with ``procedure``'s steps; returns the result and, in a distributed
    run, the last collective's tensor (see :func:`genzoo.training.train`)."""
    session = _set_up(procedure, model, dataset, config, out, resume)
    with _run_lock(session):  # before the checkpoint is read: a second trainer touches nothing
        _read_checkpoint(session, resume)
        _set_up_model(session)
        if session.state is not None:
            _restore(session, session.state)
        session.budget = _budget(session)
        # the log first: a damaged metrics.csv is refused before anything is written
        resume_step = None if session.state is None else session.progress.step
        metrics = MetricsWriter(out, resume_step=resume_step, enabled=session.rank == 0)
        with contextlib.closing(metrics):
            if session.rank == 0:
                write_train_config(
                    session.run, config, model, dataset, session.hardware, session.progress.step
                )
            with _statistics_reduction(session):
                images, seconds, window = _loop(session, metrics)
    last_collective = _tear_down(session)
    if session.interrupted:
        step, path = session.progress.step, session.run.checkpoint
        raise TrainingInterrupted(
            f"training interrupted after step {step}; {path} holds it — run the same command "
            "with --resume (resume=True) to continue",
            step,
            path,
        )
    return _result(session, images, seconds, window), last_collective


class GradientProcedure:
    """A :class:`StepProcedure` run by this engine (what :data:`PROCEDURES` holds)."""

    def __init__(self, step: StepProcedure) -> None:
        self.step = step

    def run(
        self, model: GenerativeModel, dataset: Dataset, config: TrainConfig, out: Path, resume: bool
    ) -> tuple[TrainResult, Tensor | None]:
        return run_steps(self.step, model, dataset, config, out, resume)


def register_step_procedure(name: str, step: StepProcedure) -> None:
    """Make ``step`` the training procedure of models that declare ``procedure = name``."""
    PROCEDURES.add(name, GradientProcedure(step))


# ---------------------------------------------------------------------------------------------
def _set_up(
    procedure: StepProcedure,
    model: GenerativeModel,
    dataset: Dataset,
    config: TrainConfig,
    out: Path,
    resume: bool,
) -> Session:
    """Check the inputs, resolve the hardware, launch Fabric and read the checkpoint."""
    wall_start = time.perf_counter()
    train_data, eval_source = dataset, dataset  # with --validation: a held-out training part
    if config.validation > 0:
        train_data, eval_source = split_validation(dataset, config.validation, config.seed)
    check_data(model, train_data, config)
    run = RunFolder(out)
    accelerator = resolve_accelerator(config.accelerator)
    precision = resolve_precision(config.precision, accelerator)
    strategy = resolve_strategy(config, model, dataset)
    fabric = make_fabric(config, accelerator, precision, strategy)
    hardware = {
        "accelerator": accelerator,
        "precision": precision,
        "strategy": strategy,
        "world_size": fabric.world_size,
    }
    check_batch_split(config.batch_size, fabric.world_size)  # a launcher's own world
    if fabric.global_rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    return Session(
        procedure=procedure,
        model=model,
        dataset=dataset,
        train_data=train_data,
        eval_source=eval_source,
        config=config,
        run=run,
        fabric=fabric,
        hardware=hardware,
        state=None,
        wall_start=wall_start,
    )


def _read_checkpoint(s: Session, resume: bool) -> None:
    """The checkpoint to resume (checked against the model, data and recipe), or a refusal to
    start over an existing run."""
    run = s.run
    if resume:
        s.state = load_checkpoint(run.checkpoint)
        check_resume(s.state, s.model, s.dataset, s.config, run.checkpoint)
    elif run.checkpoint.exists():
        raise TrainingError(
            f"{run.path} already holds a training run ({run.CHECKPOINT}); pass resume=True "
            "(--resume) to continue it, or choose a new --out directory"
        )


def _set_up_model(s: Session) -> None:
    """Seed, load the checkpoint's weights, build the optimisers and the EMA, wrap with Fabric."""
    config, model = s.config, s.model
    seed_all(derive_seed(config.seed, STREAM_GLOBAL, s.rank))
    s.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    if s.state is not None:
        try:
            model.load_state_dict(s.state["model"])
        except (RuntimeError, ValueError, TypeError, KeyError) as exc:
            raise damaged_checkpoint(s.run.checkpoint, exc) from None
    set_memory_format(model, s.memory_format)
    model.train()
    s.ema = ExponentialMovingAverage(model, config.ema_decay) if config.ema_decay > 0 else None
    players = model.players()  # one optimiser each (a GAN: discriminator, generator)
    s.optimizers = [
        torch.optim.AdamW(
            _param_groups(part, config.weight_decay, model.name),
            lr=config.lr,
            betas=(config.adam_beta1, config.adam_beta2),
        )
        for part in players
    ]
    s.fmodel, *s.foptimizers = s.fabric.setup(model, *s.optimizers)
    for method in s.procedure.forward_methods:
        s.fmodel.mark_forward_method(method)
    s.raw = s.fmodel.module  # the very `model` object, now on the device
    if s.ema is not None:
        s.ema.module.to(s.fabric.device)
        s.ema.copy_from(s.raw)  # after DDP's broadcast of rank 0's weights


def _restore(s: Session, state: dict[str, Any]) -> None:
    """Progress, optimiser states, EMA and RNG states of the checkpoint being resumed."""
    try:
        _restore_state(s, state)
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise damaged_checkpoint(s.run.checkpoint, exc) from None


def _restore_state(s: Session, state: dict[str, Any]) -> None:
    config = s.config
    s.progress = Progress.from_checkpoint(state)
    saved = state["optimizer"] if isinstance(state["optimizer"], list) else [state["optimizer"]]
    for optimizer, optimizer_state in zip(s.optimizers, saved, strict=True):
        optimizer.load_state_dict(optimizer_state)
        _check_optimizer_state(optimizer)
        for group in optimizer.param_groups:  # the current config wins (lr is set per step)
            group["weight_decay"] = config.weight_decay if group["name"] == "decay" else 0.0
            group["betas"] = (config.adam_beta1, config.adam_beta2)
    if s.ema is not None and state.get("ema") is not None:
        s.ema.load_state_dict(state["ema"])
    if len(state["rng"]) == s.world:
        restore_rng(state["rng"][s.rank], s.fabric.device)
    else:  # another number of devices: still deterministic, no longer bit-identical
        seed_all(derive_seed(config.seed, STREAM_GLOBAL, s.rank, s.progress.step))
    s.last_ckpt = s.progress.step
    if state.get("best") is not None:
        s.best = copy.deepcopy(s.averaged)
        s.best.load_state_dict(state["best"]["model"])
        s.best_eval = state["best"]["eval"]


def _check_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """``load_state_dict`` checks only the groups: refuse per-parameter states that the next
    step would trip over (entries with other keys, moments of another shape)."""
    keys: set[str] | None = None
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p)
            if not state:
                continue
            keys = set(state) if keys is None else keys
            if set(state) != keys:
                raise ValueError(
                    f"optimizer state entries differ: {sorted(state)} vs {sorted(keys)}"
                )
            for name, value in state.items():
                if isinstance(value, Tensor) and value.dim() > 0 and value.shape != p.shape:
                    raise ValueError(
                        f"optimizer state {name!r} has shape {tuple(value.shape)}, its parameter "
                        f"{tuple(p.shape)}"
                    )


def _budget(s: Session) -> Budget:
    config = s.config
    s.order = BatchOrder(int(s.train_data.train.shape[0]), config.batch_size, config.seed)
    # a GAN's critic takes several batches per optimizer step
    spe = max(1, s.order.steps_per_epoch // s.model.batches_per_step)
    kind, amount = config.budget()
    max_steps = {"steps": int(amount), "epochs": int(amount) * spe}.get(kind)
    max_seconds = 60.0 * amount if kind == "minutes" else None
    horizon = config.decay_steps or max_steps or 0
    # a cosine over a --minutes budget without --decay-steps decays over the training time
    seconds = max_seconds if not config.decay_steps and max_seconds else 0.0
    if config.lr_schedule == "cosine" and not seconds and horizon <= config.warmup_steps:
        raise ConfigError(
            f"--lr-schedule cosine over {horizon} steps leaves nothing after "
            f"--warmup-steps {config.warmup_steps}; raise the budget or lower the warm-up"
        )
    schedule = LRSchedule(config.lr, config.lr_schedule, config.warmup_steps, horizon, seconds)
    return Budget(kind, max_steps, max_seconds, spe, schedule)


@contextlib.contextmanager
def _run_lock(s: Session) -> Iterator[None]:
    """Rank 0 holds the run folder's lock while training (a second writer is refused)."""
    if s.rank != 0:
        yield
        return
    with hold_run(s.run):
        yield


@contextlib.contextmanager
def _statistics_reduction(s: Session) -> Iterator[None]:
    """While training on several processes, the model's :meth:`reduce_statistics` sums over
    them (statistics kept outside the gradient, e.g. VQ-VAE's codebook counts)."""
    if s.world == 1:
        yield
        return
    with s.raw.reducing_statistics(lambda t: s.fabric.all_reduce(t, reduce_op="sum")):
        yield


class _DeferredInterrupt:
    """While active, SIGINT only sets :attr:`requested` (read between steps); a second SIGINT
    raises :class:`KeyboardInterrupt` at once. Inactive outside the main thread."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


# ---------------------------------------------------------------------------------------------
def _loop(s: Session, metrics: MetricsWriter) -> tuple[int, float, _Window]:
    """The steps until the budget is spent or Ctrl-C; returns images and seconds of this call."""
    config, progress = s.config, s.progress
    budget: Budget = s.budget  # type: ignore[assignment]  # set by run_steps
    shown = progress_enabled() if config.progress is None else config.progress
    bar = _progress_bar(shown and s.rank == 0, budget.max_steps, progress.step)
    count = config.validation or config.eval_images
    eval_split_ = eval_split(s.eval_source, s.model, count, s.rank, s.world)
    s.norm_batches = _norm_batches(s)
    window = _Window()
    images_total, seconds_total = 0, 0.0
    keys: list[str] = []
    lr = budget.schedule(progress.step, s.schedule_seconds)
    s.fmodel.train()  # evaluation switches the model to eval mode and back
    with _DeferredInterrupt() as interrupt:
        try:
            while not _should_stop(s, interrupt):
                t0 = time.perf_counter()
                lr = budget.schedule(progress.step, s.schedule_seconds)
                for optimizer in s.optimizers:
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                ctx, keys_box = _step_context(s, keys)
                values, grad_norm = s.procedure.step(ctx)
                keys = keys_box[0]
                if s.ema is not None:
                    s.ema.update(s.raw)
                seconds = time.perf_counter() - t0
                images = config.batch_size * s.model.batches_per_step
                progress.advance(images, s.order.steps_per_epoch, seconds)  # type: ignore[union-attr]
                seconds_total += seconds
                images_total += images
                window.add(values, keys, grad_norm, images, seconds)
                bar.update(1)
                _after_step(s, metrics, bar, window, lr, eval_split_)
            if window.count:  # the steps since the last row, so the CSV ends at the final step
                _log(s, metrics, bar, window, lr, None)
            if s.last_ckpt != progress.step:
                _save(s)
        finally:
            bar.close()
            metrics.close()
    s.interrupted = s.interrupted or interrupt.requested  # Ctrl-C during the last save
    return images_total, seconds_total, window


def _should_stop(s: Session, interrupt: _DeferredInterrupt) -> bool:
    """Whether the run stops before the next step: budget spent, time up, or Ctrl-C (on any
    rank, so that every rank stops at the same step)."""
    budget: Budget = s.budget  # type: ignore[assignment]  # set by run_steps
    done = budget.max_steps is not None and s.progress.step >= budget.max_steps
    time_up = budget.max_seconds is not None and s.progress.train_seconds >= budget.max_seconds
    flags = [done or time_up, interrupt.requested]  # a Ctrl-C at the last step still counts
    s.schedule_seconds = s.progress.train_seconds
    if s.world > 1:  # one tiny collective
        local = [float(f) for f in flags] + [s.progress.train_seconds]
        total = s.fabric.all_reduce(
            torch.tensor(local, dtype=torch.float64, device=s.fabric.device), reduce_op="sum"
        )
        flags = [bool(v > 0) for v in total[:2]]
        s.schedule_seconds = float(total[2]) / s.world
    s.interrupted = flags[1]
    return flags[0] or flags[1]


def _step_context(s: Session, keys: list[str]) -> tuple[StepContext, list[list[str]]]:
    """The :class:`StepContext` of one step (its batch counter and metric keys start over)."""
    fabric, progress, config = s.fabric, s.progress, s.config
    calls = [0]
    box = [keys]

    def next_batch() -> Split:
        if calls[0]:  # a step's later batches (a GAN's critic): move on in the data order
            progress.next_batch(s.order.steps_per_epoch)  # type: ignore[union-attr]
        calls[0] += 1
        part = _batch(s)
        x = fabric.to_device(part.x).contiguous(memory_format=s.memory_format)
        return Split(x, fabric.to_device(part.y), fabric.to_device(part.c))

    def update(loss: Tensor, optimizer: Any) -> Tensor | None:
        fabric.backward(loss)
        norm = None
        if config.grad_clip > 0:
            norm = fabric.clip_gradients(
                s.fmodel, optimizer, max_norm=config.grad_clip, error_if_nonfinite=False
            )
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return norm

    def record(outputs: dict[str, Any]) -> Tensor:
        box[0] = box[0] or metric_keys(outputs)
        values = stack_metrics(outputs, box[0], fabric.device)
        if s.world > 1:  # one small collective: the metrics averaged over ranks
            values = fabric.all_reduce(values, reduce_op="sum") / s.world
        bad = first_nonfinite(values, box[0], s.procedure.losses)
        if bad is not None:
            raise TrainingError(_nan_message(bad, progress.step + 1, s))
        return values

    ctx = StepContext(
        model=s.fmodel,
        optimizers=s.foptimizers,
        next_batch=next_batch,
        update=update,
        autocast=fabric.autocast,
        record=record,
    )
    return ctx, box


def _after_step(
    s: Session,
    metrics: MetricsWriter,
    bar: Any,
    window: _Window,
    lr: float,
    eval_split_: Split | None,
) -> None:
    """Periodic evaluation (and keep-best), logging and checkpointing after a step."""
    config, step = s.config, s.progress.step
    evaluated = config.eval_every > 0 and step % config.eval_every == 0
    scores = None
    if evaluated and eval_split_ is not None:
        _refresh_statistics(s)
        scores = evaluate(s.fabric, s.averaged, eval_split_, s.memory_format)
        s.progress.last_eval = {**scores, "step": step}
        if config.keep_best and (s.best_eval is None or scores["loss"] < s.best_eval["loss"]):
            s.best_eval = s.progress.last_eval  # identical on every rank (all-reduced)
            if s.best is None:
                s.best = copy.deepcopy(s.averaged)
            else:
                s.best.load_state_dict(s.averaged.state_dict())
    if step % config.log_every == 0 or evaluated:
        _log(s, metrics, bar, window, lr, scores)
    if config.checkpoint_every > 0 and step % config.checkpoint_every == 0:
        _save(s)


def _log(
    s: Session,
    metrics: MetricsWriter,
    bar: Any,
    window: _Window,
    lr: float,
    scores: dict[str, float] | None,
) -> None:
    progress = s.progress
    row = {
        "step": progress.step,
        "epoch": progress.step / s.budget.steps_per_epoch,  # type: ignore[union-attr]
        "elapsed": progress.elapsed + time.perf_counter() - s.wall_start,
        "train_seconds": progress.train_seconds,
        "lr": lr,
        **window.means(),
    }
    if scores is not None:
        row.update({f"eval_{k}": v for k, v in scores.items() if k != "step"})
    metrics.write(row)
    bar.set_postfix(_postfix(row), refresh=False)
    window.reset()


def _refresh_statistics(s: Session) -> None:
    """Batch-norm statistics that belong to the averaged weights (see training.ema)."""
    if s.norm_batches:
        devices = [s.fabric.device] if s.fabric.device.type == "cuda" else []
        refresh_batch_norm(
            s.averaged,
            s.norm_batches,
            lambda m, b: m.loss(b.x, b.y, **with_condition(b.c)),
            devices=devices,
        )


def _save(s: Session) -> None:
    """Write the checkpoint and the model (rank 0), after checking the weights are finite."""
    progress = s.progress
    _check_finite(s.raw, progress.step, s.run.checkpoint, s.last_ckpt)
    _refresh_statistics(s)
    rng = gather_rng(s.fabric)
    if s.rank == 0:
        checkpoint = {
            "format": FORMAT,
            "version": VERSION,
            "genzoo_version": genzoo.__version__,
            "step": progress.step,
            "epoch": progress.epoch,
            "batch_in_epoch": progress.batch_in_epoch,
            "images_seen": progress.images_seen,
            "train_seconds": progress.train_seconds,
            "elapsed": progress.elapsed + time.perf_counter() - s.wall_start,
            "last_eval": progress.last_eval,
            "model": to_cpu(s.raw.state_dict()),
            "model_name": s.model.name,
            "model_config": s.model.config,
            "ema": None if s.ema is None else to_cpu(s.ema.state_dict()),
            "optimizer": to_cpu(
                s.optimizers[0].state_dict()
                if len(s.optimizers) == 1
                else [o.state_dict() for o in s.optimizers]
            ),
            "scheduler": s.budget.schedule.state_dict(),  # type: ignore[union-attr]
            "rng": rng,
            "train_config": s.config.to_dict(),
            "dataset": dataset_info(s.dataset),
            "best": None
            if s.best is None
            else {"eval": s.best_eval, "model": to_cpu(s.best.state_dict())},
        }
        kept = s.last_ckpt
        try:
            atomic_torch_save(checkpoint, s.run.checkpoint)
            kept = progress.step
            _export(s.averaged if s.best is None else s.best, s.run.path)
            write_train_config(s.run, s.config, s.model, s.dataset, s.hardware, progress.step)
        except StorageError as exc:
            raise StorageError(f"{exc} ({_kept(s.run.checkpoint, kept)})") from None
    s.last_ckpt = progress.step


def _kept(path: Path, step: int | None) -> str:
    """What a failed save left behind, for its message."""
    if step is None:
        return "no checkpoint had been written yet"
    return f"{path} holds step {step}: --resume continues from there"


def _tear_down(s: Session) -> Tensor | None:
    """Release the process group, then leave the final weights in ``model`` on the CPU."""
    last_collective = None
    if s.world > 1:  # every rank got here (rank 0 wrote its files): release the process group
        last_collective = torch.ones(1, device=s.fabric.device)
        dist.all_reduce(last_collective)
        time.sleep(SETTLE_SECONDS)  # see train(): let gloo's threads finish freeing earlier work
        dist.destroy_process_group()
    model = s.model
    if s.ema is not None:
        model.load_state_dict(s.ema.module.state_dict())
    if s.best is not None:
        model.load_state_dict(s.best.state_dict())
    model.to("cpu", memory_format=torch.contiguous_format)
    model.eval()
    return last_collective


def _result(s: Session, images: int, seconds: float, window: _Window) -> TrainResult:
    progress, run = s.progress, s.run
    return TrainResult(
        steps=progress.step,
        epochs=progress.step / s.budget.steps_per_epoch,  # type: ignore[union-attr]
        elapsed_seconds=time.perf_counter() - s.wall_start,
        train_seconds=progress.train_seconds,
        images_per_second=images / seconds if seconds > 0 else 0.0,
        train_metrics=window.last,
        eval_metrics=progress.last_eval,
        stop_reason=s.budget.kind,  # type: ignore[union-attr]
        out_dir=run.path,
        checkpoint_path=run.checkpoint,
        model_dir=run.path,
        metrics_path=run.metrics_csv,
        config_path=run.train_config,
        accelerator=s.hardware["accelerator"],
        precision=s.hardware["precision"],
        strategy=s.hardware["strategy"],
        world_size=s.world,
        global_rank=s.rank,
        resumed_from=None if s.state is None else int(s.state["step"]),
        best_eval=s.best_eval,
        procedure=s.procedure.name,
    )


# ---------------------------------------------------------------------------------------------
def _param_groups(module: nn.Module, weight_decay: float, name: str) -> list[dict[str, Any]]:
    """Decay weight matrices and kernels (``dim >= 2``), not biases or gains."""
    decay = [p for p in module.parameters() if p.requires_grad and p.dim() >= 2]
    other = [p for p in module.parameters() if p.requires_grad and p.dim() < 2]
    if not decay and not other:
        raise ConfigError(f"{name} has no trainable parameters; nothing to train")
    return [
        {"params": decay, "weight_decay": weight_decay, "name": "decay"},
        {"params": other, "weight_decay": 0.0, "name": "no_decay"},
    ]


def _norm_batches(s: Session) -> list[Split]:
    """The first :data:`NORM_BATCHES` training batches (fixed, on the device), or ``[]`` when the
    averaged model has no batch norm or is the raw model (whose statistics are its own)."""
    if s.averaged is s.raw or not has_batch_norm(s.averaged):
        return []
    data, size = s.train_data, s.config.batch_size
    n = min(data.train.shape[0], NORM_BATCHES * size)
    batches = []
    for start in range(0, n, size):
        part = _model_inputs(s.model, data.take("train", slice(start, start + size)))
        x = s.fabric.to_device(part.x).contiguous(memory_format=s.memory_format)
        batches.append(Split(x, s.fabric.to_device(part.y), s.fabric.to_device(part.c)))
    return batches


def _model_inputs(model: GenerativeModel, part: Split) -> Split:
    """What of a batch the model takes: labels for a class-conditional model, conditions for an
    image-conditional one (a class-conditional dataset also trains unconditional models)."""
    caps = model.capabilities
    return Split(
        part.x,
        part.y if caps.class_conditional else None,
        part.c if caps.image_conditional else None,
    )


def _batch(s: Session) -> Split:
    """This rank's slice of the next global batch, with its labels and conditions."""
    data, config, progress = s.train_data, s.config, s.progress
    indices = s.order.global_batch(progress.epoch, progress.batch_in_epoch)  # type: ignore[union-attr]
    mine = shard(indices, s.rank, s.world)
    part = _model_inputs(s.model, data.take("train", mine))
    images = None  # a changed global batch (so the number of devices does not matter)
    if config.binarize == "dynamic":
        generator = seeded_generator(config.seed, STREAM_BINARIZE, progress.step)
        images = dynamic_binarize(data.train_raw[indices], data.raw_levels, generator)
    if config.perturb > 0:  # one stream per batch of the data order: a GAN's critic batches too
        generator = seeded_generator(
            config.seed, STREAM_PERTURB, progress.epoch, progress.batch_in_epoch
        )
        clean = data.train[indices] if images is None else images
        images = perturb(clean, data.levels, config.perturb, generator)
    if images is not None:
        part = Split(shard(images, s.rank, s.world), part.y, part.c)
    return part


class _Window:
    """Sums of the metrics since the last log row; :attr:`last` keeps the latest means."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.reset()

    def reset(self) -> None:
        self.sums: Tensor | None = None
        self.keys: list[str] = []
        self.count = 0
        self.images = 0
        self.seconds = 0.0
        self.grad_norms: list[Tensor] = []

    def add(
        self, values: Tensor, keys: list[str], grad_norm: Tensor | None, images: int, seconds: float
    ) -> None:
        values = values.detach().double()
        self.sums = values if self.sums is None else self.sums + values
        self.keys = keys
        self.count += 1
        self.images += images
        self.seconds += seconds
        if grad_norm is not None:
            self.grad_norms.append(grad_norm.detach())

    def means(self) -> dict[str, float]:
        if self.sums is None:
            return dict(self.last)
        sums = self.sums.cpu().tolist()
        out = {k: v / self.count for k, v in zip(self.keys, sums, strict=True)}
        out["images_per_s"] = self.images / self.seconds if self.seconds > 0 else 0.0
        if self.grad_norms:
            out["grad_norm"] = float(torch.stack(self.grad_norms).double().mean())
        self.last = out
        return out


def _nan_message(value: float, step: int, s: Session) -> str:
    config, path, last_ckpt = s.config, s.run.checkpoint, s.last_ckpt
    clip = (
        f"a smaller --grad-clip (now {config.grad_clip:g})"
        if config.grad_clip > 0
        else "gradient clipping, e.g. --grad-clip 1.0"
    )
    where = (
        f"the last good checkpoint is {path} (step {last_ckpt}); continue from it with --resume"
        if last_ckpt is not None
        else "no checkpoint had been written yet"
    )
    return (
        f"training diverged: the loss is {value} at step {step}; try a lower --lr (now "
        f"{config.lr:g}) or {clip}; {where}"
    )


def _check_finite(model: nn.Module, step: int, path: Path, last_ckpt: int | None) -> None:
    """Refuse to overwrite a good checkpoint with non-finite weights."""
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            where = f"{path} (step {last_ckpt})" if last_ckpt is not None else "none written"
            raise TrainingError(
                f"training diverged: parameter {name!r} is not finite at step {step} although "
                f"the loss was; try a lower --lr or --grad-clip; the last good checkpoint: {where}"
            )


def _export(weights: GenerativeModel, out: Path) -> None:
    """Save a CPU, contiguous copy of ``weights`` with :meth:`GenerativeModel.save`."""
    exported = copy.deepcopy(weights).to("cpu", memory_format=torch.contiguous_format)
    exported.save(out)


def _progress_bar(enabled: bool, total: int | None, initial: int) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        disable=not enabled,
        file=sys.stderr,
        unit="step",
        dynamic_ncols=True,
    )


def _postfix(row: dict[str, Any]) -> dict[str, str]:
    out = {"loss": f"{row['loss']:.4f}"}
    if "bits_per_dim" in row:
        out["bpd"] = f"{row['bits_per_dim']:.3f}"
    if "eval_bits_per_dim" in row:
        out["eval_bpd"] = f"{row['eval_bits_per_dim']:.3f}"
    out["img/s"] = f"{row['images_per_s']:.0f}"
    return out


register_step_procedure("likelihood", LikelihoodStep())
register_step_procedure("adversarial", AdversarialStep())
