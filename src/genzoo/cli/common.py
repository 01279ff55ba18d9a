"""Helpers shared by the sub-commands: flags generated from dataclasses and signatures, the data
a run uses, its model and its evaluation recipe."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import sys
import types
import typing
from collections.abc import Callable
from typing import Any

from genzoo.core.artifact import CONFIG_NAME, WEIGHTS_NAME
from genzoo.core.run import RunFolder
from genzoo.errors import GenzooError


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parser_for(annotation: Any) -> tuple[Callable[[str], Any] | None, bool]:
    """(string -> value converter, is_bool) for a simple annotation; Optional allowed."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            inner, is_bool = _parser_for(args[0])
            if inner is None or is_bool:
                return inner, is_bool

            def optional(text: str) -> Any:
                return None if text.lower() == "none" else inner(text)

            return optional, False
        return None, False
    if origin is tuple and typing.get_args(annotation)[-1:] == (Ellipsis,):
        item = typing.get_args(annotation)[0]

        def comma_list(text: str) -> tuple:
            try:
                return tuple(item(part) for part in text.split(",") if part.strip())
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"expected a comma list of {item.__name__} values, got {text!r}"
                ) from None

        return comma_list, False
    if annotation is bool:
        return None, True
    if annotation in (int, float, str):
        return annotation, False
    return None, False


def add_typed_arguments(
    parser: argparse.ArgumentParser,
    params: dict[str, tuple[Any, Any, str, tuple | None]],
) -> None:
    """Add ``--name`` for each ``name -> (annotation, default, help, choices)``.

    Defaults stay unset:

    options not given on the command line are absent from the namespace, so the library's own
    defaults apply (they are written once, in the dataclass or constructor).
    """
    for name, (annotation, default, help_text, choices) in params.items():
        convert, is_bool = _parser_for(annotation)
        shown = "" if "(default:" in help_text else f" (default: {default})"  # said in the text
        text = f"{help_text}{shown}".strip().replace("%", "%%")
        if is_bool:
            parser.add_argument(
                flag(name),
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=text,
            )
        elif convert is not None:
            parser.add_argument(
                flag(name),
                dest=name,
                type=convert,
                choices=choices,
                default=argparse.SUPPRESS,
                help=text,
            )


def dataclass_params(cls: type, exclude: typing.Iterable[str] = ()) -> dict[str, tuple]:
    """``name -> (annotation, default, help, choices)`` of a recipe dataclass's fields."""
    hints = typing.get_type_hints(cls)
    return {
        f.name: (
            hints[f.name],
            _shown(f.default),
            f.metadata.get("help", ""),
            f.metadata.get("choices"),
        )
        for f in dataclasses.fields(cls)
        if f.name not in exclude
    }


def _shown(default: Any) -> Any:
    if isinstance(default, tuple):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in default)
    return default


def add_dataclass_arguments(
    parser: argparse.ArgumentParser, cls: type, exclude: typing.Iterable[str] = ()
) -> None:
    """One flag per field of ``cls``, in the argument groups its fields' metadata name."""
    params = dataclass_params(cls, exclude)
    groups: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in params:
            title = f.metadata.get("group")
            target = (
                parser
                if title is None
                else groups.setdefault(title, parser.add_argument_group(title))
            )
            add_typed_arguments(target, {f.name: params[f.name]})


def docstring_args(doc: str | None) -> dict[str, str]:
    """``name -> description`` from the ``Args:`` section of a Google-style docstring."""
    out: dict[str, str] = {}
    lines = inspect.cleandoc(doc or "").splitlines()
    if "Args:" not in lines:
        return out
    current = None
    for line in lines[lines.index("Args:") + 1 :]:
        if line and not line.startswith(" "):
            break
        text = line.strip()
        head, sep, rest = text.partition(": ")
        if sep and line.startswith("    ") and not line.startswith("     ") and " " not in head:
            current = head
            out[current] = rest
        elif current and text:
            out[current] += " " + text
    return out


def signature_params(params: dict[str, inspect.Parameter], cls: type) -> dict[str, tuple]:
    hints: dict[str, Any] = {}
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):  # a subclass's hints and docs win over its parents'
        if "__init__" in klass.__dict__:
            hints.update(typing.get_type_hints(klass.__init__))
            docs.update(docstring_args(klass.__doc__))
    return {
        name: (hints.get(name, str), p.default, docs.get(name, "model hyper-parameter"), None)
        for name, p in params.items()
    }


