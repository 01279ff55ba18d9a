"""``genzoo train MODEL --data NAME ...``: train, then evaluate and write the run's outputs."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from collections.abc import Sequence

from genzoo.cli.common import (
    add_data_arguments,
    add_eval_arguments,
    add_typed_arguments,
    data_spec,
    dataclass_params,
    eval_config,
    is_first_process,
    load_data,
    picked,
    say,
    say_plan,
    signature_params,
)
from genzoo.cli.printing import print_metrics
from genzoo.core.run import RunFolder
from genzoo.errors import GenzooError
from genzoo.evaluation.likelihood import check_matches
from genzoo.models.registry import get_model_class
from genzoo.training.checkpoint import hold_run
from genzoo.training.hardware import check_cluster

#: ``--data`` when none is given (the embedded dataset: no download)
DEFAULT_DATA = "digits"

#: evaluation options that follow the training recipe's (one seed, one batch size per run)
SHARED_WITH_TRAINING = ("seed", "batch_size")


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
    add_data_arguments(p, required=False, default=DEFAULT_DATA)
    p.add_argument("--out", default=None, help="run directory (default: runs/MODEL-DATA)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--conditional", action="store_true", help="class-conditional on the labels")
    add_typed_arguments(p.add_argument_group("training"), dataclass_params(TrainConfig))
    name = model_name(argv)
    params = {} if name is None else hyperparameters(name)
    # a model's own hyper-parameter wins a name it shares with an evaluation option (the RBM's
    # ais_steps is its log Z estimator's; the evaluation's --ais-steps is the decoder AIS of
    # GANs and VAEs, which does not apply to it)
    hidden = (*SHARED_WITH_TRAINING, *params)
    add_eval_arguments(p, exclude=hidden)
    if name is not None:
        group = p.add_argument_group(f"{name} hyper-parameters")
        add_typed_arguments(group, signature_params(params, get_model_class(name)))
        p.set_defaults(hparam_names=tuple(params))
    p.set_defaults(run=run, eval_hidden=hidden)


def model_name(argv: Sequence[str]) -> str | None:
    """The MODEL of ``train MODEL ...`` (validated), or None when absent."""
    args = list(argv)
    if not args or args[0] != "train":
        return None
    name = next((a for a in args[1:] if not a.startswith("-")), None)
    if name is not None:
        get_model_class(name)  # raises a clear error listing the models
    return name


def run(args: argparse.Namespace) -> int:
    from genzoo.training import TrainConfig

    args.data = args.data or DEFAULT_DATA
    cls = get_model_class(args.model)
    hparams = picked(args, getattr(args, "hparam_names", ()))
    flags = picked(args, dataclass_params(TrainConfig))
    if not args.resume:  # a resumed run keeps its saved hyper-parameters
        hparams = {**{k: v for k, v in cls.recommended.items() if k not in hparams}, **hparams}
    config = TrainConfig.recommended(args.model, **flags)
    config.validate()  # fail before any data is loaded or file written
    check_cluster(config)  # --num-nodes without torchrun or srun
    args.train_flags = set(flags)
    evaluation = eval_config(args, exclude=args.eval_hidden, seed=config.seed)
    spec = data_spec(args)
    data_name = args.data.split(":")[-1].rstrip("/").split("/")[-1] or "data"
    run_folder = RunFolder(args.out or f"runs/{args.model}-{data_name}")
    # the lock first: a second process refuses before it reads or writes anything in the folder
    lock = hold_run(run_folder) if is_first_process() else contextlib.nullcontext()
    created = [p for p in (run_folder.path, *run_folder.path.parents) if not p.exists()]
    try:
        with lock:
            return train_into(run_folder, args, hparams, config, evaluation, spec)
    except BaseException:
        for folder in created:  # a refusal leaves no empty folders behind (rmdir: only empty)
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def train_into(run_folder: RunFolder, args, hparams: dict, config, evaluation, spec) -> int:
    """Train (or resume) into ``run_folder``, then evaluate; the folder's lock is held."""
    from genzoo.evaluation import evaluate_run
    from genzoo.evaluation.config import load_quality_network
    from genzoo.evaluation.run_evaluation import held_out_split
    from genzoo.training import load_checkpoint, train

    out = run_folder.path
    if args.resume:
        model = resumed_model(run_folder, args.model, hparams)
        if model.capabilities.training != "fit":  # a fit refuses --resume in train()
            step = load_checkpoint(run_folder.checkpoint, mmap=True)["step"]
            say(f"resuming {out} from step {step} ({run_folder.CHECKPOINT})")
    elif run_folder.holds_run():
        raise GenzooError(
            f"{out} already holds a run; pass --resume to continue it or choose another --out"
        )
    dataset = load_data(spec, args.download)
    if args.resume:
        check_matches(model, dataset, f"the run in {out}")
    else:
        model = new_model(args, dataset, config.seed, hparams)
    config = with_validation_default(config, args.train_flags, model, dataset)
    say(f"data: {dataset.describe()}")  # after the model: a refusal stays one line
    say_recipe(args, config, hparams)
    features = None
    if is_first_process():  # the feature network now, so that a problem with it shows first
        no_density = not model.capabilities.has_density  # then sample quality is on by default
        features = load_quality_network(evaluation, no_density, dataset, say)
        evaluation.sample_quality = features is not None
        run_folder.write_data_spec(spec)
    say(f"model: {args.model} ({describe_size(model)}) -> {out}")
    result = train(model, dataset, config, out, resume=args.resume)
    if result.global_rank != 0:  # other ranks of a distributed run stop here
        return 0
    say(describe_result(result))
    if result.best_eval is not None:
        best = result.best_eval
        shown = f", {best['bits_per_dim']:.4f} bits/dim" if "bits_per_dim" in best else ""
        unit = "iteration" if result.procedure == "fit" else "step"
        say(
            f"kept the weights of {unit} {int(best['step'])}: lowest validation loss "
            f"{best['loss']:.4f}{shown} on {config.validation} held-out training images"
        )
    held = held_out_split(run_folder, dataset) if evaluation.parzen or evaluation.ais else None
    say_plan(model, dataset, evaluation, run_folder)
    metrics = evaluate_run(model, dataset, out, evaluation, features=features, held_out=held)
    print_metrics(metrics)
    return 0


