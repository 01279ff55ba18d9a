"""The GAN family at a fixed CPU budget, and the sample quality of every family on one scale.

Each GAN trains from the command line (``genzoo train``) for a fixed wall-clock budget on one CPU
thread (``OMP_NUM_THREADS=1``, ``--jobs`` side by side, nothing else running): the four
unconditional models and one class-conditional run (``--conditional MODEL``, default ``sngan``;
``none`` skips it). Only runs that do not exist yet are trained (``benchmarks/unsupervised.py``
trains the same four with the same training flags; whichever script runs first trains them).
Then every run in ``runs/bench-DATA`` — these GANs and, when they exist, the VAE and
autoregressive runs of ``benchmarks/vae.py`` and ``benchmarks/autoregressive.py`` (same data, same
budget, same directory) — is scored by :func:`genzoo.evaluation.evaluate_sample_quality`
with one feature network (the dataset's classifier, its test accuracy in the table), one sample
count (``QUALITY_SAMPLES[data]`` samples against the same seeded reference test images) and one
floor (as many real training images against the same reference). VAEs are scored twice: their
ancestral samples ``x ~ p(x | z)`` (what ``genzoo sample`` draws) and their decoder means
``E[x | z]`` rounded to the nearest level (the images papers usually show as "VAE samples").

The lecture claims GAN samples are sharper than VAE samples. Sharpness is read as **precision**
(Kynkäänniemi et al. 2019: the fraction of samples inside the real images' k-NN manifold, i.e.
fidelity; density, Naeem et al. 2020, is its outlier-robust variant). Each family is represented
by its lowest-FID row — the model one would pick — because a collapsed GAN can reach a precision
of 1 with a recall of 0; that GAN is compared with the best VAE by ancestral samples and with the
best VAE by decoder means. The GAN is "sharper" if its precision exceeds the VAE's by more than
two binomial standard errors, "less sharp" if it is lower by as much, else "undecided". Recall
and coverage are shown beside it (a GAN that is sharp by dropping modes scores low there); FID
mixes both. The numbers compare only within this table (same features, counts and data).

    python benchmarks/gan.py --data fashion-mnist --minutes 10
    python benchmarks/gan.py --data digits --minutes 5
    python benchmarks/gan.py --data fashion-mnist --collect   # table from existing runs/scores

Scores are cached in ``runs/bench-DATA/quality/ROW-COUNT.json`` (checked against the weights'
SHA-256 and the feature network), so ``--collect`` (which trains nothing) rebuilds
``benchmarks/results/gan-DATA.json`` and the table without sampling again; a row without a valid
cached score is scored then. Scored sample grids and GAN latent walks land in
``benchmarks/results/figures/``. Drawing 5,000 28x28 samples on one thread took (2026-12-01,
AMD EPYC) 0.1-3 s for a GAN, 7-13 s for a VAE's ancestral samples and 41-45 s for its decoder
means, 0.5-7.5 minutes for an autoregressive model (Diagonal BiLSTM 38 s, PixelCNN++ 441 s);
features and metrics add seconds. All families with ``--jobs 2``: about 20 minutes at
``--quality-samples 5000`` (the README's table), twice that at the default 10,000.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from autoregressive import (
    COMMAND_TXT,
    GENZOO,
    RESULTS,
    ROOT,
    command,
    run_jobs,
    shown,
    train_all,
    train_images_per_s,
    training_log,
)
from autoregressive import MODELS as AR_MODELS
from vae import MODELS as VAE_MODELS

MODELS = ["gan", "dcgan", "wgan_gp", "sngan"]
#: generated images per model = real training images of the floor; the reference set is the
#: whole test set (digits: 297 images; Fashion-MNIST: 10,000)
QUALITY_SAMPLES = {"digits": 297, "fashion-mnist": 10_000}
SAMPLE_BATCH = 128
#: autoregressive models left out of the table, with why: those without a cached sampler, whose
#: naive sampling costs one full network pass per sub-pixel (README "Sampling": pixelcnn_pp's
#: naive sampler drew 0.03 28x28 images/s on one thread, ~4 days for 10,000). Every one has a
#: cache now (pixelsnail's since issue 18), so none is left out.
NOT_SCORED: dict[str, str] = {}
ANCESTRAL, MEAN = "ancestral: pixels drawn given z", "decoder mean given z, rounded"
METRIC_KEYS = ("fid", "kid", "kid_std", "precision", "recall", "density", "coverage")

RECIPES: dict[str, dict[str, list[str]]] = {
    # each model's recommended Adam settings (train_defaults) apply; scoring happens below, with
    # every family at once, so the runs skip their own end-of-run sample quality
    "digits": {"*": ["--eval-every", "0", "--seed", "0", "--no-sample-quality"]},
    "fashion-mnist": {
        "*": ["--eval-every", "0", "--checkpoint-every", "1000", "--seed", "0",
              "--no-sample-quality"],
    },
}  # fmt: skip


def conditional_run(data: str, model: str, minutes: float, root: Path) -> tuple[list[str], str]:
    """The command of the class-conditional run ``MODEL-conditional`` and how it is shown."""
    name = f"{model}-conditional"
    cmd = [*command(data, model, minutes, root / name, RECIPES)[:-2], "--conditional", "--out",
           str(root / name)]  # fmt: skip
    plain = f"--out runs/bench-{data}/{model}"
    text = shown(data, model, minutes, RECIPES).replace(
        plain, f"--conditional --out runs/bench-{data}/{name}"
    )
    return cmd, text


def rows_to_score(root: Path, conditional: str | None) -> list[dict[str, str]]:
    """Every finished run in ``root``: GANs, then VAEs (two kinds of samples), then AR models."""
    from genzoo.core.run import RunFolder

    gans = [*MODELS, *([f"{conditional}-conditional"] if conditional else [])]
    rows = [{"row": m, "run": m, "family": "GAN", "samples": "generator"} for m in gans]
    for m in VAE_MODELS:
        rows.append({"row": m, "run": m, "family": "VAE", "samples": ANCESTRAL})
        rows.append({"row": f"{m} (mean)", "run": m, "family": "VAE", "samples": MEAN})
    rows += [{"row": m, "run": m, "family": "autoregressive", "samples": "ancestral"}
             for m in AR_MODELS if m not in NOT_SCORED]  # fmt: skip
    return [r for r in rows if RunFolder(root / r["run"]).holds_model()]


def slug(row: str) -> str:
    """File-name form of a row: ``"vae (mean)"`` -> ``"vae-mean"``."""
    return row.replace(" (mean)", "-mean")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def score(task: dict[str, Any]) -> dict[str, Any]:
    """Sample quality of one row (in a worker process, one thread), cached on disk."""
    import torch

    import genzoo
    from genzoo.apps import save_grid
    from genzoo.core.run import RunFolder
    from genzoo.evaluation import draw_samples, evaluate_sample_quality, feature_network
    from genzoo.evaluation.sample_quality import sampling_labels

    torch.set_num_threads(1)
    run = RunFolder(task["run_dir"])
    cache = Path(task["cache"])
    digest = _sha256(run.weights)
    if cache.exists():
        cached = json.loads(cache.read_text())
        same = (cached["weights_sha256"], cached["num_samples"], cached["feature_key"])
        if same == (digest, task["num_samples"], task["feature_key"]):
            return cached
    dataset = genzoo.load_dataset(task["data"])
    net = feature_network(dataset)
    model = genzoo.load_model(run.path).float().eval()
    n = task["num_samples"]
    labels = sampling_labels(model, dataset, n)  # as evaluate_sample_quality would draw them
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    if task["row"].endswith("(mean)"):
        samples = vae_means(model, n, generator)
    else:
        samples = draw_samples(model, n, labels, generator=generator, batch_size=SAMPLE_BATCH)
    seconds = time.perf_counter() - start
    result = evaluate_sample_quality(
        model, dataset, features=net, samples=samples, sample_labels=labels
    )
    save_grid(samples[:64], dataset.levels, task["figure"])  # the scored samples
    entry = {
        "weights_sha256": digest,
        "num_samples": n,
        "feature_key": net.info["key"],
        "sampling_seconds": round(seconds, 1),
        "result": result,
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(entry, indent=1, sort_keys=True) + "\n")
    return entry


def vae_means(model: Any, n: int, generator: Any) -> Any:
    """Decoder means ``E[x | z]``, rounded, of ``z ~ p(z)``: LongTensor ``[n, C, H, W]``."""
    import torch

    parts = []
    with torch.no_grad():
        for start in range(0, n, SAMPLE_BATCH):
            z = model.sample_prior(min(SAMPLE_BATCH, n - start), None, generator)
            parts.append(model.decode(z).cpu())
    return torch.cat(parts)


def run_info(run_dir: Path) -> dict[str, Any]:
    """Training facts of a run: parameters, steps, images/s, command."""
    from genzoo.core.run import RunFolder

    run = RunFolder(run_dir)
    info: dict[str, Any] = {}
    if run.train_config.exists():
        cfg = run.read_train_config()
        per_step = int(cfg["model_config"].get("critic_steps", 1))
        info["steps"] = int(cfg["step"])
        info["train_images_per_s"] = train_images_per_s(cfg, training_log(run), per_step)
        info["train_precision"] = cfg["precision"]  # bf16-mixed or 32, not the metric
        info["minutes"] = cfg["train_config"]["minutes"]
    if (run.path / COMMAND_TXT).exists():
        info["command"] = (run.path / COMMAND_TXT).read_text().strip()
    return info


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 0.0) / n)


def claim(rows: list[dict[str, Any]], num_samples: int) -> dict[str, Any] | None:
    """The lecture's "GAN samples are sharper than VAE samples", read on precision.

    Each side is represented by its lowest-FID row (the model one would pick; a collapsed model
    can have a high precision and no recall): the best unconditional GAN against the best VAE
    by ancestral samples and against the best VAE by decoder means.
    """
    gans = [r for r in rows if r["family"] == "GAN" and not r["row"].endswith("conditional")]
    if not gans:
        return None
    gan = min(gans, key=lambda r: r["fid"])
    comparisons = []
    for kind in (ANCESTRAL, MEAN):
        vaes = [r for r in rows if r["family"] == "VAE" and r["samples"] == kind]
        if not vaes:
            continue
        vae = min(vaes, key=lambda r: r["fid"])
        diff = gan["precision"] - vae["precision"]
        se = math.hypot(binomial_se(gan["precision"], num_samples),
                        binomial_se(vae["precision"], num_samples))  # fmt: skip
        verdict = "sharper" if diff > 2 * se else "less sharp" if diff < -2 * se else "undecided"
        comparisons.append({
            "vae": vae["row"],
            "vae_samples": kind,
            "precision_difference": round(diff, 4),
            "standard_error": round(se, 4),
            "verdict": verdict,
            "recall_difference": round(gan["recall"] - vae["recall"], 4),
        })  # fmt: skip
    return {"gan": gan["row"], "comparisons": comparisons} if comparisons else None


def table(data: str) -> str:
    payload = json.loads((RESULTS / f"gan-{data}.json").read_text())
    net, floor = payload["feature_network"], payload["floor"]
    n = payload["num_samples"]
    lines = [
        f"Features: {net['name']} (test accuracy {net['test_accuracy']:.3f}, key {net['key']}); "
        f"{n} samples per model vs {payload['num_reference']} test images; floor: {n} training "
        "images vs the same test images.",
        "",
        "| model | family | samples | steps | train img/s | FID | KID ± s.d. | precision | recall "
        "| density | coverage |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in payload["results"]:
        steps = r.get("steps", "")
        speed = r.get("train_images_per_s", "")
        lines.append(
            f"| {r['row']} | {r['family']} | {r['samples']} | {steps} | {speed} | {r['fid']:.2f} | "
            f"{r['kid']:.4f} ± {r['kid_std']:.4f} | **{r['precision']:.3f}** | "
            f"{r['recall']:.3f} | {r['density']:.3f} | {r['coverage']:.3f} |"
        )
    lines.append(
        f"| *floor: real training images* | | | | | {floor['fid']:.2f} | {floor['kid']:.4f} ± "
        f"{floor['kid_std']:.4f} | "
        f"{floor['precision']:.3f} | {floor['recall']:.3f} | {floor['density']:.3f} | "
        f"{floor['coverage']:.3f} |"
    )
    for r in payload["results"]:
        if "label_agreement" in r:
            lines.append(
                f"\n{r['row']}: {r['label_agreement']:.3f} of its samples are classified as the "
                f"class they were drawn for (training images: {r['floor_label_agreement']:.3f})."
            )
    c = payload.get("claim")
    for comparison in c["comparisons"] if c else []:
        lines += [
            "",
            f"Is {c['gan']} (the lowest-FID GAN) sharper than {comparison['vae']} "
            f"({comparison['vae_samples']}; the lowest-FID such VAE row)? Precision difference "
            f"{comparison['precision_difference']:+.3f} ± {comparison['standard_error']:.3f} "
            f"(binomial s.e.): **{comparison['verdict']}**; recall difference "
            f"{comparison['recall_difference']:+.3f}.",
        ]
    return "\n".join(lines)


def main() -> None:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--conditional", default="sngan", help="GAN trained class-conditionally too")
    pre.add_argument("--quality-samples", type=int, default=None, help="override QUALITY_SAMPLES")
    pre.add_argument("--data", default=None)
    extra, rest = pre.parse_known_args()
    conditional = None if extra.conditional == "none" else extra.conditional
    root = ROOT / "runs" / f"bench-{extra.data}"
    if (
        "--models" not in rest
    ):  # train only the GANs without a run (unsupervised.py trains them too)
        rest += ["--models", *[m for m in MODELS if not (root / m).exists()]]
    sys.argv = [sys.argv[0], *(["--data", extra.data] if extra.data else []), *rest]
    args = train_all(__doc__.split("\n")[0], RECIPES, MODELS)
    root, data = args.root, args.data
    name = f"{conditional}-conditional"
    if conditional and not args.collect and not (root / name).exists():
        cmd, text = conditional_run(data, conditional, args.minutes, root)
        run_jobs({name: cmd}, {name: text}, data, 1)

    import torch

    import genzoo
    from genzoo.core.run import RunFolder
    from genzoo.evaluation import feature_network

    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"  # the scoring processes inherit it
    net = feature_network(genzoo.load_dataset(data))  # trained once, before the workers
    figures = RESULTS / "figures"
    figures.mkdir(exist_ok=True)
    rows = rows_to_score(root, conditional)
    n = extra.quality_samples or QUALITY_SAMPLES[data]
    tasks = [
        {
            "data": data,
            "row": r["row"],
            "run_dir": str(root / r["run"]),
            "num_samples": n,
            "feature_key": net.info["key"],
            "cache": str(root / "quality" / f"{slug(r['row'])}-{n}.json"),
            "figure": str(figures / f"gan-{data}-{slug(r['row'])}.png"),
        }
        for r in rows
    ]
    spawn = multiprocessing.get_context("spawn")  # no fork of a process that ran torch
    with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=spawn) as pool:
        entries = list(pool.map(score, tasks))
    results, floors = [], []
    for r, entry in zip(rows, entries, strict=True):
        quality = entry["result"]
        floors.append(quality["floor"])
        row = {**r, **run_info(root / r["run"]), "sampling_seconds": entry["sampling_seconds"]}
        row.update({k: round(quality["samples"][k], 4) for k in METRIC_KEYS})
        for key in ("label_agreement", "floor_label_agreement"):
            if key in quality:
                row[key] = round(quality[key], 4)
        results.append(row)
    if any(f != floors[0] for f in floors):  # the same real images every time
        raise SystemExit("the floor differs between rows: the reference sets are not fixed")
    for m in [*MODELS, *([f"{conditional}-conditional"] if conditional else [])]:
        if RunFolder(root / m).holds_model() and not args.collect:
            out = figures / f"gan-{data}-{m}-interpolation.png"
            subprocess.run([GENZOO, "interpolate", str(root / m), "--out", str(out), "--pairs",
                            "6", "--steps", "10"], check=True)  # fmt: skip
    budgets = {r.get("minutes") for r in results if r["family"] == "GAN"}
    payload = {
        "data": data,
        # the GANs' budget as trained (so --collect reproduces the file without --minutes)
        "minutes": budgets.pop() if len(budgets) == 1 else args.minutes,
        "num_samples": n,
        "num_reference": entries[0]["result"]["num_reference"] if entries else None,
        "feature_network": {k: net.info.get(k) for k in ("name", "key", "test_accuracy")},
        "floor": {k: round(floors[0][k], 4) for k in METRIC_KEYS} if floors else None,
        "results": results,
        "claim": claim(results, n),
        "not_scored": NOT_SCORED,
    }
    (RESULTS / f"gan-{data}.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(table(data))


if __name__ == "__main__":
    main()
