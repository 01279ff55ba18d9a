"""Time series: held-out log-likelihood and CRPS of ``hmm`` vs ``causal_ar`` on the shipped series.

Every series is split chronologically: the last 10% is the test part, never seen by a fit
(sunspots 31 years, co2 53 months, elnino 73 months, nile 10 years). Each model is fitted on the
training part with fixed settings chosen before looking at any test number (no per-series
tuning), then scored by

* the held-out log-likelihood ``log p(test | train)`` in nats per step: one-step-ahead
  predictive densities of the original series, each given the observed past;
* the mean fair CRPS (units of the series) and the coverage of the central 50% and 90% bands
  of ``PATHS`` futures simulated from the end of the training part over the whole test part.

Models: the baseline ``naive`` (Gaussian random walk with drift; on monthly series also the
seasonal random walk, lag 12), and ``hmm`` (4 states, 5 EM restarts) and ``causal_ar``
(defaults, ``STEPS`` AdamW steps, the last 10% of the training part for validation) each on the
values (``difference=0``), their first differences (1) and, on monthly series, their seasonal
differences (12). Budgets are fixed step counts and every random choice has a fixed seed, so
the numbers do not depend on the machine's load; run with one thread for bitwise-repeatable
float32 sums:

    OMP_NUM_THREADS=1 python benchmarks/timeseries.py              # ~2-5 CPU minutes
    OMP_NUM_THREADS=1 python benchmarks/timeseries.py --steps 20 --paths 50 --out /tmp/ts  # smoke

Writes ``benchmarks/results/timeseries.json`` (the table) and one figure per series,
``benchmarks/results/figures/timeseries-SERIES.png`` (each model's 50%/90% bands and median over
the test part, red: the held-out truth).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from genzoo.timeseries import (
    CausalConvForecaster,
    GaussianHMMForecaster,
    SeasonalRandomWalk,
    evaluate_forecaster,
    load_series,
    plot_forecast,
    split_series,
)

RESULTS = Path(__file__).resolve().parent / "results"
SERIES = ("sunspots", "co2", "elnino", "nile")
TEST_FRACTION = 0.1
PATHS = 500
STEPS = 400
SEED = 0
HMM = dict(n_states=4, n_init=5)


def variants(frequency: str, steps: int) -> list[tuple[str, dict, object]]:
    """``(model name, shown settings, unfitted model)`` for a series of this frequency."""
    lags = (0, 1, 12) if frequency == "monthly" else (0, 1)
    out: list[tuple[str, dict, object]] = [("naive", {"difference": 1}, SeasonalRandomWalk(1))]
    if frequency == "monthly":
        out.append(("naive", {"difference": 12}, SeasonalRandomWalk(12)))
    for d in lags:
        out.append(("hmm", {**HMM, "difference": d}, GaussianHMMForecaster(**HMM, difference=d)))
    for d in lags:
        settings = {"n_steps": steps, "difference": d}
        out.append(("causal_ar", settings, CausalConvForecaster(**settings, random_state=SEED)))
    return out


def panel_grid(files: list[Path], columns: int = 2, scale: float = 0.75):
    """Paste PNG panels into one image, ``columns`` per row."""
    from PIL import Image

    panels = [Image.open(f).convert("RGB") for f in files]
    w, h = (round(scale * s) for s in panels[0].size)
    rows = -(-len(panels) // columns)
    grid = Image.new("RGB", (columns * w, rows * h), "white")
    for i, panel in enumerate(panels):
        grid.paste(panel.resize((w, h), Image.LANCZOS), ((i % columns) * w, (i // columns) * h))
    return grid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS, help="causal_ar AdamW steps")
    parser.add_argument("--paths", type=int, default=PATHS, help="simulated paths per model")
    parser.add_argument("--series", nargs="+", default=list(SERIES), choices=SERIES)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    figures = args.out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    table: dict[str, dict] = {}
    for name in args.series:
        series = load_series(name)
        n_test = round(TEST_FRACTION * len(series))
        train, test = split_series(series, test_length=n_test)
        rows, panels = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for i, (model_name, settings, model) in enumerate(
                variants(series.frequency, args.steps)
            ):
                start = time.process_time()
                result = evaluate_forecaster(model, series, n_test, n_paths=args.paths, seed=SEED)
                seconds = time.process_time() - start
                label = f"{model_name} " + " ".join(f"{k}={v}" for k, v in settings.items())
                rows.append(
                    {
                        "model": model_name,
                        "settings": settings,
                        "log_likelihood_per_step": round(result["log_likelihood_per_step"], 4),
                        "crps": round(result["crps_mean"], 4),
                        "coverage_50": result["coverage"]["50"],
                        "coverage_90": result["coverage"]["90"],
                        "history_used": result["history_used"],
                        **(
                            {"best_step": model.best_step_}
                            if isinstance(model, CausalConvForecaster)
                            else {}
                        ),
                    }
                )
                print(
                    f"{name:<9} {label:<50} {result['log_likelihood_per_step']:>9.4f} nats/step  "
                    f"CRPS {result['crps_mean']:>9.4g}  cover {result['coverage']['50']:.2f}/"
                    f"{result['coverage']['90']:.2f}  ({seconds:.1f} CPU s)",
                    flush=True,
                )
                paths = model.simulate(train.values, n_test, args.paths, SEED)
                title = f"{name}: {label}  ({result['log_likelihood_per_step']:.3f} nats/step)"
                panel = Path(tmp) / f"{i}.png"
                plot_forecast(train.values, test.values, paths, panel, title=title)
                panels.append(panel)
            panel_grid(panels).save(figures / f"timeseries-{name}.png")
        table[name] = {
            "n_train": len(train),
            "n_test": n_test,
            "unit": series.unit,
            "frequency": series.frequency,
            "results": rows,
        }
    payload = {
        "command": " ".join(["OMP_NUM_THREADS=1 python benchmarks/timeseries.py", *sys.argv[1:]]),
        "settings": {
            "test_fraction": TEST_FRACTION,
            "paths": args.paths,
            "causal_ar_steps": args.steps,
            "seed": SEED,
            "crps": "fair (unbiased) estimator over the simulated paths, mean over test steps",
            "log_likelihood": "one-step-ahead, nats per step, densities of the original series",
        },
        "series": table,
    }
    out = args.out / "timeseries.json"
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out} and {figures}/timeseries-*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
