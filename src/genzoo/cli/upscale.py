"""``genzoo upscale RUN IMAGE... --samples 4 --out DIR|grid.png|out.npz``: super-resolve image
files with a super-resolution run (:func:`genzoo.apps.conditional.upscale`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("upscale", help="super-resolve PNG/JPEG files with a super-resolution run")
    add_tool_arguments(p)
    p.add_argument(
        "--scale",
        type=int,
        default=None,
        help="the factor you expect; refused when the run's differs (default: the run's)",
    )
    p.set_defaults(run=run)


def add_tool_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments ``upscale`` and ``colorize`` share."""
    p.add_argument("run_dir", metavar="RUN", help="run directory written by `genzoo train --task`")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="PNG or JPEG files (any size, mode)")
    p.add_argument("--samples", type=int, default=4, help="answers per image (default: 4)")
    p.add_argument(
        "--out",
        required=True,
        help="a directory (one PNG per sample), a .png grid (input, then its samples, a row per "
        "image) or a .npz file (inputs, samples)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def run(args: argparse.Namespace) -> int:
    import torch

    from genzoo.apps.conditional import upscale

    model = load_conditional_run(args.run_dir)
    generator = torch.Generator().manual_seed(args.seed)
    outputs = upscale(
        model, args.images, samples=args.samples, scale=args.scale, generator=generator
    )
    return report(outputs, args.out)


def load_conditional_run(run_dir: str):
    from genzoo.apps.conditional import require_image_conditional
    from genzoo.cli.common import load_run_model

    model = load_run_model(run_dir)
    require_image_conditional(model)
    return model


def report(outputs, out: str) -> int:
    """Write the outputs and say, one line per image, how it was converted."""
    from genzoo.apps.conditional import save_outputs

    for note in outputs.notes:
        print(note)
    written = save_outputs(outputs, out)
    n, s = outputs.samples.shape[:2]
    where = out if len(written) == 1 else f"{len(written)} PNG files in {out}"
    print(f"wrote {s} sample(s) for each of {n} image(s) to {where}")
    return 0
