"""Peak memory of ``genzoo sample RUN --n N --out x.npz`` for growing ``N``.

``genzoo sample`` draws ``CHUNK`` samples at a time and streams the ``.npz`` into its archive,
so its peak resident memory should not grow with ``--n``. This trains a small run once (a
``pixel_independent`` model on 28x28 synthetic images with 16 levels: 784 sub-pixels, so an
``int64`` array of 100,000 samples alone would take 627 MB), then runs ``genzoo sample`` in a
fresh process per ``N`` (one thread) and reads the child's peak RSS (``ru_maxrss`` from
``wait4``). Nothing else should run meanwhile.

    python benchmarks/memory.py                      # N = 1000, 20000, 100000
    python benchmarks/memory.py --n 1000 20000

The table goes to ``benchmarks/results/memory.json``; the benchmark asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def genzoo(*argv: str) -> list[str]:
    return [sys.executable, "-m", "genzoo.cli.main", *argv]


def peak_rss(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one child process running ``argv``."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {child.stderr.read().decode()}")
    return usage.ru_maxrss / 1024, seconds  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 20000, 100000])
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        images = np.random.default_rng(0).integers(0, 256, (256, 28, 28), dtype=np.uint8)
        np.savez(tmp_path / "images.npz", x=images)
        run = tmp_path / "run"
        train = genzoo(
            "train", "pixel_independent", "--data", f"npz:{tmp_path / 'images.npz'}",
            "--levels", "16", "--steps", "5", "--batch-size", "32", "--out", str(run),
            "--no-sample-quality",
        )  # fmt: skip
        subprocess.run(train, env=env, check=True, capture_output=True)
        baseline, _ = peak_rss(genzoo("models"), env)  # importing genzoo and torch
        for n in args.n:
            out = tmp_path / f"samples-{n}.npz"
            rss, seconds = peak_rss(
                genzoo("sample", str(run), "--n", str(n), "--out", str(out)), env
            )
            with np.load(out) as archive:
                shape = archive["x"].shape
            rows.append(
                {
                    "n": n,
                    "peak_rss_mib": round(rss, 1),
                    "seconds": round(seconds, 2),
                    "x_shape": list(shape),
                    "x_int64_mib": round(np.prod(shape) * 8 / 2**20, 1),
                    "file_mib": round(out.stat().st_size / 2**20, 2),
                }
            )
            print(
                f"--n {n:>7,}: peak RSS {rss:7.1f} MiB (the samples as int64: "
                f"{rows[-1]['x_int64_mib']:6.1f} MiB), {seconds:5.1f} s",
                flush=True,
            )
    print(f"(importing genzoo and listing models: {baseline:.1f} MiB)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "threads": 1,
        "model": "pixel_independent, 1x28x28, 16 levels",
        "baseline_rss_mib": round(baseline, 1),
        "rows": rows,
    }
    (RESULTS / "memory.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
