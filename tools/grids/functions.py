"""The functions grid expressions may call, and nothing else: `FUNCTIONS` is the whole list.

Each takes and returns JSON values, checks its argument kinds, and raises `ValueError` with a
message for the person who wrote the expression; results are bounded like every value an
expression builds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tools.grids.values import MAX_SIZE, contains, index, is_number, kind_of, text, truthy


def _number(value: Any) -> int | float:
    if is_number(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        stripped = value.strip()
        try:
            return int(stripped)
        except ValueError:
            result = float(stripped)
            if not math.isfinite(result):
                raise ValueError(f"{value!r} is not a finite number") from None
            return result
    if isinstance(value, bool):
        return int(value)
    raise ValueError(f"cannot turn {kind_of(value)} into a number")


def _numbers(values: Any) -> list[int | float]:
    if not isinstance(values, list):
        raise ValueError(f"needs a list, not {kind_of(values)}")
    return [_number(v) for v in values if v is not None]


def _length(value: Any) -> int:
    if isinstance(value, str | list | Mapping):
        return len(value)
    if value is None:
        return 0
    raise ValueError(f"{kind_of(value)} has no length")


def _split(value: Any, separator: Any = None) -> list[str]:
    if not isinstance(value, str):
        raise ValueError(f"needs text, not {kind_of(value)}")
    if separator is not None and (not isinstance(separator, str) or not separator):
        raise ValueError("the separator must be non-empty text")
    return value.split(separator)


def _join(items: Any, separator: Any = ",") -> str:
    if not isinstance(items, list):
        raise ValueError(f"needs a list, not {kind_of(items)}")
    return text(separator).join(text(v) for v in items)


def _replace(value: Any, old: Any, new: Any) -> str:
    if not all(isinstance(v, str) for v in (value, old, new)) or not old:
        raise ValueError("needs text, the non-empty text to replace, and its replacement")
    text: str = value
    if len(new) > len(old) and text.count(old) * (len(new) - len(old)) + len(text) > MAX_SIZE:
        raise ValueError(f"the result would be longer than {MAX_SIZE} characters")
    return text.replace(old, new)


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _round(value: Any, digits: Any = 0) -> int | float:
    places = int(_number(digits))
    if not 0 <= places <= 10:
        raise ValueError("digits must be between 0 and 10")
    result = round(_number(value), places)
    return int(result) if places == 0 else result


def _keys(value: Any) -> list[str]:
    if not isinstance(value, Mapping):
        raise ValueError(f"needs an object, not {kind_of(value)}")
    return [str(k) for k in value]


def _values(value: Any) -> list[Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"needs an object, not {kind_of(value)}")
    return list(value.values())


def _pluck(values: Any, key: Any) -> list[Any]:
    if not isinstance(values, list):
        raise ValueError(f"needs a list, not {kind_of(values)}")
    return [index(v, key) for v in values]


def _extreme(pick: Callable[[Sequence[Any]], Any]) -> Callable[..., Any]:
    def apply(*values: Any) -> Any:
        items = values[0] if len(values) == 1 and isinstance(values[0], list) else list(values)
        numbers = _numbers(items)
        return pick(numbers) if numbers else None
    return apply


def _average(values: Any) -> float | None:
    numbers = _numbers(values)
    return sum(numbers) / len(numbers) if numbers else None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _text_only(apply: Callable[[str], Any]) -> Callable[[Any], Any]:
    def checked(value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"needs text, not {kind_of(value)}")
        return apply(value)
    return checked


def _starts(value: Any, part: Any) -> bool:
    if not isinstance(value, str) or not isinstance(part, str):
        raise ValueError("needs two texts")
    return value.startswith(part)


def _ends(value: Any, part: Any) -> bool:
    if not isinstance(value, str) or not isinstance(part, str):
        raise ValueError("needs two texts")
    return value.endswith(part)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": _length, "lower": _text_only(str.lower), "upper": _text_only(str.upper),
    "trim": _text_only(str.strip), "split": _split, "join": _join, "replace": _replace,
    "contains": lambda container, value: contains(container, value),
    "startswith": _starts, "endswith": _ends,
    "number": _number, "string": text, "bool": truthy, "round": _round,
    "abs": lambda value: abs(_number(value)), "min": _extreme(min), "max": _extreme(max),
    "sum": lambda items: sum(_numbers(items)), "avg": _average,
    "coalesce": _coalesce, "keys": _keys, "values": _values, "pluck": _pluck,
    "now": _now,
}


