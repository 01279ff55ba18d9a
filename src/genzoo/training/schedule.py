"""Learning-rate schedules: linear warm-up, then constant or cosine decay.

A schedule is a pure function of the step (and, for a cosine over a time budget, of the training
seconds spent), so resuming needs no scheduler state beyond the progress the checkpoint already
holds; the checkpoint still records the schedule's parameters for inspection.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class LRSchedule:
    """Learning rate of the optimizer step with index ``step`` (0-based).

    * warm-up (``step < warmup_steps``): ``lr * (step + 1) / warmup_steps``;
    * ``"constant"``: ``lr`` afterwards;
    * ``"cosine"``: ``lr * (1 + cos(pi * p)) / 2`` with ``p = (step - warmup) / (total - warmup)``
      clipped to ``[0, 1]``, so the rate reaches 0 at ``total_steps`` and stays there;
      with ``total_seconds > 0`` the progress is time instead, ``p = seconds / total_seconds``
      (a ``--minutes`` budget: the rate reaches 0 when the budget is spent, however many steps
      that was; the rate at a given step then depends on the machine's speed).

    Args:
        lr: peak learning rate.
        kind: ``"constant"`` or ``"cosine"``.
        warmup_steps: length of the linear warm-up (0 = none).
        total_steps: length of the cosine schedule, warm-up included (ignored by constant).
        total_seconds: length of the cosine schedule in training seconds (0 = by steps).
    """

    lr: float
    kind: str = "constant"
    warmup_steps: int = 0
    total_steps: int = 0
    total_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("constant", "cosine"):
            raise ValueError(f"unknown schedule {self.kind!r}")
        if self.total_seconds < 0:
            raise ValueError(f"total_seconds must be >= 0, got {self.total_seconds}")
        by_time = self.total_seconds > 0
        if self.kind == "cosine" and not by_time and self.total_steps <= self.warmup_steps:
            raise ValueError(
                f"cosine total_steps ({self.total_steps}) must exceed warmup ({self.warmup_steps})"
            )

    def __call__(self, step: int, seconds: float = 0.0) -> float:
        """The rate of step ``step`` after ``seconds`` of training (used only by time)."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.kind == "constant":
            return self.lr
        if self.total_seconds > 0:
            progress = seconds / self.total_seconds
        else:
            progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        progress = min(max(progress, 0.0), 1.0)
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * progress))

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)
