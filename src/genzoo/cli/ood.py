"""``genzoo ood RUN --ood-data NAME``: out-of-distribution scores of a density model.

The run's own test images are in-distribution, the test images of ``--ood-data`` (loaded with
``--size`` / ``--levels`` to match the run's images) are out. Writes ``ood.json`` and ``ood.png``
to ``RUN/evaluations/ood-NAME/`` (or ``--out DIR``); the run's own files are never touched.
Scores and their papers: :mod:`genzoo.evaluation.ood`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.cli.common import (
    add_typed_arguments,
    data_spec,
    evaluation_name,
    load_data,
    load_run_model,
    picked,
    say,
)
from genzoo.core.run import RunFolder


def register(sub: argparse._SubParsersAction) -> None:
    from genzoo.evaluation import ood

    p = sub.add_parser(
        "ood",
        help="out-of-distribution detection with a model's density",
        description="Score the run's test images (in) and another dataset's test images (out): "
        "likelihood, likelihood ratio (Ren et al. 2019), input complexity (Serra et al. 2020), "
        "typicality test (Nalisnick et al. 2019); AUROC, AUPRC, FPR at 95%% TPR with bootstrap "
        "intervals; ood.json and ood.png.",
    )
    p.add_argument("run_dir", metavar="RUN", help="run directory written by `genzoo train`")
    p.add_argument("--ood-data", required=True, help="the out-of-distribution dataset")
    p.add_argument("--levels", type=int, default=None, help="re-quantise the OOD data")
    p.add_argument("--size", type=int, default=None, help="resize the OOD images to SIZE x SIZE")
    p.add_argument("--data-root", default=None, help="directory to look for / download data")
    p.add_argument(
        "--no-download", dest="download", action="store_false", help="never download data"
    )
    p.add_argument(
        "--background",
        metavar="RUN2",
        default=None,
        help="run of the background model of the likelihood ratio (trained with --perturb)",
    )
    add_typed_arguments(
        p,
        {
            "scores": (
                tuple[str, ...],
                ",".join(ood.SCORES),
                "comma list of OOD scores (the likelihood ratio only with --background)",
                None,
            ),
            "compressors": (
                tuple[str, ...],
                ",".join(ood.COMPRESSORS),
                "lossless compressors of the input complexity",
                None,
            ),
            "batch_sizes": (
                tuple[int, ...],
                ",".join(map(str, ood.BATCH_SIZES)),
                "batch sizes of the typicality test",
                None,
            ),
            "bootstrap": (
                int,
                ood.BOOTSTRAP,
                "bootstrap resamples of every interval (0: none)",
                None,
            ),
            "batch_size": (int, 256, "images per log_prob call", None),
            "seed": (int, 0, "seed of the bootstrap and the typicality batches", None),
        },
    )
    p.add_argument("--out", default=None, help="output folder (default: RUN/evaluations/ood-NAME)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genzoo.evaluation.ood import evaluate_ood, write_ood
    from genzoo.evaluation.run_evaluation import held_out_split

    run = RunFolder(args.run_dir)
    model = load_run_model(run.path)
    in_data, _ = _run_data(run)
    spec = data_spec(argparse.Namespace(**{**vars(args), "data": args.ood_data, "task": None}))
    out_data = load_data(spec, args.download)
    background = None
    if args.background is not None:
        background = load_run_model(RunFolder(args.background).path)
        _warn_unperturbed(RunFolder(args.background))
    held = held_out_split(run, in_data)
    options = ("scores", "compressors", "batch_sizes", "bootstrap", "batch_size", "seed")
    report = evaluate_ood(
        model,
        in_data,
        out_data,
        background=background,
        entropy_images=None if held is None else held.x,
        **picked(args, options),
    )
    report.summary["run"] = str(run.path)
    if args.background is not None:
        report.summary["background"]["run"] = str(args.background)
    folder = Path(args.out) if args.out else run.evaluation(f"ood-{evaluation_name(spec)}").path
    paths = write_ood(report, folder)
    _print(report.summary)
    print(f"wrote {paths['json']} and {paths['figure']}")
    return 0


def _run_data(run: RunFolder):
    from genzoo.cli.common import run_data

    return run_data(run, argparse.Namespace(data=None, task=None, download=True))


def _warn_unperturbed(background: RunFolder) -> None:
    if not background.train_config.is_file():
        return
    perturb = background.read_train_config().get("train_config", {}).get("perturb", 0) or 0
    if perturb == 0:
        say(
            f"note: the background run {background.path} was trained without --perturb; a "
            "background model of clean data cancels the signal too (Ren et al. use 0.1-0.3)"
        )


def _print(summary: dict) -> None:
    print(
        f"{summary['model']} ({summary['density']} density) on {summary['in_data']} "
        f"({summary['num_in']} in) vs {summary['ood_data']} ({summary['num_out']} out); "
        f"mean bits/dim in {summary['bits_per_dim']['in']:.3f}, out "
        f"{summary['bits_per_dim']['out']:.3f}"
    )
    rows = list(summary["scores"].items())
    rows += [
        (f"typicality M={m}", v)
        for m, v in summary.get("typicality", {}).get("by_batch_size", {}).items()
    ]
    print(f"{'score (higher = OOD)':34s} {'AUROC':>20s} {'AUPRC':>7s} {'FPR@95%TPR':>11s}")
    for name, v in rows:
        ci = v["auroc_ci"]
        interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        print(
            f"{name:34s} {v['auroc']:>7.3f}{interval:>13s} {v['auprc']:>7.3f} "
            f"{v['fpr_at_95_tpr']:>11.3f}"
        )
