"""Run every benchmark and print the README's results tables (``make bench``; ~1 hour on 2 cores).

1. ``throughput.py``: genzoo vs a plain masked-conv reference, images/s and bits/dim.
2. ``digits_budget.sh``: test bits/dim on digits after 5 minutes per model (one thread each).
3. Fashion-MNIST: gated_pixelcnn for 30 CPU-minutes (one thread), test bits/dim.

Results land in ``benchmarks/results/`` and ``runs/bench-*``; ``collect`` turns them into tables.

    python benchmarks/run_all.py            # everything
    python benchmarks/run_all.py --collect  # only print tables from existing results
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import genzoo

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
GENZOO = str(Path(sys.executable).parent / "genzoo")
FASHION = [
    GENZOO,
    "train",
    "gated_pixelcnn",
    "--data",
    "fashion-mnist",
    "--minutes",
    "30",
    "--lr",
    "1e-3",
    "--eval-every",
    "1000",
    "--checkpoint-every",
    "1000",
    "--num-samples",
    "16",
    "--out",
    "runs/bench-fashion-gated",
]


def run(cmd: list[str], log: Path, threads: int | None = None) -> None:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    print("$", " ".join(cmd), flush=True)
    with log.open("w") as fh:
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, check=True)


def collect() -> str:
    lines = []
    tp = RESULTS / "throughput.json"
    if tp.exists():
        data = json.loads(tp.read_text())
        lines += [
            "Training throughput, genzoo engine vs plain fp32 NCHW masked-conv reference (same",
            "weights, same batches): `python benchmarks/throughput.py --json "
            "benchmarks/results/throughput.json`",
            "",
            "| data | model | batch | genzoo img/s | reference img/s | speed-up | "
            "test bpd genzoo / ref (equal steps) |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in data["results"]:
            lines.append(
                f"| {r['dataset']} | {r['model']} | {r['batch']} | {r['genzoo_images_per_s']} | "
                f"{r['reference_images_per_s']} | **{r['speedup']:.2f}×** | "
                f"{r['genzoo_test_bpd']:.4f} / {r['reference_test_bpd']:.4f} "
                f"({r['quality_steps']} steps) |"
            )
        lines.append("")
    rows = []
    for run_dir in sorted((ROOT / "runs").glob("bench-*/*")) + sorted(
        (ROOT / "runs").glob("bench-fashion-*")
    ):
        metrics_file, cfg_file = run_dir / "metrics.json", run_dir / "train_config.json"
        if not metrics_file.exists() or not cfg_file.exists():
            continue
        m, cfg = json.loads(metrics_file.read_text()), json.loads(cfg_file.read_text())
        params = sum(p.numel() for p in genzoo.load_model(run_dir).parameters())
        t = m["test"]
        rows.append(
            f"| {m['dataset']} | {m['model']} | {params:,} | "
            f"{cfg['train_config'].get('minutes')} min | {cfg.get('step', '')} | "
            f"{t['nll_nats']:.2f} | **{t['bits_per_dim']:.4f}** ± {t['bits_per_dim_stderr']:.4f} |"
        )
    if rows:
        lines += [
            "| data | model | parameters | budget | steps | test NLL (nats/image) | "
            "test bits/dim ± s.e. |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="run all benchmarks")
    parser.add_argument("--collect", action="store_true", help="only print the tables")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.collect:
        run(
            [
                sys.executable,
                "benchmarks/throughput.py",
                "--json",
                str(RESULTS / "throughput.json"),
            ],
            RESULTS / "throughput.log",
        )
        # the two budgeted jobs use one thread each and run side by side on the 2 cores
        fashion = subprocess.Popen(
            FASHION,
            cwd=ROOT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            stdout=(RESULTS / "fashion_gated_30min.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        run(["bash", "benchmarks/digits_budget.sh"], RESULTS / "digits_5min.log", threads=1)
        if fashion.wait() != 0:
            raise SystemExit("the Fashion-MNIST run failed; see benchmarks/results/")
    print(collect())


if __name__ == "__main__":
    main()
