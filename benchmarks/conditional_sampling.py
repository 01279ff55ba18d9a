"""Sampling speed of image-conditional autoregressive models: cached vs naive, given ``c``.

For every registered image-conditional model with a cached sampler (``pixel_recursive_sr``,
``pixcolor``, ...), at its default hyper-parameters, 256 levels, on 28x28 targets (gray
super-resolution 7x7 -> 28x28 for models that take a smaller condition, 1-channel gray ->
28x28 RGB-free target for same-size ones) at batch 16:

* ``cached``: ``model.sample(n, c=c, method="cached")`` over the whole image (the conditioning
  network runs once per image, the prior one position at a time);
* ``naive``: ``model.sample(n, c=c, method="naive")``, a full forward pass (conditioning network
  included) per sub-pixel; its cost per sub-pixel does not depend on the position, so it is
  timed over the first ``--naive-rows`` rows and scaled to the whole image, as
  ``benchmarks/sampling.py`` does.

Both samplers first draw the same images from the same generator on a small case; the benchmark
refuses to report a speed-up for a sampler that disagrees. Weights are random: speed does not
depend on them. One thread, nothing else running:

    OMP_NUM_THREADS=1 python benchmarks/conditional_sampling.py
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import genzoo
from genzoo.errors import GenzooError
from genzoo.models.capabilities import capabilities

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "conditional-sampling.json"


def conditional_cached_models() -> list[str]:
    out = []
    for name in genzoo.available_models():
        caps = capabilities(genzoo.models.get_model_class(name))
        if caps.image_conditional and caps.cached_sampling:
            out.append(name)
    return out


def build(name: str, shape: tuple[int, int, int], levels: int = 256):
    """The model for a 28x28 target: a 4x smaller condition where the model takes one, else a
    gray condition of the same size."""
    _, h, w = shape
    for condition in ((1, h // 4, w // 4), (1, h, w)):
        try:
            torch.manual_seed(0)
            model = genzoo.create_model(
                name, shape=shape, levels=levels, condition_shape=condition, condition_levels=levels
            )
            return model.eval(), condition
        except GenzooError:
            continue
    raise SystemExit(f"{name}: takes neither a 4x smaller nor a same-size gray condition")


def conditions(condition: tuple[int, int, int], n: int, levels: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, levels, (n, *condition), generator=g)


def check_identical(name: str) -> None:
    model, condition = build(name, (1, 8, 8))
    c = conditions(condition, 3, 256)
    a, b = (
        model.sample(3, c=c, generator=torch.Generator().manual_seed(0), method=m)
        for m in ("naive", "cached")
    )
    if not torch.equal(a, b):
        raise SystemExit(f"{name}: cached and naive samples differ; not benchmarking")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=None, help="default: every one")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--naive-rows", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    shape = (1, 28, 28)
    rows = []
    for name in args.models or conditional_cached_models():
        check_identical(name)
        model, condition = build(name, shape)
        c = conditions(condition, args.batch, 256)
        with torch.no_grad():
            start = time.perf_counter()
            model.sample(args.batch, c=c, generator=torch.Generator().manual_seed(0),
                         method="cached")  # fmt: skip
            cached = time.perf_counter() - start
            mask = torch.zeros(shape, dtype=torch.bool)
            mask[:, args.naive_rows :] = True  # given: the naive loop skips them
            known = torch.zeros((args.batch, *shape), dtype=torch.long)
            start = time.perf_counter()
            model.sample(args.batch, c=c, known=known, mask=mask, method="naive",
                         generator=torch.Generator().manual_seed(0))  # fmt: skip
            naive_part = time.perf_counter() - start
        naive = naive_part * shape[1] / args.naive_rows
        row = {
            "model": name,
            "target": list(shape),
            "condition": list(condition),
            "batch": args.batch,
            "cached_seconds": round(cached, 3),
            "naive_seconds_measured": round(naive_part, 3),
            "naive_rows": args.naive_rows,
            "naive_seconds_scaled": round(naive, 3),
            "cached_images_per_s": round(args.batch / cached, 3),
            "naive_images_per_s": round(args.batch / naive, 4),
            "speedup": round(naive / cached, 1),
        }
        print(json.dumps(row))
        rows.append(row)
    payload = {
        "meta": {
            "command": "OMP_NUM_THREADS=1 python benchmarks/conditional_sampling.py",
            "threads": 1,
            "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "machine": platform.machine(),
        },
        "results": rows,
    }
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
