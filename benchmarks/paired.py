"""Paired comparison of trained models on the same test images.

Two models' test bits/dim each carry a standard error over images, but most of that variance is
shared (an image that is hard for one model is hard for the other). The per-image difference
``NLL_model - NLL_reference`` has a much smaller standard error, so it tells whether an ordering
is real. Reads the runs of ``benchmarks/autoregressive.py``:

    python benchmarks/paired.py --data digits --reference gated_pixelcnn
    python benchmarks/paired.py --data fashion-mnist --reference gated_pixelcnn --images 2000

Writes ``benchmarks/results/paired-DATA.json`` and prints a table (bits/dim; negative = better
than the reference).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

import genzoo
from genzoo.core.run import RunFolder

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


@torch.no_grad()
def per_image_nll(
    model: genzoo.models.GenerativeModel, x: torch.Tensor, batch: int = 100
) -> torch.Tensor:
    model = model.float().eval()
    return torch.cat([-model.log_prob(x[i : i + batch]).double() for i in range(0, len(x), batch)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--reference", default="gated_pixelcnn")
    parser.add_argument("--images", type=int, default=0, help="first N test images (0 = all)")
    args = parser.parse_args()
    data = genzoo.load_dataset(args.data)
    x = data.test if args.images <= 0 else data.test[: args.images]
    root = ROOT / "runs" / f"bench-{args.data}"
    dims = math.prod(data.shape) * math.log(2)
    ref = per_image_nll(genzoo.load_model(root / args.reference), x)
    rows = []
    for run in sorted(p for p in root.iterdir() if RunFolder(p).holds_model()):
        if run.name == args.reference:
            continue
        model = genzoo.load_model(run)
        if model.density != "exact":  # the other families' runs share the directory
            continue
        diff = (per_image_nll(model, x) - ref) / dims
        rows.append(
            {
                "model": run.name,
                "minus": args.reference,
                "bits_per_dim_difference": round(float(diff.mean()), 4),
                "stderr": round(float(diff.std() / math.sqrt(len(diff))), 4),
                "better_on_fraction_of_images": round(float((diff < 0).double().mean()), 3),
                "images": len(diff),
            }
        )
    out = {"data": args.data, "reference": args.reference, "results": rows}
    (RESULTS / f"paired-{args.data}.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"| model − {args.reference} | Δ bits/dim ± s.e. (paired) | better on | images |")
    print("|---|---|---|---|")
    for r in sorted(rows, key=lambda r: r["bits_per_dim_difference"]):
        print(
            f"| {r['model']} | {r['bits_per_dim_difference']:+.4f} ± {r['stderr']:.4f} | "
            f"{100 * r['better_on_fraction_of_images']:.0f}% | {r['images']} |"
        )


if __name__ == "__main__":
    main()
