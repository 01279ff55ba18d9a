"""Training checkpoints: atomic writes, safe loads, and RNG states as plain tensors.

A checkpoint is one ``torch.save`` file, ``out_dir/checkpoint.pt``, holding only tensors, numbers,
strings, lists and dicts, so it loads with ``torch.load(path, weights_only=True)`` (no pickle of
arbitrary objects). Keys (format version 1):

* ``format`` (``"genzoo-train-checkpoint"``), ``version`` (1), ``genzoo_version``;
* ``step`` (optimizer steps done), ``epoch`` (completed epochs), ``batch_in_epoch`` (global
  batches done in the current epoch), ``train_seconds``, ``images_seen``;
* ``model``: the raw (non-averaged) weights, CPU, contiguous; ``model_name``, ``model_config``;
* ``ema``: ``{"decay", "num_updates", "weights"}`` or ``None``;
* ``optimizer``: ``AdamW.state_dict()``; ``scheduler``: the :class:`LRSchedule` parameters;
* ``rng``: one entry per rank (see :func:`capture_rng`);
* ``train_config`` (:meth:`TrainConfig.to_dict`), ``dataset`` (name, levels, shape, classes),
  ``last_eval`` (the latest periodic evaluation or ``None``).

Loading never runs code from the file: ``weights_only=True`` refuses any pickled object that is
not a tensor or a plain container (a hostile ``__reduce__`` payload is rejected before it runs),
and every way a file can be damaged becomes a :class:`~genzoo.errors.TrainingError` naming it.

:func:`hold_run` is the run folder's lock (:meth:`RunFolder.lock`) as the trainer takes it: a
command may take it first (the CLI does, before writing ``data.json``) and the engine's nested
request then shares it instead of refusing its own process.
"""

from __future__ import annotations

import contextlib
import pickle
import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist

from genzoo.core.atomic import atomic_save
from genzoo.core.run import RunFolder
from genzoo.errors import TrainingError

if TYPE_CHECKING:  # Lightning Fabric takes ~1 s to import; only annotations need it here
    from lightning_fabric import Fabric

CHECKPOINT_NAME = RunFolder.CHECKPOINT
FORMAT = "genzoo-train-checkpoint"
VERSION = 1


def to_cpu(obj: Any) -> Any:
    """Move every tensor in a nested dict/list structure to the CPU (memory format kept)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()  # strides are kept: resumed optimizer state matches exactly
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path`` atomically (:func:`genzoo.core.atomic.atomic_save`).

    A crash or a full disk mid-write leaves the previous file intact.
    """
    atomic_save(path, lambda handle: torch.save(obj, handle))


#: what a checkpoint must hold, and of which type, for a resume to make sense of it
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "step": int,
    "epoch": int,
    "batch_in_epoch": int,
    "images_seen": int,
    "train_seconds": (int, float),
    "elapsed": (int, float),
    "model": dict,
    "model_name": str,
    "model_config": dict,
    "optimizer": (dict, list),
    "rng": list,
    "train_config": dict,
    "dataset": dict,
}