def picked(args: argparse.Namespace, names: typing.Iterable[str]) -> dict[str, Any]:
    """The subset of ``args`` the user actually gave among ``names``."""
    return {n: getattr(args, n) for n in names if hasattr(args, n)}


def add_data_arguments(
    parser: argparse.ArgumentParser, *, required: bool, default: str | None = None
) -> None:
    """``--data`` and how to load it; ``--task`` and its options (:mod:`genzoo.data.tasks`)."""
    from genzoo.data.tasks import TASKS, task_option_fields

    shown = "" if default is None else f" (default: {default})"
    parser.add_argument(
        "--data",
        required=required,
        default=None,
        help="dataset: digits, fashion-mnist, mnist, photos, folder:PATH, npz:PATH "
        f"(`genzoo datasets`){shown}",
    )
    parser.add_argument("--levels", type=int, default=None, help="re-quantise to this many levels")
    parser.add_argument("--size", type=int, default=None, help="resize images to SIZE x SIZE")
    parser.add_argument("--data-root", default=None, help="directory to look for / download data")
    parser.add_argument(
        "--no-download", dest="download", action="store_false", help="never download data"
    )
    group = parser.add_argument_group("task: (condition, target) pairs made from the images")
    group.add_argument(
        "--task",
        choices=TASKS.names(),
        default=None,
        help="condition every image on a conditioning image made from it, for image-conditional "
        "models (`genzoo tasks`)",
    )
    fields = task_option_fields()
    hints: dict[str, Any] = {}
    for _, cls in TASKS.items():
        hints.update(typing.get_type_hints(cls))
    add_typed_arguments(
        group,
        {n: (hints[n], f.default, f.metadata.get("help", ""), None) for n, f in fields.items()},
    )


def data_spec(args: argparse.Namespace) -> dict[str, Any]:
    """What ``data.json`` records: the dataset, how it was loaded, and the task, if any."""
    from genzoo.data.tasks import make_task, task_option_fields

    options = picked(args, task_option_fields())
    task = getattr(args, "task", None)
    if task is None and options:
        shown = ", ".join(flag(n) for n in options)
        raise GenzooError(f"{shown} is an option of a task; pass --task too (`genzoo tasks`)")
    spec: dict[str, Any] = {
        "name": args.data,
        "levels": args.levels,
        "size": args.size,
        "root": args.data_root,
    }
    if task is not None:
        spec["task"] = make_task(task, **options).to_dict()  # validated, defaults recorded
    return spec


def load_data(spec: dict[str, Any], download: bool = True):
    """The :class:`~genzoo.data.Dataset` a data spec names (with its task applied)."""
    from genzoo.data import load_dataset

    return load_dataset(
        spec["name"],
        levels=spec.get("levels"),
        size=spec.get("size"),
        root=spec.get("root"),
        download=download,
        task=spec.get("task"),
    )


def run_data(run: RunFolder, args: argparse.Namespace):
    """``(dataset, own)``: the data a run was trained on (``data.json``), unless ``--data``
    names other data; ``own`` says whether it is the run's own data."""
    saved = run.read_data_spec()
    if getattr(args, "data", None):
        spec = data_spec(args)
        if spec.get("task") is None and saved is not None and saved.get("task") is not None:
            spec["task"] = saved["task"]  # the model needs the conditions it was trained on
        return load_data(spec, args.download), saved is not None and spec == saved
    if getattr(args, "task", None) is not None:
        raise GenzooError("--task needs --data: the run's own data already has its task")
    if saved is None:
        raise GenzooError(f"{run.path} has no {run.DATA_SPEC}; pass --data to name the dataset")
    return load_data(saved, getattr(args, "download", True)), True


def evaluation_name(spec: dict[str, Any]) -> str:
    """A folder name for an evaluation on other data: ``mnist``, ``folder-photos-size16``."""
    text = str(spec["name"]).replace(":", "-").replace("/", "-").strip("-.") or "data"
    for key in ("levels", "size"):
        if spec.get(key) is not None:
            text += f"-{key}{spec[key]}"
    return text


