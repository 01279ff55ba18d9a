"""The typed, versioned schema of a run's ``metrics.json``.

``genzoo train``/``genzoo eval`` write a :class:`RunMetrics`; ``genzoo compare``, the CLI's
printing, the benchmarks and the HTML report read one through
:meth:`genzoo.core.run.RunFolder.read_metrics` — by attribute, never by string key, so a renamed
field is a type error, not a silent ``KeyError`` three tools later.

Every likelihood says what it is (:attr:`Estimate.density`: ``"exact"``, a lower ``"bound"``, a
stochastic ``"estimate"``), its standard error and how many images it covers. Files written
before the schema was versioned (no ``schema_version``) are read as version 1: the same fields.
Keys this version does not know are kept in ``extras`` and written back unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from genzoo.errors import ModelError

#: version of the schema this genzoo writes
SCHEMA_VERSION = 2

T = TypeVar("T")


@dataclass
class Estimate:
    """A test-set negative log-likelihood: its mean, standard error and kind.

    Attributes:
        nll_nats: mean negative log-likelihood in nats per image.
        bits_per_dim: the same per sub-pixel in bits.
        num_images: images it was computed on.
        nll_nats_stderr, bits_per_dim_stderr: standard errors of the means (``None`` when one
            image or unknown).
        density: ``"exact"``, ``"bound"`` (an upper bound on the NLL) or ``"estimate"``.
        k: importance samples of an IWAE bound.
        checks: what was checked about the number (e.g. an AIS estimate against a certain
            bound), ``{"name": {"passed": bool, ...}}``.
    """

    nll_nats: float
    bits_per_dim: float
    num_images: int
    nll_nats_stderr: float | None = None
    bits_per_dim_stderr: float | None = None
    density: str | None = None
    k: int | None = None
    checks: dict[str, Any] | None = None

    @property
    def failed_checks(self) -> list[str]:
        """Names of the recorded checks that failed (``passed`` False), in recorded order."""
        checks = (self.checks or {}).items()
        return [k for k, c in checks if isinstance(c, dict) and not bool(c.get("passed", True))]

    @property
    def trusted(self) -> bool:
        """No recorded check failed: a failed one means the number is not a result."""
        return not self.failed_checks


@dataclass
class BoundReport:
    """ELBO, its two terms and the IWAE bound of a latent-variable model."""

    elbo: Estimate
    iwae: Estimate
    elbo_on_iwae_images: Estimate
    reconstruction_nats: float
    kl_nats: float
    k: int
    iwae_images: int
    num_images: int


@dataclass
class QualityScores:
    """FID, KID, precision/recall and density/coverage of one image set against the reference."""

    fid: float
    kid: float
    kid_std: float
    precision: float
    recall: float
    density: float
    coverage: float
    num_real: int
    num_fake: int
    feature_dim: int
    k_pr: int
    k_dc: int
    kid_subsets: int
    kid_subset_size: int


@dataclass
class FeatureNetworkInfo:
    """Which feature network the sample-quality numbers were computed on."""

    name: str
    feature_dim: int
    kind: str | None = None
    key: str | None = None
    test_accuracy: float | None = None


@dataclass
class SampleQuality:
    """Sample quality of the model's samples and the floor of real training images."""

    samples: QualityScores
    floor: QualityScores
    feature_network: FeatureNetworkInfo
    num_samples: int
    num_reference: int
    reference: str = "test"
    floor_images: str = "train"
    seed: int = 0
    reference_seed: int = 0
    sampling_seconds: float = 0.0
    label_agreement: float | None = None
    floor_label_agreement: float | None = None


