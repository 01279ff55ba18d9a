"""Every model declares its constructor parameters in one table, checked by the one validator.

``GenerativeModel.params`` (merged along the class hierarchy, :func:`genzoo.core.params.merged`)
is validated before ``__init__`` runs. For every registered model: each constructor parameter has
an entry, each entry names a parameter, each default satisfies its entry, every numeric
parameter is bounded and refuses NaN, infinities, booleans and values outside its bounds with a
:class:`~genzoo.errors.ConfigError` naming it and the value; the tiny configurations build. The
checks are functions, run on deliberately faulty classes first (negative controls), so a model
that forgets an entry fails here.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, ClassVar

import pytest
import torch

import genzoo
from genzoo.core.params import Check, Constraint, Float, Int, Optional, merged, validate
from genzoo.errors import ConfigError
from genzoo.models import get_model_class
from genzoo.models.base import GenerativeModel, init_parameters
from tests.models.tiny import TINY, supported_levels, tiny_model

MODELS = genzoo.available_models()
SHAPE = (1, 4, 4)
#: values every numeric parameter refuses, whatever its bounds
NOT_FINITE_OR_BOOL = [math.nan, math.inf, -math.inf, True, False]


def bounds(constraint: Constraint | None) -> Int | Float | None:
    """The :class:`Int` or :class:`Float` behind ``constraint`` (through ``Optional`` and a
    ``Check`` built on ``Int(...).accepts`` / ``Float(...).accepts``), or ``None``."""
    if isinstance(constraint, Optional):
        return bounds(constraint.inner)
    if isinstance(constraint, Check):
        return bounds(getattr(constraint.predicate, "__self__", None))
    return constraint if isinstance(constraint, Int | Float) else None


def out_of_range(c: Int | Float) -> list[Any]:
    """Values just outside the bounds of ``c`` (empty if it has none)."""
    values: list[Any] = []
    if isinstance(c, Int):
        if c.min is not None:
            values += [c.min - 1, c.min + 0.5]  # below, and not an integer
        if c.max is not None:
            values.append(c.max + 1)
        if c.odd:
            values.append(2 * max(1, (c.min or 0) // 2 + 1))  # even, not below min
        return values
    if c.min is not None:
        values.append(c.min if c.min_open else c.min - 1.0)
    if c.max is not None:
        values.append(c.max if c.max_open else c.max + 1.0)
    return values


def missing_entries(cls: type[GenerativeModel]) -> list[str]:
    """Constructor parameters of ``cls`` without a table entry."""
    table = merged(cls)
    return [name for name in init_parameters(cls) if name not in table]


def stale_entries(cls: type[GenerativeModel]) -> list[str]:
    """Table entries that name no constructor parameter (the base's shared ones aside)."""
    params = init_parameters(cls)
    return [k for k in merged(cls) if k not in params and k not in GenerativeModel.params]


def numeric_parameters(cls: type[GenerativeModel]) -> dict[str, Int | Float | None]:
    """Parameters that take numbers (by their entry or their default) -> their bounds."""
    table, out = merged(cls), {}
    for name, p in init_parameters(cls).items():
        number_default = isinstance(p.default, int | float) and not isinstance(p.default, bool)
        found = bounds(table.get(name))
        if found is not None or number_default:
            out[name] = found
    return out


def build_kwargs(cls: type[GenerativeModel], name: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"shape": SHAPE, "levels": supported_levels(name, 3)}
    if cls.image_conditional:  # the condition's shape is checked in __init__, after the table
        kwargs.update(condition_shape=SHAPE, condition_levels=3)
    return {**kwargs, **TINY.get(name, {})}


def loose_parameters(cls: type[GenerativeModel], kwargs: dict[str, Any]) -> list[str]:
    """What is wrong with how ``cls`` refuses bad numbers, one line per problem (``[]``: none).

    ``kwargs`` is a valid configuration; each numeric parameter in turn gets NaN, +-inf, a bool
    and every value just outside its bounds.
    """
    problems = []
    for param, found in numeric_parameters(cls).items():
        if found is None or not out_of_range(found):
            problems.append(f"{param}: no bounds in its table entry")
            continue
        for value in NOT_FINITE_OR_BOOL + out_of_range(found):
            try:
                cls(**{**kwargs, param: value})
            except ConfigError as exc:
                if f"{param}={value!r}" not in str(exc):
                    problems.append(f"{param}={value!r}: the message does not name it: {exc}")
            except Exception as exc:  # any other failure is the defect reported
                problems.append(f"{param}={value!r}: {type(exc).__name__} instead of ConfigError")
            else:
                problems.append(f"{param}={value!r}: accepted")
    return problems


# ---------------------------------------------------------------------- negative controls
class _Forgetful(GenerativeModel):
    """Forgets ``rate``'s entry and leaves ``width`` unbounded."""

    params: ClassVar[dict[str, Constraint]] = {"width": Int(), "gone": Int(min=1)}

    def __init__(self, *, shape: Any, levels: int, width: int = 3, rate: float = 0.5) -> None:
        super().__init__(shape=shape, levels=levels)


class _Careful(GenerativeModel):
    params: ClassVar[dict[str, Constraint]] = {
        "width": Int(min=1, odd=True),
        "rate": Optional(Float(0.0, 1.0, max_open=True)),
        "depth": Check(Int(min=2).accepts, "an integer >= 2 (hint)"),
    }

    def __init__(
        self, *, shape: Any, levels: int, width: int = 3, rate: float | None = 0.5, depth: int = 2
    ) -> None:
        super().__init__(shape=shape, levels=levels)


def test_the_checks_catch_a_forgotten_entry_and_missing_bounds():
    assert missing_entries(_Forgetful) == ["rate"]
    assert stale_entries(_Forgetful) == ["gone"]
    assert numeric_parameters(_Forgetful) == {"levels": Int(min=2), "width": Int(), "rate": None}
    assert loose_parameters(_Forgetful, {"shape": SHAPE, "levels": 2}) == [
        "width: no bounds in its table entry",
        "rate: no bounds in its table entry",
    ]
    # a careful class passes, and its out-of-range values are the ones just outside its bounds
    assert missing_entries(_Careful) == stale_entries(_Careful) == []
    assert loose_parameters(_Careful, {"shape": SHAPE, "levels": 2}) == []
    assert out_of_range(Int(min=1, odd=True)) == [0, 1.5, 2]
    assert out_of_range(Float(0.0, 1.0, max_open=True)) == [-1.0, 1.0]
    assert out_of_range(Float(min=0.0, min_open=True)) == [0.0]
    assert out_of_range(Int()) == []


# ---------------------------------------------------------------------- every model
@pytest.mark.parametrize("name", MODELS)
def test_every_constructor_parameter_has_an_entry_and_every_entry_a_parameter(name):
    cls = get_model_class(name)
    assert missing_entries(cls) == []
    assert stale_entries(cls) == []


@pytest.mark.parametrize("name", MODELS)
def test_defaults_satisfy_their_own_entries(name):
    cls = get_model_class(name)
    defaults = {
        k: p.default
        for k, p in init_parameters(cls).items()
        if p.default is not inspect.Parameter.empty
    }
    validate(merged(cls), defaults, owner=name)  # raises on a default its table refuses


@pytest.mark.parametrize("name", MODELS)
def test_numeric_parameters_refuse_nan_inf_bools_and_out_of_range_values(name):
    cls = get_model_class(name)
    assert {"levels", "num_classes"} <= set(numeric_parameters(cls))
    assert loose_parameters(cls, build_kwargs(cls, name)) == []


@pytest.mark.parametrize("name", MODELS)
def test_the_tiny_configurations_are_accepted(name):
    for shape in [(1, 4, 4), (3, 4, 5)]:
        model = tiny_model(name, shape, levels=4, num_classes=2)
        assert model.config.items() >= TINY[name].items()


def test_a_refusal_names_the_model_the_parameter_the_value_and_the_requirement():
    with pytest.raises(ConfigError) as info:
        genzoo.create_model("gated_pixelcnn", shape=(1, 4, 4), levels=3, dropout=1.0)
    assert str(info.value) == (
        "gated_pixelcnn: dropout=1.0 is invalid; it must be a finite number >= 0 and < 1"
    )
    with pytest.raises(ConfigError, match="for one latent layer use the vae or iwae model"):
        genzoo.create_model("vae_hierarchical", shape=(1, 4, 4), levels=2, stochastic_layers=1)
    with pytest.raises(ConfigError, match="critic_norm='group' is invalid; it must be one of"):
        genzoo.create_model("sngan", shape=(1, 4, 4), levels=2, critic_norm="group")


@pytest.mark.parametrize("name", ["dcgan", "sngan", "wgan_gp"])
def test_convolutional_gans_refuse_more_stages_than_the_image_side_allows(name):
    """A relation to the data shape the table cannot state: each critic stage halves the side
    (rounding down), so at most log2 of the smaller side; the limit itself works."""
    kw = {"latent_dim": 3, "channels": 2}
    for shape, limit in [((1, 8, 8), 3), ((1, 7, 9), 2)]:
        model = genzoo.create_model(name, shape=shape, levels=2, stages=limit, **kw)
        assert model.sample(2).shape == (2, *shape)
        assert model.discriminator(torch.zeros(2, *shape)).shape == (2,)
        with pytest.raises(ConfigError, match=f"stages={limit + 1} .* at most {limit}"):
            genzoo.create_model(name, shape=shape, levels=2, stages=limit + 1, **kw)
