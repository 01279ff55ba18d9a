"""``genzoo sample DIR --n N --out FILE``: a grid of samples (PNG) or raw arrays (.npz).

An image-conditional model (super-resolution, colorization) samples given the conditions of the
first ``N`` test images of its data (``--data`` for other images): the PNG shows the conditions
over the samples, the ``.npz`` holds both (``x`` and ``c``).

Samples are drawn :data:`CHUNK` at a time and an ``.npz`` is streamed to disk as they come, so
``--n 100000`` needs no more memory than ``--n 512`` (``benchmarks/memory.py`` measures it).
"""

from __future__ import annotations

import argparse
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genzoo.cli.common import (
    add_data_arguments,
    add_seed_argument,
    load_run_model,
    refuse_run_file,
    run_data,
)
from genzoo.core.atomic import atomic_path
from genzoo.core.run import RunFolder
from genzoo.errors import GenzooError

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from genzoo.models.base import GenerativeModel

#: samples drawn per call of the model: memory stays bounded whatever ``--n``
CHUNK = 512
#: the most samples a .png grid shows
PNG_MAX = 10_000


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
    import torch

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".npz"):
        raise GenzooError(f"--out must end in .png or .npz, got {out.name}")
    if args.n < 1:
        raise GenzooError(f"--n must be positive, got {args.n}")
    png = out.suffix.lower() == ".png"
    if png and args.n > PNG_MAX:
        raise GenzooError(
            f"a .png grid of --n {args.n} samples is too large to look at; write at most "
            f"{PNG_MAX:,} to a .png, or any number to a .npz"
        )
    refuse_run_file(args.run_dir, out, "--out")
    model = load_run_model(args.run_dir)
    if args.label is not None and model.num_classes is None:
        raise GenzooError("--label needs a class-conditional model")
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
    c, dataset = None, None
    if model.capabilities.image_conditional:
        dataset, _ = run_data(RunFolder(args.run_dir), args)
        c = dataset.take("test", slice(0, args.n)).c
        if c is None or c.shape[0] < args.n:
            raise GenzooError(
                f"{dataset.name} has {0 if c is None else c.shape[0]} test conditions; pass "
                "--n at most that many"
            )
    generator = torch.Generator().manual_seed(args.seed)
    chunks = sample_chunks(model, args.n, args.label, c, generator, kwargs)
    if png:
        write_png(out, torch.cat(list(chunks)), model, c, dataset)
    else:
        write_npz(out, chunks, (args.n, *model.shape), model.levels, c)
    given = "" if c is None else f" given the conditions of the first {args.n} test images"
    print(f"wrote {args.n} samples{given} to {out}")
    return 0


def sample_chunks(
    model: GenerativeModel,
    n: int,
    label: int | None,
    c: Tensor | None,
    generator: torch.Generator,
    kwargs: dict[str, Any],
) -> Iterator[Tensor]:
    """``n`` samples in chunks of at most :data:`CHUNK` (LongTensor ``[m, C, H, W]`` each), drawn
    one after the other with ``generator``: memory does not grow with ``n``."""
    import torch

    from genzoo.models.base import with_condition

    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        y = None if label is None else torch.full((m,), label, dtype=torch.long)
        part = None if c is None else c[start : start + m]
        yield model.sample(m, y, generator=generator, **kwargs, **with_condition(part))


def write_npz(
    path: Path,
    chunks: Iterable[Tensor],
    shape: tuple[int, ...],
    levels: int,
    c: Tensor | None,
) -> None:
    """An ``.npz`` with ``x`` (int64 ``shape``), ``levels`` and ``c`` (when given), written
    atomically while the chunks arrive: ``x`` is streamed into the archive, never held whole.
    ``numpy.load`` reads it like any ``numpy.savez_compressed`` archive."""
    import numpy as np

    fmt = np.lib.format
    header = {"descr": fmt.dtype_to_descr(np.dtype(np.int64)), "fortran_order": False}
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as member:
            fmt.write_array_header_1_0(member, {**header, "shape": tuple(shape)})
            written = 0
            for chunk in chunks:
                member.write(chunk.numpy().astype(np.int64, copy=False).tobytes())
                written += chunk.shape[0]
            if written != shape[0]:  # pragma: no cover - sample_chunks gives exactly n
                raise RuntimeError(f"wrote {written} samples, announced {shape[0]}")
        with archive.open("levels.npy", "w") as member:
            fmt.write_array(member, np.asarray(levels))
        if c is not None:
            with archive.open("c.npy", "w", force_zip64=True) as member:
                fmt.write_array(member, c.numpy().astype(np.int64))


def write_png(
    path: Path, samples: Tensor, model: GenerativeModel, c: Tensor | None, dataset: Any
) -> None:
    """A grid of the samples; an image-conditional model's rows alternate conditions and
    samples."""
    import torch

    from genzoo.apps import save_grid

    if c is None:
        save_grid(samples, model.levels, path)
        return
    from genzoo.evaluation.run_evaluation import show_condition

    n = samples.shape[0]
    shown = show_condition(c, model.condition_levels, dataset)
    rows = torch.cat(
        [part for s in range(0, n, 8) for part in (shown[s : s + 8], samples[s : s + 8])]
    )
    save_grid(rows, model.levels, path, nrow=min(n, 8))
