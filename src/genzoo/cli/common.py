"""Helpers shared by the sub-commands: flags generated from dataclasses and signatures, run dirs."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genzoo.errors import GenzooError

DATA_SPEC_NAME = "data.json"


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parser_for(annotation: Any) -> tuple[Callable[[str], Any] | None, bool]:
    """(string -> value converter, is_bool) for a simple annotation; Optional allowed."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            inner, is_bool = _parser_for(args[0])
            if inner is None or is_bool:
                return inner, is_bool

            def optional(text: str) -> Any:
                return None if text.lower() == "none" else inner(text)

            return optional, False
        return None, False
    if annotation is bool:
        return None, True
    if annotation in (int, float, str):
        return annotation, False
    return None, False


def add_typed_arguments(
    parser: argparse.ArgumentParser,
    params: dict[str, tuple[Any, Any, str, tuple | None]],
) -> None:
    """Add ``--name`` for each ``name -> (annotation, default, help, choices)``.

    Defaults stay unset:

    options not given on the command line are absent from the namespace, so the library's own
    defaults apply (they are written once, in the dataclass or constructor).
    """
    for name, (annotation, default, help_text, choices) in params.items():
        convert, is_bool = _parser_for(annotation)
        text = f"{help_text} (default: {default})".strip().replace("%", "%%")
        if is_bool:
            parser.add_argument(
                flag(name),
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=text,
            )
        elif convert is not None:
            parser.add_argument(
                flag(name),
                dest=name,
                type=convert,
                choices=choices,
                default=argparse.SUPPRESS,
                help=text,
            )


def dataclass_params(cls: type) -> dict[str, tuple[Any, Any, str]]:
    hints = typing.get_type_hints(cls)
    return {
        f.name: (hints[f.name], f.default, f.metadata.get("help", ""), f.metadata.get("choices"))
        for f in dataclasses.fields(cls)
    }


def docstring_args(doc: str | None) -> dict[str, str]:
    """``name -> description`` from the ``Args:`` section of a Google-style docstring."""
    out: dict[str, str] = {}
    lines = inspect.cleandoc(doc or "").splitlines()
    if "Args:" not in lines:
        return out
    current = None
    for line in lines[lines.index("Args:") + 1 :]:
        if line and not line.startswith(" "):
            break
        text = line.strip()
        head, sep, rest = text.partition(": ")
        if sep and line.startswith("    ") and not line.startswith("     ") and " " not in head:
            current = head
            out[current] = rest
        elif current and text:
            out[current] += " " + text
    return out


def signature_params(params: dict[str, inspect.Parameter], cls: type) -> dict[str, tuple]:
    hints: dict[str, Any] = {}
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):  # a subclass's hints and docs win over its parents'
        if "__init__" in klass.__dict__:
            hints.update(typing.get_type_hints(klass.__init__))
            docs.update(docstring_args(klass.__doc__))
    return {
        name: (hints.get(name, str), p.default, docs.get(name, "model hyper-parameter"), None)
        for name, p in params.items()
    }


def picked(args: argparse.Namespace, names: typing.Iterable[str]) -> dict[str, Any]:
    """The subset of ``args`` the user actually gave among ``names``."""
    return {n: getattr(args, n) for n in names if hasattr(args, n)}


def add_data_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--data",
        required=required,
        default=None,
        help="dataset: digits, fashion-mnist, mnist, folder:PATH, npz:PATH (`genzoo datasets`)",
    )
    parser.add_argument("--levels", type=int, default=None, help="re-quantise to this many levels")
    parser.add_argument("--size", type=int, default=None, help="resize images to SIZE x SIZE")
    parser.add_argument("--data-root", default=None, help="directory to look for / download data")
    parser.add_argument(
        "--no-download", dest="download", action="store_false", help="never download data"
    )


def data_spec(args: argparse.Namespace) -> dict[str, Any]:
    return {"name": args.data, "levels": args.levels, "size": args.size, "root": args.data_root}


def load_data(spec: dict[str, Any], download: bool = True):
    from genzoo.data import load_dataset

    return load_dataset(
        spec["name"],
        levels=spec.get("levels"),
        size=spec.get("size"),
        root=spec.get("root"),
        download=download,
    )


def save_data_spec(out: Path, spec: dict[str, Any]) -> None:
    from genzoo.evaluation.run_evaluation import write_json

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / DATA_SPEC_NAME, spec)  # atomic: every rank of a ddp run writes the same


