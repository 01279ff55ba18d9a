"""Super-resolution: every method at the same step budget on the same test images.

Digits 4×4 → 8×8 (``--task super-resolution --scale 2``, 17 levels). Methods: nearest and
bicubic upsampling (no learning), the L2 regression network (``l2_regression``, scored by its
one answer) and every registered image-conditional generative model (``pixel_recursive_sr``,
and any other that declares ``image_conditional``), each trained for ``--steps`` optimiser
steps at batch ``--batch-size`` on one thread (fp32, seed 0), then scored by
:func:`genzoo.evaluation.conditional.evaluate_conditional` on the first ``--images`` test images
with 8 answers each: PSNR/SSIM of one answer and of the mean/mode, consistency, diversity, the
digit classifier's accuracy on the answers and FID/precision/recall on its features; plus the
conditional NLL (bits/dim) of the whole test set for the models with a density.

    OMP_NUM_THREADS=1 python benchmarks/superres.py --steps 2000

Writes ``benchmarks/results/superres-digits.json`` and the figure
``benchmarks/results/figures/superres-digits.png`` (input | bicubic | regression | 3 samples of
each generative model | truth).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

import genzoo
from genzoo.apps.conditional import ModelSampler, RegressionAnswer, baselines, show_conditions
from genzoo.core.run import RunFolder
from genzoo.data import Dataset
from genzoo.errors import ConfigError
from genzoo.evaluation.conditional import evaluate_conditional
from genzoo.evaluation.features import load_features
from genzoo.evaluation.likelihood import evaluate_likelihood
from genzoo.models import available_models, create_model, get_model_class
from genzoo.training import TrainConfig, train

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
REGRESSION = "l2_regression"


def conditional_models() -> list[str]:
    """Every registered image-conditional model, the regression first."""
    names = [n for n in available_models() if get_model_class(n).image_conditional]
    return sorted(names, key=lambda n: (n != REGRESSION, n))


def train_model(name: str, data: Dataset, steps: int, batch_size: int, out: Path) -> dict:
    torch.manual_seed(0)
    model = create_model(
        name,
        shape=data.shape,
        levels=data.levels,
        condition_shape=data.condition_shape,
        condition_levels=data.condition_levels,
    )
    config = TrainConfig(
        steps=steps,
        batch_size=batch_size,
        seed=0,
        eval_every=0,
        checkpoint_every=0,
        precision="32",
        progress=False,
    )
    RunFolder(out / name).remove()  # a fresh run every time
    result = train(model, data, config, out / name)
    return {
        "model": model,
        "steps": result.steps,
        "train_seconds": round(result.train_seconds, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def run(data: Dataset, tag: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train, score and draw every method on ``data``; write the JSON and the figure."""
    out = ROOT / "runs" / f"bench-{tag}"
    features = load_features("classifier", data) if data.num_classes is not None else None
    options = {"num_images": args.images, "samples": 8, "seed": 0, "features": features}
    rows, figure_columns = [], []
    for method in baselines(data.task, data.levels):
        scores = evaluate_conditional(method, data, **options)
        rows.append({"method": method.name, "kind": "baseline", **scores})
        figure_columns.append((method.name, method))
    for name in args.models or conditional_models():
        start = time.perf_counter()
        try:
            trained = train_model(name, data, args.steps, args.batch_size, out)
        except ConfigError as exc:  # a model of another task (pixcolor takes a same-size gray c)
            print(f"skipped {name}: {exc}")
            continue
        model = trained.pop("model").eval()
        regression = name == REGRESSION
        method = RegressionAnswer(model, name=name) if regression else ModelSampler(model)
        scores = evaluate_conditional(method, data, **options)
        row = {"method": name, "kind": "regression" if regression else "generative", **trained}
        if model.capabilities.has_density:
            nll = evaluate_likelihood(model, data.test, c=data.test_condition)
            row["test_bits_per_dim"] = nll["bits_per_dim"]
            row["test_bits_per_dim_stderr"] = nll["bits_per_dim_stderr"]
            row["likelihood"] = model.density
        row.update(scores, seconds_total=round(time.perf_counter() - start, 1))
        rows.append(row)
        figure_columns.append((name, method))
    result = {
        "data": data.describe(),
        "task": data.task,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "images": args.images,
        "threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d"),
        "results": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{tag}.json").write_text(json.dumps(result, indent=1) + "\n")
    figure(data, figure_columns, RESULTS / "figures" / f"{tag}.png")
    print_table(rows)
    return result


def figure(data: Dataset, columns: list[tuple[str, Any]], path: Path, n: int = 6) -> None:
    """Rows of test images: input | baselines | regression | 3 samples per model | truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    part = data.take("test", slice(0, n))
    shown = show_conditions(part.c, int(data.condition_levels), tuple(data.shape), data.levels)
    panels: list[tuple[str, torch.Tensor]] = [("input", shown)]
    for name, method in columns:
        k = 1 if method.deterministic else 3
        answers = method.draw(part.c, k, torch.Generator().manual_seed(1), part.y)
        panels += [(name if k == 1 else f"{name} {i + 1}", answers[:, i]) for i in range(k)]
    panels.append(("truth", part.x))
    fig, axes = plt.subplots(n, len(panels), figsize=(1.1 * len(panels), 1.15 * n), squeeze=False)
    for j, (title, images) in enumerate(panels):
        for i in range(n):
            image = images[i].double() / (data.levels - 1)
            ax = axes[i, j]
            if image.shape[0] == 1:
                ax.imshow(image[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
        axes[0, j].set_title(title, fontsize=6)
    fig.tight_layout(pad=0.2)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)


def print_table(rows: list[dict]) -> None:
    print(
        "| method | bits/dim | PSNR 1 / mean / mode | SSIM 1 / mean | consistent | diversity "
        "| class kept | FID | precision / recall |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        bpd = f"{r['test_bits_per_dim']:.3f}" if "test_bits_per_dim" in r else "–"
        cls = f"{r['classifier_accuracy']:.3f}" if r.get("classifier_accuracy") is not None else "–"
        fid = f"{r['fid']:.1f}" if r.get("fid") is not None else "–"
        pr = f"{r['precision']:.2f} / {r['recall']:.2f}" if r.get("precision") is not None else "–"
        print(
            f"| {r['method']} | {bpd} | {r['psnr_sample']:.2f} / {r['psnr_mean']:.2f} / "
            f"{r['psnr_mode']:.2f} | {r['ssim_sample']:.3f} / {r['ssim_mean']:.3f} | "
            f"{r['consistency_exact']:.3f} | {r['diversity_std']:.3f} | {cls} | {fid} | {pr} |"
        )


def arguments(doc: str, steps: int, images: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--steps", type=int, default=steps, help="optimiser steps per model")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--images", type=int, default=images, help="test images scored")
    parser.add_argument("--models", nargs="*", default=None, help="default: every one")
    return parser.parse_args()


def main() -> None:
    args = arguments(__doc__, steps=2000, images=297)
    data = genzoo.load_dataset("digits", task="super-resolution", task_options={"scale": 2})
    run(data, "superres-digits", args)


if __name__ == "__main__":
    main()