def load_checkpoint(path: Path, *, mmap: bool = False) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` onto the CPU.

    Args:
        path: the ``checkpoint.pt`` file.
        mmap: map the tensors instead of reading them (cheap, for a look at the progress).

    Raises:
        TrainingError: when the file is missing, unreadable, holds anything but tensors and
            plain containers (it is refused, nothing in it runs), or is not a genzoo checkpoint.
    """
    if not path.is_file():
        raise TrainingError(
            f"cannot resume: no checkpoint at {path}; train without --resume to start a new run, "
            "or pass the --out directory of the run to continue"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # torch raises many types for truncated, corrupt or unsafe files
        refused = _refused_global(exc) if isinstance(exc, pickle.UnpicklingError) else None
        if refused is not None:
            raise TrainingError(
                f"refusing checkpoint {path}: it holds a Python object other than tensors "
                f"({refused}), which genzoo never unpickles — it was not written by genzoo or was "
                "tampered with, and nothing in it was run; delete it or restore the run's own"
            ) from None
        raise TrainingError(
            f"cannot read checkpoint {path} ({_reason(exc)}); it is damaged or incomplete — "
            "restore it from a copy, or delete it and train a new run"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise TrainingError(f"{path} is not a genzoo training checkpoint; use another --out")
    if state.get("version") != VERSION:
        raise TrainingError(
            f"{path} has checkpoint format version {state.get('version')}, this genzoo reads "
            f"version {VERSION}; resume with the genzoo version that wrote it"
        )
    for key, kind in REQUIRED.items():
        value = state.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise TrainingError(
                f"checkpoint {path} is damaged: {key!r} is "
                f"{'missing' if key not in state else type(value).__name__}; restore it from a "
                "copy, or delete it and train a new run"
            )
    if state["step"] < 0 or state["images_seen"] < 0:
        raise TrainingError(f"checkpoint {path} is damaged: a negative step count; restore it")
    return state


def damaged_checkpoint(path: Path, exc: BaseException) -> TrainingError:
    """The error for a checkpoint whose tensors do not fit the run being resumed."""
    return TrainingError(
        f"cannot resume from {path}: its saved state does not fit the model and recipe it "
        f"names ({_reason(exc)}); the file is damaged — restore it, or delete it and train a new "
        "run"
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, pickle.UnpicklingError) or "weights_only" in text:
        return "torch cannot parse it"  # torch's own text would suggest loading it unsafely
    return text.splitlines()[0][:160] if text else type(exc).__name__


def _refused_global(exc: BaseException) -> str | None:
    """``GLOBAL posix.system`` when torch refused to unpickle a global, else ``None``."""
    for line in str(exc).splitlines():
        if "unsupported global" in line.lower():
            words = line.split()
            index = next(i for i, w in enumerate(words) if w.upper() == "GLOBAL")
            return " ".join(words[index : index + 2])
    return None


# ---------------------------------------------------------------------- the run folder lock
_HELD: dict[Path, int] = {}


@contextlib.contextmanager
def hold_run(run: RunFolder) -> Iterator[None]:
    """Hold ``run``'s lock (:meth:`RunFolder.lock`); nested calls in one process share it.

    Raises:
        TrainingError: another live process trains into the folder (the message names it).
    """
    key = run.path.resolve()
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    with run.lock():
        _HELD[key] = 1
        try:
            yield
        finally:
            del _HELD[key]


# ---------------------------------------------------------------------- RNG states
def capture_rng(device: torch.device) -> dict[str, torch.Tensor]:
    """This process's global RNG states as fixed-shape tensors.

    Keys: ``torch`` (CPU generator), ``cuda`` (the current CUDA device's generator, only when
    ``device`` is a CUDA device), ``python`` and ``python_gauss`` (``random``'s version, 625
    words and ``gauss_next``), ``numpy`` and ``numpy_state`` (MT19937 key; position, cached
    Gaussian). Fixed shapes let the ranks gather them in one call.
    """
    version, words, gauss = random.getstate()
    # the legacy global numpy RNG is what user code may draw from; it is saved, not used
    _, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    state = {
        "torch": torch.get_rng_state(),
        "python": torch.tensor([version, *words], dtype=torch.int64),
        "python_gauss": torch.tensor(
            [0.0 if gauss is None else 1.0, 0.0 if gauss is None else gauss], dtype=torch.float64
        ),
        "numpy": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy_state": torch.tensor([pos, has_gauss, cached], dtype=torch.float64),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def gather_rng(fabric: Fabric) -> list[dict[str, torch.Tensor]]:
    """Every rank's :func:`capture_rng`, in rank order (a collective when distributed)."""
    mine = capture_rng(fabric.device)
    world = fabric.world_size
    if world == 1:
        return [mine]
    ranks: list[dict[str, torch.Tensor]] = [{} for _ in range(world)]
    for key, value in mine.items():  # gloo and nccl gather tensors on the rank's device
        local = value.to(fabric.device)
        parts = [torch.empty_like(local) for _ in range(world)]
        dist.all_gather(parts, local)
        for r in range(world):
            ranks[r][key] = parts[r].cpu()
    return ranks


def restore_rng(state: dict[str, torch.Tensor], device: torch.device) -> None:
    """Set the global RNGs from :func:`capture_rng` output."""
    torch.set_rng_state(state["torch"].to("cpu", torch.uint8))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].to("cpu", torch.uint8), device)
    python = [int(v) for v in state["python"].tolist()]
    has_gauss, gauss = state["python_gauss"].tolist()
    random.setstate((python[0], tuple(python[1:]), gauss if has_gauss else None))
    pos, has_np_gauss, cached = state["numpy_state"].tolist()
    keys = state["numpy"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, int(pos), int(has_np_gauss), float(cached)))  # noqa: NPY002


def seed_all(seed: int) -> None:
    """Seed ``random``, numpy and torch (CPU and every CUDA device) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002
    torch.manual_seed(seed)
