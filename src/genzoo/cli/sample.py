"""``genzoo sample DIR --n N --out FILE``: a grid of samples (PNG) or raw arrays (.npz).

An image-conditional model (super-resolution, colorization) samples given the conditions of the
first ``N`` test images of its data (``--data`` for other images): the PNG shows the conditions
over the samples, the ``.npz`` holds both (``x`` and ``c``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.cli.common import add_data_arguments, add_seed_argument, load_run_model, run_data
from genzoo.core.run import RunFolder
from genzoo.errors import GenzooError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="draw samples from a trained model")
    p.add_argument("run_dir", metavar="DIR", help="run directory written by `genzoo train`")
    p.add_argument("--n", type=int, default=64, help="number of samples (default: 64)")
    p.add_argument("--out", required=True, help="output file: .png grid or .npz array")
    p.add_argument("--label", type=int, default=None, help="class for a conditional model")
    p.add_argument(
        "--method",
        default="auto",
        help="how to draw, among the model's sampling methods (`genzoo models`): e.g. cached "
        "(fast, per-layer caches) or naive (a full pass per sub-pixel; same images) for "
        "autoregressive models; auto (default) takes the model's first",
    )
    add_seed_argument(p)
    add_data_arguments(p, required=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from genzoo.apps import save_grid

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".npz"):
        raise GenzooError(f"--out must end in .png or .npz, got {out.name}")
    if args.n < 1:
        raise GenzooError(f"--n must be positive, got {args.n}")
    model = load_run_model(args.run_dir)
    y = None
    if args.label is not None:
        if model.num_classes is None:
            raise GenzooError("--label needs a class-conditional model")
        y = torch.full((args.n,), args.label, dtype=torch.long)
    kwargs = {}
    if args.method != "auto":
        methods = model.capabilities.sampling_methods
        if args.method not in methods:
            raise GenzooError(
                f"{model.name} samples by {', '.join(methods) or 'one method'}, not "
                f"--method {args.method}; drop the flag or choose one of those"
            )
        if len(methods) > 1:  # a model with one method draws only that way
            kwargs["method"] = args.method
    c = None
    if model.capabilities.image_conditional:
        dataset, _ = run_data(RunFolder(args.run_dir), args)
        c = dataset.take("test", slice(0, args.n)).c
        if c is None or c.shape[0] < args.n:
            raise GenzooError(
                f"{dataset.name} has {0 if c is None else c.shape[0]} test conditions; pass "
                "--n at most that many"
            )
        kwargs["c"] = c
    generator = torch.Generator().manual_seed(args.seed)
    samples = model.sample(args.n, y, generator=generator, **kwargs)
    if out.suffix.lower() == ".png":
        if c is None:
            save_grid(samples, model.levels, out)
        else:
            from genzoo.evaluation.run_evaluation import show_condition

            shown = show_condition(c, model.condition_levels, dataset)
            rows = torch.cat(
                [
                    part
                    for s in range(0, args.n, 8)
                    for part in (shown[s : s + 8], samples[s : s + 8])
                ]
            )
            save_grid(rows, model.levels, out, nrow=min(args.n, 8))
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"x": samples.numpy().astype(np.int64), "levels": model.levels}
        if c is not None:
            arrays["c"] = c.numpy().astype(np.int64)
        np.savez_compressed(out, **arrays)
    given = "" if c is None else f" given the conditions of the first {args.n} test images"
    print(f"wrote {args.n} samples{given} to {out}")
    return 0
