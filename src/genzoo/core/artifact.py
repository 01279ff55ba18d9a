"""The one way to save and load anything configured: ``config.json`` + ``model.safetensors``.

An *artifact* is a directory holding

* ``config.json``: ``{"kind", "name", "format_version", "genzoo_version", "config", ...}`` —
  ``kind`` says what it is (``"image-model"``, ``"series-model"``, ``"feature-network"``),
  ``name`` which registered class rebuilds it, ``config`` the constructor arguments, and any
  ``extra`` keys its owner adds (a time-series model's fitted scalars);
* ``model.safetensors``: the tensors (no pickle: loading a file never runs code).

Both files are written atomically (:mod:`genzoo.core.atomic`), weights first, so a reader never
sees a config without its weights. :func:`read_artifact` turns every way a file can be damaged —
missing, truncated, zeroed, random bytes, wrong JSON, a tensor file from another version of
safetensors — into one :class:`~genzoo.errors.ModelError` that names the file and what to do.

Directories written before this format (genzoo 0.1 image models: ``{"model", "config"}``; time
series: ``{"kind": "timeseries", "model", "params", "fitted"}``) are read as format version 1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from genzoo.core.atomic import atomic_path, atomic_write_json
from genzoo.errors import ModelError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: version of the ``config.json`` layout written by this genzoo
FORMAT_VERSION = 2
#: the largest config.json read (a hostile file cannot exhaust memory)
MAX_CONFIG_BYTES = 16 * 2**20

#: ``kind`` values of the first layouts, which did not all record one
_LEGACY_KINDS = {"timeseries": "series-model", None: "image-model"}


@dataclass
class Artifact:
    """What :func:`read_artifact` found in a directory."""

    kind: str
    name: str
    config: dict[str, Any]
    format_version: int
    genzoo_version: str | None
    extra: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, Tensor] = field(default_factory=dict, repr=False)
    directory: Path = Path()


def save_artifact(
    directory: str | os.PathLike[str],
    *,
    kind: str,
    name: str,
    config: Mapping[str, Any],
    module: nn.Module | None = None,
    tensors: Mapping[str, Tensor] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write an artifact into ``directory`` (created if needed); returns the directory.

    Pass the tensors as a ``module`` (its ``state_dict``, shared tensors stored once) or as a
    mapping ``tensors``.
    """
    from safetensors.torch import save_file, save_model

    import genzoo

    if (module is None) == (tensors is None):
        raise ValueError("pass exactly one of module= and tensors=")
    out = Path(directory)
    metadata = {"kind": kind, "name": name}
    with atomic_path(out / WEIGHTS_NAME) as tmp:
        if module is not None:
            save_model(module, str(tmp), metadata=metadata)
        else:
            state = {k: v.detach().cpu().contiguous() for k, v in (tensors or {}).items()}
            save_file(state, str(tmp), metadata=metadata)
    meta = {
        "kind": kind,
        "name": name,
        # the key genzoo 0.1 read the class from: older readers still find it
        "model": name,
        "format_version": FORMAT_VERSION,
        "genzoo_version": genzoo.__version__,
        "config": dict(config),
        **dict(extra or {}),
    }
    atomic_write_json(out / CONFIG_NAME, meta, sort_keys=False)
    return out


def read_config(directory: str | os.PathLike[str], *, what: str, hint: str) -> Artifact:
    """The ``config.json`` of an artifact, without its tensors.

    Args:
        directory: the artifact directory.
        what: what it should hold, for messages (``"a saved genzoo model"``).
        hint: what to pass instead, for messages.

    Raises:
        ModelError: the directory or its config is missing, unreadable or malformed.
    """
    root = Path(directory)
    config_file, weights_file = root / CONFIG_NAME, root / WEIGHTS_NAME
    if not root.is_dir():
        reason = "it is a file, not a directory" if root.exists() else "it does not exist"
        raise ModelError(f"{root} is not {what} ({reason}); {hint}")
    if not config_file.is_file() or not weights_file.is_file():
        raise ModelError(f"{root} is not {what} (needs {CONFIG_NAME} and {WEIGHTS_NAME}); {hint}")
    try:
        if config_file.stat().st_size > MAX_CONFIG_BYTES:
            raise ValueError(f"larger than {MAX_CONFIG_BYTES} bytes")
        meta = json.loads(config_file.read_bytes().decode("utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
        kind = meta.get("kind")
        version = int(meta.get("format_version", 1))
        kind = _LEGACY_KINDS.get(kind, kind) if version == 1 else kind
        name = meta.get("name", meta.get("model"))
        config = meta.get("config", meta.get("params"))
        if not isinstance(name, str) or not isinstance(config, dict) or not isinstance(kind, str):
            raise ValueError("no model name or config")
    except (OSError, ValueError, TypeError, RecursionError) as exc:
        # TypeError: a format_version of null or a list, a kind that is a list (unhashable);
        # RecursionError: JSON nested deeper than the parser's recursion limit
        raise ModelError(
            f"{config_file} is not a valid genzoo config ({_first_line(exc)}); it is damaged — "
            "restore it from a copy or train the model again"
        ) from None
    if version > FORMAT_VERSION:
        raise ModelError(
            f"{config_file} has format version {version}; this genzoo reads up to "
            f"{FORMAT_VERSION} — upgrade genzoo to load it"
        )
    known = {"kind", "name", "model", "format_version", "genzoo_version", "config", "params"}
    extra = {k: v for k, v in meta.items() if k not in known}
    return Artifact(
        kind=kind,
        name=name,
        config=dict(config),
        format_version=version,
        genzoo_version=meta.get("genzoo_version"),
        extra=extra,
        directory=root,
    )


def read_artifact(
    directory: str | os.PathLike[str], *, kind: str, what: str, hint: str
) -> Artifact:
    """:func:`read_config` plus the tensors, checking the artifact is of ``kind``."""
    artifact = read_config(directory, what=what, hint=hint)
    if artifact.kind != kind:
        raise ModelError(f"{artifact.directory} holds a {artifact.kind}, not a {kind}; {hint}")
    artifact.tensors = read_tensors(artifact.directory / WEIGHTS_NAME)
    return artifact


def read_tensors(path: Path) -> dict[str, Tensor]:
    """The tensors of a safetensors file on the CPU; every failure is a :class:`ModelError`."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:
        raise ModelError(
            f"cannot read the weights {path} ({_first_line(exc)}); the file is damaged or "
            "incomplete — restore it from a copy, or resume/retrain the run"
        ) from None


def load_weights(module: nn.Module, tensors: Mapping[str, Tensor], path: Path) -> None:
    """``module.load_state_dict(tensors, strict=True)``, keeping the saved floating dtype.

    Raises:
        ModelError: the tensors do not fit the module built from the config.
    """
    float_dtypes = {t.dtype for t in tensors.values() if t.is_floating_point()}
    try:
        if len(float_dtypes) == 1:  # keep the precision the weights were saved in
            module.to(float_dtypes.pop())
        module.load_state_dict(dict(tensors), strict=True)
    except (RuntimeError, ValueError, TypeError, KeyError) as exc:
        raise ModelError(
            f"the weights in {path} do not match its config ({_one_line(exc)}); the files "
            "come from different models — restore both from the same run"
        ) from None


def tensor_dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"`` (for messages and metadata)."""
    return str(dtype).removeprefix("torch.")


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """All of the message on one line (load_state_dict puts what differs after a heading)."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text[:limit] if text else type(exc).__name__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
