"""The report's plots, drawn with matplotlib on the Agg canvas (no display, no pyplot state).

* :func:`training_curves`: one run's loss and bits/dim against the step and against wall-clock
  time, the periodic evaluation (validation or test images) beside the training average;
* :func:`quality_against_time`: FID and bits/dim of every run against its training seconds;
* :func:`likelihood_against_quality`: bits/dim against FID, for the runs that have both.

Every axis says its quantity and unit. Run names are drawn as plain text (``parse_math=False``:
a ``$`` in a folder name is not TeX).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from genzoo.report.cards import FAMILIES, RunCard
from genzoo.report.table import Row

#: one colour per family of the taxonomy (matplotlib's tab10)
COLOURS = {
    "tractable": "#1f77b4",
    "approximate": "#2ca02c",
    "implicit": "#d62728",
    "classic": "#9467bd",
}
_DPI = 100
#: (training, periodic evaluation) colours of a panel's first and second quantity
_PAIRS = (("#1f77b4", "#ff7f0e"), ("#2ca02c", "#d62728"))
_FLOOR = "#7f7f7f"


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI, facecolor="white", layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: Path) -> Path:
    figure.savefig(path, format="png", dpi=_DPI, metadata={"Software": None})
    return path


def _curve_pairs(card: RunCard) -> list[tuple[str, str, list[str]]]:
    """``(title, y label, columns)`` of the panels a run's curves fill: its losses (the two
    players' for a two-player game) and, when logged, bits/dim."""
    curves = card.curves
    players = [c for c in ("d_loss", "g_loss") if curves.has(c)]
    panels = [("loss", "loss (the model's training objective)", players or ["loss"])]
    if curves.has("bits_per_dim") or curves.has("eval_bits_per_dim"):
        panels.append(("bits/dim", "bits per dimension", ["bits_per_dim"]))
    return panels


def training_curves(card: RunCard, path: Path) -> Path | None:
    """Draw ``card``'s curves into ``path`` (PNG): a row per quantity, against the step (left)
    and against wall-clock seconds (right). Returns ``None`` when ``metrics.csv`` is empty."""
    curves = card.curves
    if len(curves) == 0:
        return None
    panels = _curve_pairs(card)
    figure = _figure(9.0, 2.6 * len(panels))
    axes = figure.subplots(len(panels), 2, squeeze=False)
    eval_name = card.eval_label.split(" (")[0]
    for row, (_, ylabel, columns) in enumerate(panels):
        for col, (x, xlabel) in enumerate(
            (
                ("step", "step (optimizer step; EM iteration)"),
                ("elapsed", "wall-clock time of the run (s)"),
            )
        ):
            ax = axes[row][col]
            for column, (train_colour, eval_colour) in zip(columns, _PAIRS):
                name = column.replace("_", " ")
                xs, ys = curves.points(x, column)
                if xs:
                    ax.plot(xs, ys, "-", color=train_colour, lw=1.4, label=f"training {name}")
                xs, ys = curves.points(x, f"eval_{column}")
                if xs:
                    ax.plot(
                        xs,
                        ys,
                        "o--",
                        color=eval_colour,
                        ms=3.5,
                        lw=1.0,
                        label=f"{eval_name} {name}",
                    )
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            if col == 0:
                ax.legend(fontsize=7, frameon=False)
    return _save(figure, path)


def _label_points(ax: Any, points: list[tuple[float, float, str]]) -> None:
    """A name beside each marker; a label that would overlap one already placed (markers
    close together) moves down a line."""
    if not points:
        return
    ax.figure.canvas.draw()  # the axes' limits and transform as they will be drawn
    pixels = ax.figure.dpi / 72  # per point
    placed: list[tuple[float, float]] = []  # label positions, in pixels
    for x, y, text in sorted(points, key=lambda p: -p[1]):
        px, py = ax.transData.transform((x, y))
        dy = 3.0  # points
        while any(
            abs(px - qx) < 80 and abs(py + dy * pixels - qy) < 10 * pixels for qx, qy in placed
        ):
            dy -= 9.0
        placed.append((px, py + dy * pixels))
        ax.annotate(
            text, (x, y), xytext=(4, dy), textcoords="offset points", fontsize=7, parse_math=False
        )


