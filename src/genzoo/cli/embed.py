"""``genzoo embed [DIR] --out FILE.png``: a 2-D map of the test set coloured by label.

The model's latents when they are 2-D, else PCA of its features (fitted on the training images);
without ``DIR``, PCA of the raw pixels. The coordinates go to ``--coords`` (default: the PNG's
name with ``.csv``; ``.npz`` also works) for plotting them another way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.cli.common import refuse_run_file
from genzoo.cli.probe import add_source_arguments, load_source
from genzoo.errors import GenzooError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="dimensionality reduction: a 2-D map of the test set")
    add_source_arguments(p)
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument(
        "--method",
        choices=("pca", "tsne"),
        default="pca",
        help="pca: the first two principal components of the training features, applied to the "
        "test set; tsne: a seeded t-SNE map of the test features (default: pca)",
    )
    p.add_argument(
        "--coords",
        default=None,
        help="coordinates file, .csv (index,x,y,label) or .npz (default: OUT with .csv)",
    )
    p.add_argument("--width", type=int, default=800, help="image width in pixels (default: 800)")
    p.add_argument("--height", type=int, default=640, help="image height in pixels (default: 640)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from genzoo.evaluation.unsupervised import embed, plot_embedding, save_coordinates

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise GenzooError(f"--out must end in .png, got {args.out}")
    coords = Path(args.coords) if args.coords else out.with_suffix(".csv")
    if coords.suffix.lower() not in (".csv", ".npz"):
        raise GenzooError(f"--coords must end in .csv or .npz, got {coords}")
    refuse_run_file(args.run_dir, out, "--out")
    refuse_run_file(args.run_dir, coords, "--coords")
    model, dataset = load_source(args)
    embedding = embed(
        dataset,
        model,
        max_train=args.max_train,
        seed=args.seed,
        batch_size=args.batch_size,
        method=args.method,
    )
    plot_embedding(
        embedding,
        out,
        class_names=dataset.class_names,
        size=(args.width, args.height),
        seed=args.seed,
    )
    save_coordinates(embedding, coords)
    how = (
        "the 2-D latents"
        if embedding.method == "latents"
        else f"t-SNE of {embedding.feature_dim}-D {embedding.representation}"
        if embedding.method == "tsne"
        else f"PCA of {embedding.feature_dim}-D {embedding.representation} fitted on "
        f"{embedding.num_train:,} training images ({', '.join(embedding.axis_names())})"
    )
    print(f"wrote {out} ({embedding.coords.shape[0]:,} test images; {how})")
    print(f"wrote {coords}")
    return 0
