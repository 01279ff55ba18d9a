"""``genzoo interpolate DIR --out FILE.png``: walk the latent space.

Models with an encoder (VAEs) interpolate between the latents of pairs of test images; GANs,
which have none, walk great circles between random latents.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.cli.common import (
    add_data_arguments,
    add_seed_argument,
    commands_for,
    load_run_model,
    run_data,
)
from genzoo.core.run import RunFolder
from genzoo.errors import GenzooError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "interpolate",
        help="walk the latent space: between test images (VAEs) or random latents (GANs)",
    )
    p.add_argument("run_dir", metavar="DIR", help="run directory written by `genzoo train`")
    p.add_argument("--out", required=True, help="output PNG: one row per pair of images")
    p.add_argument("--pairs", type=int, default=8, help="pairs of test images (default: 8)")
    p.add_argument("--steps", type=int, default=10, help="images per row (default: 10)")
    add_data_arguments(p, required=False)
    add_seed_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from genzoo.apps import save_grid
    from genzoo.apps.interpolation import interpolation_rows, latent_walk_rows

    if args.pairs < 1 or args.steps < 2:
        raise GenzooError("--pairs must be >= 1 and --steps >= 2")
    if Path(args.out).suffix.lower() != ".png":
        raise GenzooError(f"--out must end in .png, got {args.out}")
    model = load_run_model(args.run_dir)
    if model.capabilities.latent is None:
        raise GenzooError(
            f"{model.name} has no latent space to walk in; what works on it: {commands_for(model)}"
        )
    if model.capabilities.latent == "generator":
        # no encoder (a GAN): walk between random latents instead of test images
        generator = torch.Generator().manual_seed(args.seed)
        grid = latent_walk_rows(model, args.pairs, steps=args.steps, generator=generator)
        save_grid(grid, model.levels, Path(args.out), nrow=args.steps)
        print(
            f"wrote {args.out} ({args.pairs} rows of {args.steps} images, random latent to "
            "random latent along great circles)"
        )
        return 0
    dataset, _ = run_data(RunFolder(args.run_dir), args)
    n = dataset.test.shape[0]
    if n < 2:
        raise GenzooError("the test split needs at least two images to interpolate between")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed))
    pairs = min(args.pairs, n // 2)
    first, second = order[:pairs], order[pairs : 2 * pairs]
    y = None if model.num_classes is None else dataset.test_labels[first]
    grid = interpolation_rows(
        model, dataset.test[first], dataset.test[second], steps=args.steps, y=y
    )
    save_grid(grid, dataset.levels, Path(args.out), nrow=args.steps)
    print(f"wrote {args.out} ({pairs} rows of {args.steps} images, test image to test image)")
    return 0