def run_data(run_dir: Path, args: argparse.Namespace):
    """The dataset a run was trained on (``data.json``), unless ``--data`` overrides it."""
    if getattr(args, "data", None):
        return load_data(data_spec(args), args.download)
    spec_file = run_dir / DATA_SPEC_NAME
    if not spec_file.is_file():
        raise GenzooError(f"{run_dir} has no {DATA_SPEC_NAME}; pass --data to name the dataset")
    return load_data(json.loads(spec_file.read_text()), getattr(args, "download", True))


def load_run_model(run_dir: str):
    from genzoo.models import load_model

    return load_model(Path(run_dir))


def add_seed_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def add_bound_arguments(parser: argparse.ArgumentParser) -> None:
    """``--iwae-k`` and ``--iwae-images``: the IWAE bound of latent-variable models.

    (Not ``--k``: that is the training-sample hyper-parameter of ``iwae`` and others.)
    """
    from genzoo.evaluation.run_evaluation import DEFAULT_IWAE_IMAGES
    from genzoo.models.vae.base import DEFAULT_K

    parser.add_argument(
        "--iwae-k",
        type=int,
        default=DEFAULT_K,
        help=f"importance samples of latent-variable models' IWAE bound (default: {DEFAULT_K})",
    )
    parser.add_argument(
        "--iwae-images",
        type=int,
        default=DEFAULT_IWAE_IMAGES,
        help="first N test images for the IWAE bound, 0 for all; it costs k decoder passes per "
        f"image (default: {DEFAULT_IWAE_IMAGES})",
    )


def bound_options(args: argparse.Namespace) -> dict[str, Any]:
    """``evaluate_run`` keywords from :func:`add_bound_arguments` flags, validated."""
    if args.iwae_k < 1:
        raise GenzooError(f"--iwae-k must be positive, got {args.iwae_k}")
    if args.iwae_images < 0:
        raise GenzooError(f"--iwae-images must be >= 0 (0: all), got {args.iwae_images}")
    return {"k": args.iwae_k, "iwae_images": args.iwae_images or None}


def add_quality_arguments(parser: argparse.ArgumentParser, *, default: str) -> None:
    """Flags of the sample-quality evaluation (:func:`genzoo.evaluation.evaluate_sample_quality`).

    ``default`` says, for ``--help``, when it runs without ``--[no-]sample-quality``.
    """
    from genzoo.evaluation.features import FEATURE_NETWORKS
    from genzoo.evaluation.sample_quality import DEFAULT_REFERENCE

    group = parser.add_argument_group(
        "sample quality (FID, KID, precision/recall, density/coverage)"
    )
    group.add_argument(
        "--sample-quality",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"compare samples with the test images on a feature network, next to the floor of "
        f"real training images (default: {default})",
    )
    group.add_argument(
        "--quality-samples",
        type=int,
        metavar="N",
        default=None,
        help="generated images (default: as many as reference images). Autoregressive 28x28 "
        "models draw ~15-60 images/s on one thread: 10,000 take 3-12 minutes",
    )
    group.add_argument(
        "--quality-reference",
        type=int,
        metavar="N",
        default=None,
        help="most test images in the reference set, a fixed seeded subset when the test set is "
        f"larger (default: {DEFAULT_REFERENCE})",
    )
    group.add_argument(
        "--feature-network",
        choices=FEATURE_NETWORKS,
        default=None,
        help="classifier: a small CNN trained on the dataset's labels, cached under "
        "~/.cache/genzoo ($GENZOO_CACHE); inception: InceptionV3 from a local weights file "
        "(default: classifier)",
    )
    group.add_argument(
        "--inception-weights",
        default=None,
        metavar="PATH",
        help="InceptionV3 weights file of torch-fidelity (default: <cache>/inception/...)",
    )


def quality_options(args: argparse.Namespace) -> dict[str, Any]:
    """``evaluate_run`` keywords from :func:`add_quality_arguments` flags, validated.

    Any of the count or feature-network flags asks for sample quality (unless
    ``--no-sample-quality`` says otherwise).
    """
    from genzoo.evaluation.sample_quality import DEFAULT_REFERENCE

    if args.quality_samples is not None and args.quality_samples < 2:
        raise GenzooError(f"--quality-samples must be at least 2, got {args.quality_samples}")
    if args.quality_reference is not None and args.quality_reference < 2:
        raise GenzooError(f"--quality-reference must be at least 2, got {args.quality_reference}")
    if args.inception_weights is not None and args.feature_network != "inception":
        raise GenzooError("--inception-weights needs --feature-network inception")
    given = (args.quality_samples, args.quality_reference, args.feature_network)
    asked = args.sample_quality
    if asked is None and any(value is not None for value in given):
        asked = True
    feature_options = {}
    if args.inception_weights is not None:
        feature_options["weights_path"] = args.inception_weights
    quality = {
        "num_samples": args.quality_samples,
        "num_reference": args.quality_reference or DEFAULT_REFERENCE,
        "features": args.feature_network or "classifier",
        "feature_options": feature_options,
    }
    return {"sample_quality": asked, "quality": quality}


