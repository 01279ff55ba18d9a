"""``genzoo eval DIR``: test likelihood, sample quality, sample and completion grids.

* Models with a density: test NLL in nats/image and bits/dim. Latent-variable models: the ELBO
  with its reconstruction and KL terms, and the IWAE bound with ``--iwae-k`` importance samples
  (default 1,000) on the first ``--iwae-images`` test images.
* Sample quality, as ``genzoo train`` decides it: FID, KID, precision/recall and
  density/coverage of the model's samples against the test images, on the dataset's feature
  network, next to the floor of real training images. On by default for a model without a
  density (these are its only numbers; ``--no-sample-quality`` skips them), opt-in with
  ``--sample-quality`` for a model with one (an autoregressive model draws one network pass per
  sub-pixel: 10,000 samples of 28×28 take hours; ``--quality-samples`` draws fewer).
* On request, continuous-space likelihood estimates for models without a density: ``--parzen``
  (any model) and ``--ais`` (GANs and VAEs with one Gaussian latent), in nats per image on
  ``[0, 1]^D`` — not comparable with bits/dim.

On the run's own data the results replace the run's ``metrics.json`` and figures; on other data
(``--data``) they go to ``DIR/evaluations/NAME/`` and the run's own results stay as they are.
"""

from __future__ import annotations

import argparse

from genzoo.cli.common import (
    add_data_arguments,
    add_eval_arguments,
    data_spec,
    eval_config,
    evaluation_name,
    load_run_model,
    run_data,
    say,
    say_plan,
)
from genzoo.cli.printing import print_metrics
from genzoo.core.run import RunFolder
from genzoo.evaluation.likelihood import check_matches
from genzoo.training.checkpoint import hold_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a trained model",
        description="Evaluate the model in DIR on its dataset's test images and rewrite "
        "DIR/metrics.json, samples.png and completion.png; on other data (--data), write "
        "DIR/evaluations/NAME/ instead.",
    )
    p.add_argument("run_dir", metavar="DIR", help="run directory written by `genzoo train`")
    add_data_arguments(p, required=False)
    add_eval_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genzoo.evaluation import evaluate_run
    from genzoo.evaluation.config import load_quality_network
    from genzoo.evaluation.run_evaluation import held_out_split

    config = eval_config(args)
    run = RunFolder(args.run_dir)
    model = load_run_model(run.path)
    dataset, own = run_data(run, args)
    check_matches(model, dataset, "the run's model")  # before any folder is made
    out = run if own else run.evaluation(evaluation_name(data_spec(args)))
    if not own:
        say(f"other data than the run's own: writing to {out.path}")
    # as `genzoo train`: sample quality by default only for a model without a density
    no_density = not model.capabilities.has_density
    features = load_quality_network(config, no_density, dataset, say)
    config.sample_quality = features is not None
    held = held_out_split(run, dataset) if own and (config.parzen or config.ais) else None
    with hold_run(run):  # a trainer still writing this run, or another eval, is refused
        say_plan(model, dataset, config, out)
        metrics = evaluate_run(model, dataset, out.path, config, features=features, held_out=held)
    if not own:
        out.write_data_spec(data_spec(args))
    print_metrics(metrics)
    return 0