@dataclass
class ParzenEstimate:
    """A Parzen-window log-density (continuous, nats per image on ``[0, 1]^D``)."""

    log_density_mean: float
    log_density_sem: float
    num_test: int
    num_samples: int
    sigma: float
    sigma_at_grid_edge: bool
    num_validation: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class AISEstimate:
    """An AIS log-likelihood of a decoder with a Gaussian observation model."""

    log_likelihood_mean: float
    log_likelihood_sem: float
    num_images: int
    sigma: float
    sigma_at_grid_edge: bool
    steps: int
    chains: int
    acceptance: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConditionalScores:
    """One method's answers to a task's test conditions (:mod:`genzoo.evaluation.conditional`):
    PSNR (dB) / SSIM of one answer, of the per-pixel mean and mode of ``samples`` answers;
    consistency of the answers' conditions with the given ones; diversity (per-pixel std in
    levels); on labelled data, the classifier's accuracy on answers and on the truth, and
    FID / precision / recall of the answers against the truth on its features."""

    method: str
    num_images: int
    samples: int
    deterministic: bool
    psnr_sample: float
    ssim_sample: float
    psnr_mean: float
    ssim_mean: float
    psnr_mode: float
    ssim_mode: float
    ssim_window: int
    consistency_exact: float
    consistency_pixels: float
    consistency_mae: float
    diversity_std: float
    task: dict[str, Any] | None = None
    seed: int = 0
    seconds: float = 0.0
    feature_network: str | None = None
    classifier_accuracy: float | None = None
    classifier_accuracy_truth: float | None = None
    fid: float | None = None
    precision: float | None = None
    recall: float | None = None


@dataclass
class RunMetrics:
    """Everything the final evaluation of a run recorded (``metrics.json``)."""

    model: str
    dataset: str
    levels: int
    shape: list[int]
    num_test_images: int
    density: str
    uniform_bits_per_dim: float
    test_sha256: str | None = None
    test: Estimate | None = None
    bound: BoundReport | None = None
    test_accuracy: float | None = None
    sample_quality: SampleQuality | None = None
    parzen: ParzenEstimate | None = None
    ais: AISEstimate | None = None
    completion_mask: str | None = None
    samples_png: str | None = None
    completion_png: str | None = None
    reconstruction_png: str | None = None
    task: dict[str, Any] | None = None
    conditional: ConditionalScores | None = None
    conditional_baselines: list[ConditionalScores] | None = None
    schema_version: int = SCHEMA_VERSION
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def headline(self) -> str:
        """One phrase: the main number (bits/dim, or FID for a model without a density)."""
        if self.test is not None:
            kind = "" if self.test.density in (None, "exact") else f" ({self.test.density})"
            return f"{self.test.bits_per_dim:.4f} bits/dim{kind}"
        if self.sample_quality is not None:
            return f"FID {self.sample_quality.samples.fid:.2f}"
        if self.conditional is not None:
            return f"PSNR {self.conditional.psnr_sample:.2f} dB (one sample)"
        return "no test metric"

    def files(self) -> dict[str, str]:
        """The figures this evaluation wrote, by role."""
        named = {
            "samples": self.samples_png,
            "completion": self.completion_png,
            "reconstruction": self.reconstruction_png,
        }
        return {k: v for k, v in named.items() if v}

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> RunMetrics:
        return from_dict(cls, payload)


# ---------------------------------------------------------------------------------------------
def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass of this schema as a JSON-able dict (``None`` fields left out, ``extras`` and
    ``details`` merged back at their level)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name in ("extras", "details"):
            out.update(value)
            continue
        if value is None:
            continue
        if isinstance(value, list):
            value = [to_dict(v) if dataclasses.is_dataclass(v) else v for v in value]
        out[f.name] = to_dict(value) if dataclasses.is_dataclass(value) else value
    return out


