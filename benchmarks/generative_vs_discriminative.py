"""Generative vs discriminative classifiers: test error against the number of labelled images.

Ng & Jordan (2002, "On Discriminative vs. Generative Classifiers") compare naive Bayes with
logistic regression: the generative model approaches its (higher) asymptotic error with
O(log n) examples, the discriminative one needs O(n) but ends lower. This script draws
class-balanced training subsets of n images (n/10 per class, several seeds; the test set is the
dataset's own) and reports test error, NLL of the labels and ECE of:

* ``naive_bayes`` — ``mixture_categorical --conditional --components 1`` (per-pixel categoricals
  per class, Laplace-smoothed by the model), fitted by EM (one step: closed form);
* ``logistic_regression`` — scikit-learn, multinomial, L2 with C = 1, pixels scaled to [0, 1];
* ``conditional_pixelcnn`` — a class-conditional Gated PixelCNN classified by Bayes' rule
  (``genzoo.evaluation.classify``), trained for a fixed number of optimiser steps;
* ``cnn`` — the small CNN of ``genzoo.evaluation.features`` trained on the same subset (at least
  ``--cnn-steps`` optimiser steps).

Both Bayes-rule classifiers use the subset's class frequencies as the prior (uniform here, the
subsets being balanced). Budgets are steps, so reruns give the same numbers on the same machine.

    OMP_NUM_THREADS=1 python benchmarks/generative_vs_discriminative.py --data digits
    OMP_NUM_THREADS=1 python benchmarks/generative_vs_discriminative.py --data fashion-mnist \\
        --sizes 10,30,100,300,1000,3000,10000,all --pixelcnn-sizes 30,300,3000,all \\
        --pixelcnn-steps 1000 --num-test 2000

``--pixelcnn-sizes`` limits the two expensive classifiers (the conditional PixelCNN is scored
once per class on every test image) to some sizes; ``--num-test`` scores every classifier on the
same class-balanced subset of the test set (the first ``n / K`` test images of each class, in the
dataset's order), to keep Fashion-MNIST's run near an hour at one thread.

Results: ``benchmarks/results/gvd-DATA.json`` and ``gvd-DATA.png`` (the learning curves).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ood import RESULTS, ROOT, machine

PIXELCNN = {"channels": 32, "num_layers": 5, "head_channels": 64}


def balanced_subset(data, n: int, seed: int):
    """``n`` training images, ``n // K`` or one more per class, drawn with ``seed``."""
    import dataclasses

    import torch

    if n >= len(data.train):
        return data
    g = torch.Generator().manual_seed(seed)
    k = int(data.num_classes)
    per_class = [
        torch.nonzero(data.train_labels == c).flatten()[
            torch.randperm(int((data.train_labels == c).sum()), generator=g)
        ]
        for c in range(k)
    ]
    take = [n // k + (c < n % k) for c in range(k)]
    index = torch.cat([p[:t] for p, t in zip(per_class, take, strict=True)])
    index = index[torch.randperm(len(index), generator=g)]
    return dataclasses.replace(
        data,
        train=data.train[index],
        train_raw=data.train_raw[index],
        train_labels=data.train_labels[index],
    )


def balanced_test(data, n: int):
    """The first ``n // K`` (or one more) test images of each class, in the dataset's order."""
    import dataclasses

    import torch

    if n >= len(data.test):
        return data
    k = int(data.num_classes)
    take = [n // k + (c < n % k) for c in range(k)]
    index = (
        torch.cat(
            [torch.nonzero(data.test_labels == c).flatten()[:t] for c, t in zip(range(k), take)]
        )
        .sort()
        .values
    )
    return dataclasses.replace(
        data,
        test=data.test[index],
        test_raw=data.test_raw[index],
        test_labels=data.test_labels[index],
    )


def naive_bayes(subset, seed: int):
    import torch

    import genzoo
    from genzoo.evaluation.classify import class_log_prior, predict_log_proba

    model = genzoo.create_model(
        "mixture_categorical",
        shape=subset.shape,
        levels=subset.levels,
        num_classes=subset.num_classes,
        components=1,
    )
    model.fit(subset.train, subset.train_labels, generator=torch.Generator().manual_seed(seed))
    prior = class_log_prior(subset.train_labels, subset.num_classes)
    return predict_log_proba(model, subset.test, prior)


def conditional_pixelcnn(subset, seed: int, steps: int, runs: Path):
    import torch

    import genzoo
    from genzoo.core.run import RunFolder
    from genzoo.evaluation.classify import class_log_prior, predict_log_proba
    from genzoo.training import TrainConfig, train

    torch.manual_seed(seed)
    model = genzoo.create_model(
        "gated_pixelcnn",
        shape=subset.shape,
        levels=subset.levels,
        num_classes=subset.num_classes,
        **PIXELCNN,
    )
    out = runs / f"pixelcnn-n{len(subset.train)}-seed{seed}"
    RunFolder(out).remove()
    config = TrainConfig(
        steps=steps,
        batch_size=min(64, len(subset.train)),
        lr=3e-3,
        eval_every=0,
        checkpoint_every=0,
        log_every=max(1, steps),
        seed=seed,
        precision="32",
    )
    train(model, subset, config, out)
    prior = class_log_prior(subset.train_labels, subset.num_classes)
    return predict_log_proba(model, subset.test, prior)


def cnn(subset, seed: int, min_steps: int, cache: str):
    from genzoo.evaluation.classify import cnn_classifier
    from genzoo.evaluation.features import BATCH_SIZE, default_epochs

    n = len(subset.train)
    steps_per_epoch = max(1, n // min(BATCH_SIZE, n))
    epochs = max(default_epochs(n), math.ceil(min_steps / steps_per_epoch))
    return cnn_classifier(subset, seed=seed, epochs=epochs, cache_dir=cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="digits", choices=("digits", "fashion-mnist", "mnist"))
    parser.add_argument("--sizes", default="10,30,100,300,1000,all")
    parser.add_argument("--seeds", type=int, default=3, help="subsets per size (naive Bayes, LR)")
    parser.add_argument(
        "--pixelcnn-seeds", type=int, default=1, help="subsets per size of the PixelCNN/CNN"
    )
    parser.add_argument(
        "--pixelcnn-sizes", default=None, help="sizes for the PixelCNN/CNN (default: --sizes)"
    )
    parser.add_argument(
        "--num-test", type=int, default=None, help="class-balanced test subset (default: all)"
    )
    parser.add_argument(
        "--classifiers",
        default="naive_bayes,logistic_regression,conditional_pixelcnn,cnn",
        help="which classifiers to run (comma separated)",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="add these rows to the results file (same data and test images) instead of "
        "replacing it; a row of the same size, seed and classifier is replaced",
    )
    parser.add_argument("--pixelcnn-steps", type=int, default=500)
    parser.add_argument("--cnn-steps", type=int, default=300)
    args = parser.parse_args()

    import genzoo
    from genzoo.evaluation.classify import classification_metrics, logistic_regression

    data = genzoo.load_dataset(args.data)
    if args.num_test is not None:
        data = balanced_test(data, args.num_test)
    total = len(data.train)

    def parse(text: str) -> list[int]:
        return [total if s == "all" else int(s) for s in text.split(",")]

    sizes = parse(args.sizes)
    expensive = set(sizes if args.pixelcnn_sizes is None else parse(args.pixelcnn_sizes))
    runs = ROOT / "runs" / f"bench-gvd-{args.data}"
    rows: list[dict] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        for n in sizes:
            for seed in range(args.seeds if n < total else 1):  # all images: one subset
                subset = balanced_subset(data, n, seed)
                methods = {
                    "naive_bayes": lambda s=subset, r=seed: naive_bayes(s, r),
                    "logistic_regression": lambda s=subset, r=seed: logistic_regression(s, seed=r),
                }
                if seed < args.pixelcnn_seeds and n in expensive:
                    methods["conditional_pixelcnn"] = lambda s=subset, r=seed: conditional_pixelcnn(
                        s, r, args.pixelcnn_steps, runs
                    )
                    methods["cnn"] = lambda s=subset, r=seed: cnn(s, r, args.cnn_steps, cache)
                chosen = set(args.classifiers.split(","))
                for name, fit in methods.items():
                    if name not in chosen:
                        continue
                    t = time.perf_counter()
                    m = classification_metrics(fit(), data.test_labels)
                    rows.append(
                        {
                            "n": n,
                            "seed": seed,
                            "classifier": name,
                            **{k: round(m[k], 4) for k in ("error", "nll", "ece")},
                            "seconds": round(time.perf_counter() - t, 2),
                        }
                    )
                    print(f"n={n:6d} seed={seed} {name:22s} error {m['error']:.3f}", flush=True)
    path = RESULTS / f"gvd-{args.data}.json"
    commands = ["OMP_NUM_THREADS=1 python " + " ".join(sys.argv)]
    earlier = 0
    if args.merge and path.exists():
        old = json.loads(path.read_text())
        if old["num_test"] != len(data.test):
            raise SystemExit(f"{path} scored {old['num_test']} test images, not {len(data.test)}")
        key = lambda r: (r["n"], r["seed"], r["classifier"])  # noqa: E731
        new = {key(r) for r in rows}
        rows = [r for r in old["rows"] if key(r) not in new] + rows
        commands = old.get("commands", [old["command"]]) + commands
        earlier = old["seconds_total"]
    summary = _summary(rows)
    payload = {
        "benchmark": "generative_vs_discriminative",
        "command": commands[0],
        "commands": commands,
        "data": args.data,
        "num_test": len(data.test),
        "test_subset": "class-balanced, first per class" if args.num_test else "all",
        "pixelcnn": {**PIXELCNN, "steps": args.pixelcnn_steps, "lr": 3e-3},
        "cnn_min_steps": args.cnn_steps,
        "summary": summary,
        "rows": rows,
        "seconds_total": earlier + round(time.perf_counter() - start),
        "machine": machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    _plot(summary, args.data, RESULTS / f"gvd-{args.data}.png")
    print(_table(summary))
    print(f"wrote {path} ({payload['seconds_total']} s)")


def _summary(rows: list[dict]) -> dict:
    """classifier -> n -> mean and standard deviation over seeds of error, NLL and ECE."""
    out: dict = {}
    for r in rows:
        out.setdefault(r["classifier"], {}).setdefault(str(r["n"]), []).append(r)
    return {
        name: {
            n: {
                "seeds": len(group),
                **{
                    f"{k}_{stat}": round(float(fn([g[k] for g in group])), 4)
                    for k in ("error", "nll", "ece")
                    for stat, fn in (("mean", np.mean), ("std", np.std))
                },
            }
            for n, group in by_n.items()
        }
        for name, by_n in out.items()
    }


def _table(summary: dict) -> str:
    sizes = sorted({int(n) for by_n in summary.values() for n in by_n})
    lines = ["test error (mean over seeds)".ljust(24) + "".join(f"{n:>9d}" for n in sizes)]
    for name, by_n in summary.items():
        cells = [
            f"{by_n[str(n)]['error_mean']:>9.3f}" if str(n) in by_n else " " * 9 for n in sizes
        ]
        lines.append(name.ljust(24) + "".join(cells))
    return "\n".join(lines)


def _plot(summary: dict, data: str, path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), layout="constrained")
    ax = figure.add_subplot()
    for name, by_n in summary.items():
        sizes = sorted(int(n) for n in by_n)
        mean = np.array([by_n[str(n)]["error_mean"] for n in sizes])
        std = np.array([by_n[str(n)]["error_std"] for n in sizes])
        style = "--" if name in ("naive_bayes", "conditional_pixelcnn") else "-"
        ax.errorbar(sizes, mean, yerr=std, fmt="o" + style, capsize=3, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("labelled training images n (balanced)")
    ax.set_ylabel("test error")
    ax.set_title(f"generative (dashed) vs discriminative (solid) on {data}")
    ax.legend(fontsize=8)
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
