"""Out-of-distribution detection with a density: four scores, their ROC metrics and a figure.

Every score is oriented so that **higher means more likely out-of-distribution** (the positive
class of AUROC / AUPRC / FPR at 95 % TPR is "out"), in bits per sub-pixel:

* ``likelihood`` — ``bits/dim(x) = -log2 p(x) / D`` (Bishop 1994). Known to fail: Nalisnick et
  al. 2019 ("Do Deep Generative Models Know What They Don't Know?") find that models trained on
  Fashion-MNIST give MNIST *higher* likelihood (AUROC far below 0.5).
* ``likelihood-ratio`` — Ren et al. 2019 ("Likelihood Ratios for Out-of-Distribution Detection"):
  ``bits/dim(x) - bits/dim_background(x)``, i.e. ``-LLR / (D ln 2)``; the background model is
  trained on the same data with input perturbation (``genzoo train --perturb 0.2``) and scored
  on unperturbed images, so the background statistics that dominate the likelihood cancel.
* ``input-complexity-<compressor>`` — Serrà et al. 2020 ("Input Complexity and
  Out-of-Distribution Detection with Likelihood-based Generative Models"):
  ``S(x) = bits/dim(x) - L(x) / D`` with ``L(x)`` the length in bits of the same quantised
  image under a lossless compressor: ``png`` (Pillow, compression level 9), ``webp`` (Pillow's
  lossless WebP, libwebp: an image codec with spatial prediction and a colour cache, ~10 %
  shorter than PNG on Fashion-MNIST at similar speed) and ``lzma`` (the standard library's raw
  LZMA2 stream, no container). Deviation: ``L`` includes each format's fixed headers; for
  images of one size that is a constant shift of ``S`` and changes no ranking.
* ``typicality`` — Nalisnick et al. 2019 ("Detecting Out-of-Distribution Inputs to Deep
  Generative Models Using Typicality"): a test of *batches* of ``M`` images, the distance
  ``|mean bits/dim of the batch - H|`` from the model's entropy estimate ``H`` (mean bits/dim
  of held-out training images, else of training images). Reported per batch size, over
  random batches drawn from each test set (batches share images, so its intervals are
  optimistic).

Intervals are percentile bootstraps that resample the in- and out-of-distribution sets
separately. A class-conditional model scores ``log p(x) = logsumexp_y log p(x|y) + log p(y)``
with the training set's class frequencies. A ``"bound"`` density (VAEs) gives an upper bound on
bits/dim; say so.
"""

from __future__ import annotations

import io
import lzma
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.core.atomic import atomic_save, atomic_write_json
from genzoo.data.dataset import Dataset
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.evaluation.classify import class_log_prior, marginal_log_prob
from genzoo.evaluation.likelihood import check_matches
from genzoo.models.base import GenerativeModel

SCORES = ("likelihood", "likelihood-ratio", "input-complexity", "typicality")
COMPRESSORS = ("png", "webp", "lzma")
#: batch sizes of the typicality test
BATCH_SIZES = (1, 2, 5, 10, 25, 50)
#: random batches drawn from each test set per batch size
TYPICALITY_BATCHES = 500
BOOTSTRAP = 1000
#: the TPR at which the false-positive rate is reported
TPR = 0.95
JSON_NAME = "ood.json"
FIGURE_NAME = "ood.png"


# ---------------------------------------------------------------------------------------------
# checks
def check_density(model: GenerativeModel, role: str = "the model") -> None:
    """Raise :class:`UnsupportedError` unless ``model`` has a density of ``x`` alone."""
    if not model.capabilities.has_density:
        raise UnsupportedError(
            f"{role} ({model.name}) has no density (density={model.density!r}); OOD scores need "
            "log p(x): use a model with an exact, bound or estimated likelihood (`genzoo models`)"
        )
    if model.capabilities.image_conditional:
        raise UnsupportedError(
            f"{role} ({model.name}) models p(x | c) given a conditioning image, not p(x); OOD "
            "scores need an unconditional or class-conditional model"
        )