def with_validation_default(config, given: set[str], model, dataset):
    """The recipe with a validation split and keep-best when the budget is time or epochs and
    the user did not choose: a time budget on small data over-fits, and the held-out part of
    the training set (never the test set) picks the weights. A step budget, or an EM fit, is
    left as given."""
    kind, _ = config.budget()
    if kind == "steps" or model.capabilities.training == "fit" or "validation" in given:
        return config
    n = int(dataset.train.shape[0])
    count = min(max(n // 10, 200), 5000)
    if count >= n // 2:
        return config  # too little data to hold any out
    changes = {"validation": count}
    if "keep_best" not in given:
        changes["keep_best"] = True
    if "eval_every" not in given:
        changes["eval_every"] = min(config.eval_every, 100)
    return dataclasses.replace(config, **changes).validate()


def say_recipe(args, config, hparams: dict) -> None:
    """One line: the recommended settings applied because no flag chose them."""
    from genzoo.training import TrainConfig

    defaults = TrainConfig()
    cls = get_model_class(args.model)
    chosen = {k: getattr(config, k) for k in ("lr", "ema_decay", "adam_beta1", "adam_beta2",
              "validation", "keep_best", "eval_every")}  # fmt: skip
    applied = {
        k: v for k, v in chosen.items() if k not in args.train_flags and v != getattr(defaults, k)
    }
    if not args.resume:
        applied |= {k: hparams[k] for k in cls.recommended if k in hparams}
    if applied:
        shown = " ".join(
            f"--{k.replace('_', '-')}" + ("" if v is True else f" {v:g}" if isinstance(v, float)
                                          else f" {v}")
            for k, v in applied.items()
        )  # fmt: skip
        say(f"{args.model}'s recommended recipe (override with the flags): {shown}")


def describe_size(model) -> str:
    """``"2,585 parameters"``; a fitted model counts its fitted tensors (buffers, no gradients)."""
    if model.capabilities.training == "fit":
        fitted = sum(t.numel() for t in model.state_dict().values())
        return f"{fitted:,} parameters, fitted by EM"
    return f"{sum(p.numel() for p in model.parameters()):,} parameters"


def describe_result(result) -> str:
    """One line on how training went (an EM fit counts iterations, not steps and images/s)."""
    seconds = (
        f"{result.train_seconds:.1f} s"
        if result.train_seconds < 10
        else (f"{result.train_seconds:.0f} s")
    )
    if result.procedure == "fit":
        return (
            f"fitted by EM in {result.steps} iterations over the training images ({seconds}); "
            f"stopped: {result.stop_reason}"
        )
    resumed = "" if result.resumed_from is None else f"from step {result.resumed_from} "
    return (
        f"trained {resumed}to step {result.steps} ({result.epochs:.1f} epochs) in {seconds} of "
        f"training ({result.images_per_second:.0f} images/s, all devices); stopped: "
        f"{result.stop_reason}"
    )


def new_model(args: argparse.Namespace, dataset, seed: int, hparams: dict):
    """A freshly initialised ``args.model`` for ``dataset`` (its labels with ``--conditional``,
    its conditions with ``--task``); the initial weights follow ``--seed``."""
    import torch

    from genzoo.models import create_model

    num_classes = None
    if args.conditional:
        if dataset.num_classes is None:
            raise GenzooError(f"{dataset.name} has no labels; drop --conditional")
        num_classes = dataset.num_classes
    torch.manual_seed(seed)
    return create_model(
        args.model,
        shape=dataset.shape,
        levels=dataset.levels,
        num_classes=num_classes,
        condition_shape=dataset.condition_shape,
        condition_levels=dataset.condition_levels,
        **hparams,
    )


def resumed_model(run: RunFolder, name: str, hparams: dict):
    """The model saved in ``run``, to continue training it.

    Hyper-parameter flags repeated with their saved values are accepted (the natural move after
    an interruption is the same command with ``--resume``); a *different* value is refused,
    naming it and both values.
    """
    from genzoo.models import load_model

    model = load_model(run.path).float()
    if model.name != name:
        raise GenzooError(f"{run.path} holds a {model.name} run, not {name}")
    saved = model.config
    changed = {k: v for k, v in hparams.items() if k in saved and saved[k] != v}
    if changed:
        shown = ", ".join(
            f"--{k.replace('_', '-')} {v!r} (the run has {saved[k]!r})"
            for k, v in sorted(changed.items())
        )
        raise GenzooError(
            f"--resume continues a run with its saved hyper-parameters; {shown}: drop the flag "
            "or train a new run with another --out"
        )
    return model
