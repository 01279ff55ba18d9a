"""genzoo against a plain-PyTorch Gated PixelCNN, under the same budget of training time.

Issue 18, target 2: at each budget genzoo's best recipe should be clearly ahead (>= 0.1 bits/dim)
of a Gated PixelCNN written the way public PyTorch ports write it and trained the way a user
would train it by hand. Both systems here:

* the same architecture and size (``RECIPES[data]["size"]``), from the same initial weights
  (the reference copies genzoo's freshly built model: :mod:`reference`);
* the same threads (``--threads``; each system gets the whole machine in turn, never two at once:
  two jobs on two cores distort each other), the same training-time budget (the clock runs over
  the optimisation steps only, as ``genzoo train``'s ``--minutes``), the same 64-image batches and
  the same peak learning rate;
* the same test metric: exact bits/dim on every test image, fp32.

The reference is "plain": full ``k x k`` kernels times a mask, fp32 NCHW, Adam at a constant
rate, no warm-up, clipping, EMA, dropout, validation or schedule, and it keeps its final weights.
genzoo trains from the command line with the recipe below (``genzoo train``'s recommended
recipe on digits; a small fast model, cosine decay over the minutes and keep-best by a
validation split on Fashion-MNIST). What separates them is what genzoo adds, not the size of
the network.

    OMP_NUM_THREADS=2 python benchmarks/budget.py --data digits --minutes 5 --threads 2
    OMP_NUM_THREADS=2 python benchmarks/budget.py --data fashion-mnist --minutes 60 --threads 2 \\
        --only genzoo --reuse         # a run already in runs/budget-fashion-mnist-60min-2t/genzoo
    OMP_NUM_THREADS=2 python benchmarks/budget.py --data fashion-mnist --minutes 60 --threads 2 \\
        --only reference

Rows are merged into ``benchmarks/results/budget.json`` (one per data, minutes, threads and
system; a re-run replaces its row).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

import genzoo
from autoregressive import GENZOO, ROOT, evaluated, train_images_per_s, training_log
from genzoo.core.run import RunFolder
from genzoo.training import BatchOrder
from reference import RefGatedPixelCNN, reference_gap

RESULTS = ROOT / "benchmarks" / "results" / "budget.json"

#: per dataset: the network's size (both systems) and genzoo's training flags
RECIPES: dict[str, dict[str, list[str]]] = {
    "digits": {
        # the default model, and genzoo train's recommended recipe (no flag: what a user gets)
        "size": [],
        "genzoo": ["--seed", "0"],
        "lr": ["3e-3"],
    },
    "fashion-mnist": {
        # 60,000 images: a small, fast network sees several epochs in an hour of two cores
        # (57 images/s on two threads against 28 for the default 64-channel, 8-layer one)
        "size": ["--channels", "32", "--num-layers", "5", "--head-channels", "64"],
        "genzoo": [
            "--dropout",
            "0",
            "--lr",
            "3e-3",
            "--lr-schedule",
            "cosine",
            "--ema-decay",
            "0.999",
            "--validation",
            "200",
            "--keep-best",
            "--eval-every",
            "500",
            "--seed",
            "0",
        ],
        "lr": ["3e-3"],
    },
}
BATCH = 64


def size_config(data: str) -> dict[str, int]:
    """The network size flags as constructor arguments."""
    flags = RECIPES[data]["size"]
    return {flags[k][2:].replace("-", "_"): int(flags[k + 1]) for k in range(0, len(flags), 2)}


def out_dir(data: str, minutes: float, threads: int) -> Path:
    return ROOT / "runs" / f"budget-{data}-{minutes:g}min-{threads}t"


def genzoo_command(data: str, minutes: float, out: Path) -> list[str]:
    recipe = RECIPES[data]
    return [GENZOO, "train", "gated_pixelcnn", "--data", data, "--minutes", f"{minutes:g}",
            *recipe["size"], *recipe["genzoo"], "--no-progress", "--out", str(out)]  # fmt: skip


def run_genzoo(data: str, minutes: float, threads: int, reuse: bool) -> dict:
    """Train (unless ``reuse``) and summarise genzoo's run."""
    out = out_dir(data, minutes, threads) / "genzoo"
    cmd = genzoo_command(data, minutes, out)
    shown = f"OMP_NUM_THREADS={threads} genzoo " + " ".join(cmd[1:]).replace(str(ROOT) + "/", "")
    if not reuse:
        RunFolder(out).remove()  # refuses if a live process trains into it
        out.parent.mkdir(parents=True, exist_ok=True)
        print("$", shown, flush=True)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        with (out.parent / "genzoo.log").open("w") as log:
            subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    run = RunFolder(out)
    metrics, cfg, log = run.read_metrics(), run.read_train_config(), training_log(run)
    test = evaluated(run, metrics.test, "test likelihood")
    model = genzoo.load_model(run.path)
    return {
        "system": "genzoo",
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": int(cfg["step"]),
        "train_seconds": round(float(log[-1]["train_seconds"]), 1),
        "train_images_per_s": train_images_per_s(cfg, log),
        "precision": cfg["precision"],
        "test_bits_per_dim": round(test.bits_per_dim, 4),
        "test_bits_per_dim_stderr": round(evaluated(run, test.bits_per_dim_stderr, "stderr"), 4),
        "num_test_images": test.num_images,
        "command": shown,
    }


