"""Sampling speed: cached (incremental) vs naive generation, images per second.

For every autoregressive model with a cached sampler, at its default hyper-parameters and 256
levels, on 28x28x1 and 16x16x3 images at batch 1, 16 and 64:

* ``cached``: ``model.sample(n, method="cached")``, timed over the whole image;
* ``naive``: ``model.sample(n, method="naive")`` — one full forward pass per sub-pixel. Its cost per
  sub-pixel does not depend on the position, so it is timed over the first ``--naive-rows`` rows
  (the rest given as known, which the naive loop skips) and scaled to the whole image; the JSON
  records the measured seconds and rows.

Before timing, both samplers draw the same images from the same generator on a small case (the
benchmark refuses to report a speed-up for a sampler that disagrees). Weights are random: speed
does not depend on them. Run one thread, nothing else running:

    OMP_NUM_THREADS=1 python benchmarks/sampling.py --json benchmarks/results/sampling.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import torch

import genzoo
from genzoo.models.autoregressive.base import AutoregressiveModel

SHAPES = [(1, 28, 28), (3, 16, 16)]
BATCHES = [1, 16, 64]


def cached_models() -> list[str]:
    names = []
    for name in genzoo.available_models():
        cls = genzoo.models.get_model_class(name)
        if issubclass(cls, AutoregressiveModel) and (
            cls.incremental_sampler is not AutoregressiveModel.incremental_sampler
        ):
            names.append(name)
    return names


def check_identical(name: str) -> None:
    torch.manual_seed(0)
    model = genzoo.create_model(name, shape=(3, 5, 6), levels=256).eval()
    a, b = (
        model.sample(4, generator=torch.Generator().manual_seed(0), method=m)
        for m in ("naive", "cached")
    )
    if not torch.equal(a, b):
        raise SystemExit(f"{name}: cached and naive samples differ; not benchmarking")


def time_cached(model, n: int) -> float:
    start = time.perf_counter()
    model.sample(n, generator=torch.Generator().manual_seed(0), method="cached")
    return time.perf_counter() - start


def time_naive(model, n: int, rows: int) -> tuple[float, float]:
    """Seconds for the first ``rows`` rows, and that scaled to the whole image."""
    _, height, _ = model.shape
    rows = min(rows, height)
    mask = torch.zeros(model.shape, dtype=torch.bool)
    mask[:, rows:] = True  # given: the naive loop skips them
    known = torch.zeros((n, *model.shape), dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    model.sample(n, generator=g, known=known, mask=mask, method="naive")
    seconds = time.perf_counter() - start
    return seconds, seconds * height / rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=None, help="default: all with a cache")
    parser.add_argument("--batches", nargs="*", type=int, default=BATCHES)
    parser.add_argument("--naive-rows", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results = []
    for name in args.models or cached_models():
        check_identical(name)
        for shape in SHAPES:
            torch.manual_seed(0)
            model = genzoo.create_model(name, shape=shape, levels=256).eval()
            model.sample(1, method="cached")  # warm-up (allocations, kernels)
            for n in args.batches:
                cached = time_cached(model, n)
                measured, naive = time_naive(model, n, args.naive_rows)
                row = {
                    "model": name,
                    "shape": list(shape),
                    "batch": n,
                    "cached_images_per_s": round(n / cached, 3),
                    "naive_images_per_s": round(n / naive, 4),
                    "speedup": round(naive / cached, 1),
                    "cached_seconds": round(cached, 2),
                    "naive_seconds_measured": round(measured, 2),
                    "naive_rows_measured": min(args.naive_rows, shape[1]),
                }
                results.append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "command": " ".join(["python", *sys.argv]),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "date": datetime.date.today().isoformat(),
        }
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
