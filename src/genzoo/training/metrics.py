"""Where metrics go: ``metrics.csv`` (always) and TensorBoard (when installed); rank 0 only.

``metrics.csv`` has one row per logged step. Its columns are fixed by the first row: ``step``,
``epoch`` (fractional), ``elapsed`` (wall-clock seconds of the run, summed over resumes),
``train_seconds`` (the part spent training), ``lr``, ``images_per_s``, then the model's training
metrics (``loss`` first, e.g. ``bits_per_dim``, ``nll_nats``) averaged over the steps since the
previous row, ``grad_norm`` (before clipping, when clipping is on), then ``eval_<metric>`` of
the periodic evaluation, empty on rows without one.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from genzoo.core.atomic import atomic_write
from genzoo.core.run import RunFolder
from genzoo.errors import StorageError, TrainingError

METRICS_NAME = RunFolder.METRICS_CSV
TENSORBOARD_DIR = RunFolder.TENSORBOARD
BASE_COLUMNS = ("step", "epoch", "elapsed", "train_seconds", "lr", "images_per_s")


class MetricsWriter:
    """Append rows to ``out_dir/metrics.csv`` and TensorBoard scalars to ``out_dir/tb/``.

    Args:
        out_dir: the run directory.
        resume_step: when resuming, the checkpoint's step: rows after it (written by the
            interrupted run after its last checkpoint) are dropped so no step appears twice.
        enabled: ``False`` on ranks other than 0 (every method is then a no-op).
    """

    def __init__(self, out_dir: Path, *, resume_step: int | None, enabled: bool) -> None:
        self.path = out_dir / METRICS_NAME
        self.enabled = enabled
        self._columns: list[str] | None = None
        self._handle: Any = None
        self._writer: csv.DictWriter | None = None
        self._tb: Any = None
        if not enabled:
            return
        if resume_step is not None and self.path.is_file():
            self._truncate_after(resume_step)
        elif self.path.exists():
            self.path.unlink()
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            return
        purge = None if resume_step is None else resume_step + 1
        self._tb = SummaryWriter(log_dir=str(out_dir / TENSORBOARD_DIR), purge_step=purge)

    def _truncate_after(self, step: int) -> None:
        try:
            with open(self.path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                columns = list(reader.fieldnames or [])
                if columns and columns[: len(BASE_COLUMNS)] != list(BASE_COLUMNS):
                    raise ValueError("its header is not that of genzoo's metrics")
                rows = [row for row in reader if row.get("step") and int(row["step"]) <= step]
        except (OSError, ValueError, csv.Error) as exc:  # UnicodeDecodeError is a ValueError
            reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise TrainingError(
                f"{self.path} is damaged ({reason}); restore it, or move it aside to resume "
                f"without the training curves up to step {step}"
            ) from None
        if not columns:  # an empty file: nothing to keep
            self.path.unlink()
            return
        self._columns = columns
        lines: list[str] = []
        writer = csv.DictWriter(_ListSink(lines), fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(self.path, "".join(lines))

    def write(self, row: dict[str, Any]) -> None:
        """Append one row (keys not among the columns are ignored) and log it to TensorBoard."""
        if not self.enabled:
            return
        if self._columns is None:
            train = [k for k in row if k not in BASE_COLUMNS and not k.startswith("eval_")]
            evals = [f"eval_{k}" for k in train if k != "grad_norm"]
            extra = [k for k in row if k.startswith("eval_") and k not in evals]
            self._columns = [*BASE_COLUMNS, *train, *evals, *extra]
        try:
            if self._writer is None:
                new_file = not self.path.is_file()
                self._handle = open(self.path, "a", newline="")  # closed in close()
                self._writer = csv.DictWriter(
                    self._handle,
                    fieldnames=self._columns,
                    extrasaction="ignore",
                    lineterminator="\n",
                )
                if new_file:
                    self._writer.writeheader()
            self._writer.writerow({k: _format(v) for k, v in row.items()})
            self._handle.flush()
        except OSError as exc:
            raise StorageError(
                f"cannot append to {self.path}: {exc.strerror or type(exc).__name__}; free some "
                "space (or fix the folder's permissions) and resume"
            ) from None
        if self._tb is not None:
            step = int(row["step"])
            for key, value in row.items():
                if key in ("step", "epoch", "elapsed", "train_seconds") or value is None:
                    continue
                tag = f"eval/{key[5:]}" if key.startswith("eval_") else f"train/{key}"
                self._tb.add_scalar(tag, float(value), step)
            self._tb.flush()

    def close(self) -> None:
        """Close the CSV file and the TensorBoard writer."""
        if self._handle is not None:
            self._handle.close()
            self._handle, self._writer = None, None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


class _ListSink:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def write(self, text: str) -> None:
        self.lines.append(text)


def _format(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.8g}"
    return "" if value is None else value
