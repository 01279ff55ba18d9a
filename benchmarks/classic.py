"""Classic models (EM mixtures, naive Bayes, RBM) on the same data and test images as the deep ones.

Every run is a ``genzoo train`` command (one thread each, ``--jobs`` side by side, nothing else
running). EM models stop when they converge or when ``--minutes`` is spent (checked between
iterations); the RBM trains for ``--minutes`` with PCD-1. Rows:

* at the dataset's own levels (17 for digits, 256 for Fashion-MNIST): ``pixel_independent``
  (from ``autoregressive-DATA.json``), ``mixture_categorical`` (exact), ``gmm`` (the
  closed-form dequantisation *bound*, an upper bound on bits/dim), naive Bayes
  (``mixture_categorical --conditional --components 1``: bits/dim of ``p(x | y)``, conditional on
  the label, not comparable with the others; its test accuracy is its headline);
* at 2 levels (static binarisation, ``--levels 2``: pixel ``>= 9`` of 16 for digits, ``>= 128``
  of 255 for Fashion-MNIST): ``rbm`` (an AIS *estimate*: ``log Z`` is low on average, so the
  bits/dim are optimistic on average; two independent AIS runs are reported) next to
  ``pixel_independent`` and ``mixture_categorical`` trained on the same binarised data;
* the deep models' test bits/dim from ``autoregressive-DATA.json`` and ``vae-DATA.json``.

    python benchmarks/classic.py --data digits --minutes 5
    python benchmarks/classic.py --data fashion-mnist --minutes 10
    python benchmarks/classic.py --data digits --collect   # table from existing runs

Results land in ``benchmarks/results/classic-DATA.json`` (runs in ``runs/bench-classic-DATA``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from autoregressive import RESULTS, ROOT, command, evaluated, run_jobs, shown

#: run name -> (model, flags); every run also gets RECIPES[data]["*"]
RUNS: dict[str, tuple[str, list[str]]] = {
    "mixture_categorical": ("mixture_categorical", ["--components", "20"]),
    "gmm": ("gmm", ["--components", "10", "--covariance-type", "full"]),
    "naive_bayes": ("mixture_categorical", ["--conditional", "--components", "1"]),
    "binary-pixel_independent": ("pixel_independent", ["--levels", "2", "--lr", "3e-2"]),
    "binary-mixture_categorical": ("mixture_categorical", ["--levels", "2", "--components", "20"]),
    "binary-rbm": ("rbm", ["--levels", "2", "--hidden", "200", "--lr", "1e-3"]),
}

RECIPES: dict[str, dict[str, list[str]]] = {
    # as the deep benchmarks: digits holds 200 training images out (EM logs its held-out
    # likelihood every iteration; the RBM keeps the weights of the best held-out pseudo-
    # likelihood); the 297 / 10,000 test images are the same
    "digits": {"*": ["--validation", "200", "--eval-every", "1", "--seed", "0"],
               "binary-rbm": ["--eval-every", "200", "--keep-best"],
               "binary-pixel_independent": ["--eval-every", "200", "--keep-best"]},
    "fashion-mnist": {"*": ["--seed", "0", "--eval-every", "0"],
                      "binary-rbm": ["--checkpoint-every", "1000"]},
}  # fmt: skip


def recipe_for(data: str, run: str) -> dict[str, dict[str, list[str]]]:
    """This run's recipe in the ``{data: {"*": ..., model: ...}}`` form ``command`` reads."""
    model, flags = RUNS[run]
    base = RECIPES[data]
    return {data: {"*": base["*"], model: [*flags, *base.get(run, [])]}}


def ais_spread(run_dir: Path) -> dict:
    """Two independent AIS estimates of ``log Z`` (seeds 1 and 2) with their standard errors."""
    import torch

    import genzoo

    model = genzoo.load_model(run_dir).double()
    out = {}
    for seed in (1, 2):
        r = model.log_partition_ais(generator=torch.Generator().manual_seed(seed))[0]
        out[f"log_z_seed{seed}"] = round(float(r.log_z), 3)
        out[f"log_z_seed{seed}_stderr"] = round(r.stderr, 3)
    out["ais_steps"], out["ais_chains"] = model.ais_steps, model.ais_chains
    return out