def from_dict(cls: type[T], payload: Any, where: str = "metrics") -> T:
    """Build dataclass ``cls`` from a dict, recursively; unknown keys go to ``extras`` (or
    ``details``) when the class has one, else they are dropped."""
    if not isinstance(payload, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(payload).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    spill = "extras" if "extras" in names else "details" if "details" in names else None
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in payload.items():
        if key in names and key != spill:
            values[key] = _convert(hints[key], value, f"{where}.{key}")
        else:
            extra[key] = value
    if spill is not None:
        values[spill] = extra
    return cls(**values)


def _convert(hint: Any, value: Any, where: str) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(inner[0], value, where) if len(inner) == 1 else value
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(hint) or (Any,)
        if dataclasses.is_dataclass(item):
            return [from_dict(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def read_metrics(path: Path) -> RunMetrics:
    """Read ``metrics.json`` of either schema version.

    Raises:
        ModelError: missing, unreadable, or not a metrics file of a genzoo run.
    """
    if path.parent.is_file() or not path.parent.exists():
        what = "a file" if path.parent.is_file() else "missing"
        raise ModelError(
            f"{path.parent} is {what}, not a run folder; pass the output folder of `genzoo train`"
        )
    if not path.is_file():
        raise ModelError(
            f"{path.parent} has no {path.name}; evaluate the run first with "
            f"`genzoo eval {path.parent}`"
        )
    try:
        payload = json.loads(path.read_text())
        version = int(payload.get("schema_version", 1)) if isinstance(payload, dict) else 0
        if version > SCHEMA_VERSION:
            raise ModelError(
                f"{path} has metrics schema version {version}; this genzoo reads up to "
                f"{SCHEMA_VERSION} — upgrade genzoo"
            )
        metrics = from_dict(RunMetrics, payload, path.name)
    except (OSError, ValueError, TypeError, KeyError, RecursionError) as exc:
        # RecursionError: JSON nested deeper than the parser's recursion limit
        raise ModelError(
            f"{path} is not a valid genzoo metrics file ({exc}); re-run `genzoo eval "
            f"{path.parent}` to rewrite it"
        ) from None
    metrics.schema_version = SCHEMA_VERSION
    return metrics


def _worst(value: Any, pick: Any) -> float | None:
    """A recorded number, or the worst of its per-class list (``pick``: min or max)."""
    if isinstance(value, list):
        numbers = [float(v) for v in value if isinstance(v, int | float)]
        return pick(numbers) if numbers else None
    return float(value) if isinstance(value, int | float) else None


def describe_checks(checks: dict[str, Any] | None) -> str:
    """One phrase on an estimate's recorded checks, for printing beside (or instead of) it:
    why it failed, or the AIS spread across schedules when it passed; ``""`` when there is
    nothing to say. Per-class values are summarised by the worst class."""
    checks = checks or {}
    parts = []
    for name, check in checks.items():
        if not isinstance(check, dict) or check.get("passed", True):
            continue
        bound = check.get("certain_lower_bound") if name == "log_z_lower_bound" else None
        margin = _worst(check.get("margin"), min)
        if bound is not None and margin is not None:
            ais, low = check.get("ais_log_z"), bound
            margins = check.get("margin")
            if isinstance(margins, list) and isinstance(ais, list) and isinstance(low, list):
                worst = margins.index(min(margins))  # the class whose margin is the worst
                ais, low = ais[worst], low[worst]
            ais, low = _worst(ais, min), _worst(low, max)
            parts.append(
                f"AIS log Z {ais:.2f} is below a certain lower bound {low:.2f} (by "
                f"{-margin:.2f} nats), so the NLL would be provably too good; more AIS "
                "steps are needed (the model's ais_steps)"
                if ais is not None and low is not None
                else f"AIS log Z below a certain lower bound by {-margin:.2f} nats"
            )
        else:
            parts.append(f"failed the check {name}")
    if parts:
        return "; ".join(parts)
    spread = checks.get("schedule_spread")
    if isinstance(spread, dict) and _worst(spread.get("spread"), max) is not None:
        stderr = _worst(spread.get("stderr"), max)
        shown = "" if stderr is None or not math.isfinite(stderr) else f", s.e. {stderr:.2f}"
        bound = checks.get("log_z_lower_bound", {})
        margin = _worst(bound.get("margin"), min) if isinstance(bound, dict) else None
        above = "" if margin is None else f"; {margin:.2f} nats above a certain lower bound"
        return (
            f"AIS log Z spread across schedules {_worst(spread['spread'], max):.2f} nats"
            f"{shown}{above}"
        )
    return ""


def finite_or_none(value: float | None) -> float | None:
    """``value``, or ``None`` when it is missing or not finite (JSON has no NaN)."""
    return value if value is not None and math.isfinite(value) else None
