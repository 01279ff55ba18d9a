"""The VAE family on the same data, CPU budget and test images, next to the autoregressive models.

Each model trains from the command line (``genzoo train``) for a fixed wall-clock budget on one
CPU thread (``OMP_NUM_THREADS=1``, ``--jobs`` side by side, nothing else running); its final
evaluation (fp32) gives the ELBO with its reconstruction and KL terms on every test image and the
IWAE bound with k = 1,000 on the first ``IWAE_IMAGES[data]`` test images. The autoregressive runs
of ``benchmarks/autoregressive.py`` (same directory ``runs/bench-DATA``) are re-scored on those
same first images, so the bound-vs-exact comparison is paired.

    python benchmarks/vae.py --data digits --minutes 5
    python benchmarks/vae.py --data fashion-mnist --minutes 10
    python benchmarks/vae.py --data digits --collect   # table from existing runs

The table lands in ``benchmarks/results/vae-DATA.json``, reconstruction and sample grids in
``benchmarks/results/figures/``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from autoregressive import (
    GENZOO,
    RESULTS,
    ROOT,
    evaluated,
    shown,
    train_all,
    train_images_per_s,
    training_log,
)
from autoregressive import MODELS as AR_MODELS

MODELS = ["vae", "iwae", "vae_iaf", "vae_hierarchical", "vqvae"]
#: test images of the k = 1,000 IWAE bound (k decoder passes each; 28x28 decoders cost ~2 ms)
IWAE_IMAGES = {"digits": 297, "fashion-mnist": 100}

RECIPES: dict[str, dict[str, list[str]]] = {
    "digits": {
        # as the autoregressive recipe: 200 training images held out, the best weights kept
        "*": ["--lr", "1e-3", "--validation", "200", "--keep-best", "--eval-every", "100",
              "--seed", "0", "--iwae-images", "297"],
    },
    "fashion-mnist": {
        "*": ["--lr", "1e-3", "--eval-every", "0", "--checkpoint-every", "1000", "--seed", "0",
              "--iwae-images", "100"],
    },
}  # fmt: skip


def summarize(run_dir: Path, data: str, minutes: float) -> dict:
    import genzoo
    from genzoo.core.run import RunFolder

    run = RunFolder(run_dir)
    metrics = run.read_metrics()
    cfg = run.read_train_config()
    bound = evaluated(run, metrics.bound, "ELBO and IWAE bound")
    model = genzoo.load_model(run.path)
    return {
        "model": metrics.model,
        "parameters": sum(p.numel() for p in model.parameters()),
        "likelihood": model.likelihood.kind,
        "steps": int(cfg["step"]),
        "train_images_per_s": train_images_per_s(cfg, training_log(run)),
        "precision": cfg["precision"],
        "elbo_bits_per_dim": round(bound.elbo.bits_per_dim, 4),
        "elbo_bits_per_dim_stderr": round(
            evaluated(run, bound.elbo.bits_per_dim_stderr, "ELBO stderr"), 4
        ),
        "reconstruction_nats": round(bound.reconstruction_nats, 2),
        "kl_nats": round(bound.kl_nats, 2),
        "num_test_images": bound.num_images,
        "k": bound.k,
        "iwae_images": bound.iwae_images,
        "iwae_bits_per_dim": round(bound.iwae.bits_per_dim, 4),
        "elbo_bits_per_dim_on_iwae_images": round(bound.elbo_on_iwae_images.bits_per_dim, 4),
        "command": shown(data, metrics.model, minutes, RECIPES),
    }


def autoregressive_on_same_images(data: str, count: int, best_vae: str | None) -> list[dict]:
    """Exact bits/dim of the autoregressive benchmark runs on the first ``count`` test images.

    With ``best_vae``, also the per-image paired difference ``bound(VAE) - exact(AR)`` in
    bits/dim with its standard error (positive: the autoregressive model assigns the image a
    higher likelihood than the VAE's bound can certify), the VAE's IWAE bound re-computed per
    image with k = 1,000 and a generator seeded with 0.
    """
    import math

    import torch

    import genzoo
    from genzoo.core.run import RunFolder

    root = ROOT / "runs" / f"bench-{data}"
    dataset = genzoo.load_dataset(data)
    x = dataset.test[:count]
    d = math.prod(dataset.shape) * math.log(2)
    bound = None
    if best_vae is not None:
        vae = genzoo.load_model(root / best_vae).float()
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            bound = torch.cat([vae.iwae_bound(x[s : s + 50], k=1000, generator=g)
                               for s in range(0, count, 50)]).double()  # fmt: skip
    rows = []
    for name in AR_MODELS:
        if not RunFolder(root / name).metrics_json.exists():
            continue
        model = genzoo.load_model(root / name).float()
        with torch.no_grad():
            exact = torch.cat([model.log_prob(x[s : s + 50]) for s in range(0, count, 50)])
        exact = exact.double()
        row = {"model": name, "exact_bits_per_dim": round(float(-exact.mean() / d), 4)}
        if bound is not None:
            diff = (exact - bound) / d  # per image: bound bits/dim minus exact bits/dim
            row["best_vae_minus_exact_bits_per_dim"] = round(float(diff.mean()), 4)
            row["paired_stderr"] = round(float(diff.std() / math.sqrt(count)), 4)
        rows.append(row)
    return rows


def table(data: str) -> str:
    payload = json.loads((RESULTS / f"vae-{data}.json").read_text())
    n = IWAE_IMAGES[data]
    lines = [
        f"| model | likelihood | parameters | steps | train img/s | ELBO bits/dim ± s.e. (all "
        f"test) | reconstruction / KL nats | ELBO, first {n} | IWAE k=1000, first {n} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(payload["results"], key=lambda r: r["iwae_bits_per_dim"], reverse=True):
        lines.append(
            f"| {r['model']} | {r['likelihood']} | {r['parameters']:,} | {r['steps']} | "
            f"{r['train_images_per_s']} | {r['elbo_bits_per_dim']:.4f} ± "
            f"{r['elbo_bits_per_dim_stderr']:.4f} | {r['reconstruction_nats']:.1f} / "
            f"{r['kl_nats']:.1f} | {r['elbo_bits_per_dim_on_iwae_images']:.4f} | "
            f"**{r['iwae_bits_per_dim']:.4f}** |"
        )
    for r in payload["autoregressive_same_images"]:
        lines.append(f"| {r['model']} (exact) | | | | | | | | {r['exact_bits_per_dim']:.4f} |")
    best = payload.get("best_vae")
    if best:
        lines += [
            "",
            f"Paired on the first {n} test images: {best}'s IWAE bound minus each autoregressive "
            "model's exact bits/dim (positive: the autoregressive model is better).",
            "",
            "| model | difference ± paired s.e. |",
            "|---|---|",
        ]
        for r in payload["autoregressive_same_images"]:
            lines.append(
                f"| {r['model']} | {r['best_vae_minus_exact_bits_per_dim']:+.4f} ± "
                f"{r['paired_stderr']:.4f} |"
            )
    return "\n".join(lines)


def main() -> None:
    args = train_all(__doc__.split("\n")[0], RECIPES, MODELS)
    from genzoo.core.run import RunFolder

    root = args.root
    done = [m for m in MODELS if RunFolder(root / m).metrics_json.exists()]
    figures = RESULTS / "figures"
    figures.mkdir(exist_ok=True)
    for m in done:  # the README links these: test images over their reconstructions, samples
        run = RunFolder(root / m)
        for name in (run.RECONSTRUCTION_PNG, run.SAMPLES_PNG):
            shutil.copyfile(run.figure(name), figures / f"vae-{args.data}-{m}-{name}")
        out = figures / f"vae-{args.data}-{m}-interpolation.png"
        subprocess.run([GENZOO, "interpolate", str(run.path), "--out", str(out), "--pairs", "6",
                        "--steps", "10"], check=True)  # fmt: skip
    payload = {
        "data": args.data,
        "minutes": args.minutes,
        "results": [summarize(root / m, args.data, args.minutes) for m in done],
    }
    best = min(payload["results"], key=lambda r: r["iwae_bits_per_dim"], default=None)
    payload["best_vae"] = None if best is None else best["model"]
    payload["autoregressive_same_images"] = autoregressive_on_same_images(
        args.data, IWAE_IMAGES[args.data], payload["best_vae"]
    )
    (RESULTS / f"vae-{args.data}.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(table(args.data))


if __name__ == "__main__":
    main()
