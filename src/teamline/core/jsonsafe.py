"""What text Teamline accepts, and JSON read safely at every edge (docs/input.md).

Two rules hold for everything that is stored, on SQLite and PostgreSQL alike:

- No NUL (U+0000): PostgreSQL refuses it in `text` and `jsonb`, so a NUL that SQLite would
  store is a server error on PostgreSQL.
- No lone surrogates (U+D800-U+DFFF on their own, e.g. from a JSON `"\\ud800"` escape): they
  are not Unicode text, no driver can encode them as UTF-8, and no database stores them.

And JSON is read with limits: at most MAX_DEPTH levels of nesting (deeper input is refused;
nothing of ours recurses over a parsed value), no NaN/Infinity and no number that overflows a float
(neither is JSON, and a database's JSON type refuses them).

Each edge either refuses or cleans, by who is speaking:

- People and the apps they use (the JSON API, the widget's session endpoint and socket, the
  in-app API, the desk socket) are told: `UnsafeText` (422 on HTTP, an error frame on a
  socket). Quietly changing what a person typed would be worse than asking again.
- Providers (webhooks, email, SMS) are cleaned — NUL removed, lone surrogates replaced by
  U+FFFD — before anything is stored: a delivery is acknowledged once and never sent again,
  so refusing it would lose the customer's message.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .errors import InvalidInput

# Far deeper than any real payload (Meta's deepest is about 8 levels), far below the depth at
# which Python's recursion limit is near.
MAX_DEPTH = 64

# JSON Schema patterns for the OpenAPI document: the same rules as check_text, so a generated
# client knows them. `\x00` is written the way ECMA-262, Python and Rust regexes all read it.
NO_NUL_PATTERN = r"^[^\x00]*$"
# ... and with at least one character that is not whitespace (the server strips text with
# Python's str.strip: \x1c-\x1f and \x85 are whitespace there but not in every regex dialect's
# \s, so they are named).
NOT_BLANK_PATTERN = r"^[^\x00]*[^\s\x00\x1c-\x1f\x85][^\x00]*$"

_SURROGATES = re.compile("[\ud800-\udfff]")


class UnsafeText(InvalidInput):
    """Text with NUL or a lone surrogate, from someone who should be told (see above)."""

    code = "invalid_text"
    status = 422


class TooDeep(InvalidInput):
    """JSON nested deeper than MAX_DEPTH."""

    code = "too_deep"
    status = 400


class NotJson(InvalidInput):
    """Not JSON within the limits: bad syntax or UTF-8, NaN/Infinity, a number too large."""

    status = 400


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as it is, or None when it can."""
    if value.isascii():
        return "contains a NUL character" if "\x00" in value else None
    if "\x00" in value:
        return "contains a NUL character"
    if _SURROGATES.search(value):
        return "contains an unpaired surrogate (not Unicode text)"
    return None


def check_text(value: str, name: str = "text") -> str:
    """`value` unchanged, or UnsafeText naming the field."""
    problem = text_problem(value)
    if problem is not None:
        raise UnsafeText(f"{name} {problem}.")
    return value


def clean_text(value: str) -> str:
    """`value` without NUL, with each lone surrogate replaced by U+FFFD."""
    if value.isascii():
        return value.replace("\x00", "") if "\x00" in value else value
    return _SURROGATES.sub("\ufffd", value.replace("\x00", ""))


def clean(value: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, tuples, strings, numbers) with every string —
    keys too — cleaned, and NaN/infinite floats as None. Iterative: any depth is safe."""
    return _walk(value, repair=True, max_depth=None)


def loads(data: bytes | str, *, repair: bool = False, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON within the limits above.

    `repair=False` (people): NotJson for anything that is not JSON (bad syntax, bad UTF-8,
    NaN, a number too large), TooDeep, UnsafeText. `repair=True` (providers, after their
    signature was checked): the text rules clean instead of refusing and invalid UTF-8 is
    replaced by U+FFFD; NotJson and TooDeep still apply, since there is nothing to keep.
    Every error is an InvalidInput; nothing else escapes (no RecursionError).
    """
    value = _parse(data, errors="replace" if repair else "strict", max_depth=max_depth)
    return _walk(value, repair=repair, max_depth=max_depth)


