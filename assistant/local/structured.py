"""Arguments with a shape: invoice lines, webhook events, tag lists, and the free text a tool
cannot do without.

`arguments.extract` reads flat fields; these readers cover the few fields that are lists or
must be filled from the message's remaining words:
- invoice lines from "12 hours of implementation at $150/h" or "2 workshops at 1,200 EUR each";
- dotted event names ("deal.won", "invoice.created");
- tags from "tag Pricing with sales and billing";
- a required description, prompt or body: the words after a colon or dash, or after "that",
  "to", "about", with the values already read (amounts, dates) taken out. A message with no
  such words leaves the field missing, so the model asks for it.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Callable
from typing import Any

from assistant.local import extract as x

#: Free text a tool may require, in the order a message tends to give it.
REQUIRED_TEXT = ("description", "system_prompt", "summary", "body", "content", "task",
                 "objective", "instructions", "message", "prompt", "goal")
_LINE = re.compile(
    r"(?P<q>\d+(?:\.\d+)?)\s*(?:x\s+)?(?P<what>[A-Za-z][\w '&/-]{1,80}?)\s+(?:at|@|for)\s+"
    r"(?P<price>(?:[$€£]\s?)?\d[\d,.]*\s?(?:k\b)?(?:\s?(?:USD|EUR|GBP|dollars|euros))?)"
    r"(?:\s*(?:/\s?\w+|each|per\s+\w+|apiece))?", re.IGNORECASE)
_UNIT_WORDS = re.compile(
    r"^(?:hours?|hrs?|days?|units?|seats?|licen[cs]es?|sessions?)\s+(?:of\s+)?", re.IGNORECASE)
_EVENT = re.compile(r"\b[a-z]+(?:_[a-z]+)*\.[a-z]+(?:_[a-z]+)*\b")
_TAGS = re.compile(
    r"\b(?:tag|label)\b.*?\b(?:with|as)\s+(?P<tags>[\w-]+(?:\s*(?:,|and|&)\s*[\w-]+)*)",
    re.IGNORECASE)
#: Words that introduce what a required text says; "to" introduces a task ("ask it to ..."),
#: "for"/"on" what an expense was for, but "to the knowledge base" says where content goes.
_INTRO_WORDS = ("that", "which", "who", "about", r"asking(?: us)?(?: to)?", "saying", "because")
_EXTRA_INTRO = {"task": ("to",), "objective": ("to",), "goal": ("to",), "instructions": ("to",),
                "description": ("for", "on")}


_ONE_LINE = re.compile(
    r"^\s*(?P<what>[A-Za-z][\w '&/-]{2,80}?)\s*(?:,|for|at|:|-)\s*(?P<price>(?:[$€£]\s?)?\d[\d,.]*"
    r"\s?(?:k\b)?(?:\s?(?:USD|EUR|GBP|dollars|euros))?)\s*\.?\s*$", re.IGNORECASE)


def invoice_lines(text: str, masked: str) -> list[dict[str, Any]] | None:
    """Lines with a quantity ("2 workshops at 1,200 EUR each"), or one line that is only a
    description and a price ("premium support package, $199")."""
    lines = []
    single = _ONE_LINE.match(text)
    if single and x.find_money(single["price"]):
        what = re.sub(r"^(?:one|a|an|1)\s+", "", single["what"].strip(), flags=re.IGNORECASE)
        return [{"description": what, "quantity": 1,
                 "unit_price": _plain(x.find_money(single["price"])[0].amount)}]
    for match in _LINE.finditer(text):
        money = x.find_money(match["price"])
        if not money:
            continue
        what = _UNIT_WORDS.sub("", match["what"].strip()).strip()
        quantity = float(match["q"])
        lines.append({"description": what, "quantity": int(quantity) if quantity.is_integer()
                      else quantity, "unit_price": _plain(money[0].amount)})
    return lines or None


def events(text: str, masked: str) -> list[str] | None:
    """Dotted event names, read where no link or email is (their domains look alike)."""
    found = _EVENT.findall(masked)
    return list(dict.fromkeys(found)) or None


def tags(text: str, masked: str) -> list[str] | None:
    match = _TAGS.search(text)
    if match is None:
        return None
    said = re.split(r"\s*(?:,|\band\b|&)\s*", match["tags"])
    return [t for t in (s.strip().lower() for s in said) if t] or None


def required_text(name: str, masked: str) -> str | None:
    """The words a required description or prompt is made of, or None when there are none."""
    words = "|".join((*_INTRO_WORDS, *_EXTRA_INTRO.get(name, ())))
    intro = re.compile(rf"\b(?:{words})\s+(.+)$", re.IGNORECASE)
    for source in (_after_mark(masked), _introduced(masked, intro)):
        if source:
            cleaned = _tidy(source)
            if len(cleaned.split()) >= 2:
                return cleaned
    return None


# -- conditions on contacts (segments, routing and scoring rules) ----------------------------
_FIELD_WORDS = (("lead score", "lead_score"), ("score", "lead_score"), ("job title", "job_title"),
                ("title", "job_title"), ("source", "source"), ("company", "company"),
                ("email", "email"), ("status", "status"))
_FIELD = "|".join(re.escape(word) for word, _ in _FIELD_WORDS)
_VALUE = r"['\"\u2018\u201c]?(?P<value>[\w.@-]+(?-i:(?:\s[A-Z][\w-]*)*))['\"\u2019\u201d]?"
_NUMBER = r"(?P<value>-?\d+(?:\.\d+)?)"
_COMPARE = (("gte", r"(?:at least|>=|no less than|minimum of|min)"),
            ("gt", r"(?:over|above|more than|greater than|higher than|>)"),
            ("lte", r"(?:at most|<=|no more than|max(?:imum)? of)"),
            ("lt", r"(?:under|below|less than|lower than|<)"))
_CONDITIONS: list[tuple[str, re.Pattern[str]]] = [
    ("has_tag", re.compile(rf"\b(?:tagged(?:\s+as)?|with\s+(?:the\s+)?tag)\s+{_VALUE}", re.I)),
    ("is_not_set", re.compile(rf"\b(?:no|without(?:\s+an?)?)\s+(?P<field>{_FIELD})\b", re.I)),
    ("is_not_set", re.compile(rf"\b(?P<field>{_FIELD})\s+(?:is\s+)?(?:empty|missing|blank|"
                              r"not set)\b", re.I)),
    *[(op, re.compile(rf"\b(?P<field>{_FIELD})\s+(?:of\s+|is\s+)?{words}\s+{_NUMBER}", re.I))
      for op, words in _COMPARE],
    ("contains", re.compile(rf"\b(?P<field>{_FIELD})\s+(?:contains|includes|mentions)\s+{_VALUE}",
                            re.I)),
    ("eq", re.compile(rf"\b(?P<field>{_FIELD})\s+(?:is|=|==|equals)\s+{_VALUE}", re.I)),
]


def conditions(text: str) -> list[dict[str, Any]]:
    """Tests on a contact the message states, in the order it states them."""
    found: dict[int, dict[str, Any]] = {}  # by where it starts: the first pattern wins
    for operator, pattern in _CONDITIONS:
        for match in pattern.finditer(text):
            found.setdefault(match.start(), _condition(operator, match))
    return [found[start] for start in sorted(found)]


def rules(text: str, masked: str) -> dict[str, Any] | None:
    said = conditions(text)
    if not said:
        return None
    match = "any" if re.search(r"\bor\b|\bany of\b|\beither\b", text, re.I) else "all"
    return {"match": match, "conditions": said}


def _condition(operator: str, match: re.Match[str]) -> dict[str, Any]:
    groups = match.groupdict()
    field = "tags" if operator == "has_tag" else _field(groups["field"])
    condition: dict[str, Any] = {"field": field, "operator": operator}
    value = groups.get("value")
    if value is not None:
        number = re.fullmatch(r"-?\d+(?:\.\d+)?", value)
        condition["value"] = _plain(float(value)) if number else value.strip()
    return condition


def _field(word: str) -> str:
    lowered = word.lower()
    return next(name for said, name in _FIELD_WORDS if said == lowered)


def key_name(text: str, masked: str) -> str | None:
    """A memory key as written: a snake_case name ("company_timezone") or a quoted one."""
    snake = re.search(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b", text)
    if snake:
        return snake.group()
    inner = x.quoted(text)
    return inner[0] if inner else None


# -- schedules ------------------------------------------------------------------------------
_CRON = re.compile(r"(?<![\w*/,-])(?:[\d*/,-]+\s+){4}[\d*/,-]+(?![\w*/,-])")
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = re.compile(r"\b(?:at\s+)?(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ap>am|pm|a\.m\.|p\.m\.)?",
                    re.IGNORECASE)
_PARTS = {"morning": 9, "noon": 12, "midday": 12, "afternoon": 14, "evening": 18, "night": 21}


def cron(text: str, masked: str) -> str | None:
    """A five-field cron from how people say a schedule: a cron written out, or "every
    weekday at 7:30", "mondays and thursdays at 9am", "every morning", "hourly"."""
    written = _CRON.search(text)
    if written:
        return " ".join(written.group().split())
    lowered = text.lower()
    if re.search(r"\b(?:hourly|every hour)\b", lowered):
        return "0 * * * *"
    days = _cron_days(lowered)
    if days is None:
        return None
    minute, hour = _cron_time(lowered)
    return f"{minute} {hour} * * {days}"


