"""What a model can do, declared by the model and read through one place.

Every model class declares its abilities as class attributes (a family's base class declares
the family's, a model file only what differs); :func:`capabilities` gathers them, with what the
instance adds (its labels, its condition), into one frozen :class:`Capabilities`. The training
engine, the evaluator and the command line read this object — never ``isinstance`` on a family
or ``hasattr`` on a method — so a new family plugs in by declaring, not by editing them.

The declarations (class attributes of :class:`~genzoo.models.base.GenerativeModel`):

=====================  ===========================================================================
``density``            what ``log_prob`` is: ``"exact"``, a lower ``"bound"``, an ``"estimate"``
                       or ``"none"``
``bound_estimator``    ``"iwae"`` when the bound is an importance-weighted bound with an ELBO
                       (``elbo``, ``iwae_bound``, :func:`~genzoo.evaluation.bounds.evaluate_bound`)
``procedure``          the training procedure :mod:`genzoo.training` runs (``"likelihood"``:
                       gradient steps on ``loss``; ``"adversarial"``: the two-player game;
                       ``"fit"``: the model's own ``fit``, e.g. EM)
``sampling_methods``   how ``sample`` can draw (``"cached"``, ``"naive"``, ``"ancestral"``), the
                       default first; ``sample(method="auto")`` takes the default
``completion``         how ``sample(known=, mask=)`` completes: ``"exact-prefix"`` (exact when the
                       given part precedes the rest), ``"exact-conditional"``, ``"pseudo-gibbs"``,
                       ``"gibbs"``, ``"latent-optimisation"``, ``"encode-decode"`` (a clamped
                       reconstruction heuristic), or ``None``
``latent``             ``"encoder"`` (``encode``/``decode``/``interpolate``), ``"generator"``
                       (``latent_walk`` between random latents), or ``None``
``has_features``       ``features(x)`` gives a representation
``reconstructs``       ``reconstruct(x)`` exists
``gaussian_latent``    ``decoder_mean(z)`` of one latent vector ``z ~ N(0, I)`` (AIS applies)
``classifies``         ``predict``/``predict_proba`` by Bayes' rule when class-conditional
``image_conditional``  takes a conditioning image ``c`` (``condition_shape``/``condition_levels``)
=====================  ===========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DENSITIES = ("exact", "bound", "estimate", "none")
TRAINING = ("likelihood", "adversarial", "fit")
COMPLETIONS = (
    "exact-prefix",
    "exact-conditional",
    "pseudo-gibbs",
    "gibbs",
    "latent-optimisation",
    "encode-decode",
)
LATENTS = ("encoder", "generator")


@dataclass(frozen=True)
class Capabilities:
    """What one model (instance) can do; see the module docstring for each field."""

    density: str
    bound_estimator: str | None
    per_dim: bool
    training: str
    sampling_methods: tuple[str, ...]
    completion: str | None
    latent: str | None
    features: bool
    reconstruction: bool
    gaussian_latent: bool
    classifier: bool
    class_conditional: bool
    image_conditional: bool

    @property
    def has_density(self) -> bool:
        """``log_prob`` gives a number (exact, bound or estimate)."""
        return self.density != "none"

    @property
    def cached_sampling(self) -> bool:
        """An incremental sampler exists (``sample(method="cached")``)."""
        return "cached" in self.sampling_methods

    def describe(self) -> str:
        """One line for people: what this model offers."""
        parts = [f"density {self.density}", f"trained by {self.training}"]
        if self.completion:
            parts.append(f"completion {self.completion}")
        if self.latent:
            parts.append(f"latent {self.latent}")
        for flag, text in (
            (self.features, "features"),
            (self.reconstruction, "reconstruction"),
            (self.classifier, "classifier"),
            (self.cached_sampling, "cached sampling"),
            (self.image_conditional, "image condition"),
        ):
            if flag:
                parts.append(text)
        return ", ".join(parts)


def check_declarations(cls: type) -> None:
    """Raise ``TypeError`` when a model class declares an unknown value (at registration)."""
    rules: dict[str, tuple[Any, ...]] = {
        "density": DENSITIES,
        "procedure": TRAINING,
        "completion": (None, *COMPLETIONS),
        "latent": (None, *LATENTS),
        "bound_estimator": (None, "iwae"),
    }
    for name, allowed in rules.items():
        value = getattr(cls, name)
        if value not in allowed:
            raise TypeError(f"{cls.__name__}.{name} = {value!r}; must be one of {allowed}")
    methods = cls.sampling_methods
    if not methods or any(m not in ("cached", "naive", "ancestral") for m in methods):
        raise TypeError(f"{cls.__name__}.sampling_methods = {methods!r} is not valid")


def capabilities(model: Any) -> Capabilities:
    """The :class:`Capabilities` of a model instance (or of a model class, with no labels)."""
    cls = model if isinstance(model, type) else type(model)
    num_classes = None if isinstance(model, type) else model.num_classes
    condition = None if isinstance(model, type) else model.condition_shape
    return Capabilities(
        density=cls.density,
        bound_estimator=cls.bound_estimator,
        per_dim=cls.density == "exact" and cls.per_dim_log_prob,
        training=cls.procedure,
        sampling_methods=tuple(cls.sampling_methods),
        completion=cls.completion,
        latent=cls.latent,
        features=cls.has_features,
        reconstruction=cls.reconstructs,
        gaussian_latent=cls.gaussian_latent,
        classifier=cls.classifies and num_classes is not None,
        class_conditional=num_classes is not None,
        image_conditional=cls.image_conditional
        and (isinstance(model, type) or condition is not None),
    )
