"""A run's training curves: ``metrics.csv`` read into columns of numbers.

The columns are those :mod:`genzoo.training.metrics` writes: ``step``, ``epoch``, ``elapsed``
(wall-clock seconds of the run), ``train_seconds`` (the part spent training), ``lr``,
``images_per_s``, the model's training metrics and ``eval_<metric>`` of the periodic evaluation
(empty on rows without one). Empty cells become ``nan``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from genzoo.errors import ModelError


@dataclass
class Curves:
    """The columns of ``metrics.csv``, each a list of floats (``nan`` where a cell is empty)."""

    columns: dict[str, list[float]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.columns.get("step", []))

    def has(self, name: str) -> bool:
        """The column exists and holds at least one number."""
        return any(math.isfinite(v) for v in self.columns.get(name, []))

    def points(self, x: str, y: str) -> tuple[list[float], list[float]]:
        """The rows where both ``x`` and ``y`` are numbers, as two lists."""
        pairs = [
            (a, b)
            for a, b in zip(self.columns.get(x, []), self.columns.get(y, []))
            if math.isfinite(a) and math.isfinite(b)
        ]
        return [a for a, _ in pairs], [b for _, b in pairs]

    def last(self, name: str) -> float | None:
        """The last number of a column, or ``None``."""
        values = [v for v in self.columns.get(name, []) if math.isfinite(v)]
        return values[-1] if values else None

    def train_seconds(self) -> float | None:
        """Seconds spent in training steps over the whole run (the last row's)."""
        return self.last("train_seconds")

    def images_per_second(self) -> float | None:
        """Training throughput over the run: the logged windows' ``images_per_s`` weighted by
        the training seconds each window took."""
        seconds, rates = self.points("train_seconds", "images_per_s")
        if not seconds:
            return None
        spans = [b - a for a, b in zip([0.0, *seconds[:-1]], seconds)]
        total = sum(s for s in spans if s > 0)
        if total <= 0:
            return None
        return sum(r * s for r, s in zip(rates, spans) if s > 0) / total


def read_curves(path: Path) -> Curves:
    """``metrics.csv`` as :class:`Curves`; an empty :class:`Curves` when the file is absent.

    Raises:
        ModelError: the file exists but is not a CSV of numbers.
    """
    if not path.is_file():
        return Curves()
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            names = list(reader.fieldnames or [])
            columns: dict[str, list[float]] = {n: [] for n in names}
            for row in reader:
                for n in names:
                    cell = row.get(n)
                    columns[n].append(float(cell) if cell not in (None, "") else math.nan)
    except (OSError, ValueError, csv.Error, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is damaged ({exc}); restore it or train the run again") from None
    if "step" not in columns:
        raise ModelError(f"{path} has no step column; is it a genzoo metrics.csv?")
    order = sorted(range(len(columns["step"])), key=lambda i: columns["step"][i])
    return Curves({n: [values[i] for i in order] for n, values in columns.items()})
