"""Every autoregressive model on the same data, the same CPU budget and the same test metric.

Each model trains from the command line (``genzoo train``) for a fixed wall-clock budget of
training time on one CPU thread (``OMP_NUM_THREADS=1``), ``--jobs`` runs side by side (one per
core, nothing else running), then is evaluated on the whole test set (exact bits/dim, fp32). The
flags are in ``RECIPES`` below, shared by all models except where a model's note says why.

    python benchmarks/autoregressive.py --data digits --minutes 5
    python benchmarks/autoregressive.py --data fashion-mnist --minutes 10
    python benchmarks/autoregressive.py --data digits --collect   # table from existing runs

Runs land in ``runs/bench-DATA/MODEL``, the table in
``benchmarks/results/autoregressive-DATA.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # genzoo (and torch) is imported where it is used: the job runner stays light
    from genzoo.core.run import RunFolder

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
GENZOO = str(Path(sys.executable).parent / "genzoo")
#: the command a benchmark ran, written into the run folder beside what ``genzoo train`` writes
COMMAND_TXT = "command.txt"

MODELS = [
    "pixel_independent",
    "pixelcnn",
    "gated_pixelcnn",
    "pixelcnn_pp",
    "pixelsnail",
    "pixelrnn_row",
    "pixelrnn_diag",
]

#: per dataset: flags for every model, then per-model overrides (each with its reason)
RECIPES: dict[str, dict[str, list[str]]] = {
    "digits": {
        # 1,500 training images over-fit within the budget on a fast CPU (gated_pixelcnn: 1.70
        # bits/dim at step 500, 2.49 at step 2,000), so 200 of them are held out and the run
        # keeps the weights with the lowest validation loss; the 297 test images are untouched
        "*": [
            "--lr",
            "3e-3",
            "--ema-decay",
            "0.995",
            "--validation",
            "200",
            "--keep-best",
            "--eval-every",
            "100",
            "--seed",
            "0",
        ],
        "pixel_independent": ["--lr", "3e-2"],  # 64 x 17 logits: a large step is fine
        "gated_pixelcnn": ["--dropout", "0.5"],
    },
    "fashion-mnist": {
        # under one epoch in the budget: nothing over-fits, so dropout is off for every model
        "*": ["--lr", "1e-3", "--eval-every", "0", "--checkpoint-every", "1000", "--seed", "0"],
        "pixel_independent": ["--lr", "3e-2"],
        "pixelcnn_pp": ["--dropout", "0"],
        "pixelsnail": ["--dropout", "0"],
    },
}


def _pairs(flags: list[str]) -> dict[str, str]:
    """``["--a", "1", "--b", "--c", "2"]`` -> ``{"--a": "1", "--b": "", "--c": "2"}``."""
    out: dict[str, str] = {}
    for k, flag in enumerate(flags):
        if flag.startswith("--"):
            nxt = flags[k + 1] if k + 1 < len(flags) else "--"
            out[flag] = "" if nxt.startswith("--") else nxt
    return out


def command(
    data: str, model: str, minutes: float, out: Path, recipes: dict | None = None
) -> list[str]:
    recipe = (recipes or RECIPES)[data]
    flags = _pairs(recipe["*"])
    flags.update(_pairs(recipe.get(model, [])))  # per-model overrides
    pairs = [part for key, value in flags.items() for part in (key, value) if part]
    return [GENZOO, "train", model, "--data", data, "--minutes", f"{minutes:g}", *pairs,
            "--num-samples", "16", "--out", str(out)]  # fmt: skip


def shown(data: str, model: str, minutes: float, recipes: dict | None = None) -> str:
    """The command as a user would type it (relative paths, the thread setting in front)."""
    cmd = command(data, model, minutes, Path("runs") / f"bench-{data}" / model, recipes)
    return "OMP_NUM_THREADS=1 genzoo " + " ".join(cmd[1:])


def summarize(run_dir: Path, data: str, minutes: float) -> dict:
    """One table row from a finished run directory."""
    import genzoo
    from genzoo.core.run import RunFolder

    run = RunFolder(run_dir)
    metrics = run.read_metrics()
    cfg = run.read_train_config()
    log = training_log(run)
    evals = [(float(r["eval_bits_per_dim"]), int(r["step"])) for r in log if r["eval_bits_per_dim"]]
    model = genzoo.load_model(run.path)
    test = evaluated(run, metrics.test, "test likelihood")
    return {
        "model": metrics.model,
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": int(cfg["step"]),
        "train_images_per_s": train_images_per_s(cfg, log),
        "precision": cfg["precision"],
        "test_nll_nats": round(test.nll_nats, 3),
        "test_bits_per_dim": round(test.bits_per_dim, 4),
        "test_bits_per_dim_stderr": round(evaluated(run, test.bits_per_dim_stderr, "stderr"), 4),
        "num_test_images": test.num_images,
        # the periodic evaluation: on the held-out training images with --validation (and then
        # the kept weights' step with --keep-best), else on the first test images, logged only
        "lowest_periodic_eval": [round(min(evals)[0], 4), min(evals)[1]] if evals else None,
        "command": shown(data, metrics.model, minutes),
    }


def evaluated(run: RunFolder, value: T | None, what: str) -> T:
    """``value`` read from the run's final evaluation; exits naming the run when it is missing."""
    if value is None:
        raise SystemExit(
            f"{run.path / run.METRICS_JSON} has no {what}; evaluate the run again with "
            f"`genzoo eval {run.path}`"
        )
    return value


