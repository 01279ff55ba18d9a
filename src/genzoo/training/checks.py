"""Consistency checks between a model, a dataset, a recipe and a checkpoint being resumed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genzoo.data.dataset import Dataset
from genzoo.errors import ConfigError, TrainingError
from genzoo.models.base import GenerativeModel
from genzoo.training.config import TrainConfig

#: Recipe fields that fix the data stream: resuming with other values would not continue the run.
RESUME_FIXED = ("batch_size", "seed", "binarize", "validation", "perturb")


def dataset_info(dataset: Dataset) -> dict[str, Any]:
    """What a run records about its data (``train_config.json`` and the checkpoint)."""
    return {
        "name": dataset.name,
        "levels": dataset.levels,
        "raw_levels": dataset.raw_levels,
        "shape": list(dataset.shape),
        "num_classes": dataset.num_classes,
        "num_train": int(dataset.train.shape[0]),
        **(
            {}
            if dataset.task is None
            else {
                "task": dataset.task,
                "condition_shape": list(dataset.condition_shape or ()),
                "condition_levels": dataset.condition_levels,
            }
        ),
    }


def check_data(model: GenerativeModel, dataset: Dataset, config: TrainConfig) -> None:
    """Raise :class:`ConfigError` unless ``model`` can be trained on ``dataset`` with ``config``."""
    if tuple(dataset.shape) != tuple(model.shape) or dataset.levels != model.levels:
        raise ConfigError(
            f"the model expects images of shape {tuple(model.shape)} with {model.levels} levels "
            f"but {dataset.name!r} has shape {tuple(dataset.shape)} with {dataset.levels} levels; "
            "create the model with shape=data.shape, levels=data.levels"
        )
    _check_condition(model, dataset, config)
    if model.num_classes is not None and dataset.train_labels is None:
        raise ConfigError(
            f"the model is class-conditional ({model.num_classes} classes) but {dataset.name!r} "
            "has no labels; create the model with num_classes=None"
        )
    if config.keep_best and model.density == "none":
        raise ConfigError(
            f"--keep-best picks weights by their validation likelihood, but {model.name} has "
            "none (density='none'); drop --keep-best and compare checkpoints with `genzoo eval` "
            "(FID, KID, precision/recall)"
        )
    if config.binarize == "dynamic" and dataset.levels != 2:
        raise ConfigError(
            f"--binarize dynamic needs binary data, but {dataset.name!r} has {dataset.levels} "
            "levels; load it with levels=2 or use --binarize static"
        )
    n = int(dataset.train.shape[0])
    if config.batch_size > n:
        raise ConfigError(
            f"--batch-size {config.batch_size} exceeds the {n} training images of "
            f"{dataset.name!r}; pass a smaller --batch-size"
        )


def _check_condition(model: GenerativeModel, dataset: Dataset, config: TrainConfig) -> None:
    """The model's image condition and the dataset's task must agree."""
    conditional = model.capabilities.image_conditional
    if conditional and not dataset.conditioned:
        raise ConfigError(
            f"{model.name} is conditioned on an image but {dataset.name!r} has no conditions; "
            "make them with a task: --task NAME (Python: genzoo.data.apply_task), see "
            "`genzoo tasks`"
        )
    if dataset.conditioned and not conditional:
        task = (dataset.task or {}).get("name")
        raise ConfigError(
            f"{dataset.name!r} carries the conditions of task {task}, but {model.name} does not "
            "take a conditioning image; train an image-conditional model (see `genzoo models`) "
            "or drop --task"
        )
    if conditional and (
        tuple(dataset.condition_shape or ()) != tuple(model.condition_shape or ())
        or dataset.condition_levels != model.condition_levels
    ):
        raise ConfigError(
            f"the model expects conditions of shape {model.condition_shape} with "
            f"{model.condition_levels} levels but the task gives {dataset.condition_shape} with "
            f"{dataset.condition_levels}; create the model with condition_shape="
            "data.condition_shape, condition_levels=data.condition_levels"
        )
    if conditional and config.binarize == "dynamic":
        raise ConfigError(
            "--binarize dynamic draws new images every batch, which would no longer match "
            "their conditions; use --binarize static with --task"
        )


def check_resume(
    state: dict[str, Any],
    model: GenerativeModel,
    dataset: Dataset,
    config: TrainConfig,
    path: Path,
) -> None:
    """Raise :class:`TrainingError` unless the checkpoint ``state`` continues this run."""
    if state["model_name"] != model.name or state["model_config"] != model.config:
        saved, now = state["model_config"], model.config
        diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        detail = ", ".join(f"{k}: saved {saved.get(k)!r}, given {now.get(k)!r}" for k in diff)
        raise TrainingError(
            f"cannot resume from {path}: it was written for {state['model_name']} but the model "
            f"given is {model.name}"
            + (f" with different hyper-parameters ({detail})" if detail else "")
            + "; build the model with the saved config.json, or use a new --out directory"
        )
    saved_data, data = state["dataset"], dataset_info(dataset)
    for key in ("name", "levels", "shape"):
        if saved_data.get(key) != data[key]:
            raise TrainingError(
                f"cannot resume from {path}: it was trained on {saved_data.get('name')!r} with "
                f"{key}={saved_data.get(key)!r}, now {key}={data[key]!r}; load the same dataset"
            )
    saved_config = {**TrainConfig().to_dict(), **state["train_config"]}  # older runs: defaults
    for key in RESUME_FIXED:
        if saved_config.get(key) != getattr(config, key):
            raise TrainingError(
                f"cannot resume from {path}: --{key.replace('_', '-')} was "
                f"{saved_config.get(key)!r}, now {getattr(config, key)!r}; it fixes the data "
                "order, so pass the saved value (see train_config.json) or use a new --out"
            )
