"""Out-of-distribution detection with a density model: does the likelihood fail, and does the
likelihood ratio (Ren et al. 2019) fix it?

For each direction (in -> out) the script trains two models on the in-distribution training
images with the same step budget: the model, and a background model with input perturbation
(``perturb`` = mu, Ren et al.'s mutation rate). Both are scored on the unperturbed test images
of both sets by :func:`genzoo.evaluation.ood.evaluate_ood`: likelihood, likelihood ratio, input
complexity (PNG, lossless WebP, LZMA2) and the typicality test. 200 training images are held out
(``--validation 200``) to pick the weights (``--keep-best``) and to estimate the entropy of the
typicality test.

Budgets are optimiser *steps* (deterministic: the same command gives the same numbers on the same
machine). Defaults:

* ``--data digits``: digits (8x8, 17 levels) vs MNIST shrunk to 8x8 and re-quantised to 17 levels,
  both directions; Gated PixelCNN (32 channels, 5 layers), 1,000 steps per model: 7.5 minutes at
  one thread on a shared 2-core machine.
* ``--data fashion-mnist``: Fashion-MNIST in, MNIST out (the published setting: raw likelihood
  AUROC 0.089 / ratio 0.994 in Ren et al. 2019; 0.103 / 0.957 in alibi-detect's example, a
  PixelCNN++ with 32 filters, 5 blocks, 2 resolutions, 1 logistic, dropout 0.3:
  ``--model pixelcnn_pp``). The default is the Gated PixelCNN for 1,500 steps per model
  (about 1-2 s a step at one thread on 28x28 here, so roughly 1 hour for both models; the
  PixelCNN++ costs ~4x more per step).

    OMP_NUM_THREADS=1 python benchmarks/ood.py --data digits
    OMP_NUM_THREADS=1 python benchmarks/ood.py --data fashion-mnist --one-way
    OMP_NUM_THREADS=1 python benchmarks/ood.py --data fashion-mnist --one-way --model pixelcnn_pp \\
        --steps 1000

The two models of a direction can train side by side, one core each: ``--only model`` and
``--only background`` in two processes, then ``--reuse`` scores the finished runs (a run of
another recipe, or one that stopped early, is refused).

Results: ``benchmarks/results/ood-DATA.json`` and one figure per direction
(``ood-DATA-IN-vs-OUT.png``); runs in ``runs/bench-ood-DATA/``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

#: the models, their hyper-parameters and learning rates
MODELS = {
    "gated_pixelcnn": ({"channels": 32, "num_layers": 5, "head_channels": 64}, 3e-3),
    # shaped like alibi-detect's Fashion-MNIST example
    "pixelcnn_pp": (
        {"filters": 32, "blocks": 5, "resolutions": 2, "num_mixtures": 1, "dropout": 0.3},
        1e-3,
    ),
}
#: in-distribution data -> the default model, step budget and the second set (how to load it)
SETTINGS = {
    "digits": {
        "model": "gated_pixelcnn",
        "steps": 1000,
        "other": ("mnist", {"size": 8, "levels": 17}),
    },
    "fashion-mnist": {"model": "gated_pixelcnn", "steps": 1500, "other": ("mnist", {})},
}


def machine() -> dict:
    import torch

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def train_one(name, data, setting, args, out: Path, perturb: float):
    import genzoo
    from genzoo.core.run import RunFolder
    from genzoo.training import TrainConfig, train

    hyper, lr = MODELS[args.model]
    model = genzoo.create_model(args.model, shape=data.shape, levels=data.levels, **hyper)
    config = TrainConfig(
        steps=args.steps or setting["steps"],
        batch_size=64,
        lr=lr,
        validation=200,
        eval_every=max(1, (args.steps or setting["steps"]) // 4),
        keep_best=True,
        checkpoint_every=0,
        log_every=100,
        seed=args.seed,
        perturb=perturb,
        precision="32",
    )
    if args.reuse and (out / "model.safetensors").is_file():
        return _reused(name, out, config)
    RunFolder(out).remove()  # refuses if a live process trains into it
    start = time.perf_counter()
    result = train(model, data, config, out)
    print(f"  {name}: {result.steps} steps in {time.perf_counter() - start:.0f} s", flush=True)
    return model, time.perf_counter() - start


def _reused(name: str, out: Path, config):
    """A finished run of the same recipe (``--reuse``): its model and training seconds."""
    import genzoo
    from genzoo.core.run import RunFolder
    from genzoo.training.checkpoint import load_checkpoint

    recorded = RunFolder(out).read_train_config().get("train_config", {})
    for key in ("steps", "lr", "batch_size", "seed", "perturb", "validation", "keep_best"):
        if recorded.get(key) != getattr(config, key):
            raise SystemExit(f"{out}: {key} is {recorded.get(key)!r}, not {getattr(config, key)!r}")
    state = load_checkpoint(out / "checkpoint.pt", mmap=True)
    if state["step"] != config.steps:
        raise SystemExit(f"{out} stopped at step {state['step']}, not {config.steps}")
    print(f"  {name}: reusing the finished run in {out}", flush=True)
    return genzoo.load_model(out), float(state["train_seconds"])


def direction(in_data, out_data, setting, args, runs: Path) -> dict:
    from genzoo.evaluation.ood import evaluate_ood, write_ood
    from genzoo.training.evaluate import split_validation

    tag = f"{in_data.name}-vs-{out_data.name}"
    print(f"{tag}:", flush=True)
    if args.only != "background":
        model, t_model = train_one("model", in_data, setting, args, runs / f"{tag}-model", 0.0)
    if args.only != "model":
        background, t_bg = train_one(
            "background", in_data, setting, args, runs / f"{tag}-background", args.perturb
        )
    if args.only:
        return {}
    held = split_validation(in_data, 200, args.seed)[1].test  # the images training held out
    start = time.perf_counter()
    report = evaluate_ood(
        model, in_data, out_data, background=background, entropy_images=held, seed=args.seed
    )
    t_eval = time.perf_counter() - start
    paths = write_ood(report, runs / f"{tag}-ood")
    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(paths["figure"], RESULTS / f"ood-{args.data}-{tag}.png")
    s = report.summary
    return {
        "in": in_data.name,
        "out": out_data.name,
        "num_in": s["num_in"],
        "num_out": s["num_out"],
        "bits_per_dim": s["bits_per_dim"],
        "scores": {
            name: {k: _round(v) for k, v in m.items() if not k.startswith(("num_", "mean_"))}
            for name, m in s["scores"].items()
        },
        "typicality": {
            "entropy_bits_per_dim": round(s["typicality"]["entropy_bits_per_dim"], 4),
            "auroc_by_batch_size": {
                m: _round(v["auroc"]) for m, v in s["typicality"]["by_batch_size"].items()
            },
        },
        "seconds": {"model": round(t_model), "background": round(t_bg), "scores": round(t_eval)},
    }


def _round(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=sorted(SETTINGS), default="digits")
    parser.add_argument("--model", choices=sorted(MODELS), default=None, help="default: per data")
    parser.add_argument("--steps", type=int, default=0, help="optimizer steps per model")
    parser.add_argument("--perturb", type=float, default=0.2, help="background mutation rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--one-way", action="store_true", help="only DATA in, the other out")
    parser.add_argument(
        "--only",
        choices=("model", "background"),
        default=None,
        help="train only this model of each direction and stop (to train both in parallel)",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="load a finished run of the same recipe"
    )
    args = parser.parse_args()

    import genzoo

    setting = SETTINGS[args.data]
    args.model = args.model or setting["model"]
    other_name, other_load = setting["other"]
    first = genzoo.load_dataset(args.data)
    second = genzoo.load_dataset(other_name, **other_load)
    runs = ROOT / "runs" / f"bench-ood-{args.data}"
    start = time.perf_counter()
    pairs = [(first, second)] if args.one_way else [(first, second), (second, first)]
    results = [direction(a, b, setting, args, runs) for a, b in pairs]
    if args.only:
        return
    payload = {
        "benchmark": "ood",
        "command": "OMP_NUM_THREADS=1 python " + " ".join(sys.argv),
        "model": args.model,
        "model_config": MODELS[args.model][0],
        "lr": MODELS[args.model][1],
        "steps_per_model": args.steps or setting["steps"],
        "batch_size": 64,
        "perturb": args.perturb,
        "second_set": {"name": other_name, **other_load},
        "orientation": "higher score = more likely OOD; AUROC 0.5 = chance, < 0.5 = inverted",
        "directions": results,
        "seconds_total": round(time.perf_counter() - start),
        "machine": machine(),
    }
    path = RESULTS / f"ood-{args.data}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    for r in results:
        print(f"\n{r['in']} in, {r['out']} out (AUROC [95% bootstrap]):")
        for name, m in r["scores"].items():
            print(f"  {name:26s} {m['auroc']:.3f} [{m['auroc_ci'][0]:.3f}, {m['auroc_ci'][1]:.3f}]")
        print(f"  typicality by batch size   {r['typicality']['auroc_by_batch_size']}")
    print(f"\nwrote {path} ({payload['seconds_total']} s)")


if __name__ == "__main__":
    main()
