"""A run's model card: what was trained, on what, with which budget, and where its figures are.

Everything comes from the run folder (:class:`~genzoo.core.run.RunFolder`): ``metrics.json``
(:class:`~genzoo.core.metrics.RunMetrics`), ``train_config.json``, ``data.json``,
``metrics.csv`` and the saved model, whose class declares its paper, density and training
procedure. Where the model sits in the lecture's taxonomy is read from the declarations and
from the folder of :mod:`genzoo.models` its class lives in (see :func:`family_of`).
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genzoo.core.metrics import RunMetrics
from genzoo.core.run import RunFolder
from genzoo.models.base import GenerativeModel
from genzoo.report.curves import Curves, read_curves

#: the lecture's taxonomy, in the order the report shows it: key -> heading
FAMILIES = {
    "tractable": "Explicit density, tractable (exact likelihood)",
    "approximate": "Explicit density, approximate (a bound or an estimate)",
    "implicit": "Implicit density (samples only)",
    "classic": "Classic models",
}
#: declared ``density`` -> taxonomy key, for every model outside ``genzoo.models.classic``
_BY_DENSITY = {"exact": "tractable", "bound": "approximate", "estimate": "approximate"}
#: what a ``density`` value means, for the model card
DENSITY_MEANINGS = {
    "exact": "exact log-likelihood",
    "bound": "a lower bound on the log-likelihood (bits/dim: an upper bound)",
    "estimate": "a stochastic estimate of the log-likelihood",
    "none": "no likelihood: judged by its samples",
}


def family_of(cls: type[GenerativeModel]) -> str:
    """The taxonomy key of a model class (a key of :data:`FAMILIES`).

    Models of :mod:`genzoo.models.classic` are ``"classic"`` whatever their density; any other
    model (a plug-in's too) is placed by its declared ``density``: ``exact`` -> tractable,
    ``bound``/``estimate`` -> approximate, ``none`` -> implicit.
    """
    if cls.__module__.startswith("genzoo.models.classic."):
        return "classic"
    return _BY_DENSITY.get(cls.density, "implicit")


def paper_of(cls: type[GenerativeModel]) -> str:
    """The paper a model class follows: its declared ``paper``, else what its module's
    docstring names after the dash of its first paragraph (``"PixelCNN — van den Oord ..."``),
    else ``""``."""
    if cls.paper:
        return cls.paper
    module = sys.modules.get(cls.__module__)
    doc = inspect.getdoc(module) if module is not None else None
    first = " ".join((doc or "").split("\n\n")[0].split())
    _, dash, cited = first.partition(" — ")
    return cited if dash else ""


@dataclass
class RunCard:
    """One run, as the report shows it.

    Attributes:
        path: the run folder.
        name: the folder's name (how the report names the run).
        metrics: its final evaluation.
        curves: its training curves.
        model, paper, family, density: the model's name, paper, taxonomy key, declared density.
        parameters: learned numbers (trainable parameters; for models fitted by their own
            algorithm, their fitted floating-point buffers).
        hyperparameters: the model's constructor arguments beyond shape and levels.
        facts: the card's rows, ``(label, text)``, in order.
        figures: role (``"samples"``, ``"completion"``, ``"reconstruction"``) -> PNG file.
        eval_label: what the periodic evaluation ran on (validation or test images).
        train_seconds, images_per_second: the training time and throughput over the run.
        seed: the training seed.
    """

    path: Path
    name: str
    metrics: RunMetrics
    curves: Curves
    model: str
    paper: str
    family: str
    density: str
    parameters: int
    hyperparameters: dict[str, Any]
    facts: list[tuple[str, str]] = field(default_factory=list)
    figures: dict[str, Path] = field(default_factory=dict)
    eval_label: str = "validation"
    train_seconds: float | None = None
    images_per_second: float | None = None
    seed: int | None = None


def read_card(path: str | os.PathLike[str]) -> RunCard:
    """The :class:`RunCard` of a run folder written by ``genzoo train``.

    Raises:
        ModelError: the folder has no readable ``metrics.json``, ``train_config.json`` or model.
    """
    from genzoo.models import load_model

    run = RunFolder(path)
    metrics = run.read_metrics()
    recipe = run.read_train_config()
    spec = run.read_data_spec() or {}
    model = load_model(run.path)
    cls = type(model)
    caps = model.capabilities
    curves = read_curves(run.metrics_csv)
    train = recipe.get("train_config", {})
    config = {k: v for k, v in model.config.items() if k not in ("shape", "levels")}
    card = RunCard(
        path=run.path,
        name=run.path.resolve().name,
        metrics=metrics,
        curves=curves,
        model=metrics.model,
        paper=paper_of(cls),
        family=family_of(cls),
        density=caps.density,
        parameters=_count(model, fitted=caps.training == "fit"),
        hyperparameters=config,
        figures=_figures(run, metrics),
        eval_label=_eval_label(train),
        train_seconds=curves.train_seconds(),
        images_per_second=curves.images_per_second(),
        seed=train.get("seed"),
    )
    card.facts = _facts(card, recipe, spec, caps.training)
    return card


def _count(model: GenerativeModel, *, fitted: bool) -> int:
    count = sum(p.numel() for p in model.parameters())
    if fitted:  # EM-fitted models keep what they learned in buffers
        count += sum(b.numel() for b in model.buffers() if b.is_floating_point())
    return count


def _figures(run: RunFolder, metrics: RunMetrics) -> dict[str, Path]:
    """The evaluation's figures that exist, found beside metrics.json when the recorded path
    no longer does (a moved or copied run folder)."""
    found = {}
    for role, recorded in metrics.files().items():
        for candidate in (Path(recorded), run.figure(Path(recorded).name)):
            if candidate.is_file():
                found[role] = candidate
                break
    return found


def _eval_label(train: dict[str, Any]) -> str:
    held_out = int(train.get("validation") or 0)
    if held_out > 0:
        return f"validation ({held_out:,} held-out training images)"
    return f"test (first {int(train.get('eval_images') or 0):,} test images)"


def _budget(train: dict[str, Any]) -> str:
    asked = [
        f"{train[k]:g} {unit}"
        for k, unit in (("steps", "steps"), ("epochs", "epochs"), ("minutes", "min"))
        if train.get(k)
    ]
    return " or ".join(asked) or "default (1000 steps)"


def _facts(
    card: RunCard, recipe: dict[str, Any], spec: dict[str, Any], procedure: str
) -> list[tuple[str, str]]:
    m = card.metrics
    train = recipe.get("train_config", {})
    data = recipe.get("dataset", {})
    c, h, w = m.shape
    data_text = f"{m.dataset}: {c}×{h}×{w}, {m.levels} levels"
    if data.get("num_train") is not None:
        data_text += f", {int(data['num_train']):,} training images"
        held_out = int(train.get("validation") or 0)
        if held_out:
            data_text += f" ({held_out:,} of them held out for validation)"
    data_text += f", {m.num_test_images:,} test images"
    task = m.task or spec.get("task")
    spent = f"{int(card.curves.last('step') or recipe.get('step') or 0):,} steps"
    epochs = card.curves.last("epoch")
    if epochs is not None:
        spent += f" ({epochs:.1f} epochs)"
    if card.train_seconds is not None:
        digits = 1 if card.train_seconds < 10 else 0
        spent += f" in {card.train_seconds:.{digits}f} s of training"
    machine = recipe.get("machine") or {}
    where = ""
    if machine:  # runs trained since the machine is recorded
        device = machine.get("cuda") or machine.get("cpu", "?")
        where = f"{device}, {machine.get('threads')} thread(s), "
    hardware = (
        f"{where}{recipe.get('accelerator', '?')}, precision {recipe.get('precision', '?')}, "
        f"{recipe.get('world_size', 1)} process(es); genzoo {recipe.get('genzoo_version', '?')}"
    )
    hyper = ", ".join(f"{k}={v}" for k, v in card.hyperparameters.items() if v is not None)
    facts = [
        ("model", card.model),
        ("paper", card.paper or "—"),
        ("family", FAMILIES[card.family]),
        ("density", f"{card.density}: {DENSITY_MEANINGS.get(card.density, card.density)}"),
        ("parameters", f"{card.parameters:,}" + (" (fitted)" if procedure == "fit" else "")),
        ("hyper-parameters", hyper or "—"),
        ("data", data_text),
        ("task", _task_text(task)),
        ("training", _training_text(procedure, train)),
        ("budget", f"{_budget(train)}; spent {spent}"),
        ("hardware", hardware),
        ("seed", str(card.seed)),
        ("periodic evaluation", card.eval_label),
    ]
    return [(k, v) for k, v in facts if v]


def _training_text(procedure: str, train: dict[str, Any]) -> str:
    if procedure == "fit":  # batch size and learning rate play no part
        return "fit: the model's own algorithm (e.g. EM), one step = one iteration"
    text = f"{procedure}; batch {train.get('batch_size', '?')}, lr {train.get('lr')}"
    if train.get("ema_decay"):
        text += f", EMA {train['ema_decay']}"
    return text


def _task_text(task: Any) -> str:
    if not task:
        return "unconditional generation"
    if isinstance(task, dict):
        name = task.get("name", "task")
        options = ", ".join(f"{k}={v}" for k, v in task.items() if k != "name")
        return f"{name} ({options})" if options else str(name)
    return str(task)


def slug(text: str) -> str:
    """A file-name-safe form of ``text`` (letters, digits, ``-`` and ``_``)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:60] or "run"
