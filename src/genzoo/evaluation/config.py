"""The evaluation recipe, :class:`EvalConfig`: what ``genzoo eval`` (and the end of ``genzoo
train``) computes, with one validation table.

Like :class:`~genzoo.training.TrainConfig`, every field has a default and ``metadata={"help":
...}``, and the command line generates one ``--flag`` per field from it (``iwae_k`` ->
``--iwae-k``), so a flag is typed once, here. This module deliberately does *not* use
``from __future__ import annotations``: the command line reads the real field types.

Validation goes through the one validator, :func:`genzoo.core.params.validate`, against
:data:`EvalConfig.params`; :meth:`EvalConfig.validate` adds the rules that relate two fields.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from genzoo.apps.completion import COMPLETION_MASKS
from genzoo.core import params as P
from genzoo.errors import ConfigError
from genzoo.evaluation.continuous import (
    AIS_CHAINS,
    AIS_IMAGES,
    AIS_SIGMAS,
    AIS_STEPS,
    PARZEN_SAMPLES,
)
from genzoo.evaluation.features import FEATURE_NETWORKS
from genzoo.evaluation.sample_quality import DEFAULT_REFERENCE
from genzoo.models.vae.base import DEFAULT_K

#: test images of the IWAE bound in a run's final evaluation (k decoder passes per image)
DEFAULT_IWAE_IMAGES = 256

#: fields that ask for sample quality when given (unless ``sample_quality=False`` says otherwise)
QUALITY_FIELDS = ("quality_samples", "quality_reference", "feature_network", "inception_weights")


def _help(text: str, group: str, choices: tuple[str, ...] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"help": text, "group": group}
    if choices is not None:
        out["choices"] = choices
    return out


_FIGURES = "figures"
_CONDITIONAL = "image-conditional models (super-resolution, colorization)"
_BOUND = "likelihood bound of latent-variable models"
_QUALITY = "sample quality (FID, KID, precision/recall, density/coverage)"
_ESTIMATES = (
    "likelihood estimates for models without a density (nats/image on [0, 1]^D, not comparable "
    "with bits/dim)"
)


@dataclass
class EvalConfig:
    """What a run's evaluation computes; every field is a ``genzoo eval`` flag."""

    seed: int = field(default=0, metadata=_help("seed of sampling and of every subset", _FIGURES))
    num_samples: int = field(default=64, metadata=_help("samples in samples.png", _FIGURES))
    num_completions: int = field(
        default=8, metadata=_help("test images completed in completion.png", _FIGURES)
    )
    mask: str = field(
        default="top-half",
        metadata=_help("what completion.png keeps of each test image", _FIGURES, COMPLETION_MASKS),
    )
    batch_size: int = field(default=256, metadata=_help("evaluation batch size", _FIGURES))
    iwae_k: int = field(
        default=DEFAULT_K,
        metadata=_help("importance samples of the IWAE bound (not --k: a training option)", _BOUND),
    )
    iwae_images: int = field(
        default=DEFAULT_IWAE_IMAGES,
        metadata=_help(
            "first N test images of the IWAE bound, 0 for all; it costs k decoder passes per image",
            _BOUND,
        ),
    )
    sample_quality: bool | None = field(
        default=None,
        metadata=_help(
            "compare samples with the test images on a feature network, next to the floor of "
            "real training images (default: on for models without a density)",
            _QUALITY,
        ),
    )
    quality_samples: int | None = field(
        default=None,
        metadata=_help(
            "generated images (default: as many as reference images); autoregressive models "
            "sample slowly (one network pass per sub-pixel): fewer samples finish sooner",
            _QUALITY,
        ),
    )
    quality_reference: int = field(
        default=DEFAULT_REFERENCE,
        metadata=_help(
            "most test images in the reference set (a fixed seeded subset of a larger test set)",
            _QUALITY,
        ),
    )
    feature_network: str = field(
        default="classifier",
        metadata=_help(
            "classifier: a small CNN trained on the dataset's labels, cached under "
            "~/.cache/genzoo ($GENZOO_CACHE); inception: InceptionV3 from a local weights file",
            _QUALITY,
            FEATURE_NETWORKS,
        ),
    )
    inception_weights: str | None = field(
        default=None,
        metadata=_help(
            "InceptionV3 weights file of torch-fidelity (default: <cache>/inception/...)",
            _QUALITY,
        ),
    )
    parzen: bool = field(
        default=False,
        metadata=_help(
            "Parzen-window estimate (Goodfellow et al. 2014), bandwidth chosen on held-out "
            "training images; known to be unreliable (Theis et al. 2016)",
            _ESTIMATES,
        ),
    )
    parzen_samples: int = field(
        default=PARZEN_SAMPLES, metadata=_help("model samples of the Parzen window", _ESTIMATES)
    )
    ais: bool = field(
        default=False,
        metadata=_help(
            "annealed importance sampling of the decoder with a Gaussian observation model (Wu "
            "et al. 2017): models with one N(0, I) latent; a stochastic lower bound",
            _ESTIMATES,
        ),
    )
    ais_images: int = field(
        default=AIS_IMAGES, metadata=_help("first test images scored by AIS", _ESTIMATES)
    )
    ais_steps: int = field(
        default=AIS_STEPS,
        metadata=_help("annealing steps; raise until the estimate stops rising", _ESTIMATES),
    )
    ais_chains: int = field(default=AIS_CHAINS, metadata=_help("chains per image", _ESTIMATES))
    ais_sigma: tuple[float, ...] = field(
        default=AIS_SIGMAS,
        metadata=_help(
            "observation standard deviation on [0, 1], or a comma list to choose from on "
            "held-out training images",
            _ESTIMATES,
        ),
    )

    conditional_images: int = field(
        default=256,
        metadata=_help(
            "first N test images whose answers are scored (PSNR/SSIM, consistency, diversity), "
            "0 for all",
            _CONDITIONAL,
        ),
    )
    conditional_samples: int = field(
        default=8,
        metadata=_help(
            "answers drawn per test condition (their mean, mode and spread)", _CONDITIONAL
        ),
    )

    #: the validation table (:mod:`genzoo.core.params`)
    params: ClassVar[dict[str, P.Constraint]] = {
        "seed": P.Int(min=0, max=2**63 - 1),
        "num_samples": P.Int(min=1),
        "num_completions": P.Int(min=1),
        "mask": P.OneOf(*COMPLETION_MASKS),
        "batch_size": P.Int(min=1),
        "iwae_k": P.Int(min=1),
        "iwae_images": P.Int(min=0),
        "sample_quality": P.Optional(P.Bool()),
        "quality_samples": P.Optional(P.Int(min=2)),
        "quality_reference": P.Int(min=2),
        "feature_network": P.OneOf(*FEATURE_NETWORKS),
        "inception_weights": P.Optional(P.Check(lambda v: isinstance(v, str), "a file path")),
        "parzen": P.Bool(),
        "parzen_samples": P.Int(min=1),
        "ais": P.Bool(),
        "ais_images": P.Int(min=1),
        "ais_steps": P.Int(min=1),
        "ais_chains": P.Int(min=1),
        "ais_sigma": P.Sequence(P.Float(min=0, min_open=True), min_length=1),
        "conditional_images": P.Int(min=0),
        "conditional_samples": P.Int(min=1),
    }

    @classmethod
    def from_options(cls, **given: Any) -> "EvalConfig":
        """The recipe from the options a user gave (the rest default), validated.

        Giving any sample-quality option (:data:`QUALITY_FIELDS`) asks for sample quality unless
        ``sample_quality=False`` is given too.
        """
        if given.get("sample_quality") is None and any(k in given for k in QUALITY_FIELDS):
            given["sample_quality"] = True
        unknown = sorted(set(given) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown evaluation option(s) {', '.join(unknown)}")
        return cls(**given).validate()

    def validate(self) -> "EvalConfig":
        """Raise :class:`~genzoo.errors.ConfigError` on the first invalid field; return self."""
        P.validate(self.params, dataclasses.asdict(self), flags=True)
        if self.inception_weights is not None and self.feature_network != "inception":
            raise ConfigError("--inception-weights needs --feature-network inception")
        return self

    def quality_enabled(self, has_density: bool) -> bool:
        """Whether sample quality runs: as asked, else only for a model without a density
        (whose only quality numbers these are)."""
        return (not has_density) if self.sample_quality is None else self.sample_quality

    def quality_options(self) -> dict[str, Any]:
        """Keywords of :func:`~genzoo.evaluation.evaluate_sample_quality` (without the
        feature network)."""
        return {
            "num_samples": self.quality_samples,
            "num_reference": self.quality_reference,
            "seed": self.seed,
            "batch_size": self.batch_size,
        }

    def feature_options(self) -> dict[str, Any]:
        """Keywords of :func:`~genzoo.evaluation.load_features` beyond the network's name."""
        return {} if self.inception_weights is None else {"weights_path": self.inception_weights}

    def conditional_options(self) -> dict[str, Any]:
        """Keywords of :func:`~genzoo.evaluation.conditional.evaluate_conditional`."""
        return {
            "num_images": self.conditional_images or None,
            "samples": self.conditional_samples,
            "seed": self.seed,
        }

    def parzen_options(self) -> dict[str, Any] | None:
        """Keywords of :func:`~genzoo.evaluation.evaluate_parzen`, or ``None`` when off."""
        return {"num_samples": self.parzen_samples, "seed": self.seed} if self.parzen else None

    def ais_options(self) -> dict[str, Any] | None:
        """Keywords of :func:`~genzoo.evaluation.evaluate_ais`, or ``None`` when off."""
        if not self.ais:
            return None
        sigmas = tuple(float(s) for s in self.ais_sigma)
        return {
            "num_images": self.ais_images,
            "steps": self.ais_steps,
            "chains": self.ais_chains,
            "sigma": sigmas[0] if len(sigmas) == 1 else sigmas,
            "seed": self.seed,
        }


def load_quality_network(
    config: EvalConfig, default: bool, dataset: Any, say: Callable[[str], None]
) -> Any:
    """The feature network of sample quality, loaded now (before slow work), or ``None`` when
    sample quality does not run.

    It runs when ``config.sample_quality`` says so, else when ``default`` does. The network is
    trained and cached on first use (``say`` reports it) so that a missing label set or weights
    file fails before training or sampling. When sample quality was not asked for explicitly,
    such a failure only skips it (``say`` says why).
    """
    from genzoo.evaluation.features import load_features

    if not (default if config.sample_quality is None else config.sample_quality):
        return None
    try:
        network = load_features(config.feature_network, dataset, **config.feature_options())
    except ConfigError as exc:
        if config.sample_quality:
            raise
        say(f"sample quality skipped: {exc}")
        return None
    info = network.info
    if not info.get("cached", True):
        accuracy = info.get("test_accuracy")
        shown = "no test labels" if accuracy is None else f"test accuracy {accuracy:.3f}"
        say(
            f"trained the feature network {network.name} in {info['train_seconds']:.0f} s "
            f"({shown}), cached in {info['path']}"
        )
    return network
