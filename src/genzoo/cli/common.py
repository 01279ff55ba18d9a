"""Helpers shared by the sub-commands: flags generated from dataclasses and signatures, run dirs."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genzoo.errors import GenzooError

DATA_SPEC_NAME = "data.json"


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
        text = f"{help_text} (default: {default})".strip().replace("%", "%%")
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


def dataclass_params(cls: type) -> dict[str, tuple[Any, Any, str]]:
    hints = typing.get_type_hints(cls)
    return {
        f.name: (hints[f.name], f.default, f.metadata.get("help", ""), f.metadata.get("choices"))
        for f in dataclasses.fields(cls)
    }


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


def add_data_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--data",
        required=required,
        default=None,
        help="dataset: digits, fashion-mnist, mnist, folder:PATH, npz:PATH (`genzoo datasets`)",
    )
    parser.add_argument("--levels", type=int, default=None, help="re-quantise to this many levels")
    parser.add_argument("--size", type=int, default=None, help="resize images to SIZE x SIZE")
    parser.add_argument("--data-root", default=None, help="directory to look for / download data")
    parser.add_argument(
        "--no-download", dest="download", action="store_false", help="never download data"
    )


def data_spec(args: argparse.Namespace) -> dict[str, Any]:
    return {"name": args.data, "levels": args.levels, "size": args.size, "root": args.data_root}


def load_data(spec: dict[str, Any], download: bool = True):
    from genzoo.data import load_dataset

    return load_dataset(
        spec["name"],
        levels=spec.get("levels"),
        size=spec.get("size"),
        root=spec.get("root"),
        download=download,
    )


def save_data_spec(out: Path, spec: dict[str, Any]) -> None:
    from genzoo.evaluation.report import write_json

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / DATA_SPEC_NAME, spec)  # atomic: every rank of a ddp run writes the same


def run_data(run_dir: Path, args: argparse.Namespace):
    """The dataset a run was trained on (``data.json``), unless ``--data`` overrides it."""
    if getattr(args, "data", None):
        return load_data(data_spec(args), args.download)
    spec_file = run_dir / DATA_SPEC_NAME
    if not spec_file.is_file():
        raise GenzooError(f"{run_dir} has no {DATA_SPEC_NAME}; pass --data to name the dataset")
    return load_data(json.loads(spec_file.read_text()), getattr(args, "download", True))


def load_run_model(run_dir: str):
    from genzoo.models import load_model

    return load_model(Path(run_dir))


def add_seed_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def add_bound_arguments(parser: argparse.ArgumentParser) -> None:
    """``--iwae-k`` and ``--iwae-images``: the IWAE bound of latent-variable models.

    (Not ``--k``: that is the training-sample hyper-parameter of ``iwae`` and others.)
    """
    from genzoo.evaluation.report import DEFAULT_IWAE_IMAGES
    from genzoo.models.vae.base import DEFAULT_K

    parser.add_argument(
        "--iwae-k",
        type=int,
        default=DEFAULT_K,
        help=f"importance samples of latent-variable models' IWAE bound (default: {DEFAULT_K})",
    )
    parser.add_argument(
        "--iwae-images",
        type=int,
        default=DEFAULT_IWAE_IMAGES,
        help="first N test images for the IWAE bound, 0 for all; it costs k decoder passes per "
        f"image (default: {DEFAULT_IWAE_IMAGES})",
    )


def bound_options(args: argparse.Namespace) -> dict[str, Any]:
    """``evaluate_run`` keywords from :func:`add_bound_arguments` flags, validated."""
    if args.iwae_k < 1:
        raise GenzooError(f"--iwae-k must be positive, got {args.iwae_k}")
    if args.iwae_images < 0:
        raise GenzooError(f"--iwae-images must be >= 0 (0: all), got {args.iwae_images}")
    return {"k": args.iwae_k, "iwae_images": args.iwae_images or None}
