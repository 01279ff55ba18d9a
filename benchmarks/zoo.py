"""The lecture's comparison as ``make zoo`` runs it: one model per family, the same data, budget
and seed, the same metrics — the table the README shows.

This script runs :func:`genzoo.report.run_zoo` with the defaults of ``genzoo zoo`` (``make zoo``:
digits, 2 training minutes per model, gated_pixelcnn, vae, dcgan, mixture_categorical) into
``runs/bench-zoo-DATA/`` (a fresh folder: nothing is reused) and records the report's comparison
rows, each model's steps and training seconds, and the whole zoo's wall-clock time.

The budget is *minutes*, as ``make zoo``'s is, so the numbers depend on the machine's load: the
result records the load average before and after. Run it alone on the machine::

    python benchmarks/zoo.py                      # make zoo's recipe, both cores to the one run
    python benchmarks/zoo.py --steps-per-model 500

Results: ``benchmarks/results/zoo-DATA.json``; the report stays in ``runs/bench-zoo-DATA/report``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ood import RESULTS, ROOT, machine


def main() -> None:
    from genzoo.report.zoo import DEFAULT_MINUTES, DEFAULT_MODELS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--minutes-per-model", type=float, default=None)
    parser.add_argument("--steps-per-model", type=int, default=0)
    args = parser.parse_args()
    minutes = args.minutes_per_model
    if minutes is None and not args.steps_per_model:
        minutes = DEFAULT_MINUTES

    from genzoo.core.run import RunFolder
    from genzoo.report import run_zoo
    from genzoo.report.cards import read_card
    from genzoo.report.table import comparison

    out = ROOT / "runs" / f"bench-zoo-{args.data}"
    RunFolder(out).remove()  # refuses if a live process trains into one of its runs
    load_before = os.getloadavg()
    start = time.perf_counter()
    result = run_zoo(
        out,
        data=args.data,
        models=args.models.split(","),
        minutes_per_model=minutes,
        steps_per_model=args.steps_per_model,
        say=lambda line: print(line, flush=True),
    )
    seconds = time.perf_counter() - start
    cards = [read_card(path) for path in result.runs]
    rows, split = comparison(cards)
    payload = {
        "benchmark": "zoo",
        "command": "python " + " ".join(sys.argv),
        "data": args.data,
        "minutes_per_model": minutes,
        "steps_per_model": args.steps_per_model or None,
        "split": split,
        "rows": [
            {
                "model": r.card.model,
                "family": r.card.family,
                "density": r.card.density,
                "likelihood": r.likelihood or None,
                "bits_per_dim": r.bits_per_dim,
                "bits_per_dim_stderr": r.bits_per_dim_stderr,
                "fid": r.fid,
                "fid_floor": r.fid_floor,
                "precision": r.precision,
                "recall": r.recall,
                "parameters": r.card.parameters,
                "steps": r.card.curves.last("step"),
                "train_seconds": r.card.train_seconds,
                "images_per_second": r.card.images_per_second,
            }
            for r in rows
        ],
        "failed": result.failed,
        "seconds_total": round(seconds),
        "machine": {
            **machine(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"zoo-{args.data}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path} ({seconds / 60:.1f} min); report: {result.report}")


if __name__ == "__main__":
    main()
