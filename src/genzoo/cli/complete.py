"""``genzoo complete DIR --mask top-half --out FILE``: complete held-out test images."""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.apps import COMPLETION_MASKS
from genzoo.cli.common import (
    add_data_arguments,
    add_seed_argument,
    commands_for,
    load_run_model,
    refuse_run_file,
    run_data,
)
from genzoo.core.run import RunFolder
from genzoo.errors import GenzooError
from genzoo.evaluation.likelihood import check_matches


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("complete", help="complete partly given test images")
    p.add_argument("run_dir", metavar="DIR", help="run directory written by `genzoo train`")
    p.add_argument(
        "--mask",
        choices=COMPLETION_MASKS,
        default="top-half",
        help="which part is given (top-half is exact for raster-scan models)",
    )
    p.add_argument("--n", type=int, default=8, help="number of test images (default: 8)")
    p.add_argument("--out", required=True, help="output PNG")
    add_data_arguments(p, required=False)
    add_seed_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from genzoo.apps import completion_mask, completion_rows, save_grid

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise GenzooError(f"--out must end in .png, got {out.name}")
    refuse_run_file(args.run_dir, out, "--out")
    model = load_run_model(args.run_dir)
    if model.capabilities.completion is None:
        raise GenzooError(
            f"{model.name} cannot complete images; on it, use {commands_for(model)} (its "
            f"capabilities: {model.capabilities.describe()})"
        )
    dataset, _ = run_data(RunFolder(args.run_dir), args)
    check_matches(model, dataset, "the run's model")
    n = max(1, min(args.n, dataset.test.shape[0]))
    images = dataset.test[:n]
    y = None if model.num_classes is None else dataset.test_labels[:n]
    given = completion_mask(args.mask, dataset.shape)
    grid = completion_rows(
        model, images, given, y=y, generator=torch.Generator().manual_seed(args.seed)
    )
    save_grid(grid, dataset.levels, out, nrow=n)
    print(f"wrote {args.out} (rows: original, given part, 3 completions; mask {args.mask})")
    return 0