def _cron_days(lowered: str) -> str | None:
    if re.search(r"\b(?:weekdays?|every work ?day|monday to friday|mon-fri)\b", lowered):
        return "1-5"
    named = [str(i + 1 if i < 6 else 0) for i, day in enumerate(_DAYS)
             if re.search(rf"\b{day}s?\b", lowered)]
    if named and re.search(r"\bevery\b|\bon\s+\w+days\b|\w+days\b", lowered):
        return ",".join(named)
    if re.search(r"\b(?:daily|every day|each day|every (?:morning|evening|night|afternoon)|"
                 r"nightly)\b", lowered):
        return "*"
    return None


def _cron_time(lowered: str) -> tuple[int, int]:
    for match in _CLOCK.finditer(lowered):
        hour, minute, ap = int(match["h"]), int(match["m"] or 0), (match["ap"] or "")
        said_at = match.group().strip().startswith("at") or match["m"] or ap
        if not said_at or hour > 23 or minute > 59:
            continue
        if ap.startswith("p") and hour < 12:
            hour += 12
        if ap.startswith("a") and hour == 12:
            hour = 0
        return minute, hour
    part = next((h for word, h in _PARTS.items() if word in lowered), 9)
    return 0, part


@functools.cache
def _zones_by_city() -> dict[str, str]:
    """IANA zones by their city ("berlin" -> "Europe/Berlin"), from the system's database."""
    zones: dict[str, str] = {}
    for zone in sorted(zoneinfo.available_timezones()):
        if "/" in zone and not zone.startswith(("Etc/", "SystemV/", "US/")):
            zones.setdefault(zone.rsplit("/", 1)[1].replace("_", " ").lower(), zone)
    return zones


