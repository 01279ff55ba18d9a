"""Training throughput of genzoo's convolutional autoregressive models vs plain references.

For each model (PixelCNN, Gated PixelCNN, PixelCNN++, PixelSNAIL) and image size, genzoo and
the reference of ``reference.py`` (the same function written plainly, fp32 NCHW; checked equal
first) start from the *same weights* and train on the *same batches*. genzoo runs through its
training engine (`genzoo.training.train`: Fabric, channels-last, precision "auto", AdamW, no
EMA/clipping/warm-up so the optimisation is identical); the reference runs a plain Adam loop, as
existing PyTorch libraries do. Timed runs alternate between the two and the median of the
repeats is reported. Afterwards both are trained for the same number of steps and their test
bits/dim compared (dropout masks differ between the two, so expect noise at that level).

Every row also has the FLOPs of one training step (forward + backward, per image, counted by
``torch.utils.flop_counter.FlopCounterMode``: convolutions, matrix products and attention only,
full ``N x N`` attention even where causal), the achieved GFLOP/s (FLOPs x images/s) and this
CPU's fp32 peak: threads x clock ("cpu MHz" of /proc/cpuinfo) x FLOPs per cycle and core (32 for
AVX2 with two FMA pipes, 64 for AVX-512); the JSON's ``meta`` records the clock and assumption.

Modes (one per run):

    # genzoo vs reference, at one thread (target: genzoo >= 2x for every model); ~25 min
    python benchmarks/throughput.py --threads 1 --json benchmarks/results/throughput.json
    # the same at two threads; ~15 min
    python benchmarks/throughput.py --threads 2 --json benchmarks/results/throughput-2t.json
    # thread scaling of genzoo alone, 1 and 2 threads alternating in one process; ~6 min
    python benchmarks/throughput.py --threads 1,2 --json benchmarks/results/throughput-scaling.json
    # where the time of genzoo's default recipe goes (EMA, logging, evaluation, checkpoints,
    # data) on digits, one evaluation period (500 steps) per model; ~12 min
    python benchmarks/throughput.py --overhead --threads 1 --json benchmarks/results/overhead.json

``--models a,b`` and ``--datasets digits`` pick a subset; ``--quick`` is a smoke test (a few
steps, numbers meaningless).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

sys.path.insert(0, str(Path(__file__).parent))

import genzoo
from genzoo.evaluation import evaluate_likelihood
from genzoo.training import BatchOrder, ExponentialMovingAverage, TrainConfig, train
from genzoo.training import engine as engine_module
from genzoo.training.procedures import LikelihoodStep
from reference import reference_for, reference_gap

CASES = [
    # (dataset, model, batch size, timed steps, repeats, steps before comparing bits/dim);
    # timed steps x repeats x 2 implementations: about 20-40 s per case at one thread
    ("digits", "pixelcnn", 64, 30, 3, 300),
    ("digits", "gated_pixelcnn", 64, 30, 3, 300),
    ("digits", "pixelcnn_pp", 64, 25, 3, 200),
    ("digits", "pixelsnail", 64, 20, 3, 200),
    ("fashion-mnist", "pixelcnn", 32, 8, 2, 40),
    ("fashion-mnist", "gated_pixelcnn", 32, 8, 2, 40),
    ("fashion-mnist", "pixelcnn_pp", 32, 8, 2, 40),
    ("fashion-mnist", "pixelsnail", 32, 5, 2, 30),
]
LR = 1e-3
#: fp32 FLOPs per cycle and core: two FMA pipes x vector lanes x 2 (multiply and add)
FLOPS_PER_CYCLE = {"AVX512": 64, "AVX2": 32}


def engine_config(steps: int, batch: int, lr: float) -> TrainConfig:
    return TrainConfig(
        steps=steps,
        batch_size=batch,
        lr=lr,
        warmup_steps=0,
        grad_clip=0.0,
        ema_decay=0.0,
        eval_every=0,
        checkpoint_every=0,
        log_every=10**9,
        seed=0,
    )


def run_ours(model, data, steps, batch, lr) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        result = train(model, data, engine_config(steps, batch, lr), tmp)
    return result.images_per_second


def run_reference(ref, data, steps, batch, lr) -> float:
    order = BatchOrder(data.train.shape[0], batch, seed=0)
    opt = torch.optim.Adam(ref.parameters(), lr=lr)
    d = math.prod(data.shape)
    ref.train()
    start = time.perf_counter()
    for step in range(steps):
        epoch, index = divmod(step, order.steps_per_epoch)
        x = data.train[order.global_batch(epoch, index)]
        loss = -ref.log_prob(x).mean() / d
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - start)


@torch.no_grad()
def ref_bpd(ref, data) -> float:
    ref.eval()
    x = data.test[:1000]
    total = sum(-ref.log_prob(x[k : k + 250]).sum().item() for k in range(0, x.shape[0], 250))
    return total / (x.shape[0] * math.prod(data.shape) * math.log(2))


# ---------------------------------------------------------------------- FLOPs and peak
def _cpu_flash_attention(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_flash_attention_backward(grad_out, query, key, value, *args, out_shape=None, **kw) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


#: CPU's fused attention kernels, which FlopCounterMode does not know (it would count 0)
CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_attention,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: (
        _cpu_flash_attention_backward
    ),
}


def train_flops_per_image(net: torch.nn.Module, loss: Callable[[], torch.Tensor], n: int) -> float:
    """FLOPs of one forward + backward of ``loss()`` (a batch of ``n`` images), per image."""
    net.train()
    with FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS) as counter:
        loss().backward()
    net.zero_grad(set_to_none=True)
    return counter.get_total_flops() / n


def step_flops(model, ref, data) -> tuple[float, float]:
    """Training FLOPs per image of genzoo's model and of its reference."""
    x = data.train[:8]
    d = math.prod(data.shape)
    ours = train_flops_per_image(model, lambda: model.loss(x)["loss"], x.shape[0])
    theirs = train_flops_per_image(ref, lambda: -ref.log_prob(x).mean() / d, x.shape[0])
    return ours, theirs


