"""Declarative parameter tables and their one validator (scikit-learn's ``_parameter_constraints``).

Every configurable thing in genzoo — a model's constructor, :class:`~genzoo.training.TrainConfig`,
a time-series model, an evaluation recipe, a task — declares what each of its parameters may be
in one table ``{name: constraint}``; :func:`validate` checks values against it and raises
:class:`~genzoo.errors.ConfigError` naming the parameter (or its ``--flag``), the bad value and
what to pass instead. Constraints reject NaN and infinities, booleans where numbers are expected
and numbers where booleans are.

Example::

    PARAMS = {"channels": Int(min=1), "dropout": Float(0, 1, max_open=True),
              "loss": OneOf("hinge", "wasserstein"), "embedding_dim": Optional(Int(min=1))}
    validate(PARAMS, {"channels": 0}, owner="gated_pixelcnn")
    # ConfigError: gated_pixelcnn: channels=0 is invalid; it must be an integer >= 1
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from genzoo.errors import ConfigError


class Constraint:
    """What a parameter may be: :meth:`accepts` a value, :attr:`text` says it in words."""

    text: str = "valid"

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self.text}>"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts)


def _within(v: float, low: float | None, high: float | None, lo_open: bool, hi_open: bool) -> bool:
    if low is not None and (v < low or (lo_open and v == low)):
        return False
    return not (high is not None and (v > high or (hi_open and v == high)))


@dataclass(frozen=True, repr=False)
class Int(Constraint):
    """An integer (not a bool) in ``[min, max]``."""

    min: int | None = None
    max: int | None = None
    odd: bool = False

    @property
    def text(self) -> str:  # type: ignore[override]
        bounds = _bounds(self.min, self.max, False, False)
        kind = "an odd integer" if self.odd else "an integer"
        return f"{kind} {bounds}".strip()

    def accepts(self, value: Any) -> bool:
        if not _is_int(value) or not _within(int(value), self.min, self.max, False, False):
            return False
        return not self.odd or int(value) % 2 == 1


@dataclass(frozen=True, repr=False)
class Float(Constraint):
    """A finite real number (ints allowed, bools not) in the given interval."""

    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False

    @property
    def text(self) -> str:  # type: ignore[override]
        bounds = _bounds(self.min, self.max, self.min_open, self.max_open)
        return f"a finite number {bounds}".strip()

    def accepts(self, value: Any) -> bool:
        if not _is_real(value):
            return False
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range (10**400) is not finite
            return False
        if not math.isfinite(number):
            return False
        return _within(number, self.min, self.max, self.min_open, self.max_open)


@dataclass(frozen=True, repr=False)
class Bool(Constraint):
    """``True`` or ``False``."""

    text: str = "a boolean (true or false)"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


class OneOf(Constraint):
    """One of a fixed set of values (strings, typically)."""

    def __init__(self, *choices: Any) -> None:
        self.choices = tuple(choices)
        self.text = "one of " + ", ".join(str(c) for c in self.choices)

    def accepts(self, value: Any) -> bool:
        try:
            # the type first: comparing an array with a choice gives an array, not a bool
            return any(type(value) is type(c) and value == c for c in self.choices)
        except TypeError:
            return False


class Optional(Constraint):
    """``None`` or a value the inner constraint accepts."""

    def __init__(self, inner: Constraint) -> None:
        self.inner = inner
        self.text = f"None or {inner.text}"

    def accepts(self, value: Any) -> bool:
        return value is None or self.inner.accepts(value)


class Sequence(Constraint):
    """A list or tuple whose items the inner constraint accepts (``length``: exact length)."""

    def __init__(self, inner: Constraint, *, length: int | None = None, min_length: int = 0):
        self.inner, self.length, self.min_length = inner, length, min_length
        size = f"{length} " if length is not None else ""
        if length is None and min_length:
            size = f"at least {min_length} "
        self.text = f"a list of {size}values, each {inner.text}"

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, list | tuple):
            return False
        if self.length is not None and len(value) != self.length:
            return False
        return len(value) >= self.min_length and all(self.inner.accepts(v) for v in value)


class Check(Constraint):
    """Any predicate with its description (for rules no other constraint states)."""

    def __init__(self, predicate: Callable[[Any], bool], text: str) -> None:
        self.predicate, self.text = predicate, text

    def accepts(self, value: Any) -> bool:
        try:
            return bool(self.predicate(value))
        except (TypeError, ValueError, ArithmeticError):
            return False


Table = Mapping[str, Constraint]

#: The most layers, blocks or stages a depth parameter takes. Every layer is at least one Python
#: module, so no machine builds 10**6 of them in useful time; without a bound
#: ``num_layers=10**12`` (a typo) would loop until memory ran out instead of being refused.
#: Networks of a few hundred layers stay allowed.
MAX_DEPTH = 10_000


def depth(min: int = 1) -> Int:
    """A number of layers, blocks or stages: an integer in ``[min, MAX_DEPTH]``."""
    return Int(min=min, max=MAX_DEPTH)


def flag(name: str) -> str:
    """``grad_clip`` -> ``--grad-clip``."""
    return "--" + name.replace("_", "-")


def validate(
    table: Table, values: Mapping[str, Any], *, owner: str = "", flags: bool = False
) -> None:
    """Raise :class:`ConfigError` on the first value the table rejects.

    Args:
        table: ``{name: constraint}``; names absent from ``values`` are skipped.
        values: the parameters to check.
        owner: who the parameters belong to, for the message (a model name, ``"TrainConfig"``).
        flags: name parameters as command-line flags (``--grad-clip``) in the message.
    """
    for name, constraint in table.items():
        if name not in values:
            continue
        value = values[name]
        if not constraint.accepts(value):
            raise ConfigError(invalid(name, value, constraint.text, owner=owner, flags=flags))


def invalid(
    name: str, value: Any, requirement: str, *, owner: str = "", flags: bool = False
) -> str:
    """The message of a rejected value: what, the value, and what it must be."""
    if flags:
        return f"{flag(name)} must be {requirement}, got {value!r}"
    prefix = f"{owner}: " if owner else ""
    return f"{prefix}{name}={value!r} is invalid; it must be {requirement}"


def merged(cls: type, attribute: str = "params") -> dict[str, Constraint]:
    """The tables named ``attribute`` along ``cls``'s MRO, a subclass's entries winning."""
    table: dict[str, Constraint] = {}
    for klass in reversed(cls.__mro__):
        table.update(klass.__dict__.get(attribute, {}) or {})
    return table
