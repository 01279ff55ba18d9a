"""The training engine: :func:`train` fits any :class:`GenerativeModel` through ``model.loss``.

Lightning Fabric supplies the device, precision (autocast) and data-parallel wrapping; the loop
itself is explicit. Nothing here knows about a particular model: a step is
``model.loss(x, y)["loss"]`` -> backward -> clip -> AdamW -> EMA.

Reproducibility. The data order is a function of ``(seed, epoch)`` (see
:mod:`genzoo.training.batches`), dynamic binarisation of ``(seed, step)``, the global RNGs (used
by dropout) are seeded from ``(seed, rank)`` and saved per rank in every checkpoint, and
evaluation runs under a forked RNG so it never perturbs training. On CPU, ``N`` uninterrupted
steps and ``k`` steps + resume to ``N`` give bit-identical weights.

Distribution. ``devices=2, strategy="ddp"`` runs one process per device (Fabric re-executes the
calling script for ranks >= 1); each rank computes the loss on its slice of the global batch and
DDP averages the gradients, which equals the gradient of the global batch mean.
"""

from __future__ import annotations

import copy
import gc
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

import genzoo
from genzoo.data.dataset import Dataset, dynamic_binarize
from genzoo.errors import ConfigError, TrainingError
from genzoo.models.base import GenerativeModel
from genzoo.training.batches import (
    STREAM_BINARIZE,
    STREAM_GLOBAL,
    BatchOrder,
    derive_seed,
    seeded_generator,
    shard,
)
from genzoo.training.checkpoint import (
    CHECKPOINT_NAME,
    FORMAT,
    VERSION,
    atomic_torch_save,
    atomic_write_text,
    gather_rng,
    load_checkpoint,
    restore_rng,
    seed_all,
    to_cpu,
)
from genzoo.training.checks import check_data, check_resume, dataset_info
from genzoo.training.config import TrainConfig, resolve_accelerator, resolve_precision
from genzoo.training.ema import ExponentialMovingAverage, has_batch_norm, refresh_batch_norm
from genzoo.training.evaluate import eval_split, evaluate, scalar, scalar_keys, split_validation
from genzoo.training.hardware import make_fabric, resolve_strategy, set_memory_format
from genzoo.training.metrics import METRICS_NAME, MetricsWriter
from genzoo.training.schedule import LRSchedule

TRAIN_CONFIG_NAME = "train_config.json"
#: Pause (GIL released) before a distributed run releases its process group; see train().
_SETTLE_SECONDS = 0.1


@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes:
        steps: optimizer steps done in the whole run (including before a resume).
        epochs: ``steps / steps_per_epoch`` (fractional).
        elapsed_seconds: wall-clock seconds of this call.
        train_seconds: seconds spent in training steps over the whole run; the ``minutes``
            budget counts these (periodic evaluation and checkpoint writing excluded).
        images_per_second: training images per training second in this call (all devices).
        train_metrics: the model's training metrics (``loss``, ``bits_per_dim``, ...,
            ``images_per_s``, ``grad_norm``) averaged over the last logging window.
        eval_metrics: the last periodic evaluation (``loss``, ``bits_per_dim``, ... and
            ``step``), or ``None`` if none ran.
        stop_reason: ``"steps"``, ``"epochs"`` or ``"minutes"`` — the budget that ended the run
            (models fitted by their own algorithm: also ``"converged"`` or ``"max_iter"``).
        out_dir, checkpoint_path, model_dir, metrics_path, config_path: the files written.
        accelerator, precision, strategy: the resolved hardware settings.
        world_size, global_rank: this process's place in a distributed run (files and
            follow-up work such as the final evaluation belong to ``global_rank == 0``).
        resumed_from: the checkpoint's step when ``resume=True``, else ``None``.
        best_eval: with ``keep_best``, the validation metrics (and ``step``) of the weights the
            model ends with; else ``None``.
    """

    steps: int
    epochs: float
    elapsed_seconds: float
    train_seconds: float
    images_per_second: float
    train_metrics: dict[str, float]
    eval_metrics: dict[str, float] | None
    stop_reason: str
    out_dir: Path
    checkpoint_path: Path
    model_dir: Path
    metrics_path: Path
    config_path: Path
    accelerator: str
    precision: str
    strategy: str
    world_size: int
    global_rank: int
    resumed_from: int | None
    best_eval: dict[str, float] | None = None


@dataclass
class _Progress:
    """Where the run is; saved in, and restored from, the checkpoint."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    images_seen: int = 0
    train_seconds: float = 0.0
    elapsed: float = 0.0  # wall-clock seconds before this call (earlier sessions)
    last_eval: dict[str, float] | None = None

    @classmethod
    def from_checkpoint(cls, state: dict[str, Any]) -> _Progress:
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


