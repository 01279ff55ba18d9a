"""genzoo.core.registry.Registry: the one registry type (models, forecasters, tasks)."""

from __future__ import annotations

import pytest

from genzoo.core.registry import Registry
from genzoo.errors import ConfigError, GenzooError


class A:
    pass


class B:
    pass


@pytest.fixture
def reg() -> Registry[type]:
    return Registry("widget", hint="see `genzoo widgets`")


def test_register_decorator_returns_the_class_and_adds_it(reg: Registry[type]):
    decorated = reg.register("a")(A)
    assert decorated is A
    assert reg.get("a") is A


def test_register_a_taken_name_is_refused(reg: Registry[type]):
    reg.register("a")(A)
    with pytest.raises(ValueError, match="widget name 'a' registered twice"):
        reg.register("a")(B)
    assert reg.get("a") is A  # the first entry stands


def test_add_a_taken_name_is_refused_and_same_entry_is_a_no_op(reg: Registry[type]):
    reg.add("a", A)
    reg.add("a", A)  # re-importing a module registers the same class again: harmless
    assert len(reg) == 1
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", B)
    # refusal is a programming error, not a user error: no GenzooError to be printed as one
    with pytest.raises(ValueError) as info:
        reg.add("a", B)
    assert not isinstance(info.value, GenzooError)


@pytest.mark.parametrize("bad", ["", None, 3])
def test_names_must_be_non_empty_strings(reg: Registry[type], bad):
    with pytest.raises(ValueError, match="non-empty string"):
        reg.add(bad, A)  # type: ignore[arg-type]
    assert len(reg) == 0


def test_unknown_name_is_a_config_error_listing_the_known_ones(reg: Registry[type]):
    reg.add("beta", B)
    reg.add("alpha", A)
    with pytest.raises(ConfigError) as info:
        reg.get("gamma")
    message = str(info.value)
    assert "unknown widget 'gamma'" in message
    assert "available: alpha, beta" in message  # sorted, all of them
    assert "see `genzoo widgets`" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no KeyError chain


def test_unknown_name_without_hint_and_unhashable_name(reg: Registry[type]):
    bare = Registry("task")
    bare.add("x", A)
    with pytest.raises(ConfigError) as info:
        bare.get("y")
    assert str(info.value) == "unknown task 'y'; available: x"
    with pytest.raises(ConfigError, match="unknown widget"):
        reg.get(["a"])  # type: ignore[arg-type]  # a list from JSON: TypeError inside


def test_check_runs_on_every_entry(reg: Registry[type]):
    seen = []

    def check(name: str, entry: type) -> None:
        seen.append(name)
        if not name.islower():
            raise ValueError(f"{name} must be lower case")

    strict = Registry("model", check=check)
    strict.add("ok", A)
    with pytest.raises(ValueError, match="lower case"):
        strict.add("Bad", B)
    assert "Bad" not in strict and seen == ["ok", "Bad"]


def test_remove_drops_and_ignores_unknown(reg: Registry[type]):
    reg.add("a", A)
    reg.add("b", B)
    reg.remove("a")
    reg.remove("never-there")  # no error
    assert "a" not in reg and reg.names() == ["b"]
    reg.add("a", B)  # the name is free again
    assert reg.get("a") is B


def test_names_items_iter_are_sorted_and_len_contains(reg: Registry[type]):
    for name in ["zeta", "alpha", "mid"]:
        reg.add(name, A if name != "mid" else B)
    assert reg.names() == ["alpha", "mid", "zeta"]
    assert list(reg) == ["alpha", "mid", "zeta"]
    assert reg.items() == [("alpha", A), ("mid", B), ("zeta", A)]
    assert len(reg) == 3
    assert "mid" in reg and "MID" not in reg and 3 not in reg
    # names() is a copy: mutating it does not change the registry
    reg.names().append("x")
    assert len(reg) == 3


def test_registries_are_independent():
    one, two = Registry("a"), Registry("b")
    one.add("x", A)
    assert "x" not in two and len(two) == 0


def test_the_model_registry_is_one_of_these():
    from genzoo.models import get_model_class
    from genzoo.models.registry import MODELS

    assert isinstance(MODELS, Registry) and len(MODELS) > 0
    with pytest.raises(ConfigError, match=r"unknown model 'nope'.*see `genzoo models`"):
        get_model_class("nope")
