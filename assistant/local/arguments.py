"""Arguments for a chosen tool, read from the user's words by field name and type.

Each field of the tool's argument model is matched by what it is: an email, a phone, money, a
date or a time, a choice among enum values, a person's or company's name, a free-text title or
query, a number or percentage. Record ids are not guessed: a required id is found by a lookup
call first (see `assistant.local.model`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo

import assistant.local.extract as x

TEXT_FIELDS = ("title", "name", "subject", "description", "content", "body", "message", "notes",
               "note", "text", "summary", "question", "goal", "prompt", "instructions")
QUERY_FIELDS = ("query", "q", "search", "term")
MONEY_FIELDS = ("value", "amount", "budget", "price", "total", "amount_cents", "value_cents")
INTENT_WORDS = re.compile(
    r"^(?:please\s+)?(?:can you\s+|could you\s+)?(?:add|create|make|new|log|record|open|start|"
    r"schedule|remind me to|find|search(?: for)?|look up|show(?: me)?|list|get|send|draft|"
    r"write)\b\s*(?:a|an|the|me)?\s*", re.IGNORECASE)


def schema_of(field: FieldInfo) -> dict[str, Any]:
    annotation = field.annotation
    try:
        schema: dict[str, Any] = TypeAdapter(annotation).json_schema()  # type: ignore[arg-type]
    except Exception:  # an exotic annotation: treat it as plain text
        return {"type": "string"}
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return {**schema, **option}
    return schema


def is_id(name: str) -> bool:
    return name.endswith("_id") or name.endswith("_ids")


def extract(model: type[BaseModel], text: str, now: datetime) -> dict[str, Any]:
    """The arguments `text` gives for `model`'s fields (ids excluded)."""
    found: dict[str, Any] = {}
    people = x.person_names(text)
    for name, field in model.model_fields.items():
        if is_id(name):
            continue
        value = _value(name, schema_of(field), text, now, people)
        if value is not None:
            found[name] = value
    return found


def _value(name: str, schema: dict[str, Any], text: str, now: datetime,
           people: list[str]) -> Any:
    kind = schema.get("type")
    if "enum" in schema:
        return x.fuzzy_choice(text, [str(v) for v in schema["enum"]])
    if "email" in name:
        return _first(x.find_emails(text))
    if "phone" in name:
        return _first(x.find_phones(text))
    return _quantity(name, kind, schema.get("format"), text, now, people)


def _quantity(name: str, kind: object, fmt: object, text: str, now: datetime,
              people: list[str]) -> Any:
    if name in MONEY_FIELDS or name.endswith(("_amount", "_value", "_cents")):
        return _money(name, kind, text)
    if name == "currency":
        money = x.find_money(text)
        return money[0].currency if money and money[0].currency else None
    if fmt == "date" or name.endswith(("_date", "due", "deadline")):
        dates = x.find_dates(text, now.date())
        return dates[0].isoformat() if dates else None
    if fmt == "date-time" or name.endswith("_at"):
        moments = x.find_datetimes(text, now)
        return moments[0].isoformat() if moments else None
    if name in ("first_name", "last_name"):
        return _name_part(name, people)
    if name in ("company", "company_name", "organization"):
        return _first(x.company_names(text))
    if name in ("probability", "percent", "percentage", "discount"):
        return _number(kind, x.find_percent(text))
    if name in QUERY_FIELDS:
        return query_text(text)
    if kind == "string" and name in TEXT_FIELDS:
        return _text(name, text)
    return None


def _first(values: list[str]) -> str | None:
    return values[0] if values else None


def _money(name: str, kind: object, text: str) -> Any:
    money = x.find_money(text)
    if not money:
        return None
    amount = money[0].amount * (100 if name.endswith("cents") else 1)
    return round(amount) if kind == "integer" else amount


def _number(kind: object, values: list[float]) -> Any:
    if not values:
        return None
    return int(values[0]) if kind == "integer" else values[0]


def _name_part(name: str, people: list[str]) -> str | None:
    if not people:
        return None
    parts = people[0].split()
    if name == "first_name":
        return parts[0]
    return " ".join(parts[1:]) or None


def _text(name: str, text: str) -> str | None:
    for quoted in x.quoted(text):
        return quoted
    keyed = x.after_keyword(text, ("called", "named", "titled", "about", "subject", "saying"))
    if keyed:
        return keyed
    if name in ("title", "name", "subject", "description", "summary"):
        cleaned = x.strip_fillers(text)
        return cleaned[:1].upper() + cleaned[1:] if cleaned else None
    return None


def query_text(text: str) -> str | None:
    """What to search for: the message without its command words and trailing punctuation."""
    names = x.person_names(text) + x.company_names(text) + x.quoted(text)
    if names:
        return names[0]
    cleaned = INTENT_WORDS.sub("", text).strip(" ?.!")
    return cleaned or None

