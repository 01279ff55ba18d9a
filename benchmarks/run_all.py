"""Run every benchmark and print the README's results tables (``make bench``; ~8 hours on 2 cores).

1. ``throughput.py``: genzoo's engine vs a plain masked-conv reference, images/s and bits/dim.
2. ``sampling.py``: cached vs naive sampling, images/s.
3. ``autoregressive.py``: every autoregressive model on digits (5 minutes each) and on
   Fashion-MNIST (10 minutes each), one CPU thread per run, two runs side by side; then
   ``paired.py`` (per-image paired differences).
4. ``vae.py``: the VAE family with the same budgets, next to step 3's models on the same images.
5. ``gan.py``: the GANs with the same budgets, and the sample quality of every family's runs.
6. ``fvbn.py``: FVSBN, NADE, MADE, DBN beside the PixelCNN family on binarised images.
7. ``classic.py``: mixtures, naive Bayes, RBM.
8. ``unsupervised.py``: probes, clustering, 2-D maps and one bits/dim table per dataset.
9. ``timeseries.py``: HMM vs the causal 1-D model vs a random walk on statsmodels' series.

Results land in ``benchmarks/results/`` and ``runs/bench-*``.

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

sys.path.insert(0, str(Path(__file__).parent))

import autoregressive
import vae

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
#: the README's flags beyond data and budget, for time: probes on Fashion-MNIST fit on a seeded
#: 2,000 of the 60,000 training images; sample quality at 5,000 samples per model
EXTRA = {
    ("unsupervised", "fashion-mnist"): ["--max-train", "2000"],
    ("gan", "fashion-mnist"): ["--quality-samples", "5000"],
}


def run(cmd: list[str], log: Path) -> None:
    print("$", " ".join(cmd), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with log.open("w") as fh:
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, check=True)


def collect() -> str:
    lines = []
    tp = RESULTS / "throughput.json"
    if tp.exists():
        data = json.loads(tp.read_text())
        lines += [
            "Training throughput, genzoo engine vs plain masked-conv reference:",
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
    sp = RESULTS / "sampling.json"
    if sp.exists():
        lines += [
            "Sampling, cached vs naive:",
            "",
            "| model | image | batch | cached img/s | naive img/s | speed-up |",
            "|---|---|---|---|---|---|",
        ]
        for r in json.loads(sp.read_text())["results"]:
            lines.append(
                f"| {r['model']} | {'×'.join(map(str, r['shape']))} | {r['batch']} | "
                f"{r['cached_images_per_s']:.2f} | {r['naive_images_per_s']:.3f} | "
                f"**{r['speedup']:.0f}×** |"
            )
        lines.append("")
    for data in autoregressive.RECIPES:
        if (RESULTS / f"autoregressive-{data}.json").exists():
            lines += [f"{data}:", "", autoregressive.table(data), ""]
    for data in vae.RECIPES:
        if (RESULTS / f"vae-{data}.json").exists():
            lines += [f"VAE family, {data}:", "", vae.table(data), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="run all benchmarks")
    parser.add_argument("--collect", action="store_true", help="only print the tables")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.collect:
        py = sys.executable
        run([py, "benchmarks/throughput.py", "--threads", "1", "--json",
             str(RESULTS / "throughput.json")], RESULTS / "throughput.log")  # fmt: skip
        run([py, "benchmarks/sampling.py", "--naive-rows", "1", "--json",
             str(RESULTS / "sampling.json")], RESULTS / "sampling.log")  # fmt: skip
        for data, minutes in (("digits", 5), ("fashion-mnist", 10)):
            run([py, "benchmarks/autoregressive.py", "--data", data, "--minutes", str(minutes),
                 "--jobs", "2"], RESULTS / f"autoregressive-{data}.log")  # fmt: skip
        run([py, "benchmarks/paired.py", "--data", "digits"], RESULTS / "paired-digits.log")
        run([py, "benchmarks/paired.py", "--data", "fashion-mnist", "--images", "1000"],
            RESULTS / "paired-fashion-mnist.log")  # fmt: skip
        for script in ("vae", "gan", "fvbn", "classic", "unsupervised"):
            for data, minutes in (("digits", 5), ("fashion-mnist", 10)):
                extra = EXTRA.get((script, data), [])
                run([py, f"benchmarks/{script}.py", "--data", data, "--minutes", str(minutes),
                     "--jobs", "2", *extra], RESULTS / f"{script}-{data}.log")  # fmt: skip
        run([py, "benchmarks/timeseries.py"], RESULTS / "timeseries.log")
    print(collect())


if __name__ == "__main__":
    main()
