"""What a training run returns and records: :class:`TrainResult` and ``train_config.json``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import genzoo
from genzoo.core.atomic import atomic_write_json
from genzoo.core.run import RunFolder
from genzoo.data.dataset import Dataset
from genzoo.models.base import GenerativeModel
from genzoo.training.checks import dataset_info
from genzoo.training.config import TrainConfig

#: kept for callers of genzoo 0.1; :class:`~genzoo.core.run.RunFolder` owns the names
TRAIN_CONFIG_NAME = RunFolder.TRAIN_CONFIG


@dataclass
class TrainResult:
    """What :func:`~genzoo.training.train` did.

    Attributes:
        steps: optimizer steps done in the whole run (including before a resume); for a model
            fitted by its own algorithm, its iterations.
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
        procedure: the training procedure that ran (``"likelihood"``, ``"adversarial"``,
            ``"fit"``).
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
    procedure: str = "likelihood"


def write_train_config(
    run: RunFolder,
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
        "machine": machine_info(),
        "step": step,
        "genzoo_version": genzoo.__version__,
    }
    atomic_write_json(run.train_config, info, sort_keys=False)


def machine_info() -> dict[str, Any]:
    """What the numbers of a run depend on: the CPU, its vector capability, the threads and the
    library versions (for the model card and for comparing timings across machines)."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            names = [
                line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")
            ]
        cpu = names[0] if names else cpu
    except OSError:  # not Linux
        pass
    return {
        "cpu": cpu,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
