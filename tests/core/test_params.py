"""genzoo.core.params: every constraint accepts exactly what it says, and validate's messages.

Property tests (hypothesis) state the definition of each constraint and check it on many values,
edge values included (the bounds themselves, ±0.0, subnormals, NaN, ±inf, huge integers).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from genzoo.core.params import (
    Bool,
    Check,
    Float,
    Int,
    OneOf,
    Optional,
    Sequence,
    flag,
    invalid,
    merged,
    validate,
)
from genzoo.errors import ConfigError

NAN, INF = float("nan"), float("inf")
#: values that are no number at all
NOT_NUMBERS = ["1", b"1", None, [1], (1,), {"a": 1}, object(), 1j]


# ---------------------------------------------------------------------------------------------
# Int
@given(st.integers(), st.integers(-50, 50), st.integers(0, 100))
def test_int_accepts_exactly_the_integers_in_range(value, low, width):
    high = low + width
    assert Int(low, high).accepts(value) == (low <= value <= high)
    assert Int(min=low).accepts(value) == (value >= low)
    assert Int(max=high).accepts(value) == (value <= high)
    assert Int().accepts(value)


@given(st.integers(-1000, 1000))
def test_int_odd(value):
    assert Int(odd=True).accepts(value) == (value % 2 == 1)
    assert Int(min=1, odd=True).accepts(value) == (value >= 1 and value % 2 == 1)


@pytest.mark.parametrize("bad", [True, False, 1.0, 2.5, NAN, INF, -INF, Fraction(1), *NOT_NUMBERS])
def test_int_rejects_non_integers_and_bools(bad):
    assert not Int().accepts(bad)


@pytest.mark.parametrize("kind", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64])
def test_int_accepts_numpy_integers(kind):
    assert Int(min=1).accepts(kind(3))
    assert not Int(min=5).accepts(kind(3))  # and still checks the bounds
    assert Int(odd=True).accepts(kind(3)) and not Int(odd=True).accepts(kind(4))


@pytest.mark.parametrize("bad", [np.bool_(True), np.float64(1.0), np.float32(2.0), np.array(3)])
def test_int_rejects_numpy_bools_floats_and_arrays(bad):
    assert not Int().accepts(bad)


# ---------------------------------------------------------------------------------------------
# Float
finite = st.floats(allow_nan=False, allow_infinity=False)


@given(
    st.one_of(st.floats(), st.integers(-(10**20), 10**20)),
    st.floats(-1e6, 1e6),
    st.floats(0, 1e6),
    st.booleans(),
    st.booleans(),
)
def test_float_accepts_exactly_the_finite_values_in_the_interval(
    value, low, width, lo_open, hi_open
):
    high = low + width
    constraint = Float(low, high, min_open=lo_open, max_open=hi_open)
    v = float(value)
    inside_low = v > low if lo_open else v >= low
    inside_high = v < high if hi_open else v <= high
    assert constraint.accepts(value) == (math.isfinite(v) and inside_low and inside_high)


@given(st.floats())
def test_float_unbounded_accepts_exactly_the_finite_values(value):
    assert Float().accepts(value) == math.isfinite(value)


@pytest.mark.parametrize("low,high", [(0, 1), (-2.5, 2.5)])
def test_float_bounds_themselves(low, high):
    assert Float(low, high).accepts(low) and Float(low, high).accepts(high)
    assert not Float(low, high, min_open=True).accepts(low)
    assert not Float(low, high, max_open=True).accepts(high)
    assert Float(low, high, min_open=True).accepts(math.nextafter(low, INF))
    assert Float(low, high, max_open=True).accepts(math.nextafter(high, -INF))
    assert not Float(low, high).accepts(math.nextafter(high, INF))


@pytest.mark.parametrize("bad", [NAN, INF, -INF, True, False, *NOT_NUMBERS])
def test_float_rejects_nan_infinities_bools_and_non_numbers(bad):
    assert not Float().accepts(bad)


def test_float_rejects_an_integer_too_large_for_a_float():
    """10**400 has no float: it is refused, not an OverflowError escaping the validator."""
    assert not Float().accepts(10**400)
    assert Float().accepts(10**300)
    with pytest.raises(ConfigError, match="lr="):
        validate({"lr": Float(0)}, {"lr": 10**400})


def test_float_accepts_ints_and_exact_fractions():
    assert Float(0, 1).accepts(1) and Float(0, 1).accepts(Fraction(1, 3))


@pytest.mark.parametrize("kind", [np.float16, np.float32, np.float64])
def test_float_numpy_scalars(kind):
    assert Float(0, 1).accepts(kind(0.5))
    assert Float(0, 1).accepts(np.int64(1))
    assert not Float(0, 1).accepts(kind(2))
    assert not Float().accepts(kind("nan"))
    assert not Float().accepts(kind("inf")) and not Float().accepts(kind("-inf"))
    assert not Float().accepts(np.bool_(True))


# ---------------------------------------------------------------------------------------------
# Bool
@pytest.mark.parametrize("value", [True, False])
def test_bool_accepts_bools(value):
    assert Bool().accepts(value)


@pytest.mark.parametrize("bad", [0, 1, 0.0, "true", "false", None, NAN])
def test_bool_rejects_numbers_and_strings(bad):
    assert not Bool().accepts(bad)


# ---------------------------------------------------------------------------------------------
# OneOf
def test_one_of_is_type_strict():
    assert OneOf("1", "2").accepts("1")
    assert not OneOf("1", "2").accepts(1)
    assert OneOf(1, 2).accepts(1)
    assert not OneOf(1, 2).accepts("1")
    assert not OneOf(1, 2).accepts(True)  # True == 1 in Python; still not a choice
    assert not OneOf(1, 2).accepts(1.0)
    assert not OneOf(0.5).accepts(Fraction(1, 2))
    assert OneOf(None, "a").accepts(None)


@pytest.mark.parametrize("bad", ["HINGE", "hinge ", "", None, ["hinge"], {"hinge": 1}, NAN])
def test_one_of_rejects_near_misses_and_unhashables(bad):
    assert not OneOf("hinge", "wasserstein").accepts(bad)


def test_one_of_rejects_arrays_without_raising():
    """An array compared with a choice gives an array, whose truth value is ambiguous: that
    must be a rejection, not a ValueError out of the validator."""
    assert not OneOf("a", "b").accepts(np.array(["a", "b"]))
    assert not OneOf(1, 2).accepts(np.array([1, 2]))


@given(st.text(max_size=5))
def test_one_of_accepts_exactly_the_choices(value):
    assert OneOf("a", "bc", "").accepts(value) == (value in ("a", "bc", ""))


# ---------------------------------------------------------------------------------------------
# Optional, Sequence, Check
def test_optional():
    c = Optional(Int(min=1))
    assert c.accepts(None) and c.accepts(3)
    assert not c.accepts(0) and not c.accepts("None") and not c.accepts(NAN)
    assert c.text == "None or an integer >= 1"


@given(st.lists(st.integers(-3, 3), max_size=6))
def test_sequence_exact_length_and_items(items):
    c = Sequence(Int(min=0), length=3)
    expected = len(items) == 3 and all(i >= 0 for i in items)
    assert c.accepts(items) == expected
    assert c.accepts(tuple(items)) == expected


@given(st.lists(st.integers(0, 3), max_size=6))
def test_sequence_min_length(items):
    assert Sequence(Int(), min_length=2).accepts(items) == (len(items) >= 2)
    assert Sequence(Int()).accepts(items)  # any length by default, the empty list included


@pytest.mark.parametrize("bad", ["abc", {1, 2}, {"a": 1}, np.array([1, 2]), range(3), None, 3])
def test_sequence_is_a_list_or_tuple_only(bad):
    # a string is a sequence of characters in Python; as a parameter value it is a mistake
    assert not Sequence(OneOf("a", "b", "c")).accepts(bad)


def test_sequence_rejects_a_bad_item_anywhere():
    c = Sequence(Float(0, 1))
    assert c.accepts([0.0, 0.5, 1.0])
    assert not c.accepts([0.0, NAN, 1.0]) and not c.accepts([0.0, 0.5, True])
    assert Sequence(Int(), length=3).text == "a list of 3 values, each an integer"
    assert Sequence(Int(), min_length=2).text == "a list of at least 2 values, each an integer"


def test_check_uses_the_predicate_and_turns_its_errors_into_rejections():
    even = Check(lambda v: v % 2 == 0, "an even number")
    assert even.accepts(4) and not even.accepts(3)
    assert not even.accepts("x")  # TypeError inside the predicate: rejected
    assert not Check(lambda v: 1 / v > 0, "positive").accepts(0)  # ZeroDivisionError
    assert not Check(lambda v: int(v) > 0, "a positive int").accepts("abc")  # ValueError
    assert even.text == "an even number"


# ---------------------------------------------------------------------------------------------
# texts, validate and its messages
def test_texts_state_the_rule():
    assert Int(min=1).text == "an integer >= 1"
    assert Int(1, 9, odd=True).text == "an odd integer >= 1 and <= 9"
    assert Float(0, 1, max_open=True).text == "a finite number >= 0 and < 1"
    assert Float().text == "a finite number"
    assert OneOf("hinge", "wasserstein").text == "one of hinge, wasserstein"


TABLE = {
    "channels": Int(min=1),
    "dropout": Float(0, 1, max_open=True),
    "loss": OneOf("hinge", "wasserstein"),
    "grad_clip": Optional(Float(0, min_open=True)),
}


def test_validate_passes_good_values_and_skips_absent_ones():
    validate(TABLE, {"channels": 4, "dropout": 0.0, "loss": "hinge", "grad_clip": None})
    validate(TABLE, {})
    validate(TABLE, {"unlisted": object()})  # names outside the table are not its business


@pytest.mark.parametrize(
    "name,value",
    [
        ("channels", 0),
        ("channels", True),
        ("dropout", 1.0),
        ("dropout", NAN),
        ("loss", "Hinge"),
        ("grad_clip", 0.0),
        ("grad_clip", -INF),
    ],
)
def test_validate_message_names_the_parameter_the_value_and_the_rule(name, value):
    with pytest.raises(ConfigError) as info:
        validate(TABLE, {"channels": 4, name: value}, owner="gated_pixelcnn")
    message = str(info.value)
    assert message.startswith(f"gated_pixelcnn: {name}={value!r} is invalid; it must be ")
    assert TABLE[name].text in message
    assert "\n" not in message


def test_validate_with_flags_names_the_command_line_flag():
    with pytest.raises(ConfigError) as info:
        validate(TABLE, {"grad_clip": -1.0}, owner="TrainConfig", flags=True)
    assert str(info.value) == ("--grad-clip must be None or a finite number > 0, got -1.0")
    assert flag("eval_every") == "--eval-every"


def test_validate_reports_the_first_bad_value_in_table_order():
    with pytest.raises(ConfigError, match=r"^channels=0"):
        validate(TABLE, {"loss": "x", "channels": 0})


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        validate(TABLE, {"channels": -1})


def test_invalid_without_owner():
    assert invalid("k", 0, "an integer >= 1") == "k=0 is invalid; it must be an integer >= 1"


@pytest.mark.parametrize("value", [np.int64(3), np.float64(0.5)])
def test_validate_accepts_numpy_scalars(value):
    validate({"x": Float(0, 4)}, {"x": value})


def test_validate_refuses_numpy_nan_naming_it():
    with pytest.raises(ConfigError, match=r"x=.*nan.* is invalid"):
        validate({"x": Float()}, {"x": np.float64("nan")})


# ---------------------------------------------------------------------------------------------
# merged along a class hierarchy
class Base:
    params: ClassVar = {"channels": Int(min=1), "dropout": Float(0, 1)}


class Child(Base):
    params: ClassVar = {"dropout": Float(0, 0.5), "k": Int(min=1)}


class GrandChild(Child):
    pass  # no table of its own: inherits


class Other:
    params: ClassVar = {"loss": OneOf("a")}


class Mixed(Child, Other):
    params = None  # a class that declares "no extra parameters" this way


def test_merged_subclass_entries_win():
    table = merged(Child)
    assert sorted(table) == ["channels", "dropout", "k"]
    assert table["dropout"].accepts(0.5) and not table["dropout"].accepts(0.75)
    assert table["channels"] is Base.params["channels"]
    assert merged(Base)["dropout"].accepts(0.75)  # the parent's own table is untouched
    assert "k" not in Base.params


def test_merged_inherits_and_follows_the_mro():
    assert merged(GrandChild) == merged(Child)
    table = merged(Mixed)
    assert sorted(table) == ["channels", "dropout", "k", "loss"]
    assert not table["dropout"].accepts(0.75)


def test_merged_other_attribute_and_validate_through_it():
    class WithRules:
        rules: ClassVar = {"x": Int(min=1)}

    assert sorted(merged(WithRules, "rules")) == ["x"]
    assert merged(WithRules) == {}
    with pytest.raises(ConfigError, match=r"Child: dropout=0\.75"):
        validate(merged(Child), {"dropout": 0.75}, owner="Child")