def add_estimator_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the continuous-space likelihood estimates (Parzen windows, AIS)."""
    from genzoo.evaluation import continuous as c

    group = parser.add_argument_group(
        "likelihood estimates for models without a density (nats/image on [0, 1]^D, not "
        "comparable with bits/dim)"
    )
    group.add_argument(
        "--parzen",
        action="store_true",
        help="Parzen-window estimate (Goodfellow et al. 2014); bandwidth chosen on held-out "
        "training images; known to be unreliable (Theis et al. 2016)",
    )
    group.add_argument(
        "--ais",
        action="store_true",
        help="annealed importance sampling of the decoder with a Gaussian observation model "
        "(Wu et al. 2017): GANs and VAEs with one N(0, I) latent; a stochastic lower bound",
    )
    counts = {
        "--parzen-samples": (c.PARZEN_SAMPLES, "model samples of the Parzen window"),
        "--ais-images": (c.AIS_IMAGES, "first test images scored by AIS"),
        "--ais-steps": (c.AIS_STEPS, "annealing steps; raise until the estimate stops rising"),
        "--ais-chains": (c.AIS_CHAINS, "chains per image"),
    }
    for name, (default, text) in counts.items():
        group.add_argument(
            name, type=int, default=default, metavar="N", help=f"{text} (default: {default})"
        )
    group.add_argument(
        "--ais-sigma",
        metavar="SIGMA[,SIGMA...]",
        default=",".join(f"{s:g}" for s in c.AIS_SIGMAS),
        help="observation standard deviation on [0, 1], or a comma list to choose from on "
        f"held-out training images (default: {','.join(f'{s:g}' for s in c.AIS_SIGMAS)})",
    )


def estimator_options(args: argparse.Namespace) -> dict[str, Any]:
    """``evaluate_run`` keywords ``parzen`` / ``ais`` from :func:`add_estimator_arguments`."""
    out: dict[str, Any] = {"parzen": None, "ais": None}
    if args.parzen:
        if args.parzen_samples < 1:
            raise GenzooError(f"--parzen-samples must be positive, got {args.parzen_samples}")
        out["parzen"] = {"num_samples": args.parzen_samples}
    if args.ais:
        for name in ("ais_images", "ais_steps", "ais_chains"):
            if getattr(args, name) < 1:
                raise GenzooError(f"{flag(name)} must be positive, got {getattr(args, name)}")
        try:
            sigmas = [float(s) for s in args.ais_sigma.split(",") if s.strip()]
        except ValueError:
            sigmas = []
        if not sigmas or not all(0 < s < float("inf") for s in sigmas):
            raise GenzooError(
                f"--ais-sigma must be a positive number or a comma list of them, got "
                f"{args.ais_sigma!r}"
            )
        out["ais"] = {
            "num_images": args.ais_images,
            "steps": args.ais_steps,
            "chains": args.ais_chains,
            "sigma": sigmas[0] if len(sigmas) == 1 else sigmas,
        }
    return out


def prepare_sample_quality(
    options: dict[str, Any], default: bool, dataset: Any, say: Callable[[str], None]
) -> None:
    """Decide whether sample quality runs and load its feature network now, before slow work.

    ``options`` are :func:`quality_options`' (updated in place): ``sample_quality`` None (no
    flag) becomes ``default``; the network is loaded (trained and cached on first use, which
    ``say`` reports) so that a missing label set or weights file fails before training or
    sampling. When sample quality was not asked for explicitly, such a failure only skips it.
    """
    from genzoo.errors import ConfigError
    from genzoo.evaluation.features import load_features

    asked = options["sample_quality"]
    enabled = default if asked is None else asked
    quality = options["quality"]
    feature_options = quality.pop("feature_options", {})
    if enabled:
        try:
            network = load_features(quality["features"], dataset, **feature_options)
        except ConfigError as exc:
            if asked:
                raise
            say(f"sample quality skipped: {exc}")
            enabled = False
        else:
            quality["features"] = network
            info = network.info
            if not info.get("cached", True):
                accuracy = info.get("test_accuracy")
                shown = "no test labels" if accuracy is None else f"test accuracy {accuracy:.3f}"
                say(
                    f"trained the feature network {network.name} in {info['train_seconds']:.0f} s "
                    f"({shown}), cached in {info['path']}"
                )
    options["sample_quality"] = enabled
