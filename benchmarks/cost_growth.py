"""How cost grows: sampling time per image against image size, training time against width.

Two tables, each with the slope the algorithm predicts next to the measured one (slopes of
log time against log size, fitted by least squares over all sizes):

* **Sampling** at ``--batch`` images of 1 x S x S, S in ``--sizes`` (default 8, 16, 28, 32), 256
  levels, the model's default width. ``cached`` (``method="cached"``) is timed over the whole
  image; it touches a fixed neighbourhood per sub-pixel, so its time grows as O(D) in the
  number of sub-pixels D (slope 1). ``naive`` runs one full forward pass per sub-pixel, each
  costing O(D): O(D^2) in all (slope 2). Its per-sub-pixel cost does not depend on the position,
  so it is timed over the first ``--naive-rows`` rows and scaled to the whole image (as in
  ``benchmarks/sampling.py``); at the smallest size it is also timed over the whole image, and
  the JSON records how far the scaled estimate is from that.
* **Training** (forward + backward + AdamW step) of one batch of 28 x 28 images against the
  model's width (``channels``, the head scaled with it). The predicted slope comes from
  counting the step's floating-point operations (``torch.utils.flop_counter``): a convolution
  from C to C channels costs C^2 per pixel, so the slope tends to 2 as the width grows, less
  where the C-linear parts (the input layer, the gates) still weigh.

Weights are random: speed does not depend on them. One thread, nothing else running:

    OMP_NUM_THREADS=1 python benchmarks/cost_growth.py --json benchmarks/results/cost-growth.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

import genzoo

sys.path.insert(0, str(Path(__file__).parent))
from sampling import time_cached, time_naive


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(ys) against log(xs)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def sampling_rows(name: str, sizes: list[int], batch: int, naive_rows: int) -> list[dict]:
    rows = []
    for s in sizes:
        torch.manual_seed(0)
        model = genzoo.create_model(name, shape=(1, s, s), levels=256).eval()
        r = min(naive_rows, s)
        time_cached(model, 1)  # warm-up (allocations, kernels)
        time_naive(model, 1, 1)
        cached = min(time_cached(model, batch) for _ in range(2))
        measured = min(time_naive(model, batch, r)[0] for _ in range(2))
        row = {
            "model": name,
            "size": s,
            "subpixels": s * s,
            "batch": batch,
            "cached_s_per_image": cached / batch,
            "naive_s_per_image": measured * s / r / batch,
            "naive_rows_measured": r,
        }
        if s == min(sizes):  # check the scaling of the naive time against a whole image
            full, _ = time_naive(model, batch, s)  # all rows: nothing given
            row["naive_full_s_per_image"] = full / batch
            row["naive_scaled_vs_full"] = round(row["naive_s_per_image"] / (full / batch), 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def train_step_flops(model, x: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        model.loss(x)["loss"].backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def training_rows(name: str, widths: list[int], batch: int, steps: int) -> list[dict]:
    data = genzoo.load_dataset("fashion-mnist")
    x = data.train[:batch]
    rows = []
    for w in widths:
        torch.manual_seed(0)
        model = genzoo.create_model(
            name, shape=data.shape, levels=data.levels, channels=w, head_channels=2 * w
        )
        model = model.to(memory_format=torch.channels_last)
        flops = train_step_flops(model, x)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

        times = []
        for i in range(steps + 1):  # the first step is a warm-up
            start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            model.loss(x)["loss"].backward()
            opt.step()
            if i:
                times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        row = {
            "model": name,
            "width": w,
            "batch": batch,
            "s_per_image": seconds / batch,
            "gflop_per_image": flops / batch / 1e9,
            "gflop_per_s": flops / seconds / 1e9,
            "steps_timed": steps,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="gated_pixelcnn")
    parser.add_argument("--sizes", default="8,16,28,32")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--naive-rows", type=int, default=1)
    parser.add_argument("--widths", default="16,32,64,128")
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    widths = [int(w) for w in args.widths.split(",")]
    sampling = sampling_rows(args.model, sizes, args.batch, args.naive_rows)
    training = training_rows(args.model, widths, args.train_batch, args.train_steps)
    d = [r["subpixels"] for r in sampling]
    summary = {
        "cached_slope": round(slope(d, [r["cached_s_per_image"] for r in sampling]), 2),
        "cached_predicted": 1.0,
        "naive_slope": round(slope(d, [r["naive_s_per_image"] for r in sampling]), 2),
        "naive_predicted": 2.0,
        "train_slope": round(slope(widths, [r["s_per_image"] for r in training]), 2),
        "train_predicted": round(slope(widths, [r["gflop_per_image"] for r in training]), 2),
    }
    print(json.dumps(summary))
    if args.json:
        meta = {
            "command": "OMP_NUM_THREADS=1 python " + " ".join(sys.argv),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "date": datetime.date.today().isoformat(),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"meta": meta, "summary": summary, "sampling": sampling, "training": training}
        args.json.write_text(json.dumps(payload, indent=1) + "\n")


if __name__ == "__main__":
    main()
