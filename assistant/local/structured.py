"""Arguments with a shape: invoice lines, webhook events, tag lists, and the free text a tool
cannot do without.

`arguments.extract` reads flat fields; these readers cover the few fields that are lists or
must be filled from the message's remaining words:
- invoice lines from "12 hours of implementation at $150/h" or "2 workshops at 1,200 EUR each";
- dotted event names ("deal.won", "invoice.created");
- tags from "tag Pricing with sales and billing";
- a required description, prompt or body: the words after a colon or dash, or after "that",
  "to", "about", with the values already read (amounts, dates) taken out. A message with no
  such words leaves the field missing, so the model asks for it;
- fields a tool's own wording states: sprint goals ("goals: A and B"), a template's slug, a
  run's input, a topic's audience, a shortcut and what it sends, a link's expiry, a window of
  days, a fact's scope, the length and voice of answers, an epic's completion target.

Each reader serves every tool with a field of its name, so it returns None unless the message
clearly states the value; `fits` tells whether a value suits one tool's field.
"""

from __future__ import annotations

import functools
import json
import re
import zoneinfo
from collections.abc import Callable
from typing import Any

from assistant.local import extract as x

#: Free text a tool may require, in the order a message tends to give it.
REQUIRED_TEXT = ("description", "system_prompt", "summary", "body", "content", "task",
                 "objective", "instructions", "message", "prompt", "goal")
_LINE = re.compile(
    r"(?P<q>\d+(?:\.\d+)?)\s*(?:x\s+)?['\"\u2018\u201c]?(?P<what>[A-Za-z][\w '&/-]{1,80}?)"
    r"['\"\u2019\u201d]?\s+(?:at|@|for)\s+"
    r"(?P<price>(?:[$€£]\s?)?\d[\d,.]*\s?(?:k\b)?(?:\s?(?:USD|EUR|GBP|dollars|euros))?)"
    r"(?:\s*(?:/\s?\w+|each|per\s+\w+|apiece))?", re.IGNORECASE)
_UNIT_WORDS = re.compile(
    r"^(?:hours?|hrs?|days?|units?|seats?|licen[cs]es?|sessions?|of them|of those|of these)\s+"
    r"(?:of\s+)?", re.IGNORECASE)
_EVENT = re.compile(r"\b[a-z]+(?:_[a-z]+)*\.[a-z]+(?:_[a-z]+)*\b")
_TAGS = re.compile(
    r"\b(?:tag|label)\b.*?\b(?:with|as)\s+(?P<tags>[\w-]+(?:\s*(?:,|and|&)\s*[\w-]+)*)"
    r"|\b(?:tag|label)\s+(?:it|them|this)\s+(?P<it>[\w-]+(?:\s*(?:,|and|&)\s*[\w-]+)*)"
    r"|\b(?:tagg?ed|labell?ed)\s+(?P<ed>[\w-]+(?:\s*(?:,|&)\s*[\w-]+)*)"
    r"|\b(?:carry|have|get|add|with)\s+the\s+(?P<the>[\w-]+(?:\s*(?:,|and|&)\s*[\w-]+)*)"
    r"\s+(?:tags|labels)\b",
    re.IGNORECASE)
