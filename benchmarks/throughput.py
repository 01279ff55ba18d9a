"""Training throughput of genzoo's PixelCNN / Gated PixelCNN vs a plain masked-conv reference.

For each model and image size, both implementations start from the *same weights* (the reference
computes the same function; checked first) and train on the *same batches*. genzoo runs through
its training engine (`genzoo.training.train`: Fabric, channels-last, precision "auto", AdamW,
no EMA/clipping/warm-up so the optimisation is identical); the reference runs a plain fp32 NCHW
Adam loop, as existing PyTorch libraries do. Timed runs alternate between the two and the
median of the repeats is reported. Afterwards both are trained for the same number of steps and
their test bits/dim compared.

    python benchmarks/throughput.py [--quick] [--json results/throughput.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

import genzoo
from genzoo.evaluation import evaluate_likelihood
from genzoo.training import BatchOrder, TrainConfig, train
from reference import reference_for

CASES = [
    # (dataset, model, batch size, timed steps, repeats, steps before comparing bits/dim)
    ("digits", "pixelcnn", 64, 30, 3, 300),
    ("digits", "gated_pixelcnn", 64, 30, 3, 300),
    ("fashion-mnist", "pixelcnn", 32, 8, 2, 40),
    ("fashion-mnist", "gated_pixelcnn", 32, 8, 2, 40),
]


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
    levels, d = data.levels, math.prod(data.shape)
    start = time.perf_counter()
    for step in range(steps):
        epoch, index = divmod(step, order.steps_per_epoch)
        x = data.train[order.global_batch(epoch, index)]
        logits = ref(x.float() * (2.0 / (levels - 1)) - 1.0)
        nll = -torch.log_softmax(logits, 1).gather(1, x.unsqueeze(1)).sum() / x.shape[0]
        loss = nll / d
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - start)


@torch.no_grad()
def ref_bpd(ref, data) -> float:
    x = data.test[:1000]
    total = 0.0
    for k in range(0, x.shape[0], 250):
        xb = x[k : k + 250]
        logits = ref(xb.float() * (2.0 / (data.levels - 1)) - 1.0)
        total += -torch.log_softmax(logits, 1).gather(1, xb.unsqueeze(1)).sum().item()
    return total / (x.shape[0] * math.prod(data.shape) * math.log(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (smoke test)")
    parser.add_argument("--json", default=None, help="write results here")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--models", default=None, help="comma-separated subset of the models")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lr = 1e-3
    results = []
    for data_name, model_name, batch, steps, repeats, quality_steps in CASES:
        if args.models and model_name not in args.models.split(","):
            continue
        if args.quick:
            steps, repeats, quality_steps = 3, 1, 5
        data = genzoo.load_dataset(data_name)
        torch.manual_seed(0)
        init = genzoo.create_model(model_name, shape=data.shape, levels=data.levels)
        ref = reference_for(init)
        x = torch.rand(2, *data.shape) * 2 - 1
        gap = (init(x) - ref(x)).abs().max().item()
        if gap > 1e-4:
            raise SystemExit(f"reference differs from genzoo ({gap:.2e}); fix reference.py")
        ours_ips, ref_ips = [], []
        for _ in range(repeats):  # alternate to share any drift in machine load
            m = genzoo.create_model(model_name, shape=data.shape, levels=data.levels)
            m.load_state_dict(init.state_dict())
            ours_ips.append(run_ours(m, data, steps, batch, lr))
            ref_ips.append(run_reference(reference_for(init), data, steps, batch, lr))
        ours, refs = statistics.median(ours_ips), statistics.median(ref_ips)
        # equal steps, same start and batches: the two test bits/dim should agree
        m = genzoo.create_model(model_name, shape=data.shape, levels=data.levels)
        m.load_state_dict(init.state_dict())
        run_ours(m, data, quality_steps, batch, lr)
        ours_bpd = evaluate_likelihood(m, data.test[:1000])["bits_per_dim"]
        r = reference_for(init)
        run_reference(r, data, quality_steps, batch, lr)
        reference_bpd = ref_bpd(r, data)
        row = {
            "dataset": data_name,
            "model": model_name,
            "batch": batch,
            "genzoo_images_per_s": round(ours, 1),
            "reference_images_per_s": round(refs, 1),
            "speedup": round(ours / refs, 3),
            "steps_timed": steps,
            "repeats": repeats,
            "quality_steps": quality_steps,
            "genzoo_test_bpd": round(ours_bpd, 4),
            "reference_test_bpd": round(reference_bpd, 4),
            "bpd_rel_diff": round(abs(ours_bpd - reference_bpd) / reference_bpd, 4),
        }
        results.append(row)
        print(json.dumps(row), flush=True)
    meta = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