def training_log(run: RunFolder) -> list[dict[str, str]]:
    """The run's training curve (``metrics.csv``), one dict of strings per logged row."""
    with run.metrics_csv.open() as fh:
        return list(csv.DictReader(fh))


def train_images_per_s(cfg: dict, log: list[dict[str, str]], images_per_step: int = 1) -> float:
    """Training images per second of training time, from ``train_config.json`` and the log."""
    steps, batch = int(cfg["step"]), int(cfg["train_config"]["batch_size"])
    return round(steps * batch * images_per_step / float(log[-1]["train_seconds"]), 1)


def table(data: str) -> str:
    path = RESULTS / f"autoregressive-{data}.json"
    rows = json.loads(path.read_text())["results"]
    lines = [
        "| model | parameters | steps | train img/s | test bits/dim ± s.e. | NLL nats/image | "
        "periodic eval: lowest bits/dim (step) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: r["test_bits_per_dim"], reverse=True):
        best = r.get("lowest_periodic_eval")
        low = f"{best[0]:.4f} ({best[1]})" if best else "—"
        lines.append(
            f"| {r['model']} | {r['parameters']:,} | {r['steps']} | {r['train_images_per_s']} | "
            f"**{r['test_bits_per_dim']:.4f}** ± {r['test_bits_per_dim_stderr']:.4f} | "
            f"{r['test_nll_nats']:.2f} | {low} |"
        )
    return "\n".join(lines)


def run_jobs(
    commands: dict[str, list[str]], shown_as: dict[str, str], data: str, jobs: int
) -> None:
    """Run ``genzoo train`` commands ``jobs`` at a time, one thread each; logs in ``RESULTS``.

    Each run's ``--out`` directory must not exist yet; ``command.txt`` records the command.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    queue, running, failed = list(commands), [], []
    while queue or running:
        while queue and len(running) < jobs:
            model = queue.pop(0)
            cmd = commands[model]
            out = Path(cmd[cmd.index("--out") + 1])
            if out.exists():
                raise SystemExit(f"{out} exists; move it away to re-run {model}")
            log = RESULTS / f"{data}-{model}.log"
            print("$ OMP_NUM_THREADS=1", " ".join(cmd[1:]), flush=True)
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
            )
            running.append((model, out, proc))
        time.sleep(2)
        for item in list(running):
            model, out, proc = item
            if proc.poll() is None:
                continue
            running.remove(item)
            if proc.returncode != 0:  # the others finish (no orphaned run competes for cores)
                print(f"{model} failed; see {RESULTS}/{data}-{model}.log", flush=True)
                failed.append(model)
                continue
            (out / COMMAND_TXT).write_text(shown_as[model] + "\n")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)} (logs in {RESULTS})")


def train_all(description: str, recipes: dict, models: list[str]) -> argparse.Namespace:
    """The shared command line of the family benchmarks: parse it, then train every model.

    Returns the arguments, with ``args.root`` = ``runs/bench-DATA``; ``--collect`` skips training.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", choices=sorted(recipes), required=True)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--models", nargs="*", default=models)
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side (one per core)")
    parser.add_argument("--collect", action="store_true", help="only rebuild the table")
    args = parser.parse_args()
    args.root = ROOT / "runs" / f"bench-{args.data}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.collect:
        run_jobs(
            {m: command(args.data, m, args.minutes, args.root / m, recipes) for m in args.models},
            {m: shown(args.data, m, args.minutes, recipes) for m in args.models},
            args.data,
            args.jobs,
        )
    return args


def main() -> None:
    args = train_all(__doc__.split("\n")[0], RECIPES, MODELS)
    from genzoo.core.run import RunFolder

    root = args.root
    done = [m for m in args.models if RunFolder(root / m).metrics_json.exists()]
    rows = [summarize(root / m, args.data, args.minutes) for m in done]
    payload = {"data": args.data, "minutes": args.minutes, "results": rows}
    (RESULTS / f"autoregressive-{args.data}.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(table(args.data))


if __name__ == "__main__":
    main()
