"""``build_report``: the static HTML page of one or more runs.

The page opens offline: no script, no font, style sheet or image from anywhere else. Its images
(the runs' grids and the plots of :mod:`genzoo.report.plots`) are copied into ``img/`` beside
``index.html`` and referenced by relative paths, or embedded as ``data:`` URIs with
``embed=True`` (one self-contained file). The folder can be moved or mailed whole.

The HTML comes from a Jinja2 template with autoescaping on: run names, model names and every
other text from the run folders are escaped. ``report.json`` beside it holds the comparison's
numbers and marks the folder as a report (the only kind of folder ``build_report`` replaces).
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genzoo.core.atomic import atomic_directory
from genzoo.core.metrics import RunMetrics, describe_checks
from genzoo.errors import ConfigError
from genzoo.report import plots
from genzoo.report.cards import RunCard, read_card, slug
from genzoo.report.table import Row, comparison, grouped

#: the file that marks a folder as a genzoo report
MARKER = "report.json"
INDEX = "index.html"
IMAGES = "img"

_CAPTIONS = {
    "samples": "samples from the model",
    "completion": "completion: rows of test images, the part given to the model, completions",
    "reconstruction": "test images (top) and their reconstructions (below)",
}


@dataclass
class Metric:
    """One row of a run's test-metrics table."""

    quantity: str
    value: str
    kind: str  # "exact", "bound", "estimate" or "measured"
    images: str = ""
    note: str = ""


@dataclass
class RunView:
    """What the template shows of one run."""

    card: RunCard
    row: Row
    anchor: str
    curves: str | None = None
    figures: list[tuple[str, str]] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    quality: dict[str, Any] | None = None


class _Images:
    """Puts images into the report: copied into ``img/`` or embedded as ``data:`` URIs."""

    def __init__(self, folder: Path, embed: bool) -> None:
        self.folder = folder / IMAGES
        self.folder.mkdir()
        self.embed = embed

    def path(self, name: str) -> Path:
        return self.folder / name

    def src(self, path: Path | None) -> str | None:
        """The ``src`` of an image written into :meth:`path` (``None`` for no image)."""
        if path is None:
            return None
        if self.embed:
            return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
        return f"{IMAGES}/{path.name}"

    def finish(self) -> None:
        if self.embed:
            shutil.rmtree(self.folder)


def build_report(
    run_dirs: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    title: str = "genzoo report",
    embed: bool = False,
) -> Path:
    """Write the report of ``run_dirs`` into ``out_dir`` and return the path of its
    ``index.html``.

    Per run: a model card, training curves, test metrics labelled exact / bound / estimate
    with standard errors, the run's sample / completion / reconstruction grids and its sample
    quality beside the floor of real images. Across runs: the comparison table grouped by the
    lecture's taxonomy and two plots (quality against training time, likelihood against
    sample quality). ``out_dir`` is written whole or not at all.

    Raises:
        ConfigError: no run, a run given twice, runs scored on different test images, or an
            ``out_dir`` that exists and is not a report.
        ModelError: a run folder without readable metrics, training record or model.
    """
    dirs = [Path(d) for d in run_dirs]
    if not dirs:
        raise ConfigError("pass at least one run directory")
    seen: dict[Path, Path] = {}
    for d in dirs:
        if d.resolve() in seen:
            raise ConfigError(f"{d} is given twice (as {seen[d.resolve()]}); pass each run once")
        seen[d.resolve()] = d
    out = Path(out_dir)
    _check_out(out, dirs)
    cards = [read_card(d) for d in dirs]
    rows, split = comparison(cards)
    with atomic_directory(out) as tmp:
        tmp.chmod(0o755)  # a temporary directory is private; a report is for reading
        images = _Images(tmp, embed)
        views = [_view(row, i, images) for i, row in enumerate(rows)]
        uniform = float(split["uniform_bits_per_dim"])
        figures = {
            "time": images.src(plots.quality_against_time(rows, uniform, images.path("time.png"))),
            "tradeoff": images.src(
                plots.likelihood_against_quality(rows, images.path("tradeoff.png"))
            ),
        }
        html = _render(
            title=title,
            views=views,
            groups=[(h, [v for v in views if v.row in members]) for h, members in grouped(rows)],
            split=split,
            figures=figures,
            notes=_table_notes(rows),
        )
        images.finish()
        (tmp / INDEX).write_text(html, encoding="utf-8")
        (tmp / MARKER).write_text(json.dumps(_summary(rows, split), indent=2) + "\n")
    return out / INDEX


