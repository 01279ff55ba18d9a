"""A run folder: the one place that knows a run's file names.

``genzoo train`` writes a run into a folder; everything else (``eval``, ``sample``, ``compare``,
the benchmarks, the HTML report) finds its parts through :class:`RunFolder`:

=========================  ======================================================================
``config.json``,           the trained model (:func:`genzoo.load_model`,
``model.safetensors``      :mod:`genzoo.core.artifact`)
``checkpoint.pt``          optimiser, EMA, RNG and progress for ``--resume`` (tensors only)
``train_config.json``      the recipe, the data and the hardware it ran on
``data.json``              how to load the data again (name, levels, size, task)
``metrics.csv``, ``tb/``   the training curves (one row per logged step; TensorBoard)
``metrics.json``           the final evaluation (:class:`~genzoo.core.metrics.RunMetrics`)
``samples.png`` ...        the figures of the final evaluation
``evaluations/NAME/``      evaluations on other data or with other settings (never the run's own)
``completions/``           completions of your own images (``genzoo complete RUN --image ...``)
``.lock``                  present while a process trains into the folder (its pid and host)
=========================  ======================================================================
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genzoo.core.artifact import CONFIG_NAME, WEIGHTS_NAME
from genzoo.core.atomic import atomic_write_json
from genzoo.core.metrics import RunMetrics, read_metrics
from genzoo.errors import GenzooError, ModelError, StorageError, TrainingError


class RunFolder:
    """The files of one run (nothing is read or created until asked)."""

    CHECKPOINT = "checkpoint.pt"
    TRAIN_CONFIG = "train_config.json"
    DATA_SPEC = "data.json"
    METRICS_CSV = "metrics.csv"
    METRICS_JSON = "metrics.json"
    TENSORBOARD = "tb"
    SAMPLES_PNG = "samples.png"
    COMPLETION_PNG = "completion.png"
    RECONSTRUCTION_PNG = "reconstruction.png"
    EVALUATIONS = "evaluations"
    COMPLETIONS = "completions"
    LOCK = ".lock"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def create(self) -> None:
        """Make the run's folder (and its parents) if missing.

        Raises:
            StorageError: ``path``, or one of its parents, is a file, or cannot be created.
        """
        blocking = next((p for p in (self.path, *self.path.parents) if p.is_file()), None)
        if blocking is not None:
            raise StorageError(
                f"{blocking} is a file, but the run {self.path} must be a folder; choose "
                "another --out"
            )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the run folder {self.path}: {exc.strerror or exc}; choose a "
                "writable --out"
            ) from exc

    def __fspath__(self) -> str:
        return str(self.path)

    # ------------------------------------------------------------------ paths
    @property
    def checkpoint(self) -> Path:
        return self.path / self.CHECKPOINT

    @property
    def model_config(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def weights(self) -> Path:
        return self.path / WEIGHTS_NAME

    @property
    def train_config(self) -> Path:
        return self.path / self.TRAIN_CONFIG

    @property
    def data_spec(self) -> Path:
        return self.path / self.DATA_SPEC

    @property
    def metrics_csv(self) -> Path:
        return self.path / self.METRICS_CSV

    @property
    def metrics_json(self) -> Path:
        return self.path / self.METRICS_JSON

    @property
    def tensorboard(self) -> Path:
        return self.path / self.TENSORBOARD

    def figure(self, name: str) -> Path:
        """Path of a figure of the final evaluation (``samples.png``, ...)."""
        return self.path / name

    def evaluation(self, name: str) -> RunFolder:
        """The folder of an evaluation named ``name`` (other data or settings)."""
        if not name or "/" in name or name in (".", ".."):
            raise GenzooError(f"an evaluation name must be a plain folder name, got {name!r}")
        return RunFolder(self.path / self.EVALUATIONS / name)

    # ------------------------------------------------------------------ state
    def holds_run(self) -> bool:
        """A training run (or a saved model) is already in the folder."""
        return self.checkpoint.exists() or self.model_config.exists()

    def holds_model(self) -> bool:
        return self.model_config.is_file() and self.weights.is_file()

    # ------------------------------------------------------------------ reading and writing
    def read_metrics(self) -> RunMetrics:
        """The final evaluation (:class:`RunMetrics`); :class:`ModelError` when absent."""
        return read_metrics(self.metrics_json)

    def write_metrics(self, metrics: RunMetrics) -> Path:
        self.create()
        return atomic_write_json(self.metrics_json, metrics.to_dict())

    def read_json(self, path: Path) -> dict[str, Any]:
        """A JSON object of the run; :class:`ModelError` naming the file when unreadable."""
        try:
            payload = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelError(
                f"{self.path} has no {path.name}; is it a genzoo run folder?"
            ) from None
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise ModelError(
                f"{path} is damaged ({type(exc).__name__}: {str(exc)[:120]}); restore it or "
                "train the run again"
            ) from None
        if not isinstance(payload, dict):
            raise ModelError(f"{path} is damaged (not a JSON object); restore it")
        return payload

    def read_train_config(self) -> dict[str, Any]:
        return self.read_json(self.train_config)

    def read_data_spec(self) -> dict[str, Any] | None:
        """How the run's data was loaded, or ``None`` when the folder does not record it."""
        if not self.data_spec.is_file():
            return None
        return self.read_json(self.data_spec)

    def write_data_spec(self, spec: dict[str, Any]) -> Path:
        self.create()
        return atomic_write_json(self.data_spec, spec)

    # ------------------------------------------------------------------ one writer at a time
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock while training into it.

        The lock file names the owner's pid and host. A second process refuses with a message
        naming the first; a lock whose owner on this host is gone (a crash, ``kill -9``) is
        stale and taken over.

        Raises:
            TrainingError: another live process holds the lock.
        """
        self.create()
        path = self.path / self.LOCK
        mine = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(2):
            if _create_lock(path, mine):
                break
            owner = _read_lock(path)
            if owner is not None and _alive(owner):
                raise TrainingError(
                    f"{self.path} is being trained into by process {owner.get('pid')} on "
                    f"{owner.get('host')}; wait for it to finish, stop it, or choose another "
                    "--out"
                )
            path.unlink(missing_ok=True)  # stale: its owner is gone
        else:  # pragma: no cover - another process took the stale lock between our two tries
            raise TrainingError(f"{self.path} is locked by another process; try again")
        try:
            yield
        finally:
            if _read_lock(path) == mine:
                path.unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete the folder and everything in it (evaluations, runs nested inside it), to
        train into it afresh — unless a live process trains into it or into a run inside it.

        The folder's own lock is held while deleting, so no trainer starts in it meanwhile. A
        missing folder is nothing to do.

        Raises:
            TrainingError: a live process holds the lock of this folder or of a run inside it
                (nothing is deleted).
            StorageError: the path is a file, not a folder.
        """
        if not self.path.exists():
            return
        if not self.path.is_dir():
            raise StorageError(f"{self.path} is a file, not a run folder; not deleting it")
        with self.lock():
            mine = self.path / self.LOCK
            for path in sorted(self.path.rglob(self.LOCK)):
                owner = _read_lock(path) if path != mine else None
                if owner is not None and _alive(owner):
                    raise TrainingError(
                        f"not deleting {self.path}: process {owner.get('pid')} on "
                        f"{owner.get('host')} trains into {path.parent}; wait for it or stop it"
                    )
            shutil.rmtree(self.path)