def _scatter(ax: Any, rows: list[Row], x_of: Any, y_of: Any) -> list[tuple[float, float, str]]:
    """One marker per row with both values (filled: exact or no likelihood; hollow: a bound)."""
    shown = []
    for r in rows:
        x, y = x_of(r), y_of(r)
        if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
            continue
        colour = COLOURS[r.card.family]
        face = "white" if r.bound else colour
        ax.scatter([x], [y], s=36, color=face, edgecolors=colour, linewidths=1.5, zorder=3)
        shown.append((x, y, r.card.name))
    _label_points(ax, shown)
    ax.margins(x=0.18, y=0.12)  # room for the labels right of the markers
    return shown


def _family_legend(ax: Any, rows: list[Row], *, bound_note: bool) -> None:
    from matplotlib.lines import Line2D

    families = [k for k in FAMILIES if any(r.card.family == k for r in rows)]
    handles = [
        Line2D([], [], ls="", marker="o", color=COLOURS[k], label=FAMILIES[k].split(" (")[0])
        for k in families
    ]
    if bound_note and any(r.bound for r in rows):
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                markerfacecolor="white",
                color="black",
                label="bound: true bits/dim lower",
            )
        )
    ax.legend(handles=handles, fontsize=7, frameon=False, loc="best")


def _reference_line(ax: Any, y: float, text: str) -> None:
    """A dashed horizontal line at ``y`` named by a small caption at its left end."""
    ax.axhline(y, color=_FLOOR, ls="--", lw=0.8)
    ax.annotate(
        text,
        (0.01, y),
        xycoords=("axes fraction", "data"),
        xytext=(0, 2),
        textcoords="offset points",
        fontsize=7,
        color=_FLOOR,
        parse_math=False,
    )


def _floor_lines(ax: Any, rows: list[Row]) -> None:
    """The floor of real images (one line per distinct floor: they differ only when the runs'
    sample-quality settings do)."""
    floors = sorted({round(r.fid_floor, 3) for r in rows if r.fid_floor is not None})
    for floor in floors:
        _reference_line(ax, floor, "floor: real training images")


def quality_against_time(rows: list[Row], uniform: float, path: Path) -> Path | None:
    """FID (left) and test bits/dim (right) against training seconds; ``None`` when no run has
    a training time."""
    if not any(r.card.train_seconds for r in rows):
        return None
    figure = _figure(9.0, 3.4)
    left, right = figure.subplots(1, 2)

    def seconds(r: Row) -> float | None:
        return r.card.train_seconds

    for ax, value, ylabel in (
        (left, lambda r: r.fid, "FID on the feature network (lower is better)"),
        (right, lambda r: r.bits_per_dim, "test bits/dim (lower is better)"),
    ):
        shown = _scatter(ax, rows, seconds, value)
        if ax is left:
            _floor_lines(ax, [r for r in rows if r.fid is not None])
        else:
            _reference_line(ax, uniform, "uniform distribution")
        if not shown:
            ax.text(0.5, 0.5, "no run has this number", ha="center", transform=ax.transAxes)
        _log_if_wide(ax, [p[0] for p in shown])
        ax.set_xlabel("training time (s of training steps)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    _family_legend(right, rows, bound_note=True)
    return _save(figure, path)


def likelihood_against_quality(rows: list[Row], path: Path) -> Path | None:
    """Test bits/dim against FID for the runs with both; ``None`` when none has both."""
    both = [r for r in rows if r.bits_per_dim is not None and r.fid is not None]
    if not both:
        return None
    figure = _figure(5.6, 3.8)
    ax = figure.subplots()
    _scatter(ax, both, lambda r: r.bits_per_dim, lambda r: r.fid)
    _floor_lines(ax, both)
    ax.set_xlabel("test bits/dim (lower is better)", fontsize=8)
    ax.set_ylabel("FID (lower is better)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    _family_legend(ax, both, bound_note=True)
    return _save(figure, path)


def _log_if_wide(ax: Any, xs: list[float]) -> None:
    positive = [x for x in xs if x > 0]
    if len(positive) >= 2 and max(positive) / min(positive) > 20:
        ax.set_xscale("log")
