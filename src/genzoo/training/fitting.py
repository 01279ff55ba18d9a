"""Training runs of models fitted by their own algorithm (``model.trained_by_fit``, e.g. EM).

:func:`genzoo.training.train` hands such models here: instead of gradient steps on ``loss`` it
calls ``model.fit(x, y, generator=..., max_iter=..., callback=...)`` once on the training images
and writes the same run files as a gradient run — ``config.json`` + ``model.safetensors``
(loadable with :func:`genzoo.load_model`), ``train_config.json`` and ``metrics.csv`` — and returns
a :class:`~genzoo.training.TrainResult`, so ``genzoo eval/sample/complete`` treat the run like
any other.

How the recipe maps onto a fit. One *step* is one iteration of the algorithm, a full pass over
the training images (so ``steps == epochs``). The budget caps the iterations below the model's
own ``max_iter`` (``--steps N`` / ``--epochs N``: at most ``N``; ``--minutes M``: no iteration
starts after ``M`` minutes); the fit also stops when it converges (``stop_reason ==
"converged"``). ``--seed`` seeds the fit's generator (and ``--perturb``'s one perturbed copy of
the training images), ``--validation N`` holds ``N`` training images out, and every iteration
writes a ``metrics.csv`` row: the training log-likelihood of that iteration's parameters and,
when ``--eval-every`` > 0, the ``model.loss`` metrics on the held-out images (``--validation``,
else the first ``--eval-images`` test images); ``--keep-best`` ends with the iteration of the
lowest held-out loss. Optimiser, batch, EMA, precision and checkpoint options play no part;
there is no ``checkpoint.pt`` and no resume (a fit is rerun from scratch), and a fit runs in one
process on the CPU.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import torch

from genzoo.core.run import RunFolder
from genzoo.data.dataset import Dataset
from genzoo.errors import ConfigError, TrainingError
from genzoo.models.base import GenerativeModel, with_condition
from genzoo.training.batches import STREAM_PERTURB, perturb, seeded_generator
from genzoo.training.checkpoint import hold_run
from genzoo.training.checks import check_data
from genzoo.training.config import TrainConfig
from genzoo.training.evaluate import eval_split, evaluate, split_validation
from genzoo.training.hardware import make_fabric
from genzoo.training.metrics import MetricsWriter
from genzoo.training.procedures import PROCEDURES
from genzoo.training.result import TrainResult, write_train_config

HARDWARE = {"accelerator": "cpu", "precision": "32", "strategy": "fit", "world_size": 1}


def fit_run(
    model: GenerativeModel, dataset: Dataset, config: TrainConfig, out: Path, resume: bool
) -> TrainResult:
    """Fit ``model`` on ``dataset`` following ``config`` and write the run (module docstring)."""
    wall_start = time.perf_counter()
    if resume:
        raise TrainingError(
            f"{model.name} is fitted by its own algorithm in one go; there is nothing to resume. "
            "Rerun the command without --resume (a fit takes seconds to minutes)"
        )
    if config.devices != 1 or config.binarize != "static":
        raise ConfigError(
            f"{model.name} is fitted on fixed data in one process: drop --devices and "
            "--binarize dynamic"
        )
    train_data, eval_source = dataset, dataset
    if config.validation > 0:
        train_data, eval_source = split_validation(dataset, config.validation, config.seed)
    check_data(model, train_data, dataclasses.replace(config, batch_size=1))  # no batches here
    run = RunFolder(out)
    with hold_run(run):
        if run.holds_run():
            raise TrainingError(f"{out} already holds a training run; choose a new --out directory")
        try:
            return _fit(model, dataset, train_data, eval_source, config, run, wall_start)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(
                f"the fit of {model.name} was interrupted; a fit has no checkpoint to resume — "
                "run the same command again (without --resume)"
            ) from None


def _fit(
    model: GenerativeModel,
    dataset: Dataset,
    train_data: Dataset,
    eval_source: Dataset,
    config: TrainConfig,
    run: RunFolder,
    wall_start: float,
) -> TrainResult:
    out = run.path
    write_train_config(run, config, model, dataset, HARDWARE, 0)

    kind, amount = config.budget()
    max_iter = int(model.max_iter)
    if kind in ("steps", "epochs"):
        max_iter = min(max_iter, int(amount))
    deadline = 60.0 * amount if kind == "minutes" else math.inf
    fabric = make_fabric(dataclasses.replace(config, devices=1), "cpu", "32", "auto")
    count = config.validation or config.eval_images
    held = eval_split(eval_source, model, count, 0, 1)
    part = train_data.take("train", slice(None))
    generator = seeded_generator(config.seed, STREAM_PERTURB)  # one perturbed copy, if asked
    x = perturb(part.x, train_data.levels, config.perturb, generator)
    y = part.y if model.num_classes is not None else None
    c = part.c if model.capabilities.image_conditional else None
    metrics = MetricsWriter(out, resume_step=None, enabled=True)
    state: dict[str, Any] = {"step": 0, "last": {}, "eval": None, "best": None, "best_eval": None}
    start = time.perf_counter()

    def callback(row: dict[str, float]) -> bool:
        state["step"] += 1
        step, seconds = state["step"], time.perf_counter() - start
        state["last"] = dict(row)
        logged: dict[str, Any] = {
            "step": step,
            "epoch": float(step),
            "elapsed": time.perf_counter() - wall_start,
            "train_seconds": seconds,
            "lr": None,
            "images_per_s": step * x.shape[0] / seconds if seconds > 0 else 0.0,
            **row,
        }
        if held is not None and config.eval_every > 0:
            scores = evaluate(fabric, model, held)
            state["eval"] = {**scores, "step": step}
            logged.update({f"eval_{k}": v for k, v in scores.items()})
            best = state["best_eval"]
            if config.keep_best and (best is None or scores["loss"] < best["loss"]):
                state["best_eval"] = state["eval"]
                state["best"] = copy.deepcopy(model.state_dict())
        metrics.write(logged)
        return seconds >= deadline

    try:
        history = model.fit(
            x,
            y,
            **with_condition(c),
            generator=torch.Generator().manual_seed(config.seed),
            max_iter=max_iter,
            callback=callback,
        )
    finally:
        metrics.close()
    steps = len(history)
    train_seconds = time.perf_counter() - start
    if state["best"] is not None:
        model.load_state_dict(state["best"])
    model.eval()
    model.save(out)
    write_train_config(run, config, model, dataset, HARDWARE, steps)
    if kind == "minutes" and train_seconds >= 60.0 * amount:
        stop_reason = "minutes"
    elif steps < max_iter:
        stop_reason = "converged"
    else:
        stop_reason = kind if max_iter < int(model.max_iter) else "max_iter"
    return TrainResult(
        steps=steps,
        epochs=float(steps),
        elapsed_seconds=time.perf_counter() - wall_start,
        train_seconds=train_seconds,
        images_per_second=steps * x.shape[0] / train_seconds if train_seconds > 0 else 0.0,
        train_metrics=state["last"],
        eval_metrics=state["eval"],
        stop_reason=stop_reason,
        out_dir=out,
        checkpoint_path=run.weights,  # the fitted model is the only state
        model_dir=out,
        metrics_path=run.metrics_csv,
        config_path=run.train_config,
        accelerator="cpu",
        precision="32",
        strategy="fit",
        world_size=1,
        global_rank=0,
        resumed_from=None,
        best_eval=state["best_eval"],
        procedure="fit",
    )


class FitProcedure:
    """The ``"fit"`` procedure: the model's own algorithm, in one process (module docstring)."""

    def run(
        self, model: GenerativeModel, dataset: Dataset, config: TrainConfig, out: Path, resume: bool
    ) -> tuple[TrainResult, None]:
        return fit_run(model, dataset, config, out, resume), None


PROCEDURES.add("fit", FitProcedure())