# ---------------------------------------------------------------------------------------------
# per-image quantities
@torch.no_grad()
def image_bits_per_dim(
    model: GenerativeModel,
    x: Tensor,
    *,
    log_prior: Tensor | None = None,
    batch_size: int = 256,
) -> Tensor:
    """``-log2 p(x) / D`` per image, float64 ``[N]``, for ``x`` LongTensor ``[N, C, H, W]``.

    A class-conditional model needs ``log_prior`` (``[num_classes]``) to sum out the label.
    """
    check_density(model)
    if model.capabilities.class_conditional:
        if log_prior is None:
            raise ConfigError("a class-conditional model needs log_prior to give p(x)")
        log_p = marginal_log_prob(model, x, log_prior, batch_size=batch_size)
    else:
        was_training = model.training
        model.eval()
        try:
            parts = [
                model.log_prob(x[s : s + batch_size].to(model.device)).double().cpu()
                for s in range(0, x.shape[0], batch_size)
            ]
        finally:
            model.train(was_training)
        log_p = torch.cat(parts) if parts else torch.empty(0, dtype=torch.float64)
    return -log_p / (model.num_dims * math.log(2))


def _pillow(fmt: str, **options: Any) -> Callable[[np.ndarray], bytes]:
    def encode(image: np.ndarray) -> bytes:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format=fmt, **options)
        return buffer.getvalue()

    return encode