def time_zone(text: str, masked: str) -> str | None:
    """A zone named by a city: "7:30 Berlin time", "in New York time", or an IANA name."""
    written = re.search(r"\b[A-Z][a-z]+/[A-Z][A-Za-z_]+\b", text)
    if written and written.group() in zoneinfo.available_timezones():
        return written.group()
    said = re.search(r"\b([A-Z][a-z]+(?:\s[A-Z][a-z]+)?)\s+time\b", text)
    return _zones_by_city().get(said[1].lower()) if said else None


READERS: dict[str, Callable[[str, str], Any]] = {
    "line_items": invoice_lines, "events": events, "tags": tags, "rules": rules,
    "conditions": rules, "key": key_name, "cron": cron, "timezone": time_zone,
}


def _after_mark(text: str) -> str | None:
    match = re.search(r"(?::|\s[-\u2013\u2014]\s)\s*(.+)$", text)
    return match[1] if match else None


def _introduced(text: str, intro: re.Pattern[str]) -> str | None:
    match = intro.search(text)
    return match[1] if match else None


#: After a comma, these start a new instruction rather than more of the description.
_NEXT = frozenset({"put", "file", "mark", "charge", "bill", "book", "it", "please", "pls",
                   "log", "add", "set", "and"})


def _tidy(text: str) -> str:
    parts = text.split(",")
    kept = [parts[0]]
    for part in parts[1:]:
        words = part.split()
        if not words or words[0].lower() in _NEXT:
            break
        kept.append(part)
    words = re.sub(r"\s+", " ", ",".join(kept)).strip(" .,;:!?'\"").split()
    while words and words[-1].lower().strip(".,!?") in ("please", "pls", "thanks", "it", "log"):
        words.pop()
    while words and words[-1].lower() in ("for", "at", "on", "by", "to", "from", "and", ","):
        words.pop()
    while words and words[0].lower() in ("the", "a", "an"):
        words.pop(0)
    return " ".join(words).strip(" .,;:!?'\"")


def _plain(amount: float) -> int | float:
    return int(amount) if float(amount).is_integer() else float(amount)
