"""The comparison across runs: one row per run, grouped by the lecture's taxonomy.

The bits/dim column is :func:`genzoo.evaluation.comparison.density_comparison`'s (the same
number ``genzoo compare`` prints: the IWAE bound when it covers every test image, else the
ELBO), and so is the refusal of runs scored on different test images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from genzoo.evaluation.comparison import density_comparison
from genzoo.report.cards import FAMILIES, RunCard


@dataclass
class Row:
    """One run's numbers in the comparison table (``None``: not measured)."""

    card: RunCard
    bits_per_dim: float | None = None
    bits_per_dim_stderr: float | None = None
    likelihood: str = ""
    conditional: bool = False
    #: checks the test estimate failed: its number is not a likelihood (``bits_per_dim`` None)
    failed_checks: tuple[str, ...] = ()
    fid: float | None = None
    fid_floor: float | None = None
    precision: float | None = None
    recall: float | None = None
    precision_floor: float | None = None
    recall_floor: float | None = None

    @property
    def bound(self) -> bool:
        """The bits/dim is an upper bound (the model is at least this good)."""
        return self.likelihood.startswith("bound")


def comparison(cards: list[RunCard]) -> tuple[list[Row], dict[str, Any]]:
    """Rows of ``cards`` (in the taxonomy's order, then by bits/dim, then by FID) and the test
    split they share (``dataset``, ``levels``, ``shape``, ``num_test_images``,
    ``uniform_bits_per_dim``).

    Raises:
        ConfigError: the runs were scored on different test images (one line naming both).
    """
    shared = density_comparison([str(c.path) for c in cards])
    likelihoods = {r["run"]: r for r in shared["rows"]}
    rows = []
    for card in cards:
        row = Row(card)
        found = likelihoods.get(str(card.path))
        if found is not None:
            row.bits_per_dim = found["bits_per_dim"]
            row.bits_per_dim_stderr = found["bits_per_dim_stderr"]
            row.likelihood = found["density"] + (
                f": {found['estimate']}" if found["estimate"] else ""
            )
            row.conditional = bool(found["conditional"])
            row.failed_checks = tuple(found.get("failed_checks") or ())
            if row.failed_checks:  # not a likelihood: no number in the table or the figures
                row.bits_per_dim = row.bits_per_dim_stderr = None
        quality = card.metrics.sample_quality
        if quality is not None:
            row.fid, row.fid_floor = quality.samples.fid, quality.floor.fid
            row.precision, row.recall = quality.samples.precision, quality.samples.recall
            row.precision_floor, row.recall_floor = quality.floor.precision, quality.floor.recall
        rows.append(row)
    order = list(FAMILIES)
    rows.sort(
        key=lambda r: (
            order.index(r.card.family),
            math.inf if r.bits_per_dim is None else r.bits_per_dim,
            math.inf if r.fid is None else r.fid,
        )
    )
    split = {k: v for k, v in shared.items() if k not in ("rows", "no_density")}
    return rows, split


def grouped(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    """``[(heading, rows)]`` for each family of the taxonomy that has rows."""
    return [
        (heading, [r for r in rows if r.card.family == key])
        for key, heading in FAMILIES.items()
        if any(r.card.family == key for r in rows)
    ]