def cpu_clock_mhz() -> float | None:
    """The mean "cpu MHz" of /proc/cpuinfo (the current clock; None where there is none)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    mhz = [float(line.split(":")[1]) for line in lines if line.startswith("cpu MHz")]
    return statistics.fmean(mhz) if mhz else None


def peak_gflops(threads: int) -> float | None:
    """fp32 peak of ``threads`` cores: cores x clock x FLOPs per cycle (see the module doc)."""
    mhz = cpu_clock_mhz()
    per_cycle = FLOPS_PER_CYCLE.get(torch.backends.cpu.get_cpu_capability())
    if mhz is None or per_cycle is None:
        return None
    cores = min(threads, os.cpu_count() or threads)
    return cores * mhz * 1e-3 * per_cycle


def gflops_fields(prefix: str, flops_per_image: float, images_per_s: float, threads: int) -> dict:
    achieved = flops_per_image * images_per_s * 1e-9
    peak = peak_gflops(threads)
    return {
        f"{prefix}_gflop_per_image": round(flops_per_image * 1e-9, 4),
        f"{prefix}_gflops": round(achieved, 2),
        f"{prefix}_peak_fraction": None if peak is None else round(achieved / peak, 4),
    }


# ---------------------------------------------------------------------- the modes
def fresh(init, model_name, data):
    m = genzoo.create_model(model_name, shape=data.shape, levels=data.levels)
    m.load_state_dict(init.state_dict())
    return m


def initial_model(model_name, data):
    torch.manual_seed(0)
    init = genzoo.create_model(model_name, shape=data.shape, levels=data.levels)
    gap = reference_gap(init, reference_for(init), torch.Generator().manual_seed(0))
    if gap > 1e-4:
        raise SystemExit(f"{model_name}: reference differs from genzoo ({gap:.2e}); fix it")
    return init


def compare(case, threads: int) -> dict:
    """genzoo vs the reference: images/s, GFLOP/s and test bits/dim after equal steps."""
    data_name, model_name, batch, steps, repeats, quality_steps = case
    torch.set_num_threads(threads)
    data = genzoo.load_dataset(data_name)
    init = initial_model(model_name, data)
    ours_flops, ref_flops = step_flops(fresh(init, model_name, data), reference_for(init), data)
    ours_ips, ref_ips = [], []
    for _ in range(repeats):  # alternate to share any drift in machine load
        ours_ips.append(run_ours(fresh(init, model_name, data), data, steps, batch, LR))
        ref_ips.append(run_reference(reference_for(init), data, steps, batch, LR))
    ours, refs = statistics.median(ours_ips), statistics.median(ref_ips)
    # equal steps, same start and batches: the two test bits/dim should agree
    m = fresh(init, model_name, data)
    run_ours(m, data, quality_steps, batch, LR)
    ours_bpd = evaluate_likelihood(m, data.test[:1000])["bits_per_dim"]
    r = reference_for(init)
    run_reference(r, data, quality_steps, batch, LR)
    reference_bpd = ref_bpd(r, data)
    return {
        "dataset": data_name,
        "model": model_name,
        "threads": threads,
        "batch": batch,
        "genzoo_images_per_s": round(ours, 1),
        "reference_images_per_s": round(refs, 1),
        "speedup": round(ours / refs, 3),
        **gflops_fields("genzoo", ours_flops, ours, threads),
        **gflops_fields("reference", ref_flops, refs, threads),
        "peak_gflops": _round(peak_gflops(threads), 1),
        "steps_timed": steps,
        "repeats": repeats,
        "quality_steps": quality_steps,
        "genzoo_test_bpd": round(ours_bpd, 4),
        "reference_test_bpd": round(reference_bpd, 4),
        "bpd_rel_diff": round(abs(ours_bpd - reference_bpd) / reference_bpd, 4),
    }


def scaling(case, thread_counts: list[int]) -> dict:
    """genzoo's images/s at each thread count, alternating within one process."""
    data_name, model_name, batch, steps, repeats, _ = case
    data = genzoo.load_dataset(data_name)
    init = initial_model(model_name, data)
    flops, _ = step_flops(fresh(init, model_name, data), reference_for(init), data)
    runs: dict[int, list[float]] = defaultdict(list)
    for _ in range(repeats):
        for t in thread_counts:
            torch.set_num_threads(t)
            runs[t].append(run_ours(fresh(init, model_name, data), data, steps, batch, LR))
    ips = {t: statistics.median(v) for t, v in runs.items()}
    first, last = thread_counts[0], thread_counts[-1]
    return {
        "dataset": data_name,
        "model": model_name,
        "batch": batch,
        "steps_timed": steps,
        "repeats": repeats,
        "images_per_s": {str(t): round(v, 1) for t, v in ips.items()},
        "gflops": {str(t): round(flops * v * 1e-9, 2) for t, v in ips.items()},
        "peak_gflops": {str(t): _round(peak_gflops(t), 1) for t in ips},
        "ratio": round(ips[last] / ips[first], 3),
        "ratio_of": f"{last} threads / {first} thread(s)",
    }