def _check_out(out: Path, dirs: list[Path]) -> None:
    for d in dirs:
        if d.resolve() == out.resolve() or d.resolve().is_relative_to(out.resolve()):
            raise ConfigError(f"--out {out} holds the run {d}; write the report elsewhere")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; choose a folder for the report")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ConfigError(
            f"--out {out} exists and is not a genzoo report (no {MARKER}); choose a new folder"
        )


def _view(row: Row, index: int, images: _Images) -> RunView:
    card = row.card
    stem = f"{index:02d}-{slug(card.name)}"
    curves = plots.training_curves(card, images.path(f"{stem}-curves.png"))
    figures = []
    for role, path in card.figures.items():
        target = images.path(f"{stem}-{role}.png")
        shutil.copyfile(path, target)
        figures.append((_caption(role, card.metrics), images.src(target) or ""))
    return RunView(
        card=card,
        row=row,
        anchor=f"run-{index}",
        curves=images.src(curves),
        figures=figures,
        metrics=metric_rows(card.metrics),
        quality=_quality(card.metrics),
    )


def _caption(role: str, metrics: RunMetrics) -> str:
    text = _CAPTIONS.get(role, role)
    if role == "completion" and metrics.completion_mask:
        text += f" (mask: {metrics.completion_mask})"
    return text


def _pm(mean: float, stderr: float | None, digits: int) -> str:
    if stderr is None or not math.isfinite(stderr):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {stderr:.{digits}f}"


def metric_rows(m: RunMetrics) -> list[Metric]:
    """A run's test metrics as table rows, each labelled exact / bound / estimate (or
    ``measured`` for an accuracy), with standard errors where recorded."""
    rows: list[Metric] = []
    if m.bound is not None:
        b = m.bound
        rows.append(
            Metric(
                "ELBO",
                f"{_pm(b.elbo.bits_per_dim, b.elbo.bits_per_dim_stderr, 4)} bits/dim "
                f"(ELBO {_pm(-b.elbo.nll_nats, b.elbo.nll_nats_stderr, 2)} nats/image)",
                "bound",
                f"{b.elbo.num_images:,}",
                f"reconstruction {b.reconstruction_nats:.2f} nats, KL {b.kl_nats:.2f} nats",
            )
        )
        rows.append(
            Metric(
                f"IWAE bound, k={b.k:,}",
                f"{_pm(b.iwae.bits_per_dim, b.iwae.bits_per_dim_stderr, 4)} bits/dim",
                "bound",
                f"{b.iwae_images:,}",
                f"ELBO on the same images: {b.elbo_on_iwae_images.bits_per_dim:.4f} bits/dim",
            )
        )
    elif m.test is not None:
        t = m.test
        value = (
            f"{_pm(t.bits_per_dim, t.bits_per_dim_stderr, 4)} bits/dim "
            f"({_pm(t.nll_nats, t.nll_nats_stderr, 2)} nats/image)"
        )
        if t.failed_checks:  # not a likelihood: say why instead of showing it as one
            value = "invalid"
            note = f"not a likelihood: {describe_checks(t.checks)}"
        else:
            note = describe_checks(t.checks)
        rows.append(
            Metric(
                "test negative log-likelihood",
                value,
                t.density or m.density,
                f"{t.num_images:,}",
                note,
            )
        )
    if m.test is not None or m.bound is not None:
        rows.append(
            Metric("uniform distribution", f"{m.uniform_bits_per_dim:.4f} bits/dim", "exact")
        )
    if m.test_accuracy is not None:
        rows.append(
            Metric(
                "test accuracy (Bayes' rule)",
                f"{m.test_accuracy:.3f}",
                "measured",
                f"{m.num_test_images:,}",
            )
        )
    if m.parzen is not None:
        p = m.parzen
        rows.append(
            Metric(
                "Parzen-window log-density",
                f"{_pm(p.log_density_mean, p.log_density_sem, 1)} nats/image on [0, 1]^D",
                "estimate",
                f"{p.num_test:,}",
                f"σ = {p.sigma:g}"
                + (" (at the edge of the grid searched)" if p.sigma_at_grid_edge else "")
                + "; unreliable (Theis et al. 2016), not comparable with bits/dim",
            )
        )
    if m.ais is not None:
        a = m.ais
        rows.append(
            Metric(
                "AIS log-likelihood (Gaussian decoder)",
                f"{_pm(a.log_likelihood_mean, a.log_likelihood_sem, 1)} nats/image on [0, 1]^D",
                "estimate",
                f"{a.num_images:,}",
                f"stochastic lower bound; σ = {a.sigma:g}, {a.steps:,} steps × {a.chains} "
                f"chains, acceptance {a.acceptance:.2f}",
            )
        )
    return rows


