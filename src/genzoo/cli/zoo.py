"""``genzoo zoo --data digits --minutes-per-model 2 --out runs/zoo``: one model per family on the
same data and budget, evaluated alike, then the HTML report (``OUT/report/index.html``)."""

from __future__ import annotations

import argparse
import sys

from genzoo.cli.common import add_eval_arguments, picked, say

#: evaluation options the zoo sets itself (one seed for training and evaluation)
FIXED = ("seed",)


def register(sub: argparse._SubParsersAction) -> None:
    from genzoo.report.zoo import DEFAULT_MODELS, DEFAULT_VALIDATION

    p = sub.add_parser(
        "zoo",
        help="train one model per family on the same data and budget, then write the report",
        description="Train MODELS on --data with the same budget, seed and validation split, "
        "evaluate them on the same metrics (sample quality for all) and write "
        "OUT/report/index.html. Finished runs of the same recipe in OUT are reused.",
    )
    p.add_argument("--data", default="digits", help="dataset (`genzoo datasets`; default: digits)")
    p.add_argument(
        "--models",
        nargs="+",
        default=list(DEFAULT_MODELS),
        metavar="MODEL",
        help=f"models to train, space or comma separated (default: {' '.join(DEFAULT_MODELS)})",
    )
    p.add_argument(
        "--minutes-per-model",
        type=float,
        default=None,
        help="training minutes per model (default: 2, unless --steps-per-model is given)",
    )
    p.add_argument(
        "--steps-per-model",
        type=int,
        default=0,
        help="optimizer steps (EM iterations) per model (0 = none)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every model (default: 0)")
    p.add_argument(
        "--validation",
        type=int,
        default=DEFAULT_VALIDATION,
        help="training images held out for the curves' validation points",
    )
    p.add_argument("--out", default="runs/zoo", help="the zoo's folder (default: runs/zoo)")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars (default: on in a terminal)",
    )
    add_eval_arguments(p, exclude=FIXED)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from genzoo.evaluation.config import EvalConfig
    from genzoo.report import run_zoo

    names = [f.name for f in dataclasses.fields(EvalConfig) if f.name not in FIXED]
    given = picked(args, names)
    evaluation = EvalConfig.from_options(
        **{"sample_quality": True, "iwae_images": 0, **given, "seed": args.seed}
    )
    models = [m for text in args.models for m in text.split(",") if m]
    result = run_zoo(
        args.out,
        data=args.data,
        models=models,
        minutes_per_model=args.minutes_per_model,
        steps_per_model=args.steps_per_model,
        seed=args.seed,
        validation=args.validation,
        evaluation=evaluation,
        progress=args.progress,  # None: a bar when stderr is a terminal
        say=say,
    )
    for name, message in result.failed.items():
        print(f"{name} failed: {message}", file=sys.stderr)
    print(f"wrote {result.report} ({result.seconds / 60:.1f} min)")
    return 1 if result.failed else 0