def train(
    model: GenerativeModel,
    dataset: Dataset,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
) -> TrainResult:
    """Train ``model`` on ``dataset.train`` following ``config``; write the run to ``out_dir``.

    Args:
        model: any :class:`GenerativeModel` with ``shape``/``levels`` matching the dataset
            (CPU, fp32, as built by :func:`genzoo.create_model`). Trained in place.
        dataset: a :class:`genzoo.data.Dataset`; labels are passed to class-conditional models.
            Periodic evaluation uses the first ``config.eval_images`` test images.
        config: the recipe (``TrainConfig()`` for the defaults); validated here.
        out_dir: run directory, created if needed. Holds ``checkpoint.pt``, the model
            (``config.json`` + ``model.safetensors``, loadable with :func:`genzoo.load_model`),
            ``train_config.json``, ``metrics.csv`` and ``tb/``.
        resume: continue the run saved in ``out_dir/checkpoint.pt``. The budget may be raised
            and e.g. ``lr`` lowered; ``batch_size``, ``seed``, ``binarize``, the model and the
            dataset must match.

    Returns:
        A :class:`TrainResult`. Afterwards ``model`` holds the EMA weights (the plain final
        weights when ``ema_decay == 0``), on the CPU, in fp32, contiguous memory format and eval
        mode — the same weights as the saved model. The raw weights are in the checkpoint.

    Raises:
        ConfigError: an invalid config, or a model/dataset/config mismatch.
        TrainingError: a non-finite loss or weights (the last good checkpoint is left intact
            and named), a missing or incompatible checkpoint on resume, or an existing run in
            ``out_dir`` without ``resume``.

    Note:
        ``train`` seeds the global ``torch``/``random``/``numpy`` RNGs. With ``devices > 1``
        every rank must call ``train`` (Fabric starts ranks >= 1 by re-running the script);
        every rank returns (check :attr:`TrainResult.global_rank` before doing rank-0 work
        such as the final evaluation) and the process group is destroyed on return.
    """
    result, last_collective = _train(model, dataset, config, Path(out_dir), resume)
    if last_collective is not None:
        # The DDP wrapper's reducer holds the last reference to the process group, whose
        # destructor (run with the GIL held) joins gloo's worker threads. A worker still freeing
        # a finished collective whose tensor Python no longer references needs the GIL: a
        # deadlock, seen in about 1 run of 5 at exit. So _train pauses before tearing down, and
        # the wrapper is freed here while the last collective's tensor is still referenced.
        gc.collect()
    return result


