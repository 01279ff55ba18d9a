"""Model registry: names -> classes, ``create_model`` and ``load_model``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from genzoo.core.artifact import CONFIG_NAME, WEIGHTS_NAME, load_weights, read_artifact
from genzoo.core.registry import Registry
from genzoo.errors import ConfigError, GenzooError, ModelError
from genzoo.models.base import _BASE_ARGS, ARTIFACT_KIND, GenerativeModel, init_parameters
from genzoo.models.capabilities import check_declarations

M = TypeVar("M", bound=type[GenerativeModel])


def _check(name: str, cls: type[GenerativeModel]) -> None:
    try:
        check_declarations(cls)
    except TypeError as exc:
        raise RuntimeError(str(exc)) from None


MODELS: Registry[type[GenerativeModel]] = Registry(
    "model", hint="see `genzoo models`", check=_check
)


def register_model(name: str) -> Callable[[M], M]:
    """Class decorator adding a model to the registry under ``name``."""

    def decorate(cls: M) -> M:
        try:
            MODELS.add(name, cls)
        except ValueError as exc:
            raise RuntimeError(str(exc)) from None
        cls.name = name
        return cls

    return decorate


def available_models() -> list[str]:
    """Sorted names of every registered model."""
    return MODELS.names()


def get_model_class(name: str) -> type[GenerativeModel]:
    """The class registered as ``name`` (:class:`ConfigError` listing the names otherwise)."""
    return MODELS.get(name)


def hyperparameters(name: str) -> dict[str, inspect.Parameter]:
    """The model-specific constructor parameters (beyond shape, levels, classes, condition)."""
    params = init_parameters(get_model_class(name))
    return {k: p for k, p in params.items() if k not in _BASE_ARGS}


def create_model(
    name: str,
    *,
    shape: tuple[int, int, int] | list[int],
    levels: int,
    num_classes: int | None = None,
    condition_shape: tuple[int, int, int] | list[int] | None = None,
    condition_levels: int | None = None,
    **hparams: Any,
) -> GenerativeModel:
    """Build a registered model: ``create_model("gated_pixelcnn", shape=(1, 8, 8), levels=17)``.

    ``condition_shape``/``condition_levels`` describe the conditioning image of an
    image-conditional model (``dataset.condition_shape``, ``dataset.condition_levels``).
    """
    cls = get_model_class(name)
    known = hyperparameters(name)
    unknown = sorted(set(hparams) - set(known))
    if unknown:
        raise ConfigError(
            f"{name} has no hyper-parameter {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(known)) or '(none)'}"
        )
    condition = {}
    if condition_shape is not None or condition_levels is not None:
        if not cls.image_conditional:
            conditional = [n for n, c in MODELS.items() if c.image_conditional]
            raise ConfigError(
                f"{name} does not take a conditioning image; image-conditional models: "
                f"{', '.join(conditional) or '(none)'}"
            )
        condition = {"condition_shape": condition_shape, "condition_levels": condition_levels}
    elif cls.image_conditional:
        raise ConfigError(
            f"{name} is conditioned on an image: pass condition_shape and condition_levels "
            "(on the command line: --task, see `genzoo tasks`)"
        )
    return cls(shape=shape, levels=levels, num_classes=num_classes, **condition, **hparams)


def load_model(path: str | Path) -> GenerativeModel:
    """Rebuild a model saved by :meth:`GenerativeModel.save` (``config.json`` + safetensors).

    Reads every format genzoo has written. Any damaged, missing or mismatched file raises
    :class:`~genzoo.errors.ModelError` naming it.
    """
    artifact = read_artifact(
        path,
        kind=ARTIFACT_KIND,
        what="a saved genzoo model",
        hint="pass the output directory of `genzoo train` or of model.save()",
    )
    try:
        model = create_model(artifact.name, **artifact.config)
    except (GenzooError, TypeError) as exc:  # a hand-edited or damaged config
        raise ModelError(
            f"{artifact.directory / CONFIG_NAME} does not describe a model this genzoo builds "
            f"({exc}); restore it from the run that wrote its weights"
        ) from None
    load_weights(model, artifact.tensors, artifact.directory / WEIGHTS_NAME)
    model.eval()
    return model