@contextlib.contextmanager
def timed(owner, name: str, seconds: dict[str, float], key: str) -> Iterator[None]:
    """Add the wall time of every call of ``owner.name`` to ``seconds[key]``."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds[key] += time.perf_counter() - start

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


def overhead(case, threads: int, steps: int | None) -> dict:
    """Where the wall time of genzoo's default recipe goes, against the bare optimisation.

    The recipe is ``TrainConfig.recommended(model)`` (as ``genzoo train --steps N`` uses it:
    EMA, warm-up, clipping, logging every 50 steps, evaluation and checkpoint every 500) for one
    evaluation period, unless ``steps`` is given. The engine's functions are wrapped with timers
    (nothing in genzoo changes): data = building each batch, ema = the EMA update, log = the
    metrics rows, eval = periodic evaluation, checkpoint = checkpoints and the saved model,
    step = the rest of the optimisation step, other = set-up, tear-down and the loop itself.
    """
    data_name, model_name, batch, _, _, _ = case
    torch.set_num_threads(threads)
    data = genzoo.load_dataset(data_name)
    init = initial_model(model_name, data)
    recipe = TrainConfig.recommended(model_name, batch_size=batch, seed=0, progress=False)
    steps = steps or recipe.eval_every
    recipe.steps = steps
    bare_steps = max(10, steps // 10)
    bare_ips = run_ours(fresh(init, model_name, data), data, bare_steps, batch, LR)
    seconds: dict[str, float] = defaultdict(float)
    with contextlib.ExitStack() as stack:
        for owner, name, key in (
            (LikelihoodStep, "step", "step"),
            (engine_module, "_batch", "data"),
            (ExponentialMovingAverage, "update", "ema"),
            (engine_module, "_log", "log"),
            (engine_module, "evaluate", "eval"),
            (engine_module, "_save", "checkpoint"),
        ):
            stack.enter_context(timed(owner, name, seconds, key))
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            result = train(fresh(init, model_name, data), data, recipe, tmp)
            total = time.perf_counter() - start
    seconds["step"] -= seconds["data"]  # the batch is built inside the step
    seconds["other"] = total - sum(seconds.values())
    return {
        "dataset": data_name,
        "model": model_name,
        "threads": threads,
        "batch": batch,
        "steps": steps,
        "recipe": {
            k: getattr(recipe, k)
            for k in ("lr", "ema_decay", "warmup_steps", "grad_clip", "log_every", "eval_every")
        }
        | {"checkpoint_every": recipe.checkpoint_every, "eval_images": recipe.eval_images},
        "wall_seconds": round(total, 2),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "share": {k: round(v / total, 4) for k, v in seconds.items()},
        "not_optimisation_share": round(1 - seconds["step"] / total, 4),
        "bare_images_per_s": round(bare_ips, 1),
        "recipe_engine_images_per_s": round(result.images_per_second, 1),
        "recipe_wall_images_per_s": round(steps * batch / total, 1),
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps (smoke test)")
    parser.add_argument("--json", default=None, help="write results here")
    parser.add_argument(
        "--threads",
        default="1",
        help="intra-op threads; a list (1,2) measures genzoo's thread scaling instead",
    )
    parser.add_argument("--models", default=None, help="comma-separated subset of the models")
    parser.add_argument("--datasets", default=None, help="comma-separated subset of datasets")
    parser.add_argument(
        "--overhead",
        action="store_true",
        help="time genzoo's default recipe by part (digits unless --datasets is given)",
    )
    parser.add_argument("--overhead-steps", type=int, default=None, help="default: eval_every")
    args = parser.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")]
    datasets = args.datasets.split(",") if args.datasets else None
    if args.overhead and datasets is None:
        datasets = ["digits"]
    results = []
    for case in CASES:
        if args.models and case[1] not in args.models.split(","):
            continue
        if datasets and case[0] not in datasets:
            continue
        if args.quick:
            case = (*case[:3], 3, 1, 5)
        if args.overhead:
            row = overhead(case, thread_counts[0], 20 if args.quick else args.overhead_steps)
        elif len(thread_counts) > 1:
            row = scaling(case, thread_counts)
        else:
            row = compare(case, thread_counts[0])
        results.append(row)
        print(json.dumps(row), flush=True)
    meta = {
        "command": " ".join(["python", *sys.argv]),
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "threads": thread_counts[0] if len(thread_counts) == 1 else thread_counts,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_mhz": _round(cpu_clock_mhz(), 1),
        "cpu_count": os.cpu_count(),
        "peak_assumption": "fp32 peak = threads (capped at cpu_count) x cpu_mhz x FLOPs/cycle/"
        "core; FLOPs/cycle = 32 for AVX2 (2 FMA pipes x 8 lanes x 2), 64 for AVX-512; "
        "cpu_mhz is the current clock of /proc/cpuinfo (mean over cores), not a turbo maximum",
        "flops": "torch.utils.flop_counter.FlopCounterMode over one forward + backward: "
        "convolutions, matrix products, attention (full N x N even where causal); no "
        "element-wise work, no optimiser step",
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