def load_run_model(run_dir: str | os.PathLike[str]):
    from genzoo.models import load_model

    return load_model(RunFolder(run_dir).path)


def add_seed_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def add_eval_arguments(parser: argparse.ArgumentParser, exclude: typing.Iterable[str] = ()) -> None:
    """The flags of :class:`~genzoo.evaluation.config.EvalConfig` (all but ``exclude``)."""
    from genzoo.evaluation.config import EvalConfig

    add_dataclass_arguments(parser, EvalConfig, exclude)


def eval_config(args: argparse.Namespace, exclude: typing.Iterable[str] = (), **fixed: Any):
    """The :class:`~genzoo.evaluation.config.EvalConfig` of the flags given (and ``fixed``);
    ``exclude``: fields whose flags the command did not add (:func:`add_eval_arguments`)."""
    from genzoo.evaluation.config import EvalConfig

    names = [f.name for f in dataclasses.fields(EvalConfig) if f.name not in set(exclude)]
    return EvalConfig.from_options(**{**picked(args, names), **fixed})


def is_first_process() -> bool:
    """Global rank 0 of a distributed run, or a plain run.

    torchrun (``RANK``) and SLURM's srun (``SLURM_PROCID``) start every process and give its
    global rank; on one machine Fabric re-runs the command with ``LOCAL_RANK`` (and
    ``NODE_RANK``). ``LOCAL_RANK`` alone would make the first process of every machine "first".
    """
    for name in ("RANK", "SLURM_PROCID"):
        if name in os.environ:
            return os.environ[name] == "0"
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


def say(text: str) -> None:
    """A progress note on stderr, from the first process only."""
    if is_first_process():
        print(text, file=sys.stderr)


def say_plan(model: Any, dataset: Any, config: Any, run: RunFolder | None = None) -> None:
    """Before an evaluation, when progress is shown (a terminal, ``--progress``): one line of
    what it computes and roughly how long it takes (:mod:`genzoo.evaluation.plan`), timed on a
    few test images or read from ``run``'s previous ``metrics.json``, and what it skips with the
    flag that runs it."""
    from genzoo.core.progress import progress_enabled
    from genzoo.evaluation.plan import plan_evaluation

    if not progress_enabled() or not is_first_process():
        return
    recorded = None
    if run is not None and run.metrics_json.is_file():
        try:
            recorded = run.read_metrics()
        except GenzooError:  # a damaged metrics.json only loses its recorded rates
            recorded = None
    quality = bool(config.sample_quality) and not model.capabilities.image_conditional
    plan = plan_evaluation(model, dataset, config, quality=quality, recorded=recorded)
    say(plan.describe({"sample quality": "--sample-quality"}))


#: what a run folder holds that a reading command must never replace (see RunFolder)
RUN_FILES = (
    CONFIG_NAME,
    WEIGHTS_NAME,
    RunFolder.CHECKPOINT,
    RunFolder.TRAIN_CONFIG,
    RunFolder.DATA_SPEC,
    RunFolder.METRICS_CSV,
    RunFolder.METRICS_JSON,
    RunFolder.SAMPLES_PNG,
    RunFolder.COMPLETION_PNG,
    RunFolder.RECONSTRUCTION_PNG,
    RunFolder.LOCK,
)


def refuse_run_file(
    run_dir: str | os.PathLike[str] | None, path: str | os.PathLike[str], option: str
) -> None:
    """Refuse an output ``path`` that is one of the files of the run in ``run_dir``: a command
    that reads a run (sample, complete, embed, ...) never replaces what training wrote."""
    if run_dir is None:
        return
    from pathlib import Path

    target, run = Path(path).resolve(), Path(run_dir).resolve()
    if target.parent == run and target.name in RUN_FILES:
        raise GenzooError(
            f"{option} {path} would replace the run's own {target.name}; choose another file "
            "name or folder"
        )


def commands_for(model: Any) -> str:
    """The genzoo commands that work on ``model``, from its declared capabilities."""
    caps = model.capabilities
    names = ["eval", "sample"]
    if caps.completion is not None:
        names.append("complete")
    if caps.latent is not None:
        names.append("interpolate")
    if caps.features:
        names += ["probe", "cluster", "embed"]
    return ", ".join(f"genzoo {n}" for n in names)
