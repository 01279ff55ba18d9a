"""``genzoo series``: time-series models — list, fit, eval, simulate (thin over genzoo.timeseries).

genzoo series list
genzoo series fit {hmm,causal_ar,naive} --series sunspots|co2|elnino|nile|csv:PATH[:COLUMN]
                  --out DIR [--test-length N | --test-fraction F] [hyper-parameter flags]
genzoo series eval DIR [--paths N] [--seed S]
genzoo series simulate DIR --out plot.png [--horizon H] [--paths N] [--csv paths.csv]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from genzoo.cli.common import add_seed_argument, add_typed_arguments, signature_params
from genzoo.errors import GenzooError


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, got {text!r}"
        ) from None


def register(sub: argparse._SubParsersAction) -> None:
    from genzoo.models.base import init_parameters
    from genzoo.timeseries import FORECASTERS

    p = sub.add_parser(
        "series",
        help="time-series models: fit, evaluate, simulate futures",
        description="Generative models of univariate time series: a Gaussian HMM, a causal "
        "convolutional autoregressive model and a random-walk baseline.",
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", parser_class=type(p))
    verbs.required = True

    listing = verbs.add_parser("list", help="shipped series and models")
    listing.set_defaults(run=run_list)

    fit = verbs.add_parser(
        "fit",
        help="fit a model on the start of a series, evaluate it on the end",
        description="Fit MODEL on all but the last --test-length values of --series, save it to "
        "--out, then evaluate it on the held-out end (metrics.json). `genzoo series fit MODEL "
        "--help` lists MODEL's hyper-parameter flags.",
    )
    models = fit.add_subparsers(dest="model", metavar="MODEL", parser_class=type(p))
    models.required = True
    for name, cls in sorted(FORECASTERS.items()):
        summary = (cls.__doc__ or "").strip().splitlines()[0]
        m = models.add_parser(name, help=summary, description=summary)
        m.add_argument(
            "--series",
            required=True,
            help="sunspots, co2, elnino, nile (`genzoo series list`) or csv:PATH[:COLUMN]",
        )
        m.add_argument("--out", required=True, help="run directory to write")
        split = m.add_mutually_exclusive_group()
        split.add_argument("--test-length", type=int, help="held-out values at the end")
        split.add_argument(
            "--test-fraction", type=float, help="held-out fraction at the end (default: 0.1)"
        )
        m.add_argument(
            "--missing",
            choices=("error", "interpolate"),
            default=None,
            help="CSV series: reject empty cells (default) or fill them linearly",
        )
        m.add_argument("--paths", type=int, default=200, help="paths for the evaluation")
        m.add_argument(
            "--seed",
            type=int,
            default=0,
            help="seed of the model (its random_state) and of the evaluation paths (default: 0)",
        )
        params = {k: v for k, v in init_parameters(cls).items() if k != "random_state"}
        group = m.add_argument_group(f"{name} hyper-parameters")
        specs = signature_params(params, cls)
        add_typed_arguments(group, specs)
        for pname, (_, default, text, _) in specs.items():
            if pname == "dilations":  # a sequence: comma-separated
                group.add_argument(
                    "--dilations",
                    type=_int_list,
                    default=argparse.SUPPRESS,
                    help=f"{text} (comma-separated; default: {','.join(map(str, default))})",
                )
        m.set_defaults(run=run_fit, hparam_names=tuple(params))

    ev = verbs.add_parser("eval", help="held-out log-likelihood, CRPS and band coverage")
    ev.add_argument("run_dir", metavar="DIR", help="run directory of `genzoo series fit`")
    ev.add_argument("--paths", type=int, default=200, help="simulated paths (default: 200)")
    add_seed_argument(ev)
    ev.set_defaults(run=run_eval)

    sim = verbs.add_parser("simulate", help="sample future paths; plot quantile bands")
    sim.add_argument("run_dir", metavar="DIR", help="run directory of `genzoo series fit`")
    sim.add_argument("--out", required=True, help="output PNG: history, median, 50%%/90%% bands")
    sim.add_argument("--horizon", type=int, default=None, help="steps (default: test length)")
    sim.add_argument("--paths", type=int, default=200, help="simulated paths (default: 200)")
    sim.add_argument(
        "--history",
        choices=("all", "train"),
        default="all",
        help="simulate after the whole series (all, default) or after the training part "
        "(train: the held-out values are drawn in red)",
    )
    sim.add_argument("--csv", default=None, help="also write the bands and every path as CSV")
    add_seed_argument(sim)
    sim.set_defaults(run=run_simulate)


def run_list(args: argparse.Namespace) -> int:
    from genzoo.timeseries import FORECASTERS, available_series, load_series

    print("shipped series (--series NAME):")
    for name, description in available_series().items():
        series = load_series(name)
        print(f"  {name:<9} T={len(series):<4} {series.frequency:<8} {description}")
    print("your own: --series csv:PATH[:COLUMN] (a header row, one value per row, oldest first)")
    print("models (genzoo series fit MODEL --help):")
    for name, cls in sorted(FORECASTERS.items()):
        print(f"  {name:<9} {(cls.__doc__ or '').strip().splitlines()[0]}")
    return 0


def _print_metrics(metrics: dict[str, Any], run_dir: str) -> None:
    unit = f" {metrics['unit']}" if metrics["unit"] else ""
    used = metrics["history_used"]
    context = "all" if used is None else f"the last {used}"
    print(
        f"{metrics['model']} on {metrics['series']}: trained on {metrics['n_train']} values, "
        f"tested on the last {metrics['n_test']}"
    )
    print(
        f"  held-out log-likelihood {metrics['log_likelihood_per_step']:.4f} nats/step "
        f"(total {metrics['log_likelihood']:.2f} nats; one step ahead, given {context} "
        "past values)"
    )
    print(
        f"  CRPS {metrics['crps_mean']:.4g}{unit} (fair estimator, {metrics['n_paths']} paths "
        f"simulated from the end of training over all {metrics['n_test']} steps)"
    )
    cover = ", ".join(f"{k}% band {v:.2f}" for k, v in metrics["coverage"].items())
    print(f"  coverage of the held-out values: {cover}")
    print(f"  wrote {Path(run_dir) / 'metrics.json'}")


def run_fit(args: argparse.Namespace) -> int:
    from genzoo.timeseries import FORECASTERS
    from genzoo.timeseries.runs import evaluate_run, fit_run

    params = {n: getattr(args, n) for n in args.hparam_names if hasattr(args, n)}
    if "random_state" in FORECASTERS.get(args.model).param_table():
        params["random_state"] = args.seed
    csv_options = {} if args.missing is None else {"missing": args.missing}
    model, series, n_test = fit_run(
        args.model,
        args.series,
        args.out,
        test_length=args.test_length,
        test_fraction=args.test_fraction,
        csv_options=csv_options,
        **params,
    )
    print(
        f"fitted {args.model} on {series.name} ({len(series) - n_test} training values); "
        f"training log-likelihood {model.train_log_likelihood_:.2f} nats; saved to {args.out}"
    )
    _print_metrics(evaluate_run(args.out, n_paths=args.paths, seed=args.seed), args.out)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from genzoo.timeseries.runs import evaluate_run

    _print_metrics(evaluate_run(args.run_dir, n_paths=args.paths, seed=args.seed), args.run_dir)
    return 0


def run_simulate(args: argparse.Namespace) -> int:
    from genzoo.timeseries import plot_forecast
    from genzoo.timeseries.runs import simulate_run, write_paths_csv

    if Path(args.out).suffix.lower() != ".png":
        raise GenzooError(f"--out must end in .png, got {args.out}")
    past, truth, paths = simulate_run(
        args.run_dir,
        horizon=args.horizon,
        n_paths=args.paths,
        seed=args.seed,
        history=args.history,
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    plot_forecast(past, truth, paths, args.out)
    print(
        f"wrote {args.out}: {paths.shape[0]} paths of {paths.shape[1]} steps after "
        f"{len(past)} observed values (bands: 50% and 90%, line: median)"
    )
    if args.csv:
        write_paths_csv(args.csv, paths)
        print(f"wrote {args.csv}: one row per step (quantiles, then every path)")
    return 0
