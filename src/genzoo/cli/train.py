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
    add_quality_arguments,
    add_typed_arguments,
    bound_options,
    data_spec,
    dataclass_params,
    load_data,
    picked,
    prepare_sample_quality,
    quality_options,
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
    add_quality_arguments(p, default="on for models without a density (GANs), off otherwise")
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
    evaluation = {**bound_options(args), **quality_options(args)}
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
    if os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0":
        # the feature network now, so that a problem with it shows before training
        prepare_sample_quality(evaluation, model.density == "none", dataset, say)
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
        model, dataset, out, seed=config.seed, num_samples=args.num_samples, **evaluation
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
    print_estimates(metrics)
    for key in ("samples_png", "completion_png", "reconstruction_png"):
        if key in metrics:
            print(f"wrote {metrics[key]}")


def print_estimates(metrics: dict) -> None:
    """Sample quality (one line per metric group) and the continuous-space likelihood estimates."""
    quality = metrics.get("sample_quality")
    if quality:
        net, fake, floor = quality["feature_network"], quality["samples"], quality["floor"]
        accuracy = net.get("test_accuracy")
        shown = "" if accuracy is None else f", test accuracy {accuracy:.3f}"
        key = f" [{net['key']}]" if net.get("key") else ""
        print(
            f"sample quality: {fake['num_fake']} samples vs {fake['num_real']} test images, "
            f"features {net['name']}{key}{shown}; floor: {floor['num_fake']} training images "
            "vs the same test images"
        )
        print(f"  FID {fake['fid']:.3f} (floor {floor['fid']:.3f})")
        size = fake["kid_subset_size"]
        subsets = (
            "all images"  # every subset holds every image: one value
            if size >= max(fake["num_real"], fake["num_fake"])
            else f"{fake['kid_subsets']} subsets of {min(size, fake['num_real'], fake['num_fake'])}"
        )
        print(
            f"  KID {fake['kid']:.4f} ± {fake['kid_std']:.4f} (floor {floor['kid']:.4f} ± "
            f"{floor['kid_std']:.4f}; {subsets})"
        )
        print(
            f"  precision {fake['precision']:.3f}, recall {fake['recall']:.3f} (floor "
            f"{floor['precision']:.3f}, {floor['recall']:.3f}; k={fake['k_pr']})"
        )
        print(
            f"  density {fake['density']:.3f}, coverage {fake['coverage']:.3f} (floor "
            f"{floor['density']:.3f}, {floor['coverage']:.3f}; k={fake['k_dc']})"
        )
        if "label_agreement" in quality:
            floor_agree = quality.get("floor_label_agreement")
            tail = "" if floor_agree is None else f" (floor {floor_agree:.3f})"
            agree = quality["label_agreement"]
            print(f"  samples classified as their requested class: {agree:.3f}{tail}")
    parzen = metrics.get("parzen")
    if parzen:
        edge = ", at the edge of the grid" if parzen["sigma_at_grid_edge"] else ""
        print(
            f"Parzen-window log-density (unreliable: Theis et al. 2016): "
            f"{parzen['log_density_mean']:.2f} ± {parzen['log_density_sem']:.2f} nats/image on "
            f"{parzen['num_test']} test images, {parzen['num_samples']} samples, bandwidth "
            f"{parzen['sigma']:.3g}{edge} chosen on {parzen['num_validation']} training images; "
            "continuous density on [0, 1]^D, not comparable with bits/dim"
        )
    ais = metrics.get("ais")
    if ais:
        edge = ", at the edge of the grid" if ais["sigma_at_grid_edge"] else ""
        print(
            f"AIS log-likelihood (stochastic lower bound): {ais['log_likelihood_mean']:.2f} ± "
            f"{ais['log_likelihood_sem']:.2f} nats/image on the first {ais['num_images']} test "
            f"images, sigma {ais['sigma']:g}{edge}, {ais['steps']} steps x {ais['chains']} chains "
            f"(acceptance {ais['acceptance']:.2f}); Gaussian observation model on [0, 1]^D, "
            "not comparable with bits/dim"
        )