def _train(
    model: GenerativeModel,
    dataset: Dataset,
    config: TrainConfig,
    out: Path,
    resume: bool,
) -> tuple[TrainResult, Tensor | None]:
    wall_start = time.perf_counter()
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a TrainConfig, got {type(config).__name__}")
    config.validate()
    if not isinstance(model, GenerativeModel):
        raise ConfigError(f"model must be a genzoo GenerativeModel, got {type(model).__name__}")
    if model.trained_by_fit:  # e.g. EM: the model's own fit() instead of gradient steps
        from genzoo.training.fitting import fit_run  # (fitting imports this module)

        return fit_run(model, dataset, config, out, resume), None
    train_data, eval_source = dataset, dataset  # with --validation: a held-out training part
    if config.validation > 0:
        train_data, eval_source = split_validation(dataset, config.validation, config.seed)
    check_data(model, train_data, config)
    ckpt_path = out / CHECKPOINT_NAME
    accelerator = resolve_accelerator(config.accelerator)
    precision = resolve_precision(config.precision, accelerator)
    strategy = resolve_strategy(config, model, dataset)
    fabric = make_fabric(config, accelerator, precision, strategy)
    rank, world = fabric.global_rank, fabric.world_size
    hardware = {
        "accelerator": accelerator,
        "precision": precision,
        "strategy": strategy,
        "world_size": world,
    }
    if config.batch_size % world:
        raise ConfigError(
            f"--batch-size {config.batch_size} is not divisible by the {world} devices; pass a "
            f"multiple of {world}"
        )
    state: dict[str, Any] | None = None
    if resume:
        state = load_checkpoint(ckpt_path)
        check_resume(state, model, dataset, config, ckpt_path)
    elif ckpt_path.exists():
        raise TrainingError(
            f"{out} already holds a training run ({CHECKPOINT_NAME}); pass resume=True "
            "(--resume) to continue it, or choose a new --out directory"
        )
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------------- model and optimiser
    seed_all(derive_seed(config.seed, STREAM_GLOBAL, rank))
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    if state is not None:
        model.load_state_dict(state["model"])
    set_memory_format(model, memory_format)
    model.train()
    ema = ExponentialMovingAverage(model, config.ema_decay) if config.ema_decay > 0 else None
    # one optimiser, or one per player of an adversarial model (discriminator, generator)
    optimizers = [
        torch.optim.AdamW(
            _param_groups(part, config.weight_decay),
            lr=config.lr,
            betas=(config.adam_beta1, config.adam_beta2),
        )
        for part in _players(model)
    ]
    fmodel, *foptimizers = fabric.setup(model, *optimizers)
    for method in ("loss", "discriminator_loss", "generator_loss"):
        if hasattr(model, method):
            fmodel.mark_forward_method(method)
    raw: GenerativeModel = fmodel.module  # the very `model` object, now on the device
    if ema is not None:
        ema.module.to(fabric.device)
        ema.copy_from(raw)  # after DDP's broadcast of rank 0's weights
    progress = _Progress()
    if state is not None:
        progress = _Progress.from_checkpoint(state)
        saved = state["optimizer"] if isinstance(state["optimizer"], list) else [state["optimizer"]]
        for optimizer, optimizer_state in zip(optimizers, saved, strict=True):
            optimizer.load_state_dict(optimizer_state)
            for group in optimizer.param_groups:  # the current config wins (lr is set per step)
                group["weight_decay"] = config.weight_decay if group["name"] == "decay" else 0.0
                group["betas"] = (config.adam_beta1, config.adam_beta2)
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        if len(state["rng"]) == world:
            restore_rng(state["rng"][rank], fabric.device)
        else:  # another number of devices: still deterministic, no longer bit-identical
            seed_all(derive_seed(config.seed, STREAM_GLOBAL, rank, progress.step))

    # ---------------------------------------------------------------- budget and schedule
    order = BatchOrder(int(train_data.train.shape[0]), config.batch_size, config.seed)
    # batches per optimizer step: a GAN's critic_steps discriminator updates take one each
    per_step = int(getattr(model, "critic_steps", 1)) if model.adversarial else 1
    spe = max(1, order.steps_per_epoch // per_step)  # optimizer steps per epoch
    kind, amount = config.budget()
    max_steps = {"steps": int(amount), "epochs": int(amount) * spe}.get(kind)
    max_seconds = 60.0 * amount if kind == "minutes" else None
    horizon = config.decay_steps or max_steps or 0
    if config.lr_schedule == "cosine" and horizon <= config.warmup_steps:
        raise ConfigError(
            f"--lr-schedule cosine over {horizon} steps leaves nothing after "
            f"--warmup-steps {config.warmup_steps}; raise the budget or lower the warm-up"
        )
    schedule = LRSchedule(config.lr, config.lr_schedule, config.warmup_steps, horizon)

    # ---------------------------------------------------------------- outputs
    if rank == 0:
        _write_train_config(out, config, model, dataset, hardware, progress.step)
    resume_step = None if state is None else progress.step
    metrics = MetricsWriter(out, resume_step=resume_step, enabled=rank == 0)
    bar = _progress_bar(config.progress and rank == 0, max_steps, progress.step)
    count = config.validation or config.eval_images
    eval_x, eval_y = eval_split(eval_source, model, count, rank, world)
    averaged = ema.module if ema is not None else raw  # evaluated and saved
    norm_batches = _norm_batches(train_data, config, model, fabric, memory_format, averaged, raw)

    def refresh_statistics() -> None:
        """Batch-norm statistics that belong to the averaged weights (see training.ema)."""
        if norm_batches:
            devices = [fabric.device] if fabric.device.type == "cuda" else []
            refresh_batch_norm(averaged, norm_batches, lambda m, b: m.loss(*b), devices=devices)

    # --keep-best: a copy of the averaged weights with the lowest validation loss so far
    best: GenerativeModel | None = None
    best_eval: dict[str, float] | None = None
    if state is not None and state.get("best") is not None:
        best = copy.deepcopy(averaged)
        best.load_state_dict(state["best"]["model"])
        best_eval = state["best"]["eval"]
    window = _Window()
    last_ckpt = resume_step
    keys: list[str] = []
    session_images, session_seconds = 0, 0.0

    def save() -> None:
        nonlocal last_ckpt
        _check_finite(raw, progress.step, ckpt_path, last_ckpt)
        refresh_statistics()
        rng = gather_rng(fabric)
        if rank == 0:
            checkpoint = {
                "format": FORMAT,
                "version": VERSION,
                "genzoo_version": genzoo.__version__,
                "step": progress.step,
                "epoch": progress.epoch,
                "batch_in_epoch": progress.batch_in_epoch,
                "images_seen": progress.images_seen,
                "train_seconds": progress.train_seconds,
                "elapsed": progress.elapsed + time.perf_counter() - wall_start,
                "last_eval": progress.last_eval,
                "model": to_cpu(raw.state_dict()),
                "model_name": model.name,
                "model_config": model.config,
                "ema": None if ema is None else to_cpu(ema.state_dict()),
                "optimizer": to_cpu(
                    optimizers[0].state_dict()
                    if len(optimizers) == 1
                    else [o.state_dict() for o in optimizers]
                ),
                "scheduler": schedule.state_dict(),
                "rng": rng,
                "train_config": config.to_dict(),
                "dataset": dataset_info(dataset),
                "best": None
                if best is None
                else {"eval": best_eval, "model": to_cpu(best.state_dict())},
            }
            atomic_torch_save(checkpoint, ckpt_path)
            _export(averaged if best is None else best, out)
            _write_train_config(out, config, model, dataset, hardware, progress.step)
        last_ckpt = progress.step

    def log(lr: float, scores: dict[str, float] | None) -> None:
        row = {
            "step": progress.step,
            "epoch": progress.step / spe,
            "elapsed": progress.elapsed + time.perf_counter() - wall_start,
            "train_seconds": progress.train_seconds,
            "lr": lr,
            **window.means(),
        }
        if scores is not None:
            row.update({f"eval_{k}": v for k, v in scores.items() if k != "step"})
        metrics.write(row)
        bar.set_postfix(_postfix(row), refresh=False)
        window.reset()

    # ---------------------------------------------------------------- the loop
    fmodel.train()  # evaluation switches the model to eval mode and back
    try:
        while max_steps is None or progress.step < max_steps:
            time_up = max_seconds is not None and progress.train_seconds >= max_seconds
            if time_up and world == 1:
                break
            t0 = time.perf_counter()
            lr = schedule(progress.step)
            for optimizer in optimizers:
                for group in optimizer.param_groups:
                    group["lr"] = lr

            def next_batch() -> tuple[Tensor, Tensor | None]:
                x, y = _batch(train_data, order, config, model, progress, rank, world)
                return fabric.to_device(x).contiguous(memory_format=memory_format), (
                    fabric.to_device(y)
                )

            def update(loss: Tensor, optimizer: Any) -> Tensor | None:
                fabric.backward(loss)
                norm = None
                if config.grad_clip > 0:
                    norm = fabric.clip_gradients(
                        fmodel, optimizer, max_norm=config.grad_clip, error_if_nonfinite=False
                    )
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                return norm

            if model.adversarial:
                if world > 1 and _any_rank(fabric, time_up):  # every rank stops at one step
                    break
                outputs, grad_norm = _adversarial_step(
                    fmodel,
                    foptimizers,
                    per_step,
                    next_batch,
                    progress,
                    order.steps_per_epoch,
                    fabric,
                    update,
                )
                keys = keys or _metric_keys(outputs)
                values = torch.stack([scalar(outputs, k, fabric.device) for k in keys])
                if world > 1:
                    values = fabric.all_reduce(values, reduce_op="sum") / world
                _check_loss(values, keys, progress.step + 1, config, ckpt_path, last_ckpt)
            else:
                x, y = next_batch()
                with fabric.autocast():
                    outputs = fmodel.loss(x, y)
                keys = keys or _metric_keys(outputs)
                values = torch.stack([scalar(outputs, k, x.device) for k in keys])
                if world > 1:  # one small collective: the metrics summed over ranks + time flags
                    flag = torch.tensor([float(time_up)], device=values.device)
                    reduced = fabric.all_reduce(torch.cat([values, flag]), reduce_op="sum")
                    values = reduced[:-1] / world
                    if bool(reduced[-1] > 0):  # every rank stops at the same step
                        break
                _check_loss(values, keys[:1], progress.step + 1, config, ckpt_path, last_ckpt)
                grad_norm = update(outputs["loss"], foptimizers[0])
            if ema is not None:
                ema.update(raw)
            seconds = time.perf_counter() - t0
            images = config.batch_size * per_step
            progress.advance(images, order.steps_per_epoch, seconds)
            session_seconds += seconds
            session_images += images
            window.add(values, keys, grad_norm, images, seconds)
            bar.update(1)

            step = progress.step
            evaluated = config.eval_every > 0 and step % config.eval_every == 0
            scores = None
            if evaluated and eval_x is not None:
                refresh_statistics()
                scores = evaluate(fabric, averaged, eval_x, eval_y, memory_format)
                progress.last_eval = {**scores, "step": step}
                if config.keep_best and (best_eval is None or scores["loss"] < best_eval["loss"]):
                    best_eval = progress.last_eval  # identical on every rank (all-reduced)
                    if best is None:
                        best = copy.deepcopy(averaged)
                    else:
                        best.load_state_dict(averaged.state_dict())
            if step % config.log_every == 0 or evaluated:
                log(lr, scores)
            if config.checkpoint_every > 0 and step % config.checkpoint_every == 0:
                save()
        if window.count:  # the steps since the last row, so the CSV ends at the final step
            log(schedule(progress.step - 1), None)
        if last_ckpt != progress.step:
            save()
    finally:
        bar.close()
        metrics.close()
    last_collective = None
    if world > 1:  # every rank got here (rank 0 wrote its files): release the process group
        last_collective = torch.ones(1, device=fabric.device)
        dist.all_reduce(last_collective)
        time.sleep(_SETTLE_SECONDS)  # see train(): let gloo's threads finish freeing earlier work
        dist.destroy_process_group()

    if ema is not None:
        model.load_state_dict(ema.module.state_dict())
    if best is not None:
        model.load_state_dict(best.state_dict())
    model.to("cpu", memory_format=torch.contiguous_format)
    model.eval()
    result = TrainResult(
        steps=progress.step,
        epochs=progress.step / spe,
        elapsed_seconds=time.perf_counter() - wall_start,
        train_seconds=progress.train_seconds,
        images_per_second=session_images / session_seconds if session_seconds > 0 else 0.0,
        train_metrics=window.last,
        eval_metrics=progress.last_eval,
        stop_reason=kind,
        out_dir=out,
        checkpoint_path=ckpt_path,
        model_dir=out,
        metrics_path=out / METRICS_NAME,
        config_path=out / TRAIN_CONFIG_NAME,
        accelerator=accelerator,
        precision=precision,
        strategy=strategy,
        world_size=world,
        global_rank=rank,
        resumed_from=resume_step,
        best_eval=best_eval,
    )
    return result, last_collective


# ---------------------------------------------------------------------- helpers
def _players(model: GenerativeModel) -> list[nn.Module]:
    """What each optimiser trains: the model, or a GAN's ``[discriminator, generator]``."""
    if not model.adversarial:
        return [model]
    players = [model.discriminator, model.generator]
    owned = {id(p) for part in players for p in part.parameters()}
    stray = [n for n, p in model.named_parameters() if id(p) not in owned]
    if stray:
        raise TrainingError(
            f"{model.name}: parameters {', '.join(stray)} belong to neither the generator nor "
            "the discriminator, so no optimiser would train them; move them into one of the two"
        )
    return players


def _adversarial_step(
    fmodel: Any,
    foptimizers: list[Any],
    critic_steps: int,
    next_batch: Any,
    progress: _Progress,
    steps_per_epoch: int,
    fabric: Any,
    update: Any,
) -> tuple[dict[str, Tensor], Tensor | None]:
    """One step of the two-player game: ``critic_steps`` discriminator updates, each on its own
    real batch against fresh generated images, then one generator update (Goodfellow et al.
    2014, Algorithm 1; Gulrajani et al. 2017, Algorithm 1).

    The generator step back-propagates through the discriminator; those gradients are thrown
    away (``update`` clears them) before the next discriminator step. Returns the last
    discriminator step's metrics with the generator's ``g_loss``, and the discriminator's
    gradient norm (when clipping).
    """
    d_optimizer, g_optimizer = foptimizers
    d_out: dict[str, Tensor] = {}
    grad_norm = None
    x = y = None
    for i in range(critic_steps):
        if i:  # the first batch is the one the step's position points at
            progress.next_batch(steps_per_epoch)
        x, y = next_batch()
        with fabric.autocast():
            d_out = fmodel.discriminator_loss(x, y)
        grad_norm = update(d_out["loss"], d_optimizer)
    with fabric.autocast():
        g_out = fmodel.generator_loss(x, y)
    update(g_out["loss"], g_optimizer)
    d_optimizer.zero_grad(set_to_none=True)
    return {**d_out, "g_loss": g_out["loss"].detach()}, grad_norm


def _any_rank(fabric: Any, flag: bool) -> bool:
    """Whether ``flag`` is set on any rank (one tiny collective)."""
    total = fabric.all_reduce(torch.tensor([float(flag)], device=fabric.device), reduce_op="sum")
    return bool(total[0] > 0)


def _check_loss(
    values: Tensor,
    keys: list[str],
    step: int,
    config: TrainConfig,
    path: Path,
    last_ckpt: int | None,
) -> None:
    """Raise :class:`TrainingError` if a loss among ``keys`` (``values``' first) is not finite."""
    for key, value in zip(keys, values.tolist()):
        if key in ("loss", "g_loss") and not math.isfinite(value):
            raise TrainingError(_nan_message(value, step, config, path, last_ckpt))


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Decay weight matrices and kernels (``dim >= 2``), not biases or gains."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    other = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    if not decay and not other:
        name = getattr(model, "name", type(model).__name__)
        raise ConfigError(f"{name} has no trainable parameters; nothing to train")
    return [
        {"params": decay, "weight_decay": weight_decay, "name": "decay"},
        {"params": other, "weight_decay": 0.0, "name": "no_decay"},
    ]


#: training batches that re-estimate the averaged weights' batch-norm statistics
NORM_BATCHES = 16


def _norm_batches(
    dataset: Dataset,
    config: TrainConfig,
    model: GenerativeModel,
    fabric: Any,
    memory_format: torch.memory_format,
    averaged: nn.Module,
    raw: nn.Module,
) -> list[tuple[Tensor, Tensor | None]]:
    """The first :data:`NORM_BATCHES` training batches (fixed, on the device), or ``[]`` when the
    averaged model has no batch norm or is the raw model (whose statistics are its own)."""
    if averaged is raw or not has_batch_norm(averaged):
        return []
    n = min(dataset.train.shape[0], NORM_BATCHES * config.batch_size)
    conditional = model.num_classes is not None and dataset.train_labels is not None
    batches = []
    for start in range(0, n, config.batch_size):
        x = dataset.train[start : start + config.batch_size]
        y = dataset.train_labels[start : start + config.batch_size] if conditional else None
        x = fabric.to_device(x).contiguous(memory_format=memory_format)
        batches.append((x, None if y is None else fabric.to_device(y)))
    return batches


def _batch(
    dataset: Dataset,
    order: BatchOrder,
    config: TrainConfig,
    model: GenerativeModel,
    progress: _Progress,
    rank: int,
    world: int,
) -> tuple[Tensor, Tensor | None]:
    """This rank's slice of the next global batch, and its labels for a conditional model."""
    indices = order.global_batch(progress.epoch, progress.batch_in_epoch)
    if config.binarize == "dynamic":  # binarise the global batch, so devices do not matter
        generator = seeded_generator(config.seed, STREAM_BINARIZE, progress.step)
        images = dynamic_binarize(dataset.train_raw[indices], dataset.raw_levels, generator)
        x = shard(images, rank, world)
    else:
        x = dataset.train[shard(indices, rank, world)]
    y = None
    if model.num_classes is not None and dataset.train_labels is not None:
        y = dataset.train_labels[shard(indices, rank, world)]
    return x, y


def _metric_keys(outputs: Any) -> list[str]:
    """The scalar metrics of the first ``model.loss`` output, after checking its contract."""
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


def _nan_message(
    value: float, step: int, config: TrainConfig, path: Path, last_ckpt: int | None
) -> str:
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


def _write_train_config(
    out: Path,
    config: TrainConfig,
    model: GenerativeModel,
    dataset: Dataset,
    hardware: dict[str, Any],
    step: int,
) -> None:
    """``train_config.json``: the recipe, the data, the model and the resolved hardware."""
    info = {
        "train_config": config.to_dict(),
        "dataset": dataset_info(dataset),
        "model": model.name,
        "model_config": model.config,
        **hardware,
        "step": step,
        "genzoo_version": genzoo.__version__,
    }
    atomic_write_text(json.dumps(info, indent=2) + "\n", out / TRAIN_CONFIG_NAME)


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