def _quality(m: RunMetrics) -> dict[str, Any] | None:
    q = m.sample_quality
    if q is None:
        return None
    s, f = q.samples, q.floor
    network = q.feature_network
    accuracy = (
        "" if network.test_accuracy is None else f", test accuracy {network.test_accuracy:.3f}"
    )
    rows = [
        ("FID", f"{s.fid:.2f}", f"{f.fid:.2f}", "lower is better"),
        ("KID", _kid(s)[0], _kid(f)[0], _kid(s)[1]),
        ("precision", f"{s.precision:.3f}", f"{f.precision:.3f}", f"fidelity; k={s.k_pr}"),
        ("recall", f"{s.recall:.3f}", f"{f.recall:.3f}", f"diversity; k={s.k_pr}"),
        ("density", f"{s.density:.3f}", f"{f.density:.3f}", f"k={s.k_dc}"),
        ("coverage", f"{s.coverage:.3f}", f"{f.coverage:.3f}", f"k={s.k_dc}"),
    ]
    if q.label_agreement is not None:
        floor = "" if q.floor_label_agreement is None else f"{q.floor_label_agreement:.3f}"
        rows.append(("label agreement", f"{q.label_agreement:.3f}", floor, ""))
    return {
        "rows": rows,
        "about": (
            f"{q.num_samples:,} samples against {q.num_reference:,} {q.reference} images on the "
            f"features of {network.name} ({network.feature_dim} dimensions{accuracy}); the "
            f"floor: {f.num_fake:,} real {q.floor_images} images against the same reference"
        ),
        "classifier": network.kind == "classifier",
    }


def _kid(scores: Any) -> tuple[str, str]:
    """KID as shown, and what its spread is: over random subsets, or none when every subset
    holds all the images (then they are all the same)."""
    size = min(scores.kid_subset_size, scores.num_real, scores.num_fake)
    if size >= min(scores.num_real, scores.num_fake):
        return f"{scores.kid:.4f}", "all images (one subset)"
    return (
        _pm(scores.kid, scores.kid_std, 4),
        f"± s.d. over {scores.kid_subsets} subsets of {size}",
    )


def _table_notes(rows: list[Row]) -> list[str]:
    notes = []
    if any(r.bound for r in rows):
        notes.append(
            "bound: an upper bound on the true bits/dim (the model is at least this good)."
        )
    if any(r.conditional for r in rows):
        notes.append("conditional: log p(x | y) given the label, not comparable with log p(x).")
    networks = {
        r.card.metrics.sample_quality.feature_network.name
        for r in rows
        if r.card.metrics.sample_quality is not None
    }
    if networks:
        notes.append(
            f"FID on {', '.join(sorted(networks))}: a feature network of the dataset itself, "
            "not comparable with Inception FIDs of papers; the floor is real training images "
            "against the same test images."
        )
    return notes


def _summary(rows: list[Row], split: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "genzoo-report",
        "split": split,
        "runs": [
            {
                "run": str(r.card.path),
                "model": r.card.model,
                "family": r.card.family,
                "likelihood": r.likelihood or None,
                "bits_per_dim": r.bits_per_dim,
                "bits_per_dim_stderr": r.bits_per_dim_stderr,
                "failed_checks": list(r.failed_checks),
                "fid": r.fid,
                "fid_floor": r.fid_floor,
                "precision": r.precision,
                "recall": r.recall,
                "train_seconds": r.card.train_seconds,
                "images_per_second": r.card.images_per_second,
                "parameters": r.card.parameters,
            }
            for r in rows
        ],
    }


def _fmt(value: float | int | None, spec: str = ".4f") -> str:
    """A number for the page, ``—`` when missing or not finite."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return format(value, spec)


def _seconds(value: float | None) -> str:
    """Seconds with a decimal below 10 s (a tiny run's 0.4 s is not "0")."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def _kind(kind: str) -> str:
    """The CSS class of a metric's kind (only known kinds get one)."""
    first = kind.split(":")[0].strip()
    return first if first in ("exact", "bound", "estimate", "measured") else "other"


def _render(**context: Any) -> str:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("genzoo.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["fmt"] = _fmt
    environment.filters["seconds"] = _seconds
    environment.filters["kind"] = _kind
    return environment.get_template("report.html.j2").render(**context)