def train_reference(
    ref: RefGatedPixelCNN,
    data: genzoo.Dataset,
    seconds: float,
    lr: float,
    seed: int = 0,
    max_steps: int | None = None,
) -> tuple[int, float]:
    """Plain Adam on ``ref`` until ``seconds`` of step time are spent (or ``max_steps``);
    returns (steps, seconds)."""
    order = BatchOrder(data.train.shape[0], BATCH, seed=seed)
    optimizer = torch.optim.Adam(ref.parameters(), lr=lr)
    dims = math.prod(data.shape)
    ref.train()
    steps, spent = 0, 0.0
    while spent < seconds and (max_steps is None or steps < max_steps):
        start = time.perf_counter()
        epoch, index = divmod(steps, order.steps_per_epoch)
        x = data.train[order.global_batch(epoch, index)]
        loss = -ref.log_prob(x).mean() / dims
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        spent += time.perf_counter() - start
        steps += 1
    return steps, spent


@torch.no_grad()
def reference_bits_per_dim(ref: RefGatedPixelCNN, data: genzoo.Dataset) -> tuple[float, float]:
    """Exact bits/dim of ``ref`` on every test image, and its standard error."""
    ref.eval()
    x = data.test
    nll = torch.cat([-ref.log_prob(x[k : k + 500]).double() for k in range(0, x.shape[0], 500)])
    bits = nll / (math.prod(data.shape) * math.log(2))
    return float(bits.mean()), float(bits.std() / math.sqrt(bits.numel()))


def run_reference(data_name: str, minutes: float, threads: int) -> dict:
    data = genzoo.load_dataset(data_name)
    torch.manual_seed(0)
    init = genzoo.create_model(
        "gated_pixelcnn", shape=data.shape, levels=data.levels, **size_config(data_name)
    )
    ref = RefGatedPixelCNN(init)
    gap = reference_gap(init, ref, torch.Generator().manual_seed(0))
    if gap > 1e-4:
        raise SystemExit(f"the reference differs from genzoo's network ({gap:.2e}); fix it")
    lr = float(RECIPES[data_name]["lr"][0])
    steps, spent = train_reference(ref, data, 60.0 * minutes, lr)
    bits, stderr = reference_bits_per_dim(ref, data)
    return {
        "system": "plain PyTorch",
        "parameters": sum(p.numel() for p in init.parameters()),  # the masks' zeros not counted
        "steps": steps,
        "train_seconds": round(spent, 1),
        "train_images_per_s": round(steps * BATCH / spent, 1),
        "precision": "32",
        "test_bits_per_dim": round(bits, 4),
        "test_bits_per_dim_stderr": round(stderr, 4),
        "num_test_images": int(data.test.shape[0]),
        "command": (
            f"OMP_NUM_THREADS={threads} python benchmarks/budget.py --data {data_name} "
            f"--minutes {minutes:g} --threads {threads} --only reference"
        ),
        "recipe": f"Adam lr {lr:g} constant, batch {BATCH}, fp32 NCHW, final weights",
    }


def merge(rows: list[dict]) -> None:
    """Replace the rows of the same data, minutes, threads and system in ``budget.json``."""
    payload = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"results": []}
    key = ("data", "minutes", "threads", "system")
    new = {tuple(r[k] for k in key) for r in rows}
    kept = [r for r in payload["results"] if tuple(r[k] for k in key) not in new]
    payload["results"] = sorted(kept + rows, key=lambda r: tuple(str(r[k]) for k in key))
    payload["meta"] = {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "note": "each system ran alone on the machine, with the threads of its row",
    }
    RESULTS.write_text(json.dumps(payload, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=sorted(RECIPES), required=True)
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=("genzoo", "reference"), default=None)
    parser.add_argument("--reuse", action="store_true", help="summarise genzoo's existing run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    systems = [args.only] if args.only else ["genzoo", "reference"]
    rows = []
    for system in systems:
        if system == "genzoo":
            row = run_genzoo(args.data, args.minutes, args.threads, args.reuse)
        else:
            row = run_reference(args.data, args.minutes, args.threads)
        row = {"data": args.data, "minutes": args.minutes, "threads": args.threads, **row}
        row["date"] = datetime.date.today().isoformat()
        print(json.dumps(row), flush=True)
        rows.append(row)
    merge(rows)


if __name__ == "__main__":
    main()
