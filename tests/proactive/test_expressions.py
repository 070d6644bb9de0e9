"""Rule conditions are compiled into closures for the hot path; simpleeval's own tree walk is
the reference. Both give the same answer for every expression and every set of names here —
including the ones that are false because a name is missing, a type does not compare or a
number is divided by zero — and the compiled form knows which names it reads."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from teamline.proactive.expressions import compile_condition

EXPRESSIONS = [
    "data_cap_mb > 0 and data_used_mb >= 0.8 * data_cap_mb and data_used_mb < data_cap_mb",
    "data_cap_mb > 0 and data_used_mb >= data_cap_mb",
    "kind == 'dropped_call'",
    "kind == 'dropped_call' and customer['region'] == 'Oslo'",
    "roaming == True and country not in ['NO', 'SE']",
    "0 < data_used_mb < data_cap_mb <= 20480",
    "not roaming or kind is None",
    "kind is not None and lower(kind) in ('dropped_call', 'no_signal')",
    "data_used_mb // 1024 % 2 == 1",
    "data_used_mb / data_cap_mb > 0.5",
    "-data_used_mb + abs(-5) < max(data_cap_mb, 1) - min(1, 2)",
    "round(data_used_mb / 3) == 3 if roaming else len(kind) > 3",
    "kind + '!' == 'x!'",
    "kind * 2 == 'xx'",
    "customer['attributes']['plan'] == 'gold'",
    "missing > 1 or data_used_mb > 1",
    "data_used_mb or kind",
    "data_used_mb and kind",
    "max",
]
NAMES: list[dict[str, Any]] = [
    {"data_used_mb": 9000, "data_cap_mb": 10240, "kind": "dropped_call", "roaming": False},
    {"data_used_mb": 10240, "data_cap_mb": 10240, "kind": "x", "roaming": True, "country": "DE"},
    {"data_used_mb": 10, "data_cap_mb": 0, "kind": None, "roaming": True, "country": "NO"},
    {"data_used_mb": "lots", "data_cap_mb": 10240, "kind": 5},
    {"data_used_mb": 3000.5, "data_cap_mb": 0.0, "kind": "No_Signal", "roaming": 1},
    {"customer": {"region": "Oslo", "attributes": {"plan": "gold"}}, "kind": "dropped_call"},
    {"customer": {"region": "Bergen", "attributes": {}}, "kind": "dropped_call"},
    {},
]


@pytest.mark.parametrize(("source", "names"), list(itertools.product(EXPRESSIONS, NAMES)))
def test_the_compiled_condition_answers_as_simpleeval_does(source, names):
    condition = compile_condition(source)

    assert condition.holds(names) == condition.holds_walked(names)


def test_a_condition_knows_the_names_it_reads_and_not_its_functions():
    condition = compile_condition("lower(kind) == 'x' and customer['region'] == max(a, b)")

    assert condition.names == {"kind", "customer", "a", "b"}


def test_what_cannot_be_evaluated_is_false_not_an_error():
    assert (
        compile_condition("data_used_mb / data_cap_mb > 0.5").holds(
            {"data_used_mb": 1, "data_cap_mb": 0}
        )
        is False
    )
    assert compile_condition("kind > 3").holds({"kind": "text"}) is False
    assert compile_condition("customer['plan'] == 'x'").holds({"customer": {}}) is False
    assert compile_condition("unknown == 1").holds({}) is False


def test_lists_are_part_of_the_language():
    """The documented `in [...]` works (simpleeval's plain evaluator refused list literals, so
    such a rule never fired)."""
    condition = compile_condition("country not in ['NO', 'SE']")

    assert condition.holds({"country": "DE"}) is True
    assert condition.holds_walked({"country": "DE"}) is True
    assert condition.holds({"country": "NO"}) is False
