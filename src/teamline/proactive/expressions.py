"""Rule conditions: small, safe, bounded expressions such as `data_used_mb >= 0.8 * data_cap_mb`.

Why simpleeval: it is a maintained library (1.0, 2024–2026) that parses with Python's own
`ast` and evaluates by walking a whitelist of node types — names, numbers, strings,
comparisons, `and`/`or`/`not`, arithmetic, `in`, subscripts and calls of functions we hand
it — with no `eval`/`exec`, no access to attributes starting with `_`, and caps on string
length and powers. A rule is admin input evaluated for every event, so on top of it we bound
the text (MAX_LENGTH), the size of the tree (MAX_NODES) and the operators (no `**`, no bit
shifts: nothing that grows a number without limit), and give it only plain data (numbers,
strings, lists and dicts of them). The alternatives we looked at: CEL (cel-python) is the
right idea but an order of magnitude slower in pure Python on the hot path (≥ 10,000 events
a second per worker); hand-written parsers are what this library already is, tested.

A parsed condition is kept per rule (Condition), so an event costs one tree walk (~6 µs).
A name the event does not carry, a type mismatch or a division by zero makes the condition
false for that event, never an error for the batch.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simpleeval import (
    DEFAULT_OPERATORS,
    InvalidExpression,
    SimpleEval,
)

MAX_LENGTH = 500
MAX_NODES = 80

# Operators kept from simpleeval's defaults: no power, no bit operations.
OPERATORS = {
    op: fn
    for op, fn in DEFAULT_OPERATORS.items()
    if op not in (ast.Pow, ast.BitXor, ast.BitOr, ast.BitAnd, ast.LShift, ast.RShift, ast.Invert)
}
FUNCTIONS = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "len": len,
    "lower": lambda value: str(value).lower(),
}
ALLOWED_NODES = (
    ast.Expression,
    ast.Expr,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Subscript,
    ast.Call,
    ast.IfExp,
    ast.List,
    ast.Tuple,
)


# One evaluator per thread (the embedded worker runs beside the server's threads); only its
# names change from one event to the next.
_local = threading.local()


def _evaluator() -> SimpleEval:
    evaluator: SimpleEval | None = getattr(_local, "evaluator", None)
    if evaluator is None:
        evaluator = SimpleEval(operators=OPERATORS, functions=FUNCTIONS)
        _local.evaluator = evaluator
    return evaluator


class ConditionError(ValueError):
    """The condition is not a valid expression; the message says why, for the admin."""


@dataclass(frozen=True)
class Condition:
    source: str
    tree: Any

    def holds(self, names: Mapping[str, Any]) -> bool:
        """Whether the condition is true for these names. Anything that goes wrong while
        evaluating it (a missing name, comparing a number with text) is false."""
        evaluator = _evaluator()
        evaluator.names = names
        try:
            return bool(evaluator.eval(self.source, previously_parsed=self.tree))
        except (InvalidExpression, ArithmeticError, TypeError, ValueError, KeyError, IndexError):
            return False
        except RecursionError:
            return False


def compile_condition(source: str) -> Condition:
    """Parse and check `source`; ConditionError for anything but a small expression made of
    the allowed parts."""
    if not isinstance(source, str) or not source.strip():
        raise ConditionError("A condition is needed, such as data_used_mb >= 0.8 * data_cap_mb.")
    source = source.strip()
    if len(source) > MAX_LENGTH:
        raise ConditionError(f"A condition has at most {MAX_LENGTH} characters.")
    if "\x00" in source:
        raise ConditionError("A condition cannot contain NUL characters.")
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ConditionError(f"Not an expression: {getattr(exc, 'msg', None) or exc}.") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ConditionError(f"A condition has at most {MAX_NODES} parts.")
    for node in nodes:
        if not isinstance(node, ALLOWED_NODES):
            raise ConditionError(f"{type(node).__name__} is not allowed in a condition.")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ConditionError("Names starting with _ are not allowed.")
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
        ):
            allowed = ", ".join(sorted(FUNCTIONS))
            raise ConditionError(f"Only these functions can be called: {allowed}.")
        if isinstance(node, ast.Call) and node.keywords:
            raise ConditionError("Functions take no keyword arguments here.")
    parsed = _evaluator().parse(source)
    return Condition(source, parsed)
