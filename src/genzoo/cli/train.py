"""``genzoo train MODEL --data NAME ...``: train, then evaluate and write the run's outputs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from genzoo.cli.common import (
    add_bound_arguments,
    add_data_arguments,
    add_typed_arguments,
    bound_options,
    data_spec,
    dataclass_params,
    load_data,
    picked,
    save_data_spec,
    signature_params,
)
from genzoo.errors import GenzooError
from genzoo.models.registry import get_model_class


def register(sub: argparse._SubParsersAction, argv: Sequence[str]) -> None:
    from genzoo.models import get_model_class, hyperparameters
    from genzoo.training import TrainConfig

    p = sub.add_parser(
        "train",
        help="train a model",
        description="Train MODEL on --data, then evaluate it and write metrics.json, "
        "samples.png and completion.png. `genzoo train MODEL --help` also lists MODEL's "
        "hyper-parameter flags.",
    )
    p.add_argument("model", help="model name (see `genzoo models`)")
    add_data_arguments(p, required=True)
    p.add_argument("--out", default=None, help="run directory (default: runs/MODEL-DATA)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--conditional", action="store_true", help="class-conditional on the labels")
    p.add_argument("--num-samples", type=int, default=64, help="samples in samples.png")
    add_bound_arguments(p)
    add_typed_arguments(p.add_argument_group("training"), dataclass_params(TrainConfig))
    name = model_name(argv)
    if name is not None:
        group = p.add_argument_group(f"{name} hyper-parameters")
        params = hyperparameters(name)
        add_typed_arguments(group, signature_params(params, get_model_class(name)))
        p.set_defaults(hparam_names=tuple(params))
    p.set_defaults(run=run)


def model_name(argv: Sequence[str]) -> str | None:
    """The MODEL of ``train MODEL ...`` (validated), or None when absent."""
    args = list(argv)
    if not args or args[0] != "train":
        return None
    name = next((a for a in args[1:] if not a.startswith("-")), None)
    if name is not None:
        get_model_class(name)  # raises a clear error listing the models
    return name


def say(text: str) -> None:
    """Progress note on stderr, from the first process only (ddp re-runs this command per rank)."""
    if os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0":
        print(text, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from genzoo.evaluation import evaluate_run
    from genzoo.models import create_model, load_model
    from genzoo.training import TrainConfig, train

    hparams = picked(args, getattr(args, "hparam_names", ()))
    flags = picked(args, dataclass_params(TrainConfig))
    flags.setdefault("progress", sys.stderr.isatty())  # a bar for people, none for logs
    recommended = {
        k: v for k, v in get_model_class(args.model).train_defaults.items() if k not in flags
    }
    if recommended:
        shown = ", ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in recommended.items())
        say(f"{args.model}'s recommended training settings (override with the flags): {shown}")
    config = TrainConfig.recommended(args.model, **flags)
    config.validate()  # fail before any data is loaded or file written
    data_name = args.data.split(":")[-1].rstrip("/").split("/")[-1] or "data"
    out = Path(args.out or f"runs/{args.model}-{data_name}")
    if args.resume:
        if hparams:
            raise GenzooError(
                "--resume continues a run with its saved hyper-parameters; drop "
                f"{', '.join(sorted(hparams))}"
            )
        model = load_model(out).float()
        if model.name != args.model:
            raise GenzooError(f"{out} holds a {model.name} run, not {args.model}")
    elif (out / "checkpoint.pt").exists() or (out / "config.json").exists():
        raise GenzooError(
            f"{out} already holds a run; pass --resume to continue it or choose another --out"
        )
    dataset = load_data(data_spec(args), args.download)
    say(f"data: {dataset.describe()}")
    if not args.resume:
        num_classes = None
        if args.conditional:
            if dataset.num_classes is None:
                raise GenzooError(f"{dataset.name} has no labels; drop --conditional")
            num_classes = dataset.num_classes
        import torch

        torch.manual_seed(config.seed)  # the initial weights follow --seed too
        model = create_model(
            args.model,
            shape=dataset.shape,
            levels=dataset.levels,
            num_classes=num_classes,
            **hparams,
        )
    save_data_spec(out, data_spec(args))
    n_params = sum(p.numel() for p in model.parameters())
    say(f"model: {args.model} ({n_params:,} parameters) -> {out}")
    result = train(model, dataset, config, out, resume=args.resume)
    if result.global_rank != 0:  # other ranks of a distributed run stop here
        return 0
    print(
        f"trained {result.steps} steps ({result.epochs:.1f} epochs) in "
        f"{result.train_seconds:.0f} s of training "
        f"({result.images_per_second:.0f} images/s, all devices); stopped: {result.stop_reason}",
        file=sys.stderr,
    )
    if result.best_eval is not None:
        best = result.best_eval
        shown = f", {best['bits_per_dim']:.4f} bits/dim" if "bits_per_dim" in best else ""
        print(
            f"kept the weights of step {int(best['step'])}: lowest validation loss "
            f"{best['loss']:.4f}{shown} on {config.validation} held-out training images",
            file=sys.stderr,
        )
    metrics = evaluate_run(
        model, dataset, out, seed=config.seed, num_samples=args.num_samples, **bound_options(args)
    )
    print_metrics(metrics)
    return 0


def print_metrics(metrics: dict) -> None:
    test = metrics.get("test")
    if test and "bound" not in metrics:
        kind = "" if test["density"] == "exact" else f" ({test['density']})"
        print(
            f"test NLL{kind}: {test['nll_nats']:.2f} nats/image, "
            f"{test['bits_per_dim']:.4f} bits/dim "
            f"(uniform: {metrics['uniform_bits_per_dim']:.2f}) on {test['num_images']} images"
        )
    bound = metrics.get("bound")
    if bound:
        elbo, iwae, paired = bound["elbo"], bound["iwae"], bound["elbo_on_iwae_images"]
        print(
            f"test ELBO: {-elbo['nll_nats']:.2f} nats/image = {elbo['bits_per_dim']:.4f} bits/dim "
            f"(reconstruction {bound['reconstruction_nats']:.2f}, KL {bound['kl_nats']:.2f} "
            f"nats) on {elbo['num_images']} images"
        )
        print(
            f"test IWAE bound (k={bound['k']}): {iwae['bits_per_dim']:.4f} bits/dim on the first "
            f"{iwae['num_images']} images (ELBO there: {paired['bits_per_dim']:.4f})"
        )
    if "test_accuracy" in metrics:
        print(
            f"test accuracy (generative classifier, Bayes' rule): {metrics['test_accuracy']:.4f} "
            f"on {metrics['num_test_images']} images"
        )
    for key in ("samples_png", "completion_png", "reconstruction_png"):
        if key in metrics:
            print(f"wrote {metrics[key]}")
