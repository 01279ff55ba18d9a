"""``genzoo classify RUN``: a class-conditional density model as a classifier (Bayes' rule).

``p(y | x) ∝ p(x | y) p(y)`` with the training set's class frequencies, on the test images:
accuracy, NLL of the labels and expected calibration error, next to logistic regression and a
small CNN trained on the same images (:mod:`genzoo.evaluation.classify`). Writes
``classify.json`` to ``RUN/evaluations/classify-NAME/``.
"""

from __future__ import annotations

import argparse

from genzoo.cli.common import add_data_arguments, data_spec, load_run_model, run_data
from genzoo.core.run import RunFolder


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classify",
        help="classify with a class-conditional density model (Bayes' rule)",
        description="Bayes' rule p(y|x) ∝ p(x|y) p(y) on the test images, next to logistic "
        "regression and a small CNN trained on the same images.",
    )
    p.add_argument("run_dir", metavar="RUN", help="run directory written by `genzoo train`")
    add_data_arguments(p, required=False)
    p.add_argument(
        "--no-baselines",
        dest="baselines",
        action="store_false",
        help="skip the discriminative baselines",
    )
    p.add_argument("--batch-size", type=int, default=256, help="images per log_prob call")
    p.add_argument("--seed", type=int, default=0, help="seed of the baselines")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genzoo.cli.common import evaluation_name
    from genzoo.core.atomic import atomic_write_json
    from genzoo.evaluation.classify import check_classifier, evaluate_classifiers

    run = RunFolder(args.run_dir)
    model = load_run_model(run.path)
    check_classifier(model)  # refuse before loading data
    dataset, own = run_data(run, args)
    result = evaluate_classifiers(
        model, dataset, baselines=args.baselines, seed=args.seed, batch_size=args.batch_size
    )
    name = "classify" if own else f"classify-{evaluation_name(data_spec(args))}"
    path = atomic_write_json(run.evaluation(name).path / "classify.json", result)
    density = "" if model.density == "exact" else f" ({model.density} density)"
    print(
        f"{dataset.name} test set, {next(iter(result['classifiers'].values()))['num_images']} "
        f"images, {result['num_classes']} classes; prior = training class frequencies{density}"
    )
    print(f"{'classifier':36s} {'accuracy':>9s} {'NLL (nats)':>11s} {'ECE':>7s}")
    for label, m in result["classifiers"].items():
        print(f"{label:36s} {m['accuracy']:>9.4f} {m['nll']:>11.4f} {m['ece']:>7.4f}")
    print(f"wrote {path}")
    return 0
