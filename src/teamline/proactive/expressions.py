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

A condition is checked once and compiled (`compile_condition`) into nested Python closures,
one per node of the checked tree, calling the same operator functions simpleeval uses (its
guarded `+` and `*`): an event costs a few function calls, about five times less than
simpleeval's tree walk, which is the only reason for the second evaluator — the hot path runs
every enabled rule over every event. tests/proactive/test_expressions.py holds both to the
same answers. `Condition.names` is the set of names the expression reads, so rule evaluation
builds only those for an event. A name the event does not carry, a type mismatch or a
division by zero makes the condition false for that event, never an error for the batch.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simpleeval import (
    DEFAULT_OPERATORS,
    EvalWithCompoundTypes,
    InvalidExpression,
)

MAX_LENGTH = 500
MAX_NODES = 80

# Operators kept from simpleeval's defaults: no power, no bit operations.
OPERATORS = {
    op: fn
    for op, fn in DEFAULT_OPERATORS.items()
    if op not in (ast.Pow, ast.BitXor, ast.BitOr, ast.BitAnd, ast.LShift, ast.RShift, ast.Invert)
}
FUNCTIONS: dict[str, Callable[..., Any]] = {
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


def _evaluator() -> EvalWithCompoundTypes:
    # The compound-types evaluator: the plain one refuses list and tuple literals, which the
    # language allows (`country not in ["NO", "SE"]`); dicts, sets and comprehensions are
    # refused by ALLOWED_NODES before evaluation.
    evaluator: EvalWithCompoundTypes | None = getattr(_local, "evaluator", None)
    if evaluator is None:
        evaluator = EvalWithCompoundTypes(operators=OPERATORS, functions=FUNCTIONS)
        _local.evaluator = evaluator
    return evaluator


class ConditionError(ValueError):
    """The condition is not a valid expression; the message says why, for the admin."""


# What evaluating a condition may raise for one event's names: the condition is false.
_FALSE_ON = (
    InvalidExpression,
    ArithmeticError,
    TypeError,
    ValueError,
    KeyError,
    IndexError,
    RecursionError,
)

Compiled = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Condition:
    source: str
    tree: Any
    run: Compiled = field(repr=False, compare=False)
    names: frozenset[str] = frozenset()

    def holds(self, names: Mapping[str, Any]) -> bool:
        """Whether the condition is true for these names. Anything that goes wrong while
        evaluating it (a missing name, comparing a number with text) is false."""
        try:
            return bool(self.run(names))
        except _FALSE_ON:
            return False

    def holds_walked(self, names: Mapping[str, Any]) -> bool:
        """The same answer by simpleeval's own tree walk (the reference the compiled form is
        tested against)."""
        evaluator = _evaluator()
        evaluator.names = names
        try:
            return bool(evaluator.eval(self.source, previously_parsed=self.tree))
        except _FALSE_ON:
            return False


class _Missing(KeyError):
    """A name the event does not carry (the condition is false)."""


def _compile(node: ast.AST) -> Compiled:
    """A closure computing `node` of a checked tree as simpleeval would: the same operator
    functions, names from the mapping (else one of FUNCTIONS, as simpleeval falls back to),
    short-circuit `and`/`or` returning the deciding value, chained comparisons."""
    if isinstance(node, ast.Constant):
        value = node.value
        return lambda names: value
    if isinstance(node, ast.Name):
        key = node.id
        fallback = FUNCTIONS.get(key)

        def name(names: Mapping[str, Any]) -> Any:
            try:
                return names[key]
            except (KeyError, TypeError):
                if fallback is not None:
                    return fallback
                raise _Missing(key) from None

        return name
    if isinstance(node, ast.BinOp):
        binary = OPERATORS[type(node.op)]
        left, right = _compile(node.left), _compile(node.right)
        return lambda names: binary(left(names), right(names))
    if isinstance(node, ast.UnaryOp):
        unary = OPERATORS[type(node.op)]
        operand = _compile(node.operand)
        return lambda names: unary(operand(names))
    if isinstance(node, ast.BoolOp):
        parts = [_compile(value) for value in node.values]
        if isinstance(node.op, ast.And):

            def every(names: Mapping[str, Any]) -> Any:
                result: Any = False
                for part in parts:
                    result = part(names)
                    if not result:
                        break
                return result

            return every

        def some(names: Mapping[str, Any]) -> Any:
            result: Any = False
            for part in parts:
                result = part(names)
                if result:
                    break
            return result

        return some
    if isinstance(node, ast.Compare):
        first = _compile(node.left)
        if len(node.ops) == 1:
            compare = OPERATORS[type(node.ops[0])]
            other = _compile(node.comparators[0])
            return lambda names: compare(first(names), other(names))
        steps = [
            (OPERATORS[type(op)], _compile(comp))
            for op, comp in zip(node.ops, node.comparators, strict=True)
        ]

        def chain(names: Mapping[str, Any]) -> Any:
            right = first(names)
            result: Any = True
            for compare, comp in steps:
                left, right = right, comp(names)
                result = compare(left, right)
                if not result:
                    break
            return result

        return chain
    if isinstance(node, ast.IfExp):
        test, body, orelse = _compile(node.test), _compile(node.body), _compile(node.orelse)
        return lambda names: body(names) if test(names) else orelse(names)
    if isinstance(node, ast.Subscript):
        container, index = _compile(node.value), _compile(node.slice)
        return lambda names: container(names)[index(names)]
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)  # checked by compile_condition
        function = FUNCTIONS[node.func.id]
        arguments = [_compile(arg) for arg in node.args]
        return lambda names: function(*(arg(names) for arg in arguments))
    if isinstance(node, ast.List):
        items = [_compile(item) for item in node.elts]
        return lambda names: [item(names) for item in items]
    if isinstance(node, ast.Tuple):
        members = [_compile(item) for item in node.elts]
        return lambda names: tuple(item(names) for item in members)
    raise ConditionError(f"{type(node).__name__} is not allowed in a condition.")


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
    assert isinstance(tree, ast.Expression)
    called = {
        id(node.func) for node in nodes if isinstance(node, ast.Call)
    }  # function names are not names an event carries
    read = frozenset(
        node.id for node in nodes if isinstance(node, ast.Name) and id(node) not in called
    )
    return Condition(source, parsed, _compile(tree.body), read)
