"""The 2-D map drawn with matplotlib (the Agg canvas: no display, no pyplot global state)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from genzoo.errors import ConfigError
from genzoo.evaluation.unsupervised.maps import Embedding

#: the 10 colours of matplotlib's ``tab10``; more classes cycle through them
PALETTE = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)
#: colour of the points of an unlabelled dataset
_GREY = (40, 40, 40)
_DPI = 100
#: pixels kept right of the axes for the legend
_LEGEND_WIDTH = 150
#: pixels per legend row at the legend's font size
_LEGEND_ROW = 18


def plot_embedding(
    embedding: Embedding,
    path: str | os.PathLike[str],
    *,
    class_names: list[str] | None = None,
    title: str = "",
    size: tuple[int, int] = (800, 640),
    seed: int = 0,
) -> Path:
    """Draw the 2-D map as a PNG of ``size`` pixels: one dot per test image coloured by label
    (:data:`PALETTE`, cycled), the axes named after :meth:`Embedding.axis_names`, a legend.

    Points are drawn in a seeded random order so that no class hides the others. Returns the
    path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = size
    if width < _LEGEND_WIDTH + 140 or height < 170:
        raise ConfigError(f"size {size} is too small for a map; use at least (290, 170)")
    xy, labels = embedding.coords, embedding.labels
    classes = [] if labels is None else sorted(int(c) for c in np.unique(labels))
    if labels is None:
        colours = np.tile(_rgb(_GREY), (xy.shape[0], 1))
    else:
        colours = np.array([_rgb(PALETTE[int(c) % len(PALETTE)]) for c in labels]).reshape(-1, 3)
    order = np.random.default_rng(seed).permutation(xy.shape[0])

    figure = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, facecolor="white")
    FigureCanvasAgg(figure)
    legend = _LEGEND_WIDTH if classes else 20
    left, right, bottom, top = 60, width - legend, 45, height - 30  # pixels
    axes = figure.add_axes(
        (left / width, bottom / height, (right - left) / width, (top - bottom) / height)
    )
    axes.scatter(xy[order, 0], xy[order, 1], s=12, c=colours[order], linewidths=0)
    x_name, y_name = embedding.axis_names()
    axes.set_xlabel(x_name, fontsize=8)
    axes.set_ylabel(y_name, fontsize=8)
    axes.tick_params(labelsize=7)
    axes.set_title(title or f"{embedding.representation}: {xy.shape[0]:,} test images", fontsize=9)
    if classes:
        axes.legend(
            handles=_legend_handles(classes, class_names, (top - bottom) // _LEGEND_ROW),
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            fontsize=8,
            frameon=False,
            borderaxespad=0.0,
        )
    out = Path(path)
    figure.savefig(out, format="png", dpi=_DPI)
    return out


def _rgb(colour: tuple[int, int, int]) -> tuple[float, float, float]:
    return (colour[0] / 255, colour[1] / 255, colour[2] / 255)


def _legend_handles(classes: list[int], class_names: list[str] | None, rows: int) -> list[Any]:
    """One coloured square per class, as many as ``rows`` fit, then ``"... N more"``."""
    from matplotlib.patches import Patch

    shown = classes if len(classes) <= rows else classes[: max(rows - 1, 0)]
    handles = []
    for c in shown:
        name = class_names[c] if class_names and c < len(class_names) else str(c)
        handles.append(Patch(facecolor=_rgb(PALETTE[c % len(PALETTE)]), label=name[:18]))
    if len(shown) < len(classes):
        handles.append(Patch(facecolor="none", edgecolor="none",
                             label=f"... {len(classes) - len(shown)} more"))  # fmt: skip
    return handles
