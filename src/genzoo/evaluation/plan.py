"""What an evaluation will compute and roughly how long it takes, said before it starts.

:func:`plan_evaluation` lists the parts :func:`~genzoo.evaluation.evaluate_run` will run for a
model and an :class:`~genzoo.evaluation.config.EvalConfig` — the same decisions, read from the
model's declared capabilities — and gives each a rough duration from a rate measured now on a
few test images (one batch of ``log_prob``, the ELBO, or ``sample``), or from the run's previous
evaluation (``metrics.json``). A part it has no honest rate for (cached autoregressive sampling
never timed, AIS with other settings, the Parzen window) is listed without a number.

The estimates are rough on purpose: a batch of 32 images is timed (after one untimed call)
and scaled linearly, so batching gains, feature-network passes and the FID arithmetic are left out.

Example::

    plan = plan_evaluation(model, dataset, config, quality=True)
    print(plan.describe())
    # evaluating: test NLL on 297 images, 64 samples and 8 completions (figures),
    # 297 samples for sample quality; roughly 40 s at the rate timed now

    plan_evaluation(model, dataset, config, quality=False).describe({"sample quality": "--x"})
    # evaluating: ...; roughly 2 s at the rate timed now; skipped: sample quality (--x runs it)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from genzoo.core.metrics import RunMetrics
from genzoo.data import Dataset
from genzoo.evaluation.config import EvalConfig
from genzoo.models.base import GenerativeModel, with_condition

#: test images timed to measure a rate
PROBE_IMAGES = 32
#: completions per test image in completion.png (see completion_rows)
COMPLETIONS_PER_IMAGE = 3


@dataclass
class PlannedPart:
    """One part of an evaluation: what it computes, and its rough duration (``None``: not
    estimated)."""

    what: str
    seconds: float | None


@dataclass
class EvaluationPlan:
    """The parts of an evaluation, in the order they run."""

    parts: list[PlannedPart] = field(default_factory=list)
    #: some rate was read from the run's previous evaluation rather than measured now
    uses_recorded: bool = False
    #: parts the model supports that this evaluation leaves out (e.g. ``"sample quality"``)
    skipped: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float | None:
        """The sum of the estimated parts (``None`` when none is estimated)."""
        known = [p.seconds for p in self.parts if p.seconds is not None]
        return sum(known) if known else None

    def describe(self, how_to_run: dict[str, str] | None = None) -> str:
        """One line: ``evaluating: A, B, C; roughly 4 min at the rate timed now (not
        estimated: C); skipped: D (FLAG runs it)``, ``how_to_run`` naming each skipped part's
        switch."""
        text = "evaluating: " + ", ".join(p.what for p in self.parts)
        unknown = [p.what for p in self.parts if p.seconds is None]
        if self.seconds is None:
            text += "; duration not estimated"
        else:
            source = (
                "rates timed now and in the last evaluation"
                if self.uses_recorded
                else "the rate timed now"
            )
            text += f"; roughly {_duration(self.seconds)} at {source}"
            if unknown:
                text += f" (not estimated: {', '.join(unknown)})"
        if self.skipped:
            how = how_to_run or {}
            text += "; skipped: " + ", ".join(
                f"{part} ({how[part]} runs it)" if part in how else part for part in self.skipped
            )
        return text


@torch.no_grad()
def plan_evaluation(
    model: GenerativeModel,
    dataset: Dataset,
    config: EvalConfig,
    *,
    quality: bool,
    recorded: RunMetrics | None = None,
) -> EvaluationPlan:
    """The parts :func:`~genzoo.evaluation.evaluate_run` runs with ``config`` and their rough
    durations.

    Args:
        model: the model to evaluate.
        dataset: its data (the test split is evaluated).
        config: the recipe.
        quality: whether sample quality runs (as decided by the caller, e.g. whether a feature
            network was loaded); when it does not, the plan lists it as skipped.
        recorded: the run's previous evaluation; its timed parts (sampling of sample quality,
            AIS) give rates where none can be measured cheaply.

    Timing runs a few batches of the model on the first :data:`PROBE_IMAGES` test images, under
    :func:`torch.random.fork_rng` so the global random state is left as it was.
    """
    caps = model.capabilities
    test = dataset.take("test", slice(0, PROBE_IMAGES))
    n_test = int(dataset.test.shape[0])
    y = test.y if caps.class_conditional else None
    c = test.c if caps.image_conditional else None
    generator = torch.Generator().manual_seed(config.seed)
    was_training = model.training
    model.eval()
    parts, skipped = [], []
    try:
        with torch.random.fork_rng(devices=[]):
            rate = _Rates(model, test.x, y, c, generator, recorded)
            if caps.bound_estimator == "iwae":
                m = n_test if not config.iwae_images else min(config.iwae_images, n_test)
                elbo = rate.elbo()
                parts.append(PlannedPart(f"ELBO on {n_test:,} images", _times(elbo, n_test)))
                iwae = None if elbo is None else elbo * config.iwae_k * m
                parts.append(PlannedPart(f"IWAE k={config.iwae_k:,} on {m:,} images", iwae))
            elif caps.has_density:
                given = " given their conditions" if caps.image_conditional else ""
                parts.append(
                    PlannedPart(f"test NLL on {n_test:,} images{given}", _times(rate.nll(), n_test))
                )
            per_sample = rate.sample()
            if caps.image_conditional:
                k = config.conditional_images or n_test
                k = min(k, n_test)
                count = k * config.conditional_samples
                parts.append(
                    PlannedPart(
                        f"{config.conditional_samples} answers to each of {k:,} test conditions",
                        _times(per_sample, count),
                    )
                )
            else:
                count, what = config.num_samples, f"{config.num_samples} samples"
                done = min(config.num_completions, n_test)
                same = caps.completion in ("exact-prefix", "exact-conditional")
                if same:  # completion runs the sampler with the given part clamped
                    count += COMPLETIONS_PER_IMAGE * done
                    what += f" and {done} completions"
                parts.append(PlannedPart(f"{what} (figures)", _times(per_sample, count)))
                if caps.completion is not None and not same:  # Gibbs, latent optimisation
                    what = f"{done} completions ({caps.completion})"
                    parts.append(PlannedPart(what, None))
            if quality:
                reference = min(config.quality_reference, n_test)
                m = config.quality_samples or reference
                parts.append(
                    PlannedPart(f"{m:,} samples for sample quality", _times(per_sample, m))
                )
            elif not caps.image_conditional:  # a conditional model's samples are scored apart
                skipped.append("sample quality")
            if config.parzen:
                parts.append(PlannedPart(f"Parzen window on {config.parzen_samples:,}", None))
            if config.ais:
                images = min(config.ais_images, n_test)
                what = f"AIS on {images:,} images ({config.ais_steps:,} steps)"
                parts.append(PlannedPart(what, rate.ais(config, images)))
    finally:
        model.train(was_training)
    return EvaluationPlan(parts, uses_recorded=rate.used_recorded, skipped=skipped)


class _Rates:
    """Seconds per image of the model's passes, measured once each on the probe images."""

    def __init__(self, model, x, y, c, generator, recorded: RunMetrics | None) -> None:
        self.model, self.x, self.y, self.c = model, x, y, c
        self.generator, self.recorded = generator, recorded
        self._cache: dict[str, float | None] = {}
        self.used_recorded = False

    def _timed(self, key: str, work: Callable[[], object]) -> float | None:
        if self.x.shape[0] == 0:
            return None
        if key not in self._cache:
            work()  # a first call pays one-off costs (allocation, kernels) the rest do not
            start = time.perf_counter()
            work()
            self._cache[key] = (time.perf_counter() - start) / self.x.shape[0]
        return self._cache[key]

    def nll(self) -> float | None:
        return self._timed(
            "nll", lambda: self.model.log_prob(self.x, self.y, **with_condition(self.c))
        )

    def elbo(self) -> float | None:
        return self._timed(
            "elbo",
            lambda: self.model.elbo_terms(
                self.x, self.y, k=1, generator=self.generator, **with_condition(self.c)
            ),
        )

    def sample(self) -> float | None:
        """Seconds per sample: timed for one-pass samplers, ``D`` forward passes for a naive
        autoregressive one, the run's recorded rate for a cached one (else ``None``)."""
        model = self.model
        methods = model.capabilities.sampling_methods
        if "cached" in methods:
            quality = None if self.recorded is None else self.recorded.sample_quality
            if quality is None or quality.sampling_seconds <= 0 or quality.num_samples <= 0:
                return None
            self.used_recorded = True
            return quality.sampling_seconds / quality.num_samples
        if "naive" in methods:  # a full network pass per sub-pixel
            forward = self.nll()
            return None if forward is None else forward * model.num_dims
        n = self.x.shape[0]
        return self._timed(
            "sample",
            lambda: model.sample(n, self.y, generator=self.generator, **with_condition(self.c)),
        )

    def ais(self, config: EvalConfig, images: int) -> float | None:
        """From the run's previous AIS with the same steps and chains, scaled to ``images``."""
        ais = None if self.recorded is None else self.recorded.ais
        if ais is None or ais.steps != config.ais_steps or ais.chains != config.ais_chains:
            return None
        seconds = float(ais.details.get("seconds", 0.0) or 0.0)
        if seconds <= 0 or not ais.num_images:
            return None
        self.used_recorded = True
        return seconds * images / ais.num_images


def _times(per_image: float | None, count: int) -> float | None:
    return None if per_image is None else per_image * count


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
