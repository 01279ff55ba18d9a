"""``genzoo score RUN IMAGE...``: the bits/dim a trained model gives your own PNG/JPEG files."""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.cli.common import commands_for, load_run_model, run_data
from genzoo.core.run import RunFolder
from genzoo.errors import GenzooError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="bits/dim of your own images under a trained model")
    p.add_argument("run_dir", metavar="DIR", help="run directory written by `genzoo train`")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="PNG or JPEG files")
    p.set_defaults(run=run, download=True)


def run(args: argparse.Namespace) -> int:
    from genzoo.apps.scoring import score_images

    model = load_run_model(args.run_dir)
    if not model.capabilities.has_density or model.capabilities.image_conditional:
        raise GenzooError(
            f"{model.name} gives no density of a single image; what works on it: "
            f"{commands_for(model)}"
        )
    log_prior = None
    if model.capabilities.class_conditional:  # sum out the label with the training frequencies
        from genzoo.evaluation.classify import class_log_prior

        args.data = None
        dataset, _ = run_data(RunFolder(args.run_dir), args)
        log_prior = class_log_prior(dataset.train_labels, model.num_classes)
    names = [Path(p).name for p in args.images]
    for scored in score_images(model, args.images, log_prior=log_prior, names=names):
        print(scored.note)
        print(f"  {scored.bits_per_dim:.4f} bits/dim ({scored.nll_nats:.2f} nats; {model.density})")
    return 0
