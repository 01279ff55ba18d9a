"""The lecture's comparison in one call: one model per family, same data, same budget, one report.

:func:`run_zoo` trains each model with :func:`genzoo.training.train` on the same dataset (the
same held-out validation images), seed and budget, evaluates it with
:func:`genzoo.evaluation.evaluate_run` on the same metrics (test likelihood where the model has
one, sample quality for all of them on one feature network), and writes the HTML report of the
runs (:func:`genzoo.report.build_report`) into ``OUT/report/``.

A run folder of a previous zoo with the same recipe is reused (so an interrupted zoo picks up
where it stopped); one with another recipe is refused.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genzoo.core.run import RunFolder
from genzoo.errors import ConfigError, GenzooError, TrainingError

#: one representative per family: explicit tractable, approximate, implicit, classic
DEFAULT_MODELS = ("gated_pixelcnn", "vae", "dcgan", "mixture_categorical")
#: training images held out for the periodic evaluation (the same ones for every model)
DEFAULT_VALIDATION = 200
#: the recipe fields a reused run must share with the zoo asked for
_RECIPE = ("steps", "minutes", "seed", "validation")


@dataclass
class ZooResult:
    """What :func:`run_zoo` did.

    Attributes:
        runs: the run folders in the report, in the order of ``models``.
        report: the report's ``index.html``.
        reused: models whose finished run was reused.
        failed: model -> the one-line error that stopped it (its run is not in the report).
        seconds: wall-clock seconds of the whole zoo.
    """

    runs: list[Path]
    report: Path
    reused: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


#: training minutes per model when no budget is given
DEFAULT_MINUTES = 2.0


def _budget(minutes: float | None, steps: int) -> tuple[float, int]:
    """``(minutes, steps)`` of each model: exactly one budget (training stops at one kind)."""
    if minutes is None:
        minutes = 0.0 if steps else DEFAULT_MINUTES
    if minutes < 0 or steps < 0:
        raise ConfigError("--minutes-per-model and --steps-per-model must be >= 0")
    if minutes > 0 and steps > 0:
        raise ConfigError("give one budget: --minutes-per-model or --steps-per-model, not both")
    if minutes == 0 and steps == 0:
        raise ConfigError("give a budget: --minutes-per-model or --steps-per-model")
    return float(minutes), int(steps)


def _check(models: Sequence[str]) -> None:
    from genzoo.models import get_model_class

    if not models:
        raise ConfigError("--models names no model; pass at least one (see `genzoo models`)")
    doubled = sorted({m for m in models if list(models).count(m) > 1})
    if doubled:
        raise ConfigError(f"--models names {', '.join(doubled)} twice; name each model once")
    for name in models:
        get_model_class(name)  # a ConfigError listing the models


def zoo_train_config(
    name: str,
    *,
    minutes: float,
    steps: int,
    seed: int,
    validation: int,
    progress: bool | None = None,
) -> Any:
    """The :class:`~genzoo.training.TrainConfig` of one zoo model: its recommended settings,
    the zoo's budget (``minutes`` or ``steps``, the other 0), seed and validation split, and a
    periodic evaluation often enough to draw a curve."""
    from genzoo.training import TrainConfig

    if steps:
        every = {
            "eval_every": max(1, min(100, steps // 5)),
            "log_every": max(1, min(50, steps // 10)),
        }
    else:
        every = {"eval_every": 100, "log_every": 25}
    return TrainConfig.recommended(
        name,
        minutes=minutes,
        steps=steps,
        seed=seed,
        validation=validation,
        progress=progress,
        **every,
    )


def run_zoo(
    out: str | os.PathLike[str],
    *,
    data: str = "digits",
    models: Sequence[str] = DEFAULT_MODELS,
    minutes_per_model: float | None = None,
    steps_per_model: int = 0,
    seed: int = 0,
    validation: int = DEFAULT_VALIDATION,
    evaluation: Any = None,
    progress: bool | None = None,
    say: Callable[[str], None] = lambda text: None,
) -> ZooResult:
    """Train, evaluate and report ``models`` on ``data`` into ``out`` (``out/MODEL/`` each,
    ``out/report/index.html``).

    Args:
        out: the zoo's folder.
        data: a dataset name of :func:`genzoo.data.load_dataset` (``digits``, ...).
        models: registered model names.
        minutes_per_model, steps_per_model: the budget of each model, one of the two: minutes
            of training, or optimizer steps (EM iterations); by default
            :data:`DEFAULT_MINUTES`.
        seed: seed of every model's initialisation, data order and evaluation.
        validation: training images held out for the periodic evaluation (the same for all).
        evaluation: the :class:`~genzoo.evaluation.config.EvalConfig` (default: sample quality
            on for every model, the IWAE bound on every test image).
        progress: training progress bars (``None``: when stderr is a terminal).
        say: called with a line of news at each stage (the library prints nothing).

    Raises:
        ConfigError: an unknown or doubled model, no budget or two, or a run folder in ``out`` that
            holds a run with another recipe.
        GenzooError: when every model failed (each failure is in the message).
    """
    import torch

    from genzoo.data import load_dataset
    from genzoo.evaluation import evaluate_run
    from genzoo.evaluation.config import EvalConfig, load_quality_network
    from genzoo.models import create_model
    from genzoo.report.html import build_report
    from genzoo.training import train

    models = list(models)
    _check(models)
    minutes_per_model, steps_per_model = _budget(minutes_per_model, steps_per_model)
    start = time.perf_counter()
    evaluation = (evaluation or EvalConfig(sample_quality=True, iwae_images=0)).validate()
    root = Path(out)
    spec = {"name": data, "levels": None, "size": None, "root": None}
    recipes = {
        name: zoo_train_config(
            name,
            minutes=minutes_per_model,
            steps=steps_per_model,
            seed=seed,
            validation=validation,
            progress=progress,
        )
        for name in models
    }
    for name, config in recipes.items():
        config.validate()
        # refuse a foreign run before anything trains
        _reusable(RunFolder(root / name), name, config, data)
    dataset = load_dataset(data, download=True)
    budget = f"{steps_per_model:,} steps" if steps_per_model else f"{minutes_per_model:g} min"
    say(
        f"zoo: {len(models)} models on {dataset.describe()}; {budget} of training each, then "
        "the evaluation of each (test likelihood, sample quality)"
    )
    features = load_quality_network(evaluation, True, dataset, say)
    result = ZooResult(runs=[], report=root / "report" / "index.html")
    for i, name in enumerate(models, 1):
        run = RunFolder(root / name)
        if _reusable(run, name, recipes[name], data):
            say(f"[{i}/{len(models)}] {name}: reusing the finished run in {run.path}")
            result.reused.append(name)
            result.runs.append(run.path)
            continue
        say(f"[{i}/{len(models)}] {name}: training ({budget}) -> {run.path}")
        try:
            torch.manual_seed(seed)
            model = create_model(name, shape=dataset.shape, levels=dataset.levels)
            run.write_data_spec(spec)
            trained = train(model, dataset, recipes[name], run.path)
            say(
                f"[{i}/{len(models)}] {name}: {trained.steps:,} steps in "
                f"{trained.train_seconds:.0f} s; evaluating"
            )
            metrics = evaluate_run(model, dataset, run.path, evaluation, features=features)
        except GenzooError as exc:
            result.failed[name] = str(exc)
            say(f"[{i}/{len(models)}] {name} failed: {exc}")
            continue
        say(f"[{i}/{len(models)}] {name}: {metrics.headline}")
        result.runs.append(run.path)
    if not result.runs:
        shown = "; ".join(f"{k}: {v}" for k, v in result.failed.items())
        raise GenzooError(f"every model of the zoo failed ({shown})")
    title = f"genzoo zoo on {data}: {budget} per model"
    result.report = build_report(result.runs, root / "report", title=title)
    result.seconds = time.perf_counter() - start
    return result


def _reusable(run: RunFolder, name: str, config: Any, data: str) -> bool:
    """Whether ``run`` holds a finished run of model ``name`` with this recipe and data
    (``False``: nothing there yet).

    Raises:
        ConfigError: it holds a run of another model, recipe or data.
        TrainingError: it holds an unfinished run.
    """
    if not run.holds_run():
        return False
    if not run.metrics_json.is_file():
        raise TrainingError(
            f"{run.path} holds an unfinished run (no {run.METRICS_JSON}); finish it with "
            f"`genzoo eval {run.path}` or delete the folder"
        )
    saved = run.read_train_config()
    recorded = saved.get("train_config", {})
    spec = run.read_data_spec() or {}
    wanted = config.to_dict()
    differs = [k for k in _RECIPE if recorded.get(k) != wanted[k]]
    if saved.get("model") != name:
        differs.append("model")
    if spec.get("name") != data:
        differs.append("data")
    if differs:
        raise ConfigError(
            f"{run.path} holds a run with another {', '.join(differs)}; choose another --out "
            "or delete the folder"
        )
    return True
