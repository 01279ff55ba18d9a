"""``genzoo eval DIR``: test likelihood, sample quality, sample and completion grids.

* Models with a density: test NLL in nats/image and bits/dim. Latent-variable models: the ELBO
  with its reconstruction and KL terms, and the IWAE bound with ``--iwae-k`` importance samples
  (default 1,000) on the first ``--iwae-images`` test images.
* Every model: FID, KID, precision/recall and density/coverage of its samples against the test
  images, on the dataset's feature network, next to the floor of real training images
  (``--no-sample-quality`` skips it; autoregressive models sample slowly: ``--quality-samples``).
* On request, continuous-space likelihood estimates for models without a density: ``--parzen``
  (any model) and ``--ais`` (GANs and VAEs with one Gaussian latent), in nats per image on
  ``[0, 1]^D`` — not comparable with bits/dim.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genzoo.cli.common import (
    add_bound_arguments,
    add_data_arguments,
    add_estimator_arguments,
    add_quality_arguments,
    add_seed_argument,
    bound_options,
    estimator_options,
    load_run_model,
    prepare_sample_quality,
    quality_options,
    run_data,
)
from genzoo.errors import GenzooError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a trained model",
        description="Evaluate the model in DIR on its dataset's test images and rewrite "
        "DIR/metrics.json, samples.png and completion.png.",
    )
    p.add_argument("run_dir", metavar="DIR", help="run directory written by `genzoo train`")
    add_data_arguments(p, required=False)
    add_seed_argument(p)
    p.add_argument("--num-samples", type=int, default=64, help="samples in samples.png")
    p.add_argument("--batch-size", type=int, default=256, help="evaluation batch size")
    add_bound_arguments(p)
    add_quality_arguments(p, default="on")
    add_estimator_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genzoo.cli.train import print_metrics
    from genzoo.evaluation import evaluate_run

    if args.batch_size < 1:
        raise GenzooError(f"--batch-size must be positive, got {args.batch_size}")
    options = {**bound_options(args), **quality_options(args), **estimator_options(args)}
    model = load_run_model(args.run_dir)
    dataset = run_data(Path(args.run_dir), args)
    prepare_sample_quality(options, True, dataset, lambda text: print(text, file=sys.stderr))
    metrics = evaluate_run(
        model,
        dataset,
        args.run_dir,
        seed=args.seed,
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        **options,
    )
    print_metrics(metrics)
    return 0