def loads_structure(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON within the structural limits only (syntax, UTF-8, depth, numbers), leaving
    text to be judged by whoever reads each field: the JSON API's schemas, which ignore
    fields they do not declare."""
    value = _parse(data, errors="strict", max_depth=max_depth)
    _measure(value, max_depth)
    return value


def _parse(data: bytes | str, *, errors: str, max_depth: int) -> Any:
    """json.loads with NotJson/TooDeep for every way it can fail."""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8-sig", errors)
        except UnicodeDecodeError as exc:
            raise NotJson("The body is not UTF-8.") from exc
    try:
        return json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError as exc:
        # The C parser stops near the interpreter's recursion limit (about 1,000 levels) with
        # a clean RecursionError; shallower excess is measured after parsing, iteratively.
        raise TooDeep(f"JSON nested deeper than {max_depth} levels.") from exc
    except ValueError as exc:  # JSONDecodeError, our own refusals, ints over 4,300 digits
        raise NotJson(f"Not valid JSON: {exc}") from exc


def _measure(value: Any, max_depth: int) -> None:
    """TooDeep if `value` nests deeper than max_depth (iteratively, containers only)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        container, depth = stack.pop()
        if depth > max_depth:
            raise TooDeep(f"JSON nested deeper than {max_depth} levels.")
        children = container.values() if isinstance(container, dict) else container
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise ValueError(f"{literal[:20]} is too large for a number")
    return number


def _problem(item: Any) -> str | None:
    """What is wrong with a scalar, or None."""
    if isinstance(item, str):
        return text_problem(item)
    if isinstance(item, float) and not math.isfinite(item):
        return "is not a finite number"
    return None


def _repaired(item: Any) -> Any:
    if isinstance(item, str):
        return clean_text(item)
    if isinstance(item, float) and not math.isfinite(item):
        return None
    return item


def _refusal(where: str, problem: str) -> InvalidInput:
    error = NotJson if problem == "is not a finite number" else UnsafeText
    return error(f"{where or 'The body'} {problem}.")


def _walk(value: Any, *, repair: bool, max_depth: int | None) -> Any:
    """Check (repair=False) or clean (repair=True) every scalar of a parsed value, iteratively.

    Containers are rebuilt only when repairing; checking returns the value itself. Paths for
    messages are built only when something is wrong (this runs on every webhook body).
    """
    if not isinstance(value, dict | list | tuple):
        if repair:
            return _repaired(value)
        problem = _problem(value)
        if problem is not None:
            raise _refusal("", problem)
        return value
    root: Any = {} if isinstance(value, dict) else []
    # (source container, its copy when repairing, depth, parent entry and key for messages)
    stack: list[tuple[Any, Any, int, Any]] = [(value, root, 1, None)]
    while stack:
        entry = stack.pop()
        source, target, depth, _ = entry
        if max_depth is not None and depth > max_depth:
            raise TooDeep(f"JSON nested deeper than {max_depth} levels.")
        is_dict = isinstance(source, dict)
        for key, item in source.items() if is_dict else enumerate(source):
            if is_dict and not repair:
                problem = _problem(key)
                if problem is not None:
                    raise _refusal(f"A key in {_path(entry) or 'the body'}", problem)
            if isinstance(item, dict | list | tuple):
                child: Any = {} if isinstance(item, dict) else []
                stack.append((item, child, depth + 1, (entry, key)))
                item = child
            elif repair:
                item = _repaired(item)
            else:
                problem = _problem(item)
                if problem is not None:
                    raise _refusal(".".join([*filter(None, [_path(entry)]), str(key)]), problem)
            if repair:
                if is_dict:
                    target[clean_text(key) if isinstance(key, str) else key] = item
                else:
                    target.append(item)
    return root if repair else value


def _path(entry: Any) -> str:
    """ "a.0.b" for the container a stack entry stands for."""
    parts: list[str] = []
    parent = entry[3]
    while parent is not None:
        parent_entry, key = parent
        parts.append(str(key))
        parent = parent_entry[3]
    return ".".join(reversed(parts))
