"""``genzoo colorize RUN IMAGE... --samples 4 --out DIR|grid.png|out.npz``: colour gray image
files with a colorization run (:func:`genzoo.apps.conditional.colorize`); colour files are
turned gray first (BT.601 luminance)."""

from __future__ import annotations

import argparse

from genzoo.cli.upscale import add_tool_arguments, load_conditional_run, report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("colorize", help="colorize PNG/JPEG files with a colorization run")
    add_tool_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from genzoo.apps.conditional import colorize

    model = load_conditional_run(args.run_dir)
    generator = torch.Generator().manual_seed(args.seed)
    return report(colorize(model, args.images, samples=args.samples, generator=generator), args.out)
