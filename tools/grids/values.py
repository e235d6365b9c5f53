"""JSON values as the grid expression language sees them: kinds, truth, equality, lookup.

Shared by the evaluator (`tools.grids.expressions`) and its functions (`tools.grids.functions`).
Everything here works on plain JSON values (dict, list, str, int, float, bool, None) and never
reaches for a Python attribute.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_SIZE = 100_000


class ExpressionError(ValueError):
    """An expression that does not parse or cannot be evaluated; the message says where."""


def index(target: Any, key: Any) -> Any:
    if isinstance(target, Mapping):
        return target.get(key) if isinstance(key, str) else target.get(str(key))
    if isinstance(target, list | str) and isinstance(key, int) and not isinstance(key, bool):
        return target[key] if -len(target) <= key < len(target) else None
    return None


def same(left: Any, right: Any) -> bool:
    if is_number(left) and is_number(right):
        return bool(left == right)
    return type(left) is type(right) and bool(left == right)


def contains(container: Any, value: Any) -> bool:
    if isinstance(container, str):
        if not isinstance(value, str):
            raise ExpressionError(f"cannot look for {kind_of(value)} in text")
        return value in container
    if isinstance(container, list):
        return any(same(value, item) for item in container)
    if isinstance(container, Mapping):
        return isinstance(value, str) and value in container
    if container is None:
        return False
    raise ExpressionError(
        f"`in` needs text, a list or an object on its right, not {kind_of(container)}")


def bounded(value: Any) -> Any:
    if isinstance(value, str | list) and len(value) > MAX_SIZE:
        raise ExpressionError(f"a value built by an expression is limited to {MAX_SIZE} items")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        raise ExpressionError("a number built by an expression is limited to 30 digits")
    return value


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if is_number(value):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, Mapping) else type(value).__name__


def truthy(value: Any) -> bool:
    """JSON truthiness: null, false, 0, "" and empty lists and objects are false."""
    return bool(value)


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return str(value)
    return json.dumps(value, separators=(",", ":"), default=str)