def summarize(run: str, run_dir: Path, data: str, minutes: float) -> dict:
    from genzoo.core.run import RunFolder

    folder = RunFolder(run_dir)
    metrics = folder.read_metrics()
    cfg = folder.read_train_config()
    test = evaluated(folder, metrics.test, "test likelihood")
    row = {
        "run": run,
        "model": metrics.model,
        "levels": metrics.levels,
        "density": test.density,
        "conditional": cfg["model_config"].get("num_classes") is not None,
        "steps": int(cfg["step"]) if cfg.get("step") else None,
        "test_bits_per_dim": round(test.bits_per_dim, 4),
        "test_bits_per_dim_stderr": round(evaluated(folder, test.bits_per_dim_stderr, "stderr"), 4),
        "num_test_images": test.num_images,
        "command": shown(data, RUNS[run][0], minutes, recipe_for(data, run)).replace(
            f"bench-{data}/{RUNS[run][0]}", f"bench-classic-{data}/{run}"
        ),
    }
    if metrics.test_accuracy is not None:
        row["test_accuracy"] = round(metrics.test_accuracy, 4)
    if metrics.model == "rbm":
        row["ais"] = ais_spread(run_dir)
    return row


def deep_rows(data: str) -> list[dict]:
    """Test bits/dim of the deep models from the other benchmarks' result files."""
    rows = []
    for family, key in [("autoregressive", "test_bits_per_dim"), ("vae", "iwae_bits_per_dim")]:
        path = RESULTS / f"{family}-{data}.json"
        if path.exists():
            for r in json.loads(path.read_text())["results"]:
                kind = "exact" if family == "autoregressive" else "bound (IWAE, first images)"
                rows.append({"model": r["model"], "density": kind, "test_bits_per_dim": r[key]})
    return rows


def table(data: str) -> str:
    payload = json.loads((RESULTS / f"classic-{data}.json").read_text())
    lines = [
        "| model | levels | density | test bits/dim ± s.e. | accuracy |",
        "|---|---|---|---|---|",
    ]
    for r in payload["results"]:
        density = r["density"] + (", conditional on the label" if r["conditional"] else "")
        accuracy = f"{r['test_accuracy']:.4f}" if "test_accuracy" in r else ""
        lines.append(
            f"| {r['run']} | {r['levels']} | {density} | {r['test_bits_per_dim']:.4f} ± "
            f"{r['test_bits_per_dim_stderr']:.4f} | {accuracy} |"
        )
    for r in payload["deep"]:
        lines.append(f"| {r['model']} | | {r['density']} | {r['test_bits_per_dim']:.4f} | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=sorted(RECIPES), required=True)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--runs", nargs="*", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side (one per core)")
    parser.add_argument("--collect", action="store_true", help="only rebuild the table")
    args = parser.parse_args()
    root = ROOT / "runs" / f"bench-classic-{args.data}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.collect:
        commands = {
            run: command(
                args.data, RUNS[run][0], args.minutes, root / run, recipe_for(args.data, run)
            )
            for run in args.runs
        }
        shown_as = {
            run: shown(args.data, RUNS[run][0], args.minutes, recipe_for(args.data, run))
            for run in args.runs
        }
        run_jobs(commands, shown_as, f"classic-{args.data}", args.jobs)
    from genzoo.core.run import RunFolder

    done = [r for r in RUNS if RunFolder(root / r).metrics_json.exists()]
    rows = [summarize(r, root / r, args.data, args.minutes) for r in done]
    payload = {
        "data": args.data,
        "minutes": args.minutes,
        "binarization": "static: requantize to 2 levels, pixel >= raw_levels / 2",
        "results": rows,
        "deep": deep_rows(args.data),
        "uniform_bits_per_dim": round(
            math.log2({"digits": 17, "fashion-mnist": 256}[args.data]), 4
        ),
    }
    (RESULTS / f"classic-{args.data}.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(table(args.data))


if __name__ == "__main__":
    main()
