"""Model registry: names -> classes, ``create_model`` and ``load_model``."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from genzoo.errors import ConfigError, ModelError
from genzoo.models.base import (
    CONFIG_NAME,
    DENSITIES,
    WEIGHTS_NAME,
    GenerativeModel,
    init_parameters,
)

_REGISTRY: dict[str, type[GenerativeModel]] = {}
M = TypeVar("M", bound=type[GenerativeModel])


def register_model(name: str) -> Callable[[M], M]:
    """Class decorator adding a model to the registry under ``name``."""

    def decorate(cls: M) -> M:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise RuntimeError(f"model name {name!r} registered twice")
        if cls.density not in DENSITIES:
            raise RuntimeError(f"{cls.__name__}.density must be one of {DENSITIES}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def available_models() -> list[str]:
    """Sorted names of every registered model."""
    return sorted(_REGISTRY)


def get_model_class(name: str) -> type[GenerativeModel]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}; available: {', '.join(available_models())}"
        ) from None


def hyperparameters(name: str) -> dict[str, inspect.Parameter]:
    """The model-specific constructor parameters (beyond shape/levels/num_classes)."""
    params = init_parameters(get_model_class(name))
    return {k: p for k, p in params.items() if k not in ("shape", "levels", "num_classes")}


def create_model(
    name: str,
    *,
    shape: tuple[int, int, int] | list[int],
    levels: int,
    num_classes: int | None = None,
    **hparams: Any,
) -> GenerativeModel:
    """Build a registered model: ``create_model("gated_pixelcnn", shape=(1, 8, 8), levels=17)``."""
    cls = get_model_class(name)
    known = hyperparameters(name)
    unknown = sorted(set(hparams) - set(known))
    if unknown:
        raise ConfigError(
            f"{name} has no hyper-parameter {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(known)) or '(none)'}"
        )
    return cls(shape=shape, levels=levels, num_classes=num_classes, **hparams)


def load_model(path: str | Path) -> GenerativeModel:
    """Rebuild a model saved by :meth:`GenerativeModel.save` (``config.json`` + safetensors)."""
    from safetensors.torch import load_file

    directory = Path(path)
    config_file, weights_file = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    if not config_file.is_file() or not weights_file.is_file():
        raise ModelError(
            f"{directory} is not a saved genzoo model (needs {CONFIG_NAME} and {WEIGHTS_NAME}); "
            "pass the output directory of `genzoo train` or of model.save()"
        )
    try:
        meta = json.loads(config_file.read_text())
        name, config = meta["model"], dict(meta["config"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{config_file} is not a valid genzoo config: {exc}") from None
    model = create_model(name, **config)
    try:
        state = load_file(str(weights_file))
        float_dtypes = {t.dtype for t in state.values() if t.is_floating_point()}
        if len(float_dtypes) == 1:  # keep the precision the weights were saved in
            model.to(float_dtypes.pop())
        model.load_state_dict(state, strict=True)
    except (RuntimeError, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"weights in {weights_file} do not match its config: {first}") from None
    model.eval()
    return model
