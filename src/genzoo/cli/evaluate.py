"""``genzoo eval DIR``: test likelihood (nats/image, bits/dim), sample and completion grids.

For latent-variable models: the ELBO with its reconstruction and KL terms, and the IWAE bound
with ``--iwae-k`` importance samples (default 1,000) on the first ``--iwae-images`` test images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.cli.common import (
    add_bound_arguments,
    add_data_arguments,
    add_seed_argument,
    bound_options,
    load_run_model,
    run_data,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a trained model")
    p.add_argument("run_dir", metavar="DIR", help="run directory written by `genzoo train`")
    add_data_arguments(p, required=False)
    add_seed_argument(p)
    p.add_argument("--num-samples", type=int, default=64, help="samples in samples.png")
    p.add_argument("--batch-size", type=int, default=256, help="evaluation batch size")
    add_bound_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genzoo.cli.train import print_metrics
    from genzoo.evaluation import evaluate_run

    model = load_run_model(args.run_dir)
    dataset = run_data(Path(args.run_dir), args)
    metrics = evaluate_run(
        model,
        dataset,
        args.run_dir,
        seed=args.seed,
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        **bound_options(args),
    )
    print_metrics(metrics)
    return 0