def _lzma(image: np.ndarray) -> bytes:
    filters = [{"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 4096}]
    return lzma.compress(image.tobytes(), format=lzma.FORMAT_RAW, filters=filters)


#: lossless encoders of one ``uint8`` image ``[H, W]`` or ``[H, W, 3]``
ENCODERS: dict[str, Callable[[np.ndarray], bytes]] = {
    "png": _pillow("PNG", compress_level=9),
    "webp": _pillow("WEBP", lossless=True, quality=100, method=4),
    "lzma": _lzma,
}


def as_uint8_images(x: Tensor) -> np.ndarray:
    """LongTensor ``[N, C, H, W]`` (levels <= 256, C in {1, 3}) -> uint8 ``[N, H, W(, 3)]``
    holding the levels themselves (no rescaling: the compressors see the quantised image)."""
    if x.shape[1] not in (1, 3):
        raise UnsupportedError(
            f"input complexity compresses grey or RGB images; these have {x.shape[1]} channels"
        )
    if x.numel() and (int(x.min()) < 0 or int(x.max()) > 255):
        raise UnsupportedError("input complexity needs at most 256 levels (8-bit images)")
    images = x.to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return images[..., 0] if x.shape[1] == 1 else images


def compressed_bits(x: Tensor, compressor: str) -> Tensor:
    """Length in bits of every image of ``x`` (LongTensor ``[N, C, H, W]``) under a lossless
    ``compressor`` (:data:`COMPRESSORS`), float64 ``[N]``."""
    if compressor not in ENCODERS:
        raise ConfigError(f"unknown compressor {compressor!r}; choose from {', '.join(ENCODERS)}")
    encode = ENCODERS[compressor]
    return torch.tensor([8.0 * len(encode(im)) for im in as_uint8_images(x)], dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# detection metrics
def _finite(scores: Any) -> np.ndarray:
    a = np.asarray(scores, dtype=np.float64).ravel()
    if np.isnan(a).any():
        raise ConfigError("a score is NaN; check the model's log_prob on these images")
    return np.nan_to_num(a, posinf=np.finfo(np.float64).max, neginf=np.finfo(np.float64).min)


def _point(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float, float]:
    from sklearn.metrics import auc, average_precision_score, roc_curve

    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    fpr95 = float(fpr[np.searchsorted(tpr, TPR, side="left")])
    return float(auc(fpr, tpr)), float(average_precision_score(labels, scores)), fpr95


def detection_metrics(
    score_in: Any,
    score_out: Any,
    *,
    bootstrap: int = BOOTSTRAP,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """AUROC, AUPRC and FPR at 95 % TPR of a score (higher = out-of-distribution), scikit-learn.

    Args:
        score_in: ``[N_in]`` scores of in-distribution images (negatives).
        score_out: ``[N_out]`` scores of out-of-distribution images (positives).
        bootstrap: resamples of the percentile interval (in and out resampled separately);
            0 for none.
        level: coverage of the interval.

    Returns:
        ``{"auroc", "auprc", "fpr_at_95_tpr"}``, each also as ``<name>_ci: [low, high]``
        (``None`` without bootstrap), and ``num_in``, ``num_out``, ``mean_in``, ``mean_out``.
    """
    a, b = _finite(score_in), _finite(score_out)
    if len(a) == 0 or len(b) == 0:
        raise ConfigError("detection metrics need at least one in- and one out-of-distribution")
    labels = np.r_[np.zeros(len(a)), np.ones(len(b))]
    names = ("auroc", "auprc", "fpr_at_95_tpr")
    out: dict[str, Any] = dict(zip(names, _point(labels, np.r_[a, b]), strict=True))
    intervals: list[Any] = [None] * 3
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        draws = np.array(
            [
                _point(labels, np.r_[rng.choice(a, len(a)), rng.choice(b, len(b))])
                for _ in range(bootstrap)
            ]
        )
        tail = 50 * (1 - level)
        intervals = np.percentile(draws, [tail, 100 - tail], axis=0).T.tolist()
    for name, interval in zip(names, intervals, strict=True):
        out[f"{name}_ci"] = interval
    out.update(num_in=len(a), num_out=len(b), mean_in=float(a.mean()), mean_out=float(b.mean()))
    return out


def typicality_scores(
    bpd: Tensor, entropy: float, batch_size: int, batches: int, generator: torch.Generator
) -> Tensor:
    """``|mean bits/dim of a batch - entropy|`` of ``batches`` random batches of ``batch_size``
    distinct images of ``bpd`` (``[N]``): float64 ``[batches]``."""
    n = bpd.shape[0]
    if not 1 <= batch_size <= n:
        raise ConfigError(f"typicality batch size {batch_size} must lie in [1, {n}]")
    index = torch.rand(batches, n, generator=generator).argsort(dim=1)[:, :batch_size]
    return (bpd.double()[index].mean(dim=1) - entropy).abs()


# ---------------------------------------------------------------------------------------------
# the whole evaluation
@dataclass
class OODReport:
    """What :func:`evaluate_ood` found: ``summary`` is ``ood.json``; ``scores`` maps each
    per-image score to ``(in [N_in], out [N_out])``; ``typicality`` each batch size to its
    batch scores ``(in, out)``."""

    summary: dict[str, Any]
    scores: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)
    typicality: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict)


def evaluate_ood(
    model: GenerativeModel,
    in_data: Dataset,
    out_data: Dataset,
    *,
    background: GenerativeModel | None = None,
    scores: Sequence[str] | None = None,
    compressors: Sequence[str] = COMPRESSORS,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    typicality_batches: int = TYPICALITY_BATCHES,
    entropy_images: Tensor | None = None,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
    batch_size: int = 256,
) -> OODReport:
    """Score ``in_data.test`` (negatives) and ``out_data.test`` (positives) under ``model``.

    Args:
        model: a model with a density of ``x`` (:func:`check_density`), trained on ``in_data``.
        in_data, out_data: datasets of the model's shape and levels (:func:`check_matches`).
        background: the background model of the likelihood ratio (same shape and levels).
        scores: names from :data:`SCORES`; ``None``: all (the ratio only with a background).
        compressors: the compressors of the input complexity (:data:`COMPRESSORS`).
        batch_sizes, typicality_batches: the typicality test's batch sizes and batches per set.
        entropy_images: LongTensor ``[N, C, H, W]`` whose mean bits/dim estimates the entropy
            (held-out training images); ``None``: the first 2,000 training images of ``in_data``.
        bootstrap: resamples of every interval; seed: seed of the bootstrap and the batches.

    Returns:
        An :class:`OODReport`.
    """
    chosen = _chosen_scores(scores, background)
    if bootstrap < 0 or batch_size < 1 or typicality_batches < 1:
        raise ConfigError(
            f"need bootstrap >= 0, batch_size >= 1 and typicality_batches >= 1; got {bootstrap}, "
            f"{batch_size}, {typicality_batches}"
        )
    check_density(model)
    check_matches(model, in_data)
    check_matches(model, out_data)
    if background is not None:
        check_density(background, "the background model")
        check_matches(background, in_data, "the background model")
    priors = {id(m): _prior(m, in_data) for m in (model, background) if m is not None}

    def bpd(m: GenerativeModel, x: Tensor) -> Tensor:
        return image_bits_per_dim(m, x, log_prior=priors[id(m)], batch_size=batch_size)

    x_in, x_out = in_data.test, out_data.test
    bpd_in, bpd_out = bpd(model, x_in), bpd(model, x_out)
    report = OODReport(summary={})
    if "likelihood" in chosen:
        report.scores["likelihood"] = (bpd_in, bpd_out)
    if "likelihood-ratio" in chosen:
        bg_in, bg_out = bpd(background, x_in), bpd(background, x_out)  # type: ignore[arg-type]
        report.scores["likelihood-ratio"] = (bpd_in - bg_in, bpd_out - bg_out)
    if "input-complexity" in chosen:
        dims = model.num_dims
        for name in compressors:
            report.scores[f"input-complexity-{name}"] = (
                bpd_in - compressed_bits(x_in, name) / dims,
                bpd_out - compressed_bits(x_out, name) / dims,
            )
    metrics = {
        name: detection_metrics(a, b, bootstrap=bootstrap, seed=seed)
        for name, (a, b) in report.scores.items()
    }
    summary: dict[str, Any] = {
        "model": model.name,
        "density": model.density,
        "in_data": in_data.name,
        "ood_data": out_data.name,
        "shape": list(model.shape),
        "levels": model.levels,
        "num_in": int(x_in.shape[0]),
        "num_out": int(x_out.shape[0]),
        "bits_per_dim": {"in": float(bpd_in.mean()), "out": float(bpd_out.mean())},
        "orientation": "higher score = more likely out-of-distribution (the positive class)",
        "units": "bits per sub-pixel",
        "bootstrap": {"resamples": int(bootstrap), "level": 0.95, "seed": int(seed)},
        "background": None
        if background is None
        else {"model": background.name, "density": background.density},
        "compressors": list(compressors) if "input-complexity" in chosen else [],
        "scores": metrics,
    }
    if "typicality" in chosen:
        summary["typicality"] = _typicality(
            report, bpd_in, bpd_out, bpd, model, in_data, entropy_images, batch_sizes,
            typicality_batches, bootstrap, seed,
        )  # fmt: skip
    report.summary = summary
    return report


def _chosen_scores(scores: Sequence[str] | None, background: GenerativeModel | None) -> list[str]:
    if scores is None:
        return [s for s in SCORES if s != "likelihood-ratio" or background is not None]
    unknown = [s for s in scores if s not in SCORES]
    if unknown or not scores:
        raise ConfigError(f"unknown OOD score(s) {unknown}; choose from {', '.join(SCORES)}")
    if "likelihood-ratio" in scores and background is None:
        raise ConfigError(
            "the likelihood ratio needs a background model: pass --background RUN2, a run "
            "trained on the same data with --perturb (e.g. 0.2)"
        )
    return list(scores)


def _prior(model: GenerativeModel, data: Dataset) -> Tensor | None:
    if not model.capabilities.class_conditional:
        return None
    if data.train_labels is None:
        raise ConfigError(
            f"{model.name} is class-conditional but {data.name!r} has no labels for the class "
            "prior p(y)"
        )
    return class_log_prior(data.train_labels, int(model.num_classes))  # type: ignore[arg-type]


def _typicality(
    report: OODReport,
    bpd_in: Tensor,
    bpd_out: Tensor,
    bpd: Callable[[GenerativeModel, Tensor], Tensor],
    model: GenerativeModel,
    in_data: Dataset,
    entropy_images: Tensor | None,
    batch_sizes: Sequence[int],
    batches: int,
    bootstrap: int,
    seed: int,
) -> dict[str, Any]:
    source = "held-out training images"
    if entropy_images is None:
        entropy_images, source = in_data.train[:2000], "training images (the first 2,000)"
    entropy = float(bpd(model, entropy_images).mean())
    generator = torch.Generator().manual_seed(seed)
    by_size: dict[str, Any] = {}
    for m in batch_sizes:
        if m > min(len(bpd_in), len(bpd_out)):
            continue
        a = typicality_scores(bpd_in, entropy, m, batches, generator)
        b = typicality_scores(bpd_out, entropy, m, batches, generator)
        report.typicality[int(m)] = (a, b)
        by_size[str(m)] = detection_metrics(a, b, bootstrap=bootstrap, seed=seed)
    return {
        "entropy_bits_per_dim": entropy,
        "entropy_source": source,
        "entropy_images": int(entropy_images.shape[0]),
        "batches_per_set": int(batches),
        "by_batch_size": by_size,
    }


# ---------------------------------------------------------------------------------------------
# writing
def write_ood(report: OODReport, folder: str | Path) -> dict[str, Path]:
    """Write ``ood.json`` and ``ood.png`` (histograms of every score, ROC curves, typicality's
    AUROC against the batch size) into ``folder``, atomically; returns their paths."""
    folder = Path(folder)
    paths = {"json": folder / JSON_NAME, "figure": folder / FIGURE_NAME}
    atomic_write_json(paths["json"], report.summary)
    figure = plot_ood(report)
    atomic_save(paths["figure"], lambda handle: figure.savefig(handle, format="png", dpi=110))
    return paths


def plot_ood(report: OODReport) -> Any:
    """A matplotlib ``Figure``: one histogram per score (in vs out), the ROC curves, and
    typicality's AUROC against the batch size."""
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_curve

    s = report.summary
    panels = len(report.scores) + 1 + bool(report.typicality)
    cols = min(3, panels)
    rows = -(-panels // cols)
    figure = Figure(figsize=(4.2 * cols, 3.4 * rows), layout="constrained")
    axes = [figure.add_subplot(rows, cols, i + 1) for i in range(panels)]
    names = {"in": f"in: {s['in_data']}", "out": f"out: {s['ood_data']}"}
    for ax, (name, (a, b)) in zip(axes, report.scores.items(), strict=False):
        both = np.r_[a.numpy(), b.numpy()]
        bins = np.linspace(*np.percentile(both, [0.5, 99.5]), 50)
        ax.hist(a.numpy(), bins=bins, alpha=0.6, density=True, label=names["in"])
        ax.hist(b.numpy(), bins=bins, alpha=0.6, density=True, label=names["out"])
        ax.set_title(f"{name}  (AUROC {s['scores'][name]['auroc']:.3f})", fontsize=9)
        ax.set_xlabel("score (bits/dim; higher = OOD)", fontsize=8)
        ax.legend(fontsize=7)
    roc = axes[len(report.scores)]
    for name, (a, b) in report.scores.items():
        labels = np.r_[np.zeros(len(a)), np.ones(len(b))]
        fpr, tpr, _ = roc_curve(labels, _finite(np.r_[a.numpy(), b.numpy()]))
        roc.plot(fpr, tpr, label=f"{name} ({s['scores'][name]['auroc']:.3f})")
    for m, (a, b) in report.typicality.items():
        if m == max(report.typicality):
            labels = np.r_[np.zeros(len(a)), np.ones(len(b))]
            fpr, tpr, _ = roc_curve(labels, np.r_[a.numpy(), b.numpy()])
            auroc = s["typicality"]["by_batch_size"][str(m)]["auroc"]
            roc.plot(fpr, tpr, "--", label=f"typicality, M={m} ({auroc:.3f})")
    roc.plot([0, 1], [0, 1], color="grey", lw=0.8)
    roc.set_xlabel("false-positive rate (in flagged)", fontsize=8)
    roc.set_ylabel("true-positive rate (out flagged)", fontsize=8)
    roc.set_title(f"ROC: {s['model']} on {s['in_data']} vs {s['ood_data']}", fontsize=9)
    roc.legend(fontsize=6, loc="lower right")
    if report.typicality:
        ax = axes[-1]
        by = s["typicality"]["by_batch_size"]
        sizes = [int(m) for m in by]
        ax.plot(sizes, [by[str(m)]["auroc"] for m in sizes], "o-")
        ax.fill_between(
            sizes,
            [by[str(m)]["auroc_ci"][0] if by[str(m)]["auroc_ci"] else np.nan for m in sizes],
            [by[str(m)]["auroc_ci"][1] if by[str(m)]["auroc_ci"] else np.nan for m in sizes],
            alpha=0.3,
        )
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("batch size M", fontsize=8)
        ax.set_ylabel("AUROC", fontsize=8)
        ax.set_title("typicality test (Nalisnick et al. 2019)", fontsize=9)
    return figure
