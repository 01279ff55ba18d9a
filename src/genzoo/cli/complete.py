"""``genzoo complete RUN [--image FILE ...] --mask top-half [--out FILE.png|DIR]``: complete
held-out test images, or your own PNG/JPEG files.

Your files are converted to the model's shape and levels as ``genzoo score`` converts them
(:func:`genzoo.apps.scoring.prepare_image`, one line per file says what was done). The grid goes
to ``--out`` (a ``.png`` file, or a folder), by default to ``RUN/completions/``; it never
replaces a file of the run (its own ``completion.png`` is the evaluation's).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.apps import COMPLETION_MASKS
from genzoo.cli.common import (
    add_data_arguments,
    add_seed_argument,
    commands_for,
    load_run_model,
    refuse_run_file,
    run_data,
)
from genzoo.core.run import RunFolder
from genzoo.errors import GenzooError
from genzoo.evaluation.likelihood import check_matches

#: test images completed when neither --n nor --image is given
DEFAULT_N = 8


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("complete", help="complete partly given test images or your own files")
    p.add_argument("run_dir", metavar="DIR", help="run directory written by `genzoo train`")
    p.add_argument(
        "--image",
        action="append",
        default=None,
        metavar="FILE",
        help="complete this PNG/JPEG file instead of test images (repeat for several); it is "
        "converted to the model's shape and levels like `genzoo score` does",
    )
    p.add_argument(
        "--mask",
        choices=COMPLETION_MASKS,
        default="top-half",
        help="which part is given (top-half is exact for raster-scan models)",
    )
    p.add_argument(
        "--n", type=int, default=None, help=f"number of test images (default: {DEFAULT_N})"
    )
    p.add_argument(
        "--label", type=int, default=None, help="class of your images for a conditional model"
    )
    p.add_argument(
        "--out",
        default=None,
        help="output: a .png file, or a folder to write a named .png into (default: "
        "DIR/completions/)",
    )
    add_data_arguments(p, required=False)
    add_seed_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from genzoo.apps import completion_captions, completion_mask, completion_rows, save_grid

    _check_flags(args)
    run_folder = RunFolder(args.run_dir)
    stem = "test" if args.image is None else _image_stem(args.image)
    out = output_path(args.out, run_folder, f"{stem}-{args.mask}.png")
    refuse_run_file(args.run_dir, out, "--out")
    model = load_run_model(args.run_dir)
    caps = model.capabilities
    if caps.image_conditional:
        raise GenzooError(
            f"{model.name} draws images given a condition image, not the rest of a given part; "
            "apply it with genzoo upscale or genzoo colorize"
        )
    if caps.completion is None:
        raise GenzooError(
            f"{model.name} cannot complete images; on it, use {commands_for(model)} (its "
            f"capabilities: {caps.describe()})"
        )
    if args.image is None:
        dataset, _ = run_data(run_folder, args)
        check_matches(model, dataset, "the run's model")
        n = max(1, min(args.n or DEFAULT_N, dataset.test.shape[0]))
        images = dataset.test[:n]
        y = None if model.num_classes is None else dataset.test_labels[:n]
        first, what = "original", f"{n} test images"
    else:
        images, y = _your_images(model, args.image, args.label)
        first, what = "your image", f"{images.shape[0]} image(s)"
    given = completion_mask(args.mask, model.shape)
    generator = torch.Generator().manual_seed(args.seed)
    grid = completion_rows(model, images, given, y=y, generator=generator)
    captions = completion_captions(args.mask, first=first)
    save_grid(grid, model.levels, out, nrow=images.shape[0], row_labels=captions)
    print(f"wrote {out} ({what}; rows: {', '.join(captions)}; completion {caps.completion})")
    return 0


def _check_flags(args: argparse.Namespace) -> None:
    """--image takes no test-set flags; --label belongs to --image."""
    if args.image is None:
        if args.label is not None:
            raise GenzooError("--label is the class of your --image files; test images have theirs")
        return
    clash = [
        flag
        for flag, value in (("--n", args.n), ("--data", args.data), ("--task", args.task))
        if value is not None
    ]
    if clash:
        raise GenzooError(
            f"{', '.join(clash)} choose test images; with --image your files are completed "
            "instead: drop one or the other"
        )


def _image_stem(images: list[str]) -> str:
    stem = Path(images[0]).stem or "image"
    return stem if len(images) == 1 else f"{stem}-and-{len(images) - 1}-more"


def output_path(out: str | None, run: RunFolder, name: str) -> Path:
    """Where the grid goes: ``out`` when it ends in ``.png``, ``out/name`` when it names a
    folder, ``RUN/completions/name`` when not given."""
    if out is None:
        return run.path / run.COMPLETIONS / name
    path = Path(out)
    if path.suffix.lower() == ".png" and not path.is_dir():
        return path
    if path.suffix and not path.is_dir():
        raise GenzooError(f"--out must end in .png (a file) or name a folder, got {path.name}")
    return path / name


def _your_images(model, files: list[str], label: int | None):
    """The files as one LongTensor ``[N, C, H, W]`` in the model's levels (each conversion said
    in one line) and their labels for a class-conditional model."""
    import torch

    from genzoo.apps.scoring import prepare_image

    if model.num_classes is not None and label is None:
        raise GenzooError(
            f"{model.name} is class-conditional: pass --label 0..{model.num_classes - 1}, the "
            "class of your images"
        )
    if label is not None and model.num_classes is None:
        raise GenzooError("--label needs a class-conditional model")
    if label is not None and not 0 <= label < model.num_classes:
        raise GenzooError(f"--label must lie in 0..{model.num_classes - 1}, got {label}")
    converted = [prepare_image(f, model, Path(f).name) for f in files]  # all read before work
    for _, note in converted:
        print(note)
    images = torch.cat([x for x, _ in converted])
    y = None if label is None else torch.full((images.shape[0],), label, dtype=torch.long)
    return images, y
