"""``genzoo probe [DIR]``: linear-probe test accuracy of a model's features vs pixels and PCA.

Without ``DIR`` (``genzoo probe --data digits``) only the pixel baselines are computed. The
regularization is chosen on a validation split of the training set; the test set is scored once.
The helpers here are shared by ``genzoo cluster`` and ``genzoo embed``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from genzoo.cli.common import (
    add_data_arguments,
    add_seed_argument,
    data_spec,
    load_data,
    load_run_model,
    refuse_run_file,
    run_data,
)
from genzoo.core.run import RunFolder
from genzoo.errors import GenzooError


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """``[DIR]``, the data flags, ``--max-train``, ``--batch-size`` and ``--seed``."""
    p.add_argument(
        "run_dir",
        metavar="DIR",
        nargs="?",
        default=None,
        help="run directory written by `genzoo train` (omit it, with --data, for the pixel "
        "baselines alone)",
    )
    add_data_arguments(p, required=False)
    p.add_argument(
        "--max-train",
        type=int,
        default=None,
        help="use a random subset of this many training images (default: all)",
    )
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    add_seed_argument(p)


def add_baseline_arguments(p: argparse.ArgumentParser) -> None:
    """``--pca-dim`` and ``--no-untrained``: the baselines next to a model's features."""
    p.add_argument(
        "--no-untrained",
        dest="untrained",
        action="store_false",
        help="skip the control row: features of the same architecture with untrained weights",
    )
    p.add_argument(
        "--pca-dim",
        type=int,
        default=None,
        help="dimension of the PCA baseline (default: the model's feature dimension; without "
        "a model: 16)",
    )


def load_source(args: argparse.Namespace) -> tuple[Any, Any]:
    """``(model or None, dataset)`` from ``DIR`` and/or ``--data``; refuses a ``--json`` that
    would replace one of the run's own files before anything runs."""
    if getattr(args, "json", None):
        refuse_run_file(args.run_dir, args.json, "--json")
    if args.max_train is not None and args.max_train < 3:
        raise GenzooError(f"--max-train must be at least 3, got {args.max_train}")
    if args.run_dir is not None:
        return load_run_model(args.run_dir), run_data(RunFolder(args.run_dir), args)[0]
    if not args.data:
        raise GenzooError("pass a run directory, or --data NAME for the pixel baselines alone")
    return None, load_data(data_spec(args), args.download)


def write_result(path: str | None, result: dict[str, Any]) -> None:
    if path:
        from genzoo.core.atomic import atomic_write_json

        print(f"wrote {atomic_write_json(Path(path), result)}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "probe", help="feature learning: linear-probe accuracy of a model's features"
    )
    add_source_arguments(p)
    add_baseline_arguments(p)
    p.add_argument(
        "--validation",
        type=float,
        default=None,
        help="fraction of the training images held out to choose the regularization (default: 0.2)",
    )
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genzoo.evaluation.unsupervised import DEFAULT_VALIDATION, probe, probe_table

    model, dataset = load_source(args)
    validation = DEFAULT_VALIDATION if args.validation is None else args.validation
    if not 0.0 < validation < 1.0:
        raise GenzooError(f"--validation must be a fraction in (0, 1), got {validation}")
    result = probe(
        dataset,
        model,
        pca_dim=args.pca_dim,
        max_train=args.max_train,
        seed=args.seed,
        batch_size=args.batch_size,
        untrained=args.untrained,
        validation=validation,
    )
    print(probe_table(result))
    write_result(args.json, result)
    return 0