def _create_lock(path: Path, owner: dict[str, Any]) -> bool:
    """Create the lock file ``path`` holding ``owner``; ``False`` when it already exists.

    The content is written to a temporary file first and hard-linked into place (atomic, and
    refused when ``path`` exists), so the lock never exists empty: a second process that
    read a just-created, still empty lock used to judge it stale and delete it.
    """
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(owner, handle)
        os.chmod(name, 0o644)  # others sharing the folder must read it, or they judge it stale
        try:
            os.link(name, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: exclusive create, then write
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as handle:
                json.dump(owner, handle)
        return True
    finally:
        os.unlink(name)


def find_runs(root: str | os.PathLike[str]) -> list[RunFolder]:
    """The training runs of image models under ``root`` (``root`` itself included), sorted by
    path; the ``evaluations/`` sub-folders of a run are not runs of their own, and a saved
    model without a training record (a time-series fit) is not listed."""
    base = Path(root)
    found = []
    for config in sorted(base.rglob(CONFIG_NAME)):
        folder = config.parent
        if RunFolder.EVALUATIONS in folder.relative_to(base).parts:
            continue
        run = RunFolder(folder)
        if run.train_config.is_file() and (run.holds_model() or run.checkpoint.exists()):
            found.append(run)
    return found


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(owner, dict) or not isinstance(owner.get("host"), str):
        return None  # not a lock genzoo wrote (it always names a host): damaged, stale
    return owner


def _alive(owner: dict[str, Any]) -> bool:
    """Whether the lock's owner still runs (on another host we cannot tell: assume it does)."""
    if owner.get("host") != socket.gethostname():
        return True
    try:
        pid = int(owner.get("pid", -1))
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