#: Words that introduce what a required text says; "to" introduces a task ("ask it to ..."),
#: "for"/"on" what an expense was for, but "to the knowledge base" says where content goes.
_INTRO_WORDS = ("that", "which", "who", "about", r"asking(?: us)?(?: to)?", "saying", "because")
#: Words of a message (a reply's body): "about" says what it is about, not what it says.
_NOT_INTRO = {"body": ("about",), "message": ("about",), "content": ("about",)}
_EXTRA_INTRO = {"system_prompt": (r"whose job is to", r"that will", r"which will"),
                "task": ("to",), "objective": ("to",), "goal": ("to",), "instructions": ("to",),
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
        if _UNIT_WORDS.match(what + " ") or not what:
            # "a strategy workshop, 2 days at $1,800": the unit counts; what was done is
            # said before ("Consulting, 12 hours at $150")
            said = r"['\"\u2018\u201c]?([A-Za-z][\w '&/-]{2,60}?)['\"\u2019\u201d]?\s*[,:]?\s*$"
            before = next((m for lead in (r"\bfor\s+(?:an?\s+|the\s+)?", r"[:,]\s*", r"^")
                           if (m := re.search(lead + said, text[:match.start()]))), None)
            what = before[1].strip() if before else what
            what = re.sub(r"^(?:one line|a line|line)\s*,?\s*|^(?:an?|the)\s+", "", what,
                          flags=re.IGNORECASE)
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
    said = re.split(r"\s*(?:,|\band\b|&)\s*",
                    match["tags"] or match["it"] or match["ed"] or match["the"])
    return [t for t in (s.strip().lower() for s in said) if t] or None


def required_text(name: str, masked: str) -> str | None:
    """The words a required description or prompt is made of, or None when there are none."""
    intros = [w for w in _INTRO_WORDS if w not in _NOT_INTRO.get(name, ())]
    words = "|".join((*intros, *_EXTRA_INTRO.get(name, ())))
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
    ("has_tag", re.compile(r"\b(?:has|have|with|carries|carry)\s+(?:the|a|an)\s+['\"\u2018\u201c]?"
                           r"(?P<value>[\w-]+)['\"\u2019\u201d]?\s+tag\b", re.I)),
    ("eq", re.compile(rf"\bwith\s+(?:a\s+|the\s+)?(?P<field>status|source)\s+(?:of\s+)?{_VALUE}",
                      re.I)),
    ("is_not_set", re.compile(rf"\b(?:no|without(?:\s+an?)?)\s+(?P<field>{_FIELD})\b", re.I)),
    ("is_not_set", re.compile(rf"\b(?P<field>{_FIELD})\s+(?:is\s+)?(?:empty|missing|blank|"
                              r"not set)\b", re.I)),
    *[(op, re.compile(rf"\b(?P<field>{_FIELD})\s+(?:of\s+|is\s+)?{words}\s+{_NUMBER}", re.I))
      for op, words in _COMPARE],
    ("contains", re.compile(rf"\b(?P<field>{_FIELD})\s+(?:contains|includes|mentions)\s+{_VALUE}",
                            re.I)),
    ("eq", re.compile(rf"\b(?P<field>{_FIELD})\s+(?:is|=|==|equals)\s+"
                      rf"(?:(?:still|currently|now|already|just|set\s+to)\s+)?{_VALUE}", re.I)),
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


_KINDS = ("deal", "contact", "customer", "invoice", "expense", "task", "project", "campaign",
          "segment", "webhook", "agent", "grid", "workflow", "document", "member", "prospect",
          "sprint", "epic", "payment")
_KIND_SAID = re.compile(rf"\b(?P<kind>{'|'.join(_KINDS)}|blog post)s?\b", re.IGNORECASE)


def record_kind(text: str, masked: str) -> str | None:
    """The one kind of record a question about changes names ("deal deletions" -> deal)."""
    said = {m["kind"].lower().replace(" ", "_") for m in _KIND_SAID.finditer(text)}
    return said.pop() if len(said) == 1 else None


_TOOL_NAME = re.compile(r"\b(?:search|get|list|create|update|delete|send|log|add|run|draft|"
                        r"schedule|record|submit|query|post|reply)_[a-z_]+\b")


def tool_names(text: str, masked: str) -> list[str] | None:
    """Tools an agent may use, named as written: "it only needs search_deals and
    get_contact_timeline"."""
    said = list(dict.fromkeys(_TOOL_NAME.findall(text)))
    return said or None


_LANGUAGES = {"english": "en", "spanish": "es", "french": "fr", "german": "de", "italian": "it",
              "portuguese": "pt", "dutch": "nl", "swedish": "sv", "norwegian": "no",
              "danish": "da", "finnish": "fi", "polish": "pl", "japanese": "ja",
              "chinese": "zh", "korean": "ko", "brazilian portuguese": "pt-BR"}


def language(text: str, masked: str) -> str | None:
    """The language answers should be in: "reply in Spanish", "switch to French"."""
    lowered = text.lower()
    found = [code for name, code in sorted(_LANGUAGES.items(), key=lambda p: -len(p[0]))
             if re.search(rf"\b(?:in|to|into|speak|use)\s+{name}\b", lowered)]
    return found[0] if found else None


def key_value(text: str, masked: str) -> str | None:
    """What a memory key holds, said after it: "under initech_po_notice: Initech needs 30
    days' notice", "key house_style = Plain English"."""
    key = key_name(text, masked)
    if key is None:
        return None
    said = re.search(rf"{re.escape(key)}['\"\u2019\u201d]?\s*(?::|=|\bis\b|\bas\b|->"
                     r"|,?\s*(?:with\s+)?(?:the\s+|a\s+)?value(?:\s+(?:is|of|as))?\s*:?)\s*(.+)$",
                     text, re.IGNORECASE)
    if said is None:
        return None
    value = said[1].strip(" .'\"")
    quoted = x.quoted(said[1])
    return quoted[0] if quoted and len(quoted[0]) > len(value) / 2 else value or None


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
    for said in re.finditer(r"\b([A-Za-z]+(?:\s[A-Za-z]+)?)\s+time\b", text):
        words = said[1].lower().split()
        for start in range(len(words)):  # "on chicago time", "new york time"
            zone = _zones_by_city().get(" ".join(words[start:]))
            if zone:
                return zone
    return None


# -- spans of time ("the next two weeks", "valid for a month") --------------------------------
#: A count said in digits or words ("a", "two", "a couple of") before a unit of time.
_COUNT = (r"(?P<n>\d{1,3}|a\s+couple\s+of|an?|one|two|three|four|five|six|seven|eight|nine|ten|"
          r"eleven|twelve)")
_UNIT = r"(?P<unit>day|week|fortnight|month|quarter|year)s?\b"
_COUNT_WORDS = {"a": 1, "an": 1, "one": 1, "a couple of": 2, "two": 2, "three": 3, "four": 4,
                "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11,
                "twelve": 12}
_UNIT_DAYS = {"day": 1, "week": 7, "fortnight": 14, "month": 30, "quarter": 90, "year": 365}


def _days_of(match: re.Match[str]) -> int | None:
    """The days a matched count and unit make ("two weeks" -> 14), if within a year."""
    said = " ".join((match["n"] or "a").lower().split())
    count = int(said) if said.isdigit() else _COUNT_WORDS[said]
    days = count * _UNIT_DAYS[match["unit"].lower()]
    return days if 1 <= days <= 365 else None


#: A window ahead or back: "the next 2 weeks", "over the past month", "next 10 days", "this
#: past week"; "within a month".
_WINDOWS = (re.compile(rf"\b(?P<the>the\s+|this\s+)?(?P<dir>next|coming|last|past)\s+"
                       rf"(?:{_COUNT}[\s-]+)?{_UNIT}", re.IGNORECASE),
            re.compile(rf"\bwithin\s+(?:the\s+(?:next|coming)\s+)?(?:{_COUNT}[\s-]+)?{_UNIT}",
                       re.IGNORECASE))


def window_days(text: str, masked: str) -> int | None:
    """How many days a window ahead or back spans: "deals closing in the next two weeks" -> 14,
    "usage over the last 10 days" -> 10, "within a month" -> 30. "Next week" and "last month"
    name a calendar period and "the coming weeks" no count, so they say none; nor does "this
    month"."""
    for pattern in _WINDOWS:
        for match in pattern.finditer(text):
            bare = (match.groupdict().get("dir") or "").lower() in ("next", "last")
            if not match["n"] and ((bare and not match.groupdict().get("the"))
                                   or match.group().lower().endswith("s")):
                continue
            return _days_of(match)
    return None


def _lasting(cue: str) -> re.Pattern[str]:
    """A cue, up to three words, then a span: "expire (automatically) after 7 days"."""
    return re.compile(rf"\b(?:{cue})(?:\s+\w+){{0,3}}?\s+(?:after|in|for|within|of)\s+"
                      rf"{_COUNT}[\s-]+{_UNIT}", re.IGNORECASE)


#: How long a link or a memory lasts, said with a word of expiry ("should expire after 7 days",
#: "expiring in 30 days", "forget it after a month", "a 30-day link") or, of a link only, of
#: validity ("valid for 2 weeks"), of sharing ("share the slides for 3 days") or as a clause of
#: its own ("a share link for the script, comments allowed, 7 days"). "For a week" alone says
#: nothing about expiry.
_EXPIRING = _lasting(r"expir\w*|forget(?:\s+it)?|stops?\s+working|keep\s+it|delete\s+it|dies|"
                     r"goes\s+dead|is\s+dead")
_SPAN_OF_EXPIRY = re.compile(rf"\b{_COUNT}[\s-]+{_UNIT}\s+(?:expiry|expiration|link)\b",
                             re.IGNORECASE)
_OF_A_LINK = (_lasting(r"valid|lasts?|live|active|available|works?|good"),
              re.compile(rf"\bshar\w*\b[^.;:]*?\bfor\s+{_COUNT}[\s-]+{_UNIT}", re.IGNORECASE),
              re.compile(rf"(?:^|,)\s*(?:for\s+)?{_COUNT}[\s-]+{_UNIT}(?:\s+only)?\s*(?:[,.!]|$)",
                         re.IGNORECASE))


def expiry_days(text: str, masked: str) -> int | None:
    """Days until a link stops working or a memory is forgotten, when an expiry is said;
    validity words count only for a link (a fact "valid for 30 days" is just a fact). A
    number of days wins over the date the same words give (`arguments` drops `expires_at`
    beside it: share_document refuses both)."""
    link = re.search(r"\b(?:link|share|access|url)\b", text, re.IGNORECASE)
    for pattern in (_EXPIRING, _SPAN_OF_EXPIRY, *(_OF_A_LINK if link else ())):
        match = pattern.search(text)
        if match:
            return _days_of(match)
    return None


# -- sprint goals ---------------------------------------------------------------------------
#: "goal: ship the dashboard", "goals are A and B", "the goal is to ship v2".
_GOALS = re.compile(r"\b(?P<which>goals?)(?:\s*[:=]|\s+[-\u2013\u2014]\s|\s+(?:is|are)\s)\s*",
                    re.IGNORECASE)
#: Words that only join a value (a date, an amount) to a goal: trailing, they end it.
_JOINING = frozenset({"from", "to", "by", "until", "till", "starting", "ending", "on", "in",
                      "between", "through", "and", "for", "at", "due", "before", "after", "the"})


def sprint_goals(text: str, masked: str) -> list[str] | None:
    """Goals said after "goal:" or "goals:", to the end of the sentence. One goal keeps its
    commas and "and"s; "goals" are split at commas, semicolons and "and". Values said after a
    goal ("..., from June 2 to June 13") belong to the sprint, not to the goal. Each goal is
    kept as said with its first letter upper-cased, like the tools' examples ('Hook', 'The
    problem')."""
    source = masked if len(masked) == len(text) else text
    match = _GOALS.search(source)
    if match is None:
        return None
    end = re.compile(r"\.\s|[.!?]?\s*$|\n").search(source, match.end())
    stop = end.start() if end else len(source)
    split = r";|,|\band\b" if match["which"].lower() == "goals" else r";"
    goals, start = [], match.end()
    for piece in [*re.finditer(split, source[start:stop], re.IGNORECASE), None]:
        finish = start + piece.start() if piece else stop
        goal = _goal(text, source, start, finish)
        if goal:
            goals.append(goal)
        start = start + piece.end() if piece else stop
    return goals if goals and len(goals) <= 20 else None


def _goal(text: str, source: str, start: int, end: int) -> str | None:
    """The goal between `start` and `end`, ended at its last word that is not a value or a
    joining word (`source` has the values blanked)."""
    words = [m for m in re.finditer(r"[^\s,;:]+", source[start:end])
             if m.group().lower().strip(".'\"") not in _JOINING]
    if not words:
        return None
    said = text[start:start + words[-1].end()].strip(" .,;:'\"\u2018\u2019\u201c\u201d")
    said = re.sub(r"^to\s+", "", " ".join(said.split()), flags=re.IGNORECASE)  # "is to ship"
    return said[:1].upper() + said[1:] if 0 < len(said) <= 300 else None


# -- slugs, shortcuts, inputs ---------------------------------------------------------------
#: A kebab-case slug: lowercase words joined by hyphens, not inside an email, a link or a path.
_KEBAB = r"(?<![\w@./-])['\"`]?(?P<slug>[a-z][a-z0-9]*(?:-[a-z0-9]+)+)['\"`]?(?![\w@/-]|\.\w)"
#: Where a slug is said: after the word "slug"; or naming a template ("install lead-scout",
#: "the research-analyst template"), which a blog post's own words never do.
_SLUG_KEYED = re.compile(rf"\b(?i:slug)\b[^.;!?\n]{{0,30}}?{_KEBAB}")
_SLUG_OF_TEMPLATE = (re.compile(rf"\b(?i:install)\s+(?:(?i:the)\s+)?{_KEBAB}"),
                     re.compile(rf"{_KEBAB}\s+(?:(?i:agent)\s+)?(?i:template)\b"),
                     re.compile(rf"\b(?i:template)\s+{_KEBAB}"))


def slug(text: str, masked: str) -> str | None:
    """A slug said as one: "with the slug pricing-explained", "install the research-analyst
    template"; a hyphenated word elsewhere ("follow-up emails") is no slug."""
    keyed = _SLUG_KEYED.search(masked)
    if keyed:
        return keyed["slug"]
    if re.search(r"\b(?:post|blog|article)s?\b", text, re.IGNORECASE):
        return None
    said = (pattern.search(masked) for pattern in _SLUG_OF_TEMPLATE)
    return next((match["slug"] for match in said if match), None)


#: A shortcut command: "/overdue", not part of a link, a path ("/blog/x") or "and/or".
_COMMAND = re.compile(r"(?<![\w/.:])/(?P<word>[A-Za-z][\w-]{0,38})(?![\w/-]|\.\w)")
#: What joins a command to what it sends: "a shortcut for:", "should now mean", "so it", "=".
_MEANS = re.compile(
    r"^[\s,]*(?:(?:is|as|be)\s+)?(?:(?:a|an|my|the|new)\s+)?(?:shortcut|command|alias)?\s*"
    r"(?:(?:that|which|should|will|to|must|can|shall|just|now|only|so|it)\s+)*"
    r"(?:means?|stands?\s+for|expands?\s+(?:in)?to|sends?|runs?|types?|for|to|as|=>?|:|->"
    r"|\u2192)?\s*:?",
    re.IGNORECASE)
_REMOVING = re.compile(r"\b(?:remove|delete|drop|clear|unset|get rid of|forget)\b", re.I)


def shortcut_command(text: str, masked: str) -> str | None:
    """The shortcut a message sets, with its slash: "make /overdue a shortcut for ..."."""
    match = _COMMAND.search(masked)
    return f"/{match['word']}" if match else None


def shortcut_expansion(text: str, masked: str) -> str | None:
    """What a shortcut sends, said after its command ("/w = weekly report", "/pipe should mean
    'show my pipeline'", "make /pipeline show my open deals") or quoted before it ("save 'show
    overdue invoices' as /overdue"). Removing a shortcut gives it none."""
    match = _COMMAND.search(masked)
    if match is None or _REMOVING.search(text[:match.start()]):
        return None
    rest = text[match.end():]
    joined = _MEANS.match(rest)
    head = rest[:joined.end()] if joined else ""
    rest = rest[joined.end():] if joined else rest
    quoted = x.quoted(rest)
    if quoted and rest.lstrip().startswith(("'", '"', "\u2018", "\u201c")):
        return quoted[0]
    said = re.split(r"\s[-\u2013\u2014]\s", rest)[0]  # "... this week — update it"
    said = re.sub(r"[\s,]+(?:please|pls|thanks)\W*$", "", said, flags=re.IGNORECASE)
    said = " ".join(said.split()).strip(" .!?'\"")
    verb = re.match(r"(shows|lists|gives|finds|pulls|opens|runs|sends)\b", said, re.IGNORECASE)
    if verb and re.search(r"\b(?:that|which)\s*$", head):
        said = said[:verb.end() - 1] + said[verb.end():]  # "a shortcut that shows me X"
    if said.lower().startswith(("also ", "too ")):
        return None  # "change /overdue so it also includes tasks": a change, not the request
    if said and said.lower() not in ("shortcut", "command", "please"):
        return said
    before = x.quoted(text[:match.start()])
    return before[-1] if before else None


#: An input's keys that a message can give as "<key> <value>", and how each value is written.
_INPUT_VALUES = {
    "email": r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
    "url": r"https?://[^\s<>\"']+",
    "domain": r"(?<![@\w.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?![\w@-])",
    "phone": r"\+?\(?\d[\d ().-]{5,20}\d",
    "name": r"[A-Z][\w&'.-]*(?:\s+[A-Z][\w&'.-]*)*",
    "company": r"[A-Z][\w&'.-]*(?:\s+[A-Z][\w&'.-]*)*",
}
_KEY = "|".join(_INPUT_VALUES)
#: "<key> <value>" after "with", "for", "input", "and" or a comma: "with email maria@x.io",
#: "input email: jane@x.io", "for company Acme, name Jane".
_KEY_FIRST = re.compile(rf"(?:\b(?:with|for|input|and)\s+|,\s*)(?:the\s+)?(?:input\s+)?"
                        rf"(?P<key>{_KEY})\b\s*(?:[:=]\s*|(?:is|of)\s+)?", re.IGNORECASE)
#: "<value> as the <key>": "with jane@x.io as the input email".
_VALUE_FIRST = re.compile(rf"\bwith\s+(?P<value>\S.*?)\s+as\s+(?:the\s+|its\s+|an?\s+)?"
                          rf"(?:input\s+)?(?P<key>{_KEY})\b", re.IGNORECASE)
#: A whole text input: "input: ...", "with input ...", "on: ...", to the end of the message.
_TEXT_INPUT = re.compile(r"\binput\s*(?:[:=]|\bis\b)\s*(?P<said>\S.*)$|\bwith\s+(?:the\s+|this\s+)?"
                         r"input\s+(?P<with>\S.*)$|\bon:\s*(?P<on>\S.*)$"
                         r"|\bworkflow\s+(?:on|for)\s+(?P<about>\S.*)$"
                         r"|\brun\s+\S.*?\bwith\s+(?P<json>\{.*\})\s*$",
                         re.IGNORECASE | re.DOTALL)


def run_input(text: str, masked: str) -> dict[str, Any] | str | None:
    """A run's input. Keys with values ("with email maria@contoso.com", "with jane@x.io as the
    input email") make an object of them, for a grid; "input: ..." or "on: ..." is the text a
    workflow's first step works on, taken whole (its dates and commas included)."""
    pairs: dict[str, Any] = {}
    for match in _VALUE_FIRST.finditer(text):
        key = match["key"].lower()
        if re.fullmatch(_INPUT_VALUES[key], match["value"].strip(" '\"")):
            pairs.setdefault(key, match["value"].strip(" '\""))
    for match in _KEY_FIRST.finditer(text):
        key = match["key"].lower()
        value = re.match(rf"['\"]?({_INPUT_VALUES[key]})", text[match.end():])
        if value:
            pairs.setdefault(key, value[1].rstrip(".,;:!?)"))
    if pairs:
        return pairs
    said = _TEXT_INPUT.search(text)
    if said is None:
        return None
    whole = (said["said"] or said["with"] or said["on"] or said["about"] or said["json"]
             ).strip().rstrip(".!").strip()
    if whole.startswith("{"):  # an object written out: 'with input {"email": "jo@acme.com"}'
        try:
            written = json.loads(whole)
        except ValueError:
            return None
        return written if isinstance(written, dict) else None
    quoted = x.quoted(whole)
    return quoted[0] if len(quoted) == 1 and len(quoted[0]) >= len(whole) - 2 else whole or None


# -- who a topic is for ---------------------------------------------------------------------
#: "aimed at founders", "targeting CFOs", "for an audience of ops managers", "audience: X", or
#: a clause of its own: "..., audience ops leads", "..., target CTOs".
_AUDIENCE = re.compile(
    r"(?:\b(?:aimed\s+at|targeted\s+at|targeting|geared\s+(?:towards?|to)|for\s+an\s+audience\s+of"
    r"|written\s+for|meant\s+for"
    r"|(?:target\s+)?audience(?:\s*[:=]|\s+is|\s+of))"
    r"|(?:^|[,;(]\s*)(?:target(?:\s+audience)?|audience))\s+(?P<who>[^,;:.!?()\n]+)",
    re.IGNORECASE)


def audience(text: str, masked: str) -> str | None:
    """Who a piece of content is for, said as an audience; "for X" alone is too loose."""
    match = _AUDIENCE.search(text)
    if match is None:
        return None
    who = re.split(r"\s+(?:about|on|covering|with|that|-)\s+", match["who"], maxsplit=1)[0]
    who = re.sub(r"^(?:the|our|an?)\s+", "", who.strip(" '\""), flags=re.IGNORECASE)
    who = re.sub(r"\s+(?:please|pls|thanks)$", "", who, flags=re.IGNORECASE)
    return who if who and len(who.split()) <= 8 else None


# -- the kind of change in an audit log -----------------------------------------------------
#: The audit log's actions by the words that name them. "Removed" and "added" name none: a
#: member removed or added is logged as 'remove' or 'invite', not 'delete' or 'create'.
_CHANGE_KINDS = {"delete": ("deleted", "deletions"), "create": ("created",),
                 "update": ("updated", "edited", "modified"), "send": ("sent",)}


def change_kind(text: str, masked: str) -> str | None:
    """The kind of change a question about the audit log asks for: "who deleted the Acme deal"
    -> 'delete', "everything created since Monday" -> 'create'. "changed" names none, and
    neither does a message naming two kinds.

    Only for a free-text `action`: create_automation_rule's is a choice of its own and
    act_on_insight's an index, so this reader is in `TEXT_READERS`, not `READERS`."""
    lowered = text.lower()
    said = {kind for kind, words in _CHANGE_KINDS.items()
            if any(re.search(rf"\b{word}\b", lowered) for word in words)}
    return said.pop() if len(said) == 1 else None


# -- preferences and scopes -----------------------------------------------------------------
#: Who a remembered fact is for: everyone in the workspace ...
#: ("for the company" ends its phrase: in "the budget for the company retreat" it is no scope).
_EVERYONE = re.compile(r"\b(?:for|with)\s+(?:the\s+whole\s+(?:team|company|workspace)|everyone|"
                       r"everybody|all\s+of\s+us|the\s+(?:team|company|workspace)"
                       r"|(?:everyone|everybody)\s+(?:in|at|on)\s+(?:the|our)\s+"
                       r"(?:team|company|workspace|org(?:anisation|anization)?))"
                       r"(?=\s*(?:[,.:;!?]|$|that\b|to\b|so\b))|"
                       r"\b(?:company|workspace|team)[- ]wide\b", re.IGNORECASE)
#: ... or the user alone.
_ME = re.compile(r"\b(?:about|for|just|only)\s+me\b|\b(?:personal|private)(?:ly)?\b", re.I)
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|i'd|my|mine|me)\b", re.IGNORECASE)


def fact_scope(text: str, masked: str) -> str | None:
    """'workspace' for a fact said for everyone ("note for everyone: ...", "remember for the
    whole team that ...", "company-wide"), 'me' for one about or for the user. A fact in the
    first person ("I'm the contact for the whole team") is the user's, so no scope is read."""
    if _ME.search(text):
        return None if _EVERYONE.search(text) else "me"
    everyone = _EVERYONE.search(text)
    if everyone is None:
        return None
    rest = text[:everyone.start()] + text[everyone.end():]
    rest = re.sub(r"\b(?:remind|tell|let)\s+me\b", " ", rest, flags=re.IGNORECASE)
    return None if _FIRST_PERSON.search(rest) else "workspace"


#: Answer lengths. "Brief" and "detailed" are asked for ("be brief", "more detailed"), not
#: named ("the content brief"); "short" and "long" are said of the answers.
_ANSWERS = r"(?:answers|replies|responses|messages)"
_LENGTHS = (
    ("brief", rf"\b(?:concise|terse|succinct|less\s+verbose|to\s+the\s+point|fewer\s+words|"
              rf"less\s+detail(?:ed)?|(?:one|a\s+single)\s+line|one-liners?|be\s+shorter|"
              rf"(?:be|keep\s+\w+|stay|more)\s+brief|briefer|brief\s+{_ANSWERS}|"
              rf"(?:short|shorter)\s+{_ANSWERS}|(?:{_ANSWERS}|it)\s+(?:\w+\s+)?(?:short|shorter))\b"),
    ("detailed", rf"\b(?:(?:more\s+)?detailed\s+{_ANSWERS}|more\s+detail(?:ed|s)?|in\s+(?:more\s+)?"
                 rf"detail|in\s+depth|more\s+depth|more\s+thorough|be\s+thorough|"
                 rf"(?:long|longer)\s+{_ANSWERS}|{_ANSWERS}\s+(?:\w+\s+)?(?:long|longer))\b"),
    ("normal", rf"\b(?:normal|regular|medium|usual)\s+(?:length|{_ANSWERS})\b"),
)


def answer_length(text: str, masked: str) -> str | None:
    """How long answers should be: "keep your answers short", "be more concise" -> 'brief';
    "more detail", "longer answers" -> 'detailed'. Nothing when both are said."""
    said = [value for value, pattern in _LENGTHS if re.search(pattern, text, re.IGNORECASE)]
    return said[0] if len(said) == 1 else None


#: Voices, each with the words that ask for it.
_TONES = (("casual", r"casual|informal|relaxed|laid[- ]back"), ("formal", r"formal"),
          ("friendly", r"friendly|friendlier|warmer|warm(?=\s+tone)"),
          ("professional", r"professional|businesslike"), ("neutral", r"neutral"))
#: Words that turn a voice down: "less formal", "drop the formal tone" ask for the opposite.
_LESS = r"less|not\s+so|not\s+as|not\s+too|no\s+more|stop\s+being|(?:drop|lose|ditch)\s+the"
_OPPOSITE = {"formal": "casual", "casual": "formal"}


def answer_tone(text: str, masked: str) -> str | None:
    """The voice answers should have: "be more casual", "less formal" -> 'casual'; "more
    formal" -> 'formal'; "friendlier" -> 'friendly'. Nothing when two voices are asked for,
    or one is only turned down ("less friendly")."""
    said = set()
    for value, words in _TONES:
        for match in re.finditer(rf"\b(?P<less>(?:{_LESS})\s+)?(?:{words})\b", text,
                                 re.IGNORECASE):
            wanted = _OPPOSITE.get(value) if match["less"] else value
            if wanted:
                said.add(wanted)
    return said.pop() if len(said) == 1 else None


# -- an epic's completion target ------------------------------------------------------------
_PERCENT = r"(?P<p>\d{1,3})\s*(?:%|percent\b)"
#: "on target at 90% done", "90% complete counts as on target", "a target of 90%", "a 90%
#: completion target".
_ON_TARGET = (
    re.compile(rf"\bon\s+(?:target|track)\s+(?:at|when|once|with|by|from)?\s*{_PERCENT}", re.I),
    re.compile(rf"{_PERCENT}\s*(?:done|complete|completed|completion|of\s+(?:the\s+)?tasks"
               r"(?:\s+(?:done|complete|completed))?)?\s*(?:counts?|is|means|=|will\s+count)\s+"
               r"(?:as\s+)?(?:on\s+(?:target|track)|done|complete|success)", re.I),
    re.compile(rf"\b(?:completion\s+)?target\s*(?:completion\s+)?(?:(?:of|at|is)\s+|[:=]\s*)?"
               rf"{_PERCENT}", re.I),
    re.compile(rf"{_PERCENT}\s+(?:completion\s+)?target\b", re.I),
)


def completion_target(text: str, masked: str) -> int | None:
    """The percent of tasks done that counts as on target, when said as a target."""
    for pattern in _ON_TARGET:
        match = pattern.search(text)
        if match and int(match["p"]) <= 100:
            return int(match["p"])
    return None


def fits(value: Any, schema: dict[str, Any]) -> bool:
    """Whether a value read for a field has the type, choice and bounds the field's schema
    (references resolved) allows. One reader serves every tool with a field of its name, and
    the fields may differ: `input` is text for execute_workflow but an object for run_grid."""
    if "enum" in schema:
        return value in schema["enum"]
    kinds: dict[str, type | tuple[type, ...]] = {
        "string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list,
        "object": dict}
    kind = kinds.get(str(schema.get("type")))
    if kind is None:
        return True
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return bool(schema.get("minimum", value) <= value <= schema.get("maximum", value))
    return True


# -- an automation's action settings ----------------------------------------------------------
_TASK_SAID = re.compile(
    r"\btask\s+(?:(?:called|named|titled|to)\s+)?(?:['\"\u2018\u201c](?P<q>[^'\"\u2019\u201d]{2,120})"
    r"['\"\u2019\u201d]|(?P<w>[^,.;:]{2,120}?))(?=\s+(?:due|within|in\s+\d|for\s+|assigned)|[,.;]|$)",
    re.IGNORECASE)
_DUE_IN = re.compile(
    r"\b(?:due\s+(?:in|within)|within|in)\s+(?P<n>\d{1,3})\s+(?P<unit>day|week)s?\b", re.I)
_SAYING = re.compile(r"\b(?:saying|says|that\s+says|with\s+the\s+(?:text|body|message)|text|body)"
                     r"\s*:?\s*['\"\u2018\u201c](?P<q>[^'\"\u2019\u201d]{1,500})['\"\u2019\u201d]",
                     re.IGNORECASE)
_SUBJECT = re.compile(r"\bsubject(?:\s+line)?\s*:?\s*['\"\u2018\u201c]"
                      r"(?P<q>[^'\"\u2019\u201d]{1,200})['\"\u2019\u201d]", re.IGNORECASE)
_TAG_SAID = re.compile(r"\btag\s+(?:(?:it|them|the\s+contact)\s+(?:with\s+|as\s+)?)?"
                       r"['\"\u2018\u201c]?(?P<tag>[\w-]+)['\"\u2019\u201d]?|"
                       r"\b(?:add|remove)\s+(?:the\s+)?['\"\u2018\u201c]?(?!(?:the|a|an)\b)"
                       r"(?P<tag2>[\w-]+)"
                       r"['\"\u2019\u201d]?\s+tag\b", re.IGNORECASE)
_URL_SAID = re.compile(r"https://[^\s<>\"']+")


_QUOTED_NAME = re.compile(r"\b(?:named|called|titled)\s+(['\"\u2018\u201c])"
                          r"[^'\"\u2019\u201d]{1,120}['\"\u2019\u201d]", re.IGNORECASE)


def action_settings(action: str, text: str) -> dict[str, Any] | None:
    """What an automation's action needs, as the message says it: create_task {title,
    due_in_days} ("create a task 'Chase payment' due in 2 days"), send_sms/send_email {body,
    subject} said in quotes, add_tag/remove_tag {tag}, call_webhook {url}."""
    config: dict[str, Any] = {}
    if action != "create_task":  # (the rule's quoted name says no tag or body)
        text = _QUOTED_NAME.sub(lambda m: " " * len(m.group()), text)
    if action == "create_task":
        task = _TASK_SAID.search(text)
        if task and (task["q"] or task["w"]):
            config["title"] = (task["q"] or task["w"]).strip(" '\"")
        due = _DUE_IN.search(text, task.end() if task else 0)
        if due:
            config["due_in_days"] = int(due["n"]) * (7 if due["unit"].lower() == "week" else 1)
    elif action in ("send_sms", "send_email"):
        body, subject = _SAYING.search(text), _SUBJECT.search(text)
        if body:
            config["body"] = body["q"]
        if subject and action == "send_email":
            config["subject"] = subject["q"]
    elif action in ("add_tag", "remove_tag"):
        tag = _TAG_SAID.search(text)
        if tag:
            config["tag"] = (tag["tag"] or tag["tag2"]).lower()
    elif action == "call_webhook":
        url = _URL_SAID.search(text)
        if url:
            config["url"] = url.group().rstrip(".,;")
    return config or None


#: Readers by field name, for every tool with a field of that name: each returns None unless
#: the message clearly states the value.
READERS: dict[str, Callable[[str, str], Any]] = {
    "line_items": invoice_lines, "events": events, "tags": tags, "rules": rules,
    "conditions": rules, "key": key_name, "cron": cron, "timezone": time_zone,
    "goals": sprint_goals, "slug": slug, "input": run_input, "target_audience": audience,
    "command": shortcut_command, "expansion": shortcut_expansion, "expires_in_days": expiry_days,
    "days": window_days, "scope": fact_scope, "verbosity": answer_length, "tone": answer_tone,
    "target_completion_percent": completion_target, "record_type": record_kind,
    "tools": tool_names, "language": language,
}
#: Readers for a field only where it is free text (a string without choices): `action` is
#: free text in query_audit_log, a choice in create_automation_rule, an index in act_on_insight.
TEXT_READERS: dict[str, Callable[[str, str], Any]] = {"action": change_kind,
                                                      "entity_type": record_kind}


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
