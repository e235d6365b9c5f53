"""Arguments for a chosen tool, read from the user's words by field name and type.

Each field of the tool's argument model is matched by what it is: an email, a phone, money, a
date or a time, a choice among enum values, a yes/no filter ("my", "overdue", "unread"), a count,
a person's or company's name, free text. Free text is what is left once the message's command
("add a deal", "remind me to"), its values (amounts, dates, emails ...) and the choices it made
("high priority") are taken out: "log a $8.5k deal for Kestrel onboarding, high priority" leaves
"Kestrel onboarding" as the title. Record ids are not guessed: they come from lookups (see
`assistant.local.model`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel

import assistant.local.extract as x
import assistant.local.structured as structured
from assistant.local.select import NOUNS

#: Free-text fields in the order a title is preferred.
TITLE_FIELDS = ("title", "name", "subject")
QUERY_FIELDS = ("query", "q", "search", "term", "text")
MONEY_FIELDS = ("value", "amount", "budget", "price", "total", "unit_price")
#: Words that command rather than describe: removed from the front of a title.
COMMAND = frozenset([
    "add", "create", "make", "new", "log", "record", "open", "start", "register", "set", "up",
    "draft", "write", "schedule", "book", "put", "enter", "note", "jot", "down", "please",
    "pls", "can", "could", "would", "you", "will", "i", "we", "need", "want", "to", "like",
    "let", "us", "me", "my", "our", "a", "an", "the", "another", "one", "some", "for",
    "quick", "quickly", "just", "also", "hey", "hi", "ok", "okay", "neptune", "remind",
    "remember", "have", "get", "give", "send", "post", "file", "raise", "kick", "off", "spin",
    "u", "ya", "plz", "kindly", "let's", "lets", "together", "w/",
])
#: Words that name a field, not a thing: "with a budget of 4.5k" has no title.
FIELD_WORDS = frozenset({"budget", "value", "amount", "priority", "status", "stage", "date",
                         "email", "phone", "type", "category", "source", "deadline", "price",
                         "billing", "billed", "bill", "currency", "paying", "pay", "pays"})
#: Words that state what happened rather than name anything: "we've signed a new customer".
STATED = frozenset({"we've", "we", "i've", "i", "just", "signed", "landed", "won", "got", "have",
                    "has", "another", "finally", "so", "they", "they're", "they'll", "their"})
#: Where a thing is put, never part of its title: "a new task on the board for Sam".
PLACE = re.compile(r"\s*\b(?:on|to|in|into|onto)\s+(?:the|my|our)\s+(?:task\s+)?(?:board|list|"
                   r"crm|calendar|pipeline|backlog|kb|knowledge base|system|app|tracker)\b",
                   re.IGNORECASE)
#: Words that join a value to a title; dropped at either end of what is left.
CONNECT = frozenset([
    "for", "to", "about", "on", "at", "by", "due", "from", "until", "till", "through", "thru",
    "running", "starting", "ending", "worth", "valued", "of", "with", "in", "and", "or", "is",
    "are", "was", "be", "it", "that", "which", "who", "called", "named", "titled", "already",
    "currently", "now", "as", "should", "close", "closing", "starts", "ends", "start", "end",
    "whose", "maybe", "around", "approx", "approximately", "roughly", "each", "per", "stage",
    "priority", "status", "aimed", "targeting",
])
BOOLEAN_CUES: dict[str, tuple[str, ...]] = {
    "mine": ("my", "mine", "i own", "i'm on", "i am on", "am i on", "assigned to me", "for me",
             "on me"),
    "only_mine": ("my", "mine", "i submitted", "i filed", "by me"),
    "mine_only": ("my", "mine", "assigned to me", "for me"),
    "open_only": ("open", "still open", "active", "in progress"),
    "overdue": ("overdue", "late", "past due", "behind", "past its due date",
                "past their due date", "past the due date", "missed its due date",
                "missed their due date", "missed the deadline", "slipped"),
    "unread_only": ("unread", "new messages", "haven't read", "not read"),
    "active_only": ("active", "current", "switched on", "turned on", "enabled", "live"),
    "include_inactive": ("inactive", "disabled", "including inactive", "all of them"),
    "include_overdue": ("overdue", "late"),
    "everyone": ("everyone", "everybody", "all users", "whole team"),
    "unassigned": ("unassigned", "no assignee", "not assigned", "nobody assigned"),
}
WORD = re.compile(r"[\w'\u2019&.-]+")


@functools.cache
def schemas(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """Each field's JSON schema with references resolved and the null option dropped."""
    whole = model.model_json_schema()
    definitions = whole.get("$defs", {})
    return {name: _choices(_resolved(schema, definitions))
            for name, schema in whole.get("properties", {}).items()}


def _choices(schema: dict[str, Any]) -> dict[str, Any]:
    """A string whose pattern only lists words ("^(voice|sms|mms)$") is a choice among them."""
    listed = re.fullmatch(r"\^\(([\w|]+)\)\$", str(schema.get("pattern", "")))
    if schema.get("type") == "string" and "enum" not in schema and listed:
        return {**schema, "enum": listed[1].split("|")}
    return schema


def _resolved(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        schema = {**definitions[schema["$ref"].rsplit("/", 1)[-1]],
                  **{k: v for k, v in schema.items() if k != "$ref"}}
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return {**schema, **_resolved(option, definitions)}
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return {**schema, "items": _resolved(schema["items"], definitions)}
    return schema


def is_amount(name: str) -> bool:
    """A money, currency or date field: values an answer can give beside what was asked."""
    return (name in MONEY_FIELDS or name == "currency"
            or name.endswith(("_amount", "_date", "_at", "_on", "_cents")))


def is_id(name: str) -> bool:
    return name.endswith(("_id", "_ids")) or name == "round_robin_members"


@dataclass
class Reading:
    """One message, read once for every field of one tool."""

    text: str
    now: datetime
    nouns: frozenset[str] = frozenset()  # the tool's own nouns ("deal"), part of the command
    spans: list[tuple[int, int]] = field(default_factory=list)  # values and choices found
    people: list[str] = field(default_factory=list)
    creating: bool = True
    read: list[str] = field(default_factory=list)  # text already read as other fields

    @classmethod
    def of(cls, text: str, now: datetime, nouns: frozenset[str], creating: bool = True,
           fields: Collection[str] | None = None) -> Reading:
        """`fields`: the tool's fields, when known; dates and amounts it has no field for
        stay in the words."""
        moments = fields is None or any(_takes_moment(n) for n in fields)
        amounts = fields is None or any(_takes_amount(n) for n in fields)
        return cls(text, now, nouns, x.value_spans(text, now, moments=moments, amounts=amounts),
                   x.person_names(text), creating)

    def looks_back(self, name: str) -> bool:
        """A range bound of a tool that reads records ("since Monday", "from Sep 1") lies in
        the past; a deadline or a date to create something with lies ahead."""
        return (not self.creating and name in LOOK_BACK) or name in HAPPENED


def _takes_moment(name: str) -> bool:
    return (name in HAPPENED | LOOK_BACK | DEADLINES | RANGE_BOUNDS or name in ("cron", "days")
            or name.endswith(("_at", "_on", "_date", "_days", "_time", "date")))


def _takes_amount(name: str) -> bool:
    return is_amount(name) or name in ("line_items", "probability", "points") or any(
        w in name for w in ("percent", "rate", "discount", "price", "value"))


def extract(model: type[BaseModel], text: str, now: datetime,
            nouns: frozenset[str] = frozenset(), *, creating: bool = True) -> dict[str, Any]:
    """The arguments `text` gives for `model`'s fields (ids excluded). Only a tool that makes
    something (`creating`) takes its title from the words left over; others take free text only
    when the message keys it ("rename it to ...", "subject line to '...'")."""
    fields = {n: s for n, s in schemas(model).items() if not is_id(n)}
    reading = Reading.of(text, now, nouns, creating, fields)
    found: dict[str, Any] = {}
    for name, schema in fields.items():  # values and choices first: they shape the free text
        if not _is_free_text(name, schema) and name not in structured.READERS and not (
                name in structured.TEXT_READERS and _is_text(schema)):
            value = _value(name, schema, reading)
            if value is not None:
                found[name] = value
    reading.read.extend(v for v in found.values() if isinstance(v, str) and len(v) > 3)
    found.update(_free_text(fields, reading, creating, filtered=bool(found)))
    _shaped(model, fields, reading, found)
    _describe(fields, reading, found)
    _one_home(model, found, text, nouns)
    said_titles(model, text, found)
    _finished(fields, text, found)
    _without_tools(found)
    return found


def _without_tools(found: dict[str, Any]) -> None:
    """An agent's instructions without the sentence that lists its tools (read as `tools`):
    "... Give it search_deals and list_customers only."."""
    tools = found.get("tools")
    prompt = found.get("system_prompt")
    if isinstance(tools, list) and isinstance(prompt, str):
        kept = [s for s in re.split(r"(?<=[.!?])\s+", prompt) if not any(t in s for t in tools)]
        found["system_prompt"] = " ".join(kept) or prompt


FINISHING = re.compile(r"\b(?:wrapped up|finished|completed|ended|closed out|went live|shipped)\b",
                       re.IGNORECASE)


def _finished(fields: dict[str, dict[str, Any]], text: str, found: dict[str, Any]) -> None:
    """"Integration phase 8 wrapped up yesterday": a day said with finishing is when it ended."""
    end = next((f for f in ("actual_end_date", "completed_on", "end_date") if f in fields), None)
    if end and "start_date" in found and end not in found and FINISHING.search(text) and not \
            re.search(r"\b(?:start|starts|started|starting|kick|begin|from)\b", text, re.I):
        found[end] = found.pop("start_date")


#: Text fields that carry what a message says at length (a reply's body, a call's summary).
LONG_FIELDS = frozenset({"body", "summary", "description", "content", "message", "notes",
                         "text"})
TITLE_KEYS = re.compile(r"\b(?:called|named|titled|title|subject(?: line)?|name it|call it|"
                        r"headline)\b", re.IGNORECASE)


def said_titles(model: type[BaseModel], text: str, found: dict[str, Any]) -> None:
    """An optional title beside a text that says it all is kept only when the message gives it
    as one (quoted, or after "called"/"subject"): in "reply to Leo: the contract is on its
    way" the words before the colon say whom to answer, not a subject."""
    if not any(name in found for name in LONG_FIELDS):
        return
    for title in TITLE_FIELDS:
        said = found.get(title)
        if (isinstance(said, str) and not model.model_fields[title].is_required()
                and said not in x.quoted(text) and not TITLE_KEYS.search(text)):
            del found[title]


def _no_title_of_values(found: dict[str, Any], nouns: frozenset[str], text: str) -> None:
    """A name made only of what other fields took and the tool's own words ("contains
    Director" of a scoring rule whose test it is, "scoring rule") names nothing: ask. A name
    said in quotes or after "named" is one, whatever its words."""
    quoted = {q.lower() for q in x.quoted(text)}
    said = {w.lower() for k, v in found.items() if k not in TITLE_FIELDS and isinstance(v, str)
            for w in WORD.findall(v.replace("_", " "))}
    for title in TITLE_FIELDS:
        value = found.get(title)
        words = [w.lower() for w in WORD.findall(value)] if isinstance(value, str) else []
        named = isinstance(value, str) and re.search(
            rf"\b(?:named|called|titled|name it|call it)\s+{re.escape(value)}", text, re.I)
        if words and str(value).lower() not in quoted and not named and all(
                w in said or w.rstrip("s") in nouns or w in CONNECT for w in words):
            del found[title]


def _one_home(model: type[BaseModel], found: dict[str, Any], text: str = "",
              nouns: frozenset[str] = frozenset()) -> None:
    """One piece of text fills one field: a value two text fields got stays in the required
    one (the reply's body, not its subject), else the first; a title that merely repeats
    another value ("weekly-pipeline-digest template") is no title."""
    by_value: dict[str, list[str]] = {}
    for name, value in found.items():
        if isinstance(value, str):
            by_value.setdefault(value.strip(" .!?'\"").casefold(), []).append(name)
    for names in by_value.values():
        required = [n for n in names if model.model_fields[n].is_required()]
        # the field the message names ("update the excerpt ... to: ...") wins
        named = [n for n in names if n.replace("_", " ") in text.lower()]
        keeper = (named or required or names)[0]
        for name in names:
            if name != keeper:
                del found[name]
    title_said = next((found[t] for t in TITLE_FIELDS if isinstance(found.get(t), str)), None)
    for name in LONG_FIELDS:
        value = found.get(name)
        if (title_said and isinstance(value, str) and value != title_said
                and value.startswith(title_said) and not model.model_fields[name].is_required()):
            del found[name]  # "campaign: Black Friday flash sale, budget $300" has no body
    _no_title_of_values(found, nouns, text)
    for title in TITLE_FIELDS:
        said = found.get(title)
        inside = [v for n, v in found.items() if n != title and n not in FREE_TEXT
                  and isinstance(v, str) and v != said and len(v) >= 8
                  and (" " in v or "-" in v) and isinstance(said, str) and v in said]
        if isinstance(said, str) and inside:
            # "onboarding checklists aimed at ops managers": the audience said after the
            # title is cut off it; a title that is only another value is none.
            head = said[:said.rfind(inside[0])] if said.endswith(inside[0]) else ""
            head = _trim(re.sub(r"\s+(?:aimed\s+at|targeting|targeted\s+at)\s*$", "", head))
            if head and any(w.lower() not in COMMAND | CONNECT for w in WORD.findall(head)):
                found[title] = head
            else:
                del found[title]


MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")


def _period(r: Reading, found: dict[str, Any], options: list[str]) -> str | None:
    """A named period for a report: dates given make it custom; a month said by name is this
    or last month."""
    if "custom" in options and ("start" in found or "end" in found):
        return "custom"
    lowered = r.text.lower()
    said = [i + 1 for i, month in enumerate(MONTHS) if re.search(rf"\b{month}\b", lowered)]
    if len(said) != 1:
        return None
    this = r.now.month
    last = 12 if this == 1 else this - 1
    named = {this: "this_month", last: "last_month"}.get(said[0])
    return named if named in options else None


def _read_shaped(fields: dict[str, dict[str, Any]], r: Reading, found: dict[str, Any]) -> None:
    """Fields read by their own reader (`structured.READERS`), whatever else took the words."""
    for name in fields:
        reader = structured.READERS.get(name)
        if reader is None and _is_text(fields[name]):
            reader = structured.TEXT_READERS.get(name)
        if reader is not None and (name not in found or name in SAID_BY_READER):
            value = reader(r.text, _masked(r))
            if value is not None and not structured.fits(value, fields[name]):
                value = None  # `input` is text for one tool and an object for another
            if value is None and name not in found and not _is_free_text(name, fields[name]):
                value = _value(name, fields[name], r)  # "key: mrr_target", said plainly
            if value is not None:
                found[name] = value
    _after_readers(fields, r, found)


#: Where a schedule starts in what an agent is asked to do on it.
SCHEDULE_SAID = re.compile(r"\s+(?:every|each|on\s+weekdays|on\s+(?:mon|tues|wednes|thurs|fri|satur"
                           r"|sun)days|(?:daily|weekly|monthly|hourly|nightly)(?=\s*(?:$|[,.;]|at\b"
                           r"|on\b|in\b)))\b", re.IGNORECASE)  # ("the weekly post" is a post)


def _after_readers(fields: dict[str, dict[str, Any]], r: Reading, found: dict[str, Any]) -> None:
    """What the readers' values settle: an expiry in days is no date too, a quoted text is
    what is sent, a memory key's value follows it."""
    if "expires_in_days" in found:
        found.pop("expires_at", None)  # "expire after 7 days" is a number of days
    if "cron" in found and isinstance(found.get("task"), str):  # what to do, not when
        found["task"] = SCHEDULE_SAID.split(found["task"], maxsplit=1)[0].strip(" ,.") or found[
            "task"]
    for name in ("expansion", "body", "message", "content"):
        said = found.get(name)
        if not isinstance(said, str):
            continue
        quoted = x.quoted(said)
        if len(quoted) == 1 and len(quoted[0]) >= len(said) / 2:
            found[name] = quoted[0]  # 'sends "show overdue invoices"': what it sends
    if "action_config" in fields and isinstance(found.get("action"), str):
        settings = structured.action_settings(found["action"], r.text)
        if settings:
            found["action_config"] = settings
            if settings.get("title") and str(found.get("name", "")).lower() == str(
                    settings["title"]).lower():
                del found["name"]  # the task's title names no rule: ask for one
    if {"key", "value"} <= fields.keys() and _is_text(fields["value"]):
        # "under house_style: Plain English", "key banned_words, value 'a, b'": all of it
        value = structured.key_value(r.text, _masked(r))
        if value:
            found["value"] = value


def _shaped(model: type[BaseModel], fields: dict[str, dict[str, Any]], r: Reading,
            found: dict[str, Any]) -> None:
    """Lists with a shape (`structured.READERS`), then a required free text still missing."""
    _read_shaped(fields, r, found)
    if "period" in fields and "period" not in found:
        period = _period(r, found, [str(v) for v in fields["period"].get("enum", ())])
        if period:
            found["period"] = period
    if {"field", "operator"} <= fields.keys():  # a rule on one contact field: its test
        said = structured.conditions(r.text)
        if said:
            found.update({k: v for k, v in said[0].items() if k in fields})
    for name in (*structured.REQUIRED_TEXT, *SAID_WHOLE):
        info = model.model_fields.get(name)
        if info is not None and info.is_required() and name not in found:
            value = structured.required_text(name, _masked(r)) or _after_short_head(r)
            if value:
                # The text is what was said: a date it ends with is part of it ("at risk of
                # not renewing in Q1"), unless another field took the values it ends on
                # ("uber to the airport 38.50 USD yesterday": the amount and the day).
                valued = any(is_amount(k) for k in found)
                found[name] = _short(_unmasked(value, r, ending=not valued), found)


#: Fields a reader fills even when the free text took the words first: "install
#: research-analyst" names the template's slug, not the new agent.
SAID_BY_READER = frozenset({"slug", "target_audience"})


def _is_text(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" and "enum" not in schema


def _after_short_head(r: Reading) -> str | None:
    """What follows a short head and a comma: "found a bug, the CSV export drops phones"."""
    head, comma, tail = _masked(r).partition(",")
    if not comma or len(head.split()) > 4 or len(tail.split()) < 3:
        return None
    return tail.strip(" .!") or None


#: Required texts that are the message's point, read like a description ("remember this for
#: the whole team: discounts over 15% need sign-off").
SAID_WHOLE = ("fact",)


def _short(text: str, found: dict[str, Any]) -> str:
    """A short description as a noun phrase: "a client lunch at Sweetgreen" -> "client lunch"
    (the vendor read on its own; "yesterday's client lunch" -> "client lunch")."""
    text = re.sub(r"^['\u2019]s\s+", "", text)
    vendor = found.get("vendor")
    if isinstance(vendor, str):
        text = re.sub(rf"\s+(?:at|from|with)\s+{re.escape(vendor)}\s*$", "", text)
    if len(text.split()) <= 5:
        text = re.sub(r"^(?:a|an|for|for\s+an?)\s+", "", text, flags=re.IGNORECASE)
    return text


def _unmasked(value: str, r: Reading, ending: bool = True) -> str:
    """A text read from the masked message, as the user wrote it: with the values inside it
    ("discounts over 15% need sign-off"), the value it ends on when it ends on a word that
    needs one ("at risk of not renewing in Q1"), and its leading article."""
    words = value.split()
    masked = _masked(r)
    found = re.search(r"\s+".join(map(re.escape, words)), masked) if words else None
    if found is None:
        return value
    start, end = found.span()
    rest = [w for w in masked[end:].split() if w.strip(" .!?'\"").lower() not in CONNECT]
    if ending and not "".join(rest).strip(" .!?'\"") and r.text[end:].strip(" .!?'\""):
        end = len(r.text.rstrip(" .!?'\""))  # it ended on values: "starts on February 1"
    after = r.text[end:].strip(" .!?'\"").split()
    if 0 < len(after) <= 2 and all(w.lower() in ("it", "them", "this", "that", "there", "up")
                                   for w in after):
        end = len(r.text.rstrip(" .!?'\""))  # "... does nothing when I click it"
    article = re.search(r"(?:^|\s)((?:the|a|an)\s+)$", r.text[:start], re.IGNORECASE)
    if article and not re.match(r"(?:the|a|an)\b", value, re.IGNORECASE):
        start = article.start(1)
    return r.text[start:end].strip(" .!?'\"") or value


#: Dates of what has already happened: "paid on Monday" is the Monday just gone.
HAPPENED = frozenset({"paid_on", "spent_on", "occurred_at", "received_on", "paid_at",
                      "happened_at", "spent_at", "received_at"})
LOOK_BACK = frozenset({"since", "until", "start", "end", "start_date", "end_date", "from_date",
                       "to_date", "date_from", "date_to", "after", "before"})
FREE_TEXT = frozenset({*TITLE_FIELDS, "description", "notes", "note", "body", "content",
                       "message", "reason", "summary", "text", "query", "q", "search", "term",
                       "objective", "task", "goal", "instructions", "prompt", "question",
                       "excerpt", "lost_reason", "details", "comment", "system_prompt",
                       "angle"})


def _is_free_text(name: str, schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" and "enum" not in schema and name in FREE_TEXT


# -- values ----------------------------------------------------------------------------------
def _value(name: str, schema: dict[str, Any], r: Reading) -> Any:
    kind = schema.get("type")
    if "enum" in schema:
        return _choice(name, [str(v) for v in schema["enum"]], r)
    if kind == "boolean":
        return _flag(name, r)
    reader = next((read for test, read in NAMED_READERS if test(name)), None)
    if reader is not None:
        return reader(r)
    value = _quantity(name, kind, schema.get("format"), r)
    if value is None and kind == "string" and name not in ("first_name", "last_name"):
        return _field_said(name, r.text)
    return value


def _source(r: Reading) -> str | None:
    """Where a lead came from: "came in through a referral", "via LinkedIn"."""
    came = re.search(r"\b(?:came in |found us |arrived )?(?:through|via)\s+(?:a |an |the )?"
                     r"([\w-]+)", r.text, re.IGNORECASE)
    return came[1].lower() if came else None


def _link(r: Reading) -> str | None:
    return _first([u.rstrip(".,;:!?)'\"") for u in re.findall(r"https?://\S+", r.text)])


#: Fields read by what they are, whatever their type: (which names, how).
NAMED_READERS: tuple[tuple[Callable[[str], bool], Callable[[Reading], Any]], ...] = (
    (lambda n: "email" in n, lambda r: _first(x.find_emails(r.text))),
    (lambda n: "phone" in n, lambda r: _first(x.phones_as_written(r.text))),
    (lambda n: "url" in n, _link),
    (lambda n: n.endswith("_number"),
     lambda r: _first(re.findall(r"\b[A-Z]{2,5}-\d{2,}\b", r.text))),
    (lambda n: n == "job_title", lambda r: _job_title(r.text)),
    (lambda n: n == "tag", lambda r: _tag(r)),
    (lambda n: n in ("vendor", "merchant", "supplier"), lambda r: _vendor(r.text)),
    (lambda n: n in ("source", "lead_source"), _source),
)


def _job_title(text: str) -> str | None:
    match = re.search(r"\b(?:promoted to|(?:she|he)(?:'s| is)|is now|as|"
                      r"(?:new )?(?:job )?title(?: is| to)?)\s+"
                      r"(?:the\s+|our\s+|their\s+|an?\s+)?"
                      r"((?:(?:S|E)?VP(?: of)? [A-Z]\w+|[A-Z]{2,4}\b|(?i:c[efotmir]o|ciso)\b|"
                      r"[Hh]ead of \w+|"
                      r"[Vv][Pp] of \w+|"
                      r"\w+ (?:manager|director|engineer|lead|officer|designer))(?: of \w+)?)",
                      text)
    if match:
        return match[1]
    # "- office manager at Brightline Dental", "Head of Ops at Fabrikam"
    at = re.search(r"(?:^|[-,:(]\s*|\bis\s+(?:the\s+|an?\s+)?)((?:[A-Za-z]+\s){0,2}"
                   r"(?:manager|director|engineer|lead|officer|designer|founder|president|"
                   r"(?i:head of) \w+|(?i:vp(?: of)?) \w+|[A-Z]{2,4}))\s+(?:at|of|for)\s+[A-Z]",
                   text)
    return at[1] if at else None


def _vendor(text: str) -> str | None:
    """Who was paid: "lunch at Sweetgreen", "a Coursera licence", "bought from Dell"."""
    name = r"([A-Z][\w&'.-]*(?:\s+[A-Z][\w&'.-]*)*)"
    match = (re.search(rf"\b(?:at|from|with)\s+{name}", text)
             or re.search(r"\bfor\s+(?:a|an|the|our|my)\s+([A-Z][\w&'.-]+)", text))
    return match[1] if match else None


def _tag(r: Reading) -> str | None:
    """The tag a message filters by: "tagged partner", "with the tag 'vip'", "#security"."""
    match = re.search(r"\b(?:tagged(?:\s+(?:as|with))?|with\s+(?:the\s+)?tag|labell?ed)\s+"
                      r"['\"\u2018\u201c#]?([\w-]+)", r.text, re.IGNORECASE)
    if match is None:
        return None
    r.spans.append(match.span())
    return match[1]


#: Fields named by the word after their value: "the Help Center collection", "based on the
#: lead-enrichment template".
NAMED_BEFORE = frozenset({"template", "collection", "category", "folder"})
#: Leading verbs that say what to do with a thing, never part of its name.
ACTIONS = frozenset({"follow", "following", "tracking", "watch", "watching", "monitor",
                     "monitoring", "track", "bundle", "grab", "install", "save", "store", "keep",
                     "build", "prepare", "prep", "set", "setup", "launch", "ping", "tell"})


TEMPLATE_KIND = (re.compile(r"\btemplates?\b[^?.!]*?\bfor\s+(\w+)\s*[?.!]*$", re.IGNORECASE),
                 re.compile(r"\b(\w+)\s+templates?\b", re.IGNORECASE))


def _template_category(text: str) -> str | None:
    """The kind of template asked for: "what grid templates do we have for marketing?", "any
    marketing templates?"."""
    for pattern in TEMPLATE_KIND:
        said = pattern.search(text)
        word = said[1].lower() if said else ""
        if word and word not in QUESTION | CONNECT | GENERIC | KIND_WORDS | COMMAND | {
                "grid", "studio", "agent", "some", "our", "us", "me"}:
            return word
    return None


def _named_before(name: str, text: str) -> str | None:
    said = re.search(rf"\bwith\s+(.+?)\s+as\s+(?:the\s+|its\s+)?{name}\b", text, re.IGNORECASE)
    if said:
        return said[1].strip(" '\"")
    match = re.search(rf"\b(?:into|in|from|on|of|to|using|use|under)\s+(?:the\s+|our\s+)?['\"]?"
                      rf"([\w][\w .&-]{{0,40}}?)['\"]?\s+{name}\b", text, re.IGNORECASE)
    if match and match[1].lower() not in QUESTION | CONNECT:
        return match[1]  # "move the X doc into the Help Center collection": said as one
    kind = _template_category(text) if name == "category" else None
    if kind:
        return kind
    docs = re.search(r"\bthe\s+([A-Z][\w&-]*(?:\s+[A-Z][\w&-]*)*)\s+(?:docs|articles|documents|"
                     r"doc|kb)\b", text) if name == "collection" else None
    if docs:  # "search the Help Center docs for ..."
        return docs[1]
    if name == "collection":  # "add a doc to the Help Center called ...": a name, capitalised
        put = re.search(r"\b(?:to|into)\s+(?:the\s+|our\s+)?([A-Z][\w&-]*(?:\s+[A-Z][\w&-]*)+)"
                        r"(?=\s+(?:called|named|titled|collection)\b|\s*[:,]|$)", text)
        if put:
            return put[1]
    return None


def _field_said(name: str, text: str) -> str | None:
    """`name is X`, `name: X`, `name X` for a plain string field ("password Orbit2026"), or
    "the X collection" for the fields named after their value."""
    if name in NAMED_BEFORE or name == "input":
        before = _named_before(name, text)
        if before:
            return before
    words = name.replace("_", " ")
    match = re.search(rf"\b{re.escape(words)}\b\s*(?:is\s+|=\s*|:\s*|of\s+)?['\"]?"
                      r"([\w.@/+-]*\w)", text, re.IGNORECASE)
    if match is None or match[1].lower() in QUESTION | CONNECT:
        return None
    return match[1]


def _quantity(name: str, kind: object, fmt: object, r: Reading) -> Any:
    text, now = r.text, r.now
    if name in MONEY_FIELDS or name.endswith(("_amount", "_value", "_cents")):
        return _money(name, kind, text, now)
    if name == "currency":
        money = x.find_money(text)
        if money and money[0].currency:
            return money[0].currency
        return _currency_said(text)
    if fmt == "date" or name.endswith(("_date", "_on")) or name in ("due", "start", "end"):
        return _date(name, r)
    if name in ("since", "until") and r.looks_back(name):
        return _range_moment(name, r)
    if name in HAPPENED:  # (what was said after a colon is what happened, not when)
        text = text.split(": ", 1)[0]
    if fmt == "date-time" or name.endswith("_at") or name in ("since", "until"):
        return _moment(name, text, r)
    if name in ("first_name", "last_name"):
        # A tool that changes a record names its person to find them, not to rename them.
        return _name_part(name, r.people) if r.creating else None
    if name in ("company", "company_name", "organization"):
        return _company(r)
    if name in ("probability", "percent", "percentage", "discount", "tax_rate_percent"):
        return _number(kind, x.find_percent(text))
    if kind in ("integer", "number"):
        return _count(name, kind, r)
    return None


CURRENCY_NAMES = {"dollars": "USD", "us dollars": "USD", "euros": "EUR", "euro": "EUR",
                  "pounds": "GBP", "sterling": "GBP", "british pounds": "GBP", "yen": "JPY",
                  "swiss francs": "CHF", "canadian dollars": "CAD", "australian dollars": "AUD",
                  "norwegian kroner": "NOK", "norwegian krone": "NOK", "swedish kronor": "SEK",
                  "swedish krona": "SEK", "danish kroner": "DKK", "rupees": "INR"}


def _currency_said(text: str) -> str | None:
    """A currency named without an amount: "they pay in GBP", "billed in Norwegian kroner"."""
    code = re.search(r"\b(?:in|pay(?:s|ing)?(?:\s+in)?|currency(?:\s+is)?:?|billed\s+in)\s+"
                     r"(USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD|INR|SEK|NOK|DKK|PLN|SGD|MXN|BRL|ZAR)\b",
                     text)
    if code:
        return code[1]
    lowered = text.lower()
    for words, iso in sorted(CURRENCY_NAMES.items(), key=lambda p: -len(p[0])):
        if re.search(rf"\b(?:in|pay(?:s|ing)?\s+in|billed\s+in)\s+{words}\b", lowered):
            return iso
    return None


def _moment(name: str, text: str, r: Reading) -> str | None:
    if name in HAPPENED:
        text = x.without_deadlines(text, r.now.date())
    moments = x.find_datetimes(text, r.now, past=r.looks_back(name))
    timed = [m for m in moments if m.date() == moments[0].date() and m.time() != x.DEFAULT_TIME]
    if timed and x.says_time(text):  # "Tuesday, Dec 1 at 14:00": one moment, said twice
        moments = timed
    return moments[0].isoformat().replace("+00:00", "Z") if moments else None


def _range_moment(name: str, r: Reading) -> str | None:
    """A look-back range from dates: "since Monday" starts at Monday's midnight and has no end;
    "yesterday" is the whole day, midnight to midnight. A time said is kept."""
    if x.says_time(r.text):
        moments = x.find_datetimes(r.text, r.now, past=True)
        return moments[0].isoformat().replace("+00:00", "Z") if moments else None
    dates = x.find_dates(r.text, r.now.date(), past=True)
    if not dates:
        return None
    opened = re.search(r"\b(?:since|after|from)\b", r.text, re.IGNORECASE) and len(dates) == 1
    if name == "until":
        if opened:
            return None
        day = dates[-1] + timedelta(days=1)
    else:
        day = dates[0]
    return datetime.combine(day, time(0, 0), tzinfo=r.now.tzinfo or UTC).isoformat().replace(
        "+00:00", "Z")


def _first(values: list[str]) -> str | None:
    return values[0] if values else None


#: A number said with one of these after it counts something else than money.
NOT_MONEY_AFTER = re.compile(
    r"\s*(?:%|x\b|percent|per\s*cent|pct|hours?|hrs?|h\b|days?|weeks?|months?|years?|mins?|"
    r"minutes?|seats?|units?|licen[cs]es?|users?|people|employees|pieces?|items?|times|st\b|"
    r"nd\b|rd\b|th\b|am\b|pm\b)", re.IGNORECASE)


#: Words after which a plain number is money: "a payment of 1500", "bump it to 150000".
MONEY_CUES = frozenset({"of", "for", "to", "paid", "pay", "amount", "payment", "cost", "costs",
                        "value", "budget", "worth", "price", "at", "is", "was", "total", "by"})
BARE_NUMBER = re.compile(r"(?<![\w.,/:#-])(\d{1,3}(?:,\d{3})+|\d+)(\.\d{1,2})?(?![\w/:-]|[.,]\d)")


def _bare_amount(text: str, now: datetime) -> float | None:
    """A number said without a currency where only money fits ("a payment of 1,500", "taxi,
    38.50, yesterday"): not a date, a time, a code, a count of something, a name's number
    ("Sprint 15") or a year."""
    masked = list(text)
    for start, end in x.value_spans(text, now):
        masked[start:end] = " " * (end - start)
    plain = "".join(masked)
    for match in BARE_NUMBER.finditer(plain):
        value = float(match[1].replace(",", "") + (match[2] or ""))
        before = plain[:match.start()].rstrip().split()
        if NOT_MONEY_AFTER.match(plain, match.end()) or value <= 0:
            continue
        if before and before[-1][:1].isupper() and before[-1].isalpha() and len(before) > 1:
            continue  # "Sprint 15", "Team 7"
        if not match[2] and "," not in match[1] and 1900 <= value <= 2100:
            continue
        alone = not plain[:match.start()].strip() and not plain[match.end():].strip(" .")
        cued = before and before[-1].lower() in MONEY_CUES
        if not (match[2] or "," in match[1] or alone or cued):
            continue  # "phase 8" is a name, "15 of them" a count
        return value
    return None


def _money(name: str, kind: object, text: str, now: datetime | None = None) -> Any:
    money = x.find_money(text)
    if not money:
        bare = _bare_amount(text, now or datetime.now(UTC)) if not name.endswith("cents") else None
        return None if bare is None else (round(bare) if float(bare).is_integer() else bare)
    amount = money[0].amount * (100 if name.endswith("cents") else 1)
    return round(amount) if kind == "integer" or float(amount).is_integer() else amount


def _date(name: str, r: Reading) -> str | None:
    text = x.without_deadlines(r.text, r.now.date()) if name in HAPPENED else r.text
    dates = x.find_dates(text, r.now.date(), past=r.looks_back(name))
    if not dates and name in RANGE_BOUNDS and not r.creating:
        month = _month_said(r)
        if month is None:
            return None
        first, last = month
        return (last if name.startswith("end") or name in ("until", "to_date", "date_to")
                else first).isoformat()
    if not dates:
        return None
    ends = name.startswith("end") or name in ("end", "due_before", "until")
    pick = dates[-1] if ends and len(dates) > 1 else dates[0]
    if len(dates) > 1 and name in DEADLINES:
        pick = x.deadline(r.text, r.now.date()) or pick
    return pick.isoformat()


#: Date fields a deadline fills: of several dates, the one after "by" or "due".
DEADLINES = frozenset({"due_date", "expected_close_date", "due_on", "due"})


#: Date fields that bound a range a tool reads: a month said alone is the whole month.
RANGE_BOUNDS = frozenset({"start", "end", "start_date", "end_date", "from_date", "to_date",
                          "date_from", "date_to"})
MONTH_SAID = re.compile(r"\b(?:in|for|during|over|of|through(?:out)?)\s+(?:the\s+month\s+of\s+)?"
                        r"(?P<month>" + "|".join(MONTHS) + r")\b(?:\s+(?P<year>\d{4}))?|"
                        r"\b(?P<which>last|this|previous|past)\s+month\b", re.IGNORECASE)


def _month_said(r: Reading) -> tuple[date, date] | None:
    """The month a question is about: "in October" (the last October that has begun), "last
    month", "this month"."""
    said = MONTH_SAID.search(r.text)
    if said is None:
        return None
    today = r.now.date()
    if said["which"]:
        back = 0 if said["which"].lower() == "this" else 1
        month, year = today.month - back, today.year
        if month < 1:
            month, year = month + 12, year - 1
    else:
        month = MONTHS.index(said["month"].lower()) + 1
        year = int(said["year"]) if said["year"] else (
            today.year if month <= today.month else today.year - 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return date(year, month, 1), following - timedelta(days=1)


def _number(kind: object, values: list[float]) -> Any:
    if not values:
        return None
    return int(values[0]) if kind == "integer" or values[0].is_integer() else values[0]


COUNT_CUES = {
    "days": r"(\d+)\s*(?:days?|d)\b", "duration_minutes": r"(\d+)[\s-]*(?:min(?:ute)?s?)\b",
    "points": r"([+-]?\d+)\s*(?:points?|pts?)\b",
    "quantity": r"(\d+)\s*(?:x\b|units?|seats?|hours?)",
    "limit": r"\b(?:top|first|last)\s+(\d+)\b", "top": r"\btop\s+(\d+)\b",
    "hours": r"(\d+)\s*(?:hours?|h)\b", "score": r"\bscore\s+(?:of\s+)?(?:at\s+least\s+)?(\d+)",
}


def _count(name: str, kind: object, r: Reading) -> Any:
    pattern = COUNT_CUES.get(name)
    if pattern is None:
        return None
    match = re.search(pattern, r.text, re.IGNORECASE)
    scale = 1.0
    if match is None and name == "duration_minutes":  # "a 1.5 hour call", "an hour-long demo"
        match = re.search(r"(?<![\w.])(\d+(?:\.\d+)?|an|one)[\s-]*(?:hours?|hrs?|h)\b", r.text,
                          re.IGNORECASE)
        scale = 60.0
    if match is None:
        return None
    value = (1.0 if match[1].isalpha() else float(match[1])) * scale
    if name == "points" and re.search(r"\b(?:minus|subtract|deduct|lose)\b", r.text, re.I):
        value = -abs(value)
    return int(value) if kind == "integer" or value.is_integer() else value


def _flag(name: str, r: Reading) -> bool | None:
    cues = BOOLEAN_CUES.get(name)
    if not cues:
        return None
    said = [m.span() for c in cues for m in re.finditer(
        rf"(?<![\w']){re.escape(c)}(?![\w'])", r.text, re.IGNORECASE)]
    r.spans.extend(said)
    if said and name.startswith("include") and any(EXCLUDING.search(
            r.text, max(0, start - 40), start) for start, _ in said):
        return False  # "leave out the overdue ones"
    return True if said else None


#: Words that leave something out, said before what an `include_...` flag includes.
EXCLUDING = re.compile(r"\b(?:leave\s+out|leaving\s+out|exclude|excluding|without|skip|"
                       r"don'?t\s+include|do\s+not\s+include|not\s+including|ignore|ignoring|"
                       r"no)\b(?:\s+(?:the|any|those|ones?|that|which|already|deals?))*"
                       r"\s*[\w\s]{0,30}$", re.IGNORECASE)


def _name_part(name: str, people: list[str]) -> str | None:
    if not people:
        return None
    parts = people[0].split()
    if name == "first_name":
        return parts[0]
    return " ".join(parts[1:]) or None


def _company(r: Reading) -> str | None:
    people = {w for p in r.people for w in p.split()}
    for company in x.company_names(r.text):
        if not r.creating and any(re.search(rf"{re.escape(p)}\s+(?:at|from)\s+{re.escape(company)}",
                                            r.text) for p in r.people):
            return None  # a change to "Clara Khan at Northwind": where she works says who she is
        if not set(company.split()) <= people:
            return company
    match = re.search(r"\b(?:at|from|with|moved\s+to|joined|now\s+works\s+at)\s+"
                      r"([A-Z][\w&.'-]*(?:\s+[A-Z][\w&.'-]*)*)", r.text)
    return match[1] if match and match[1] not in people else None


def _choice(name: str, options: list[str], r: Reading) -> str | None:
    """An enum value the message says, not as part of its command: in "new lead Ada" the
    word "lead" names what to create, not its status."""
    head = _command_end(r)
    text = r.text[head:] if name in ("status", "stage") else r.text
    # "Instructions: ... draft a check-in note": what a long text says sets no choice
    told = LONG_LABEL.search(text)
    text = text[:told.start()] if told else text
    reported = REPORTED.search(text) if name in ("type", "channel", "category") else None
    text = text[:reported.start()] if reported and reported.start() else text  # (what was said)
    # "called"/"named" introduce a name; they never mean a "call" type or status, nor does
    # the name itself (what follows it may: "called Support Squad in the support department").
    text = _without_name(text)
    value = None
    if name in ("status", "stage", "role", "priority", "type", "category"):
        value = _synonym(name, options, r.text)  # a phrase ("approval queue") before a stem
    value = value or x.fuzzy_choice(text, options)
    if value is not None and name == "type" and value in r.nouns and not r.creating:
        return None  # "show all documents" names the records, not their type
    if value is not None and value in LABEL_WORDS and re.search(
            rf"\b{re.escape(value)}\s*:", text, re.IGNORECASE) and not re.search(
            rf"\b{re.escape(value)}\b(?!\s*:)", text, re.IGNORECASE):
        return None  # "text: '...'" labels a field; it says no format ("bug: ..." does)
    if value is not None:
        r.spans.extend(_spans_of_words(r.text, [*value.replace("_", " ").split(), name]))
    return value


def _without_name(text: str) -> str:
    key = re.search(r"\b(?:called|named|titled)\b", text, re.IGNORECASE)
    if key is None:
        return text
    rest = text[key.end():]
    name = x.after_keyword(text[key.start():], (key.group(),))
    if name is None:
        return text[:key.start()]
    name = RELATIVE.split(name, maxsplit=1)[0]
    at = rest.find(name)
    return text[:key.start()] + " " + (rest[at + len(name):] if at >= 0 else "")


LONG_LABEL = re.compile(r"\b(?:(?:instructions|summary|notes?|body|content|message|prompt|"
                        r"description|text)\s*:|whose job is to)\s", re.IGNORECASE)
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "stage": {"closed_won": ("won", "signed", "closed the deal"),
              "closed_lost": ("lost", "went with a competitor", "dead")},
    "status": {"done": ("finished", "completed", "complete", "done"),
               "in_progress": ("working on", "underway", "started", "in progress"),
               "inactive": ("inactive",),
               "active": ("active again", "back with us", "switch on", "turn on", "turn back on",
                          "enable", "reactivate", "resume", "unpause", "back on"),
               "paused": ("pause", "hold off", "stop", "switch off", "turn off", "disable",
                          "deactivate", "suspend"),
               "completed": ("done sending",),
               "pending": ("approval queue", "awaiting", "waiting"),
               "draft": ("unpublished", "not published", "not live yet")},
    "role": {"viewer": ("read access", "read-only", "read only"),
             "admin": ("admin rights", "administrator")},
    "category": {"travel": ("uber", "lyft", "taxi", "cab", "flight", "airport", "hotel", "train",
                            "mileage", "airbnb"),
                 "meals": ("lunch", "dinner", "breakfast", "coffee", "meal", "drinks"),
                 "software": ("subscription", "saas"), "hardware": ("laptop", "monitor"),
                 "office": ("office supplies", "stationery")},
}


def _synonym(name: str, options: list[str], text: str) -> str | None:
    lowered = text.lower()
    for value, cues in SYNONYMS.get(name, {}).items():
        if value in options and any(re.search(rf"\b{re.escape(c)}\b", lowered) for c in cues):
            return value
    return None


def _spans_of_words(text: str, words: list[str]) -> list[tuple[int, int]]:
    spans = []
    for word in words:
        for match in re.finditer(rf"(?<!\w){re.escape(word)}s?(?!\w)", text, re.IGNORECASE):
            spans.append(match.span())
    return spans


# -- free text -------------------------------------------------------------------------------
def _free_text(fields: dict[str, dict[str, Any]], r: Reading, creating: bool, *,
               filtered: bool = False) -> dict[str, Any]:
    names = [n for n, schema in fields.items() if _is_free_text(n, schema)]
    found: dict[str, Any] = {}
    title = next((n for n in TITLE_FIELDS if n in names), None)
    if title is not None:
        value = title_of(r) if creating else _set_to(title, r)
        if value:
            found[title] = value
    for name in names:
        if name not in found:
            value = _keyed_text(name, r, found, filtered)
            if value:
                found[name] = value
    return found


def _describe(fields: dict[str, dict[str, Any]], r: Reading, found: dict[str, Any]) -> None:
    """A description said after the name (see `_described`), when no other field read it."""
    title = next((n for n in TITLE_FIELDS if n in found), None)
    if "description" not in fields or "description" in found or title is None or (
            fields.keys() & {"goal", "goals", "objective", "rules", "conditions"}):
        return
    described = _described(r, str(found[title]))
    others = [v for k, v in found.items() if k != title and isinstance(v, str) and len(v) > 3]
    spans = [(a, b) for a, b in r.spans if r.text[a:b].strip()]
    at = r.text.find(described) if described else -1
    if described and not any(v.lower() in described.lower() for v in others) and not any(
            at <= a < at + len(described) for a, _ in spans):
        found["description"] = described


def _described(r: Reading, title: str) -> str | None:
    """What a named thing is, said after its name: "Mobile app v1 — native iOS apps", "called
    Mobile app beta; the goal is to get the app into TestFlight"."""
    at = r.text.lower().find(title.lower())
    if at < 0:
        return None
    rest = r.text[at + len(title):]
    said = re.match(r"['\"\u2019\u201d]?\s*(?:[;,]\s*|\s[-\u2013\u2014]\s*|\s*[-\u2013\u2014]\s+)"
                    r"(?:(?:the|its|our)\s+(?:goal|aim|purpose|idea|point)\s+is\s+(?:to\s+)?)?(.+)$",
                    rest, re.IGNORECASE)
    if said is None or (rest.lstrip(" '\"\u2019\u201d")[:1] in ";," and not re.match(
            r"\W*(?:the|its|our)\s+(?:goal|aim|purpose|idea|point)\s+is\b", rest, re.I)):
        return None  # after a comma or semicolon, only "the goal is ..." says what it is
    value = said[1].strip(" .!'\"")
    return value if len(value.split()) >= 2 else None


def _set_to(name: str, r: Reading) -> str | None:
    """A new value the message gives a field: "rename X to Y", "subject line to 'Y'"."""
    words = {"title": ("rename", "retitle", "title", "call"), "name": ("rename", "name", "call"),
             "subject": ("subject", "subject line")}.get(name, (name,))
    pattern = rf"\b(?:{'|'.join(map(re.escape, words))})\b.*?\b(?:to|as):?\s+(.+)$"
    match = re.search(pattern, _unquoted(r.text), re.IGNORECASE)  # not "call" in a quote
    if match is None:
        return None
    value = r.text[match.start(1):].strip(" .!")
    quoted = x.quoted(value)
    return quoted[0] if quoted else _trim(value) or None


#: Who is told, before what they are told: "(ping) Lee that the contract came back",
#: "(remind) lee to get the proposal out".
TOLD = re.compile(r"^(?:[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)?\s+(?:know\s+)?that|"
                  r"(?!(?:me|us|you|them|it|him|her)\b)[a-z][\w'-]*\s+to|"
                  r"(?:[A-Z][\w'-]*\s+){0,2}(?:needs|has|have|is going|wants|ought)\s+to)\s+(?=\w)")
#: Where a name said after "called" ends and what the thing does begins.
RELATIVE = re.compile(r"\s+(?:that|which|who|whose|based on|from the|for \S+\.\S+|"
                      r"worth|valued at|priced at|closing|running|starting|due|"
                      r"and (?:put|add|assign|send|move|set|make|tag|share|schedule|link|file)|"
                      r"for (?=[A-Z])|(?:to|into|in|under) (?:the|our) (?=[A-Z])|"
                      r"with (?:the|a|an|our|all|this|these|every\w*|contacts|people|leads)(?=\s)|"
                      r"pointing (?:at|to)|(?:at|to) https?:|"
                      r"in (?:the|our) \w+ (?=department|team|collection|folder))\b",
                      re.IGNORECASE)


def _call_the(r: Reading) -> str | None:
    """"call the automation Loss follow-up": the name after the tool's own noun."""
    said = re.search(r"\b(?:call|name)\s+(?:the|this|that)\s+(\w+)\s+(.+)$", r.text, re.IGNORECASE)
    if said is None or said[1].lower().rstrip("s") not in r.nouns | KIND_WORDS:
        return None
    return re.split(r"[,;!?\n]|\.\s", said[2])[0].strip(" .'\"") or None


def _names_record(quoted: str, text: str) -> bool:
    after = re.search(rf"{re.escape(quoted)}['\"\u2019\u201d]?\s+(\w+)", text)
    return after is not None and after[1].lower().rstrip("s") in KIND_WORDS


def _names_another(left: str, text: str) -> bool:
    """"new project for Proseware", "a task for Vic due Monday", "a deal with Sara Kim for
    40k": a capitalised name after "for"/"with" is whom the thing is for, not its title (the
    values after it are masked out of `text`)."""
    return (bool(left) and left[0].isupper() and len(left.split()) <= 3
            and re.search(rf"\b(?:for|with)\s+{re.escape(left)}\W*"
                          rf"(?:(?:please|pls|due|by|on|at|for|until|before|starting)\W*)*$",
                          text) is not None)


def title_of(r: Reading) -> str | None:
    """The message's title: quoted text, text after "called"/"named", or what is left."""
    keys = ("called", "named", "titled", "title", "name it", "call it")
    keyed = x.after_keyword(r.text, keys) or _call_the(r)
    # A quoted name followed by a kind names a record ("from the 'real cost' idea").
    every = x.quoted(r.text)
    quotes = [q for q in every if not _names_record(q, r.text)]
    if keyed in every:
        return keyed  # as quoted: "titled 'Quarterly numbers are in'" keeps "are in"
    key_at = re.search(rf"\b(?:{'|'.join(keys)})\b", r.text, re.IGNORECASE)
    if quotes and (key_at is None or r.text.find(quotes[0]) < key_at.start()):
        return quotes[0]  # "rule 'Director title': ... the job title contains director"
    if keyed:
        named = RELATIVE.split(keyed, maxsplit=1)[0].strip(" .,:;!?'\"").split()
        while named and named[-1].lower() in CONNECT | {"please", "pls", "thanks"}:
            named.pop()  # ("... costs you" keeps "you")
        return _trim(" ".join(named)) if named and named[0].lower() in CONNECT else (
            " ".join(named) or None)
    if every:  # "turn the 'When not to automate' idea into a draft": its title, no other
        return every[0]
    tail = _colon_tail(r)
    if tail:
        return _with_values(tail, r)
    return _numbered(r) or _left_title(r)


def _left_title(r: Reading) -> str | None:
    """The title as the words left over: the first clause with a word that is no command,
    kind, field or statement."""
    for clause in _clauses(r):
        left = " " + _strip_command(PLACE.sub("", clause), r.nouns)
        left = _trim(_AS_KIND.sub("", left) if _as_kind(left, r.nouns) else left)
        left = TOLD.sub("", left).strip() or left
        left = _trim(_AS_KIND.sub("", left)) if _as_kind(left, r.nouns) else left
        left = _own_name(left, r.nouns)
        if NARRATED.match(left):
            continue  # "we met them at the trade show" tells what happened; it names nothing
        if _names_another(left, _masked(r)):
            return None
        last = left.split()[-1].lower().rstrip("s") if left else ""
        if last in KIND_WORDS and last not in r.nouns and re.search(
                rf"\bthe\s+(?:\S+\s+)+{re.escape(last)}s?\W*$", clause, re.IGNORECASE):
            continue  # "aimed at the Hot leads segment" names another record
        if left and any(w.lower() not in COMMAND | CONNECT | GENERIC | KIND_WORDS | STATED
                        | FIELD_WORDS for w in WORD.findall(left)):
            return _with_values(left, r)
    return None


#: A clause that tells what happened: a subject and a verb in the past.
NARRATED = re.compile(r"(?:we|i|they|she|he)\s+(?:just\s+|already\s+)?(?:met|spoke|talked|got|had|"
                      r"saw|went|said|told|made|came|took|heard|\w+ed)\b", re.IGNORECASE)


def _numbered(r: Reading) -> str | None:
    """"plan Sprint 16 from Dec 2 to Dec 15": the tool's own noun and a number name it."""
    if not r.nouns:
        return None
    said = re.search(rf"\b({'|'.join(map(re.escape, sorted(r.nouns)))})\s+(\d+)\b(?![.,:/]\d)",
                     _masked(r), re.IGNORECASE)
    return f"{said[1]} {said[2]}" if said else None


def _own_name(left: str, nouns: frozenset[str]) -> str:
    """"Renewal Watcher agent whose job is ...": a capitalised name before the tool's own
    noun is the name; what follows says what it does."""
    said = re.match(r"((?:[A-Z][\w'&-]*\s+){1,4})(\w+)\b", left)
    if said and said[2].lower().rstrip("s") in nouns and len(left.split()) > len(said[0].split()):
        return said[1].strip()
    return left


def _with_values(title: str, r: Reading) -> str:
    """A title that ends on a word needing the value the message said after it ("get the
    proposal out before" + "5pm today") has it back, and so does a value said as part of a
    name ("the Q1 board deck")."""
    words = title.split()
    if words and words[-1].lower() in ("before", "after", "past", "around"):
        return _unmasked(title, r)  # (a date after "by" or "due" is the deadline, read alone)
    found = re.search(r"\s+".join(map(re.escape, words)), _masked(r)) if words else None
    if found is None:
        return title
    chars = list(_masked(r))
    for start, end in r.spans:
        before = r.text[:start].split()
        if found.start() < start < found.end() and before and before[-1].lower() in ARTICLES:
            chars[start:end] = r.text[start:end]  # "the Q1 board deck": the value is a modifier
    kept = " ".join("".join(chars[found.start():found.end()]).split())
    return kept or title


ARTICLES = frozenset({"the", "our", "a", "an", "this", "my", "their", "its"})


def _keyed_text(name: str, r: Reading, found: dict[str, Any],
                filtered: bool = False) -> str | None:
    """A secondary text (a body, a reason, a summary) said after a keyword, a colon or a dash."""
    if name in QUERY_FIELDS and not r.creating:
        # (A tool that makes something has no search text: "text" there is its content,
        # given only when keyed: "text: '...'".)
        return query_text(r, filtered or bool(found), taken=r.read)
    labelled = _labelled(name, r.text)
    if labelled:
        return labelled
    if name == "lost_reason" and not re.search(r"\blost\b|\blose\b|went with", r.text, re.I):
        return None  # a comma's tail is a reason to lose only when losing is said
    if name not in ("description", "notes", "note", "comment"):
        said = _set_to(name, r) or _quoted_after(name, r.text)
        if said:
            return said
    if name in ("message", "body", "note", "notes"):
        noted = re.search(r"\bwith\s+(?:the|a)\s+(?:note|message)\s*:?\s*"
                          r"(?:(?:that\s+)?(?:says|saying|reading|reads)\s+)?(.+)$", r.text, re.I)
        if noted:
            quoted = x.quoted(noted[1])
            return quoted[0] if quoted else noted[1].strip(" .'\"")
    keywords = {"body": ("saying", "says", "that says", "text"),
                "text": ("saying", "that says", "which says", "it says", "reads"),
                "content": ("saying", "that"), "message": ("saying", "that"),
                "reason": ("because", "since", "reason"), "lost_reason": ("because", "since"),
                "description": ("description",),
                "notes": ("note:", "notes:", "a note that", "a note saying"),
                "note": ("a note that", "a note saying"),
                "summary": ("summary",), "objective": ("to",), "task": ("to",),
                "goal": ("goal",)}.get(name)
    tail = _tail_text(name, r.text)
    if tail:
        return tail
    if keywords:
        keyed = x.after_keyword(r.text, keywords)
        if keyed and keyed not in found.values():
            return keyed
    return _noted_after(name, r)


def _noted_after(name: str, r: Reading) -> str | None:
    """A change's note, said as what someone did or said after the command: "move the Dunder
    opportunity to negotiation, they asked for a redline"."""
    if name not in ("note", "notes", "comment") or r.creating:
        return None
    for after in re.split(r",|[.!?;]\s", r.text)[1:]:
        if REPORTED.match(" " + after.strip()):
            return _reported(after)
    return None
    return None


#: Fields said with a label of their own name: "reason: they cancelled", "note: ...".
SAYS = ("says", "that says", "saying", "which says", "it says", "reads", "reading")
LABELS = {"note": ("note", "notes"), "notes": ("notes", "note"), "reason": ("reason",),
          "lost_reason": ("reason",), "summary": ("summary",), "description": ("description",),
          "message": ("message", *SAYS), "body": ("body", "message", *SAYS),
          "content": ("content", "text", *SAYS), "text": ("text", *SAYS),
          "instructions": ("instructions",), "system_prompt": ("instructions", "prompt"),
          "objective": ("objective", "goal"), "angle": ("angle",)}


LABEL_WORDS = frozenset(w for words in LABELS.values() for w in words)


def _labelled(name: str, text: str) -> str | None:
    """The text after "<field>:" up to the end, or to the next label ("Reason: ...")."""
    words = LABELS.get(name)
    if not words:
        return None
    said = re.search(rf"\b(?:{'|'.join(words)})\s*:\s*(.+)$", text, re.IGNORECASE)
    inline = re.search(rf"\bthe\s+(?:{'|'.join(words)})\s+is\s+(.+)$", text, re.IGNORECASE)
    if said is None:  # "the angle is X, written for Y": X
        return re.split(r"[,;]|\.\s", inline[1])[0].strip(" .'\"") or None if inline else None
    value = re.split(r"[.;]\s+\w+\s*:\s", said[1])[0].strip(" .'\"")
    quoted = x.quoted(value)
    return (quoted[0] if quoted and len(quoted[0]) > len(value) - 4 else value) or None


def _tail_text(name: str, text: str) -> str | None:
    """A long text said after a colon or a dash (a reason after a comma too), or a summary
    reported in the third person."""
    if name not in ("body", "content", "message", "reason", "summary", "lost_reason"):
        return None
    tail = _after_mark(text)
    if name in ("reason", "lost_reason") and not tail:
        tail = _after_comma(text)
    if tail:
        quoted = x.quoted(tail)
        return quoted[0] if quoted else tail
    return _reported(text) if name == "summary" else None


#: What someone said or wants, reported after the event: "... twenty five minutes she wants
#: the enterprise quote", "... and he asked for a redline".
REPORTED = re.compile(
    r"(?:^|\s)(?:(?:and|so)\s+)?((?:she|he|they)\s+(?:(?:really|also|still|just)\s+)?"
    r"(?:wants?|said|says|asked|asks|needs?|agreed|mentioned|told|prefers?|is|are|was|were|will"
    r"|would|can|could|can't|won't|plans?|liked?|loved?|hated?|thinks?|expects?|\w+ed)\b.+)$",
    re.IGNORECASE)


def _reported(text: str) -> str | None:
    said = REPORTED.search(text)
    if said is None:
        return None
    value = re.split(r"[.!?](?:\s|$)", said[1])[0]
    return value.strip(" ,;") if len(value.split()) >= 3 else None


def _after_comma(text: str) -> str | None:
    """A reason given after the command and a comma: "void INV-7, they cancelled"."""
    _, comma, tail = text.partition(",")
    if re.match(r"\s*(?:please|pls|plz|can you|could you|would you|and|so)\b", tail, re.I):
        return None  # "INV-40 shouldn't exist, please cancel it": the request, no reason
    return tail.strip(" .!") or None if comma and len(tail.split()) >= 2 else None


def _quoted_after(name: str, text: str) -> str | None:
    """A field's value quoted right after its name: "subject 'Join us Dec 10'"."""
    words = re.escape(name.replace("_", " "))
    match = re.search(rf"\b{words}(?:\s+line)?\s*(?:is\s+|:\s*|=\s*)?(['\"\u2018\u201c])",
                      text, re.IGNORECASE)
    if match is None:
        return None
    inner = x.quoted(text[match.start(1):])
    return inner[0] if inner else None


def _after_mark(text: str) -> str | None:
    """The part after a colon or a dash: "post in #sales: we won" -> "we won" (not one
    inside a quoted title: "subject line \"Summer's here: 20% off\"")."""
    plain = _unquoted(text)
    match = re.search(
        r"(?::|\s[-\u2013\u2014]\s|,\s+(?=she|he|they|asking|wants|because))\s*(.+)$", plain)
    if match is not None:
        match = re.match(r"(.+)$", text[match.start(1):])
    if match is None:
        return None
    whole = match[1].strip()
    quoted = x.quoted(whole)
    if len(quoted) == 1 and len(quoted[0]) >= len(whole) - 3:
        return quoted[0]  # 'with: "Sorry for the mix-up!"' keeps its "!"
    tail = match[1].strip(" '\"").rstrip(" .")  # (an "!" is part of what is said)
    return tail or None


def _unquoted(text: str) -> str:
    """The text with what is quoted blanked (same length), so marks inside quotes count
    for nothing."""
    chars = list(text)
    for found in re.finditer(r"(['\"\u2018\u201c])(.{2,}?)(['\"\u2019\u201d])(?!\w)", text):
        if found.start() == 0 or not text[found.start() - 1].isalnum():
            chars[found.start(2):found.end(2)] = " " * (found.end(2) - found.start(2))
    return "".join(chars)


def _clauses(r: Reading) -> list[str]:
    masked = _masked(r)
    parts = re.split(r"[,;()!?\n]|:\s|\s[-\u2013\u2014]\s|\.\s", masked)
    # After a colon, the part that follows is usually the thing itself ("new epic: Onboarding").
    if ":" in masked:
        head, _, tail = masked.partition(":")
        left = _strip_command(head, r.nouns).split()
        # "new task in Sprint 15: write notes": what the head keeps only places the thing.
        if not left or left[0].lower() in PLACING:
            parts = re.split(r"[,;()!?\n]|\s[-\u2013\u2014]\s", tail)
    return [p for p in parts if p.strip()]


PLACING = frozenset({"in", "for", "on", "into", "to", "under"})


_AS_KIND = re.compile(r"\s+as\s+(?:(?:a|an|the|our|my|new)\s+(?:new\s+)?|(?=\w+(?<!s)\b))"
                      r"([\w-]+)(?:\s+([\w-]+))?\b.*$",
                      re.IGNORECASE)  # (no article: one of a kind; "as teams grow" is a clause)


def _as_kind(left: str, nouns: frozenset[str]) -> bool:
    """"Harborview Clinics as a customer": the words after "as" say what to make it."""
    said = _AS_KIND.search(left)
    return said is not None and any(w and w.lower().rstrip("s") in nouns | KIND_WORDS
                                    for w in (said[1], said[2]))


def _colon_tail(r: Reading) -> str | None:
    """The thing itself, said after a colon whose head is only the command and where it goes
    ("new task in Sprint 15: write release notes"): kept as said, its verb included."""
    masked = _masked(r)
    head, colon, tail = masked.partition(":")
    if not colon or not tail.strip():
        return None
    left = _strip_command(PLACE.sub("", head), r.nouns).split()
    # "a task for Lee Park: chase the NDA": the head names whom it is for ("for" is part of
    # the command, so only the name is left); "a project for our customer Soylent Labs:
    # ...", "send Lee a reminder: ...": it names the record it is for, or the person.
    first = left[0].lower() if left else ""
    if left and (first in r.nouns or not (
            first in PLACING or first in KIND_WORDS or len(left) == 1
            or any(" ".join(left).startswith(p) for p in r.people))):
        return None
    first = re.split(r"[,;()!?\n]|\s[-\u2013\u2014]\s|\.\s", tail)[0]
    return _trim(first) or None


def _masked(r: Reading) -> str:
    chars = list(r.text)
    for start, end in r.spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _strip_command(clause: str, nouns: frozenset[str]) -> str:
    words = clause.split()
    skip = (COMMAND | ACTIONS | nouns | {n + "s" for n in nouns}
            | {"to-do", "todo", "opportunity"})
    own = nouns | {n + "s" for n in nouns}
    while words:
        first = words[0].lower().strip(":,.'\"")
        if words[0] == "The" and len(words) > 1 and words[1][:1].isupper():
            break  # "The Robot Report" is a name
        if first in skip:
            if len(words) > 1 and words[1].isdigit() and first in nouns:
                break  # "Sprint 16" is a name
        elif not (first in KIND_WORDS and len(words) > 1
                  and words[1].lower().strip(":,.'\"") in own):
            break  # (a kind said before the tool's own noun names it too: "a blog idea")
        words.pop(0)
    return " ".join(words)


def _trim(text: str) -> str:
    words = text.strip(" .,:;!?'\"").split()
    while words and words[0].lower() in CONNECT | {"a", "an", "the"}:
        if words[0] == "The" and len(words) > 1 and words[1][:1].isupper():
            break  # "The Robot Report" is a name
        words.pop(0)
    while words and words[-1].lower().strip(".,!?") in CONNECT | COMMAND | {"pls", "please"}:
        words.pop()
    return " ".join(words).strip(" .,:;!?'\"")


def _command_end(r: Reading) -> int:
    """Where the command at the start of the message ends ("new lead " in "new lead Ada")."""
    at = 0
    for match in WORD.finditer(r.text):
        word = match.group().lower()
        if word in COMMAND or word in r.nouns or word.rstrip("s") in r.nouns:
            at = match.end()
            continue
        break
    return at


#: Words that name kinds of record or where they live: a title made only of them ("a new
#: knowledge collection", "an idea for the blog", "report a bug") names no record.
KIND_WORDS = frozenset({
    *(w for noun, aliases in NOUNS.items() for w in (noun, *aliases) if w.isalpha()),
    *(w + "s" for noun, aliases in NOUNS.items() for w in (noun, *aliases) if w.isalpha()),
    "collection", "collections", "topic", "topics", "report", "bug", "project", "projects",
    "sprint", "epic", "grid", "workflow", "template", "source", "rule", "page", "folder",
    "section", "system", "app", "product", "company", "one", "thing", "something", "entry",
    "notification", "notifications",
})
#: Words that name records in general, not one record: no use as a search term.
GENERIC = frozenset([
    "kb", "docs", "doc", "documents", "document", "base", "knowledge", "account", "accounts",
    "stuff", "board", "people", "things", "items", "records", "record", "crm", "studio",
    "workspace", "entries", "ones", "list", "lists", "overview", "details", "info",
])
QUESTION = frozenset([
    "which", "what", "whats", "what's", "who", "where", "when", "how", "any", "anything", "is",
    "are", "do", "does", "did", "we", "our", "us", "there", "have", "has", "had", "show", "list",
    "give", "me", "all", "every", "everything", "still", "that", "the", "a", "an", "of", "in",
    "on", "my", "i", "you", "find", "search", "look", "up", "for", "get", "pull", "see", "right",
    "now", "currently", "exist", "exists", "here", "please", "pls", "been", "being", "with",
    "who's", "this", "these", "those", "set", "up", "can", "could", "you", "tell",
    "or", "and", "due", "before", "after", "since", "until", "anyone", "anybody", "someone",
    "somebody",
])


def query_text(reading: Reading | str, filtered: bool = False,
               taken: Collection[str] = ()) -> str | None:
    """What to search for: a name the message gives, else the words that are neither the
    command, the question, nor a filter already read (a status, a date). When the message
    filtered by something else ("deals sitting in negotiation at the moment"), only a name
    or words after "about"/"mentioning" are searched for: the rest is how it was asked."""
    r = (reading if isinstance(reading, Reading)
         else Reading.of(reading, datetime.now(UTC), frozenset()))
    names = [n for n in x.quoted(r.text) + x.person_names(r.text) + x.company_names(r.text)
             if not any(n in t or t in n for t in taken)]
    if names:
        # "search the knowledge base for SSO setup steps": the name and the words after it
        phrase = re.search(rf"\b(?:for|about|on)\s+({re.escape(names[0])}(?:\s+[a-z][\w'-]*)+)"
                           r"\s*[?.!]*$", r.text)
        return phrase[1] if phrase else names[0]
    about = re.search(r"\b(?:about|mentioning|mention|regarding|on the topic of|that cover|"
                      r"covering|related to)\s+(.+?)\s*[?.!]*$", _masked(r), re.IGNORECASE)
    if about is None and taken:  # "search the Help Center docs for data retention"
        about = re.search(r"\bfor\s+(.+?)\s*[?.!]*$", _masked(r), re.IGNORECASE)
    if about:
        return _trim(about[1]) or None
    if filtered:
        return None
    masked = _asked(_masked(r), r.nouns)
    kept = [m for m in WORD.finditer(masked) if _searched(m.group().lower(), r.nouns)]
    if not kept:
        return None
    # The words searched for and what joins them, as said: "refund window on annual plans".
    span = masked[kept[0].start():kept[-1].end()]
    inner = [w for w in WORD.findall(span) if not _searched(w.lower(), r.nouns)]
    if len(inner) > len(kept) or any(w.lower() in COMMAND - CONNECT for w in inner):
        return " ".join(m.group() for m in kept).strip(" .?!") or None
    return _trim(" ".join(span.split())) or None


def _asked(masked: str, nouns: frozenset[str]) -> str:
    """Of several sentences ("what's our refund window for annual plans? check the kb"), the
    one with the most words to search for; the others only say where to look."""
    sentences = [m for m in re.finditer(r"[^?.!]+[?.!]*", masked) if m.group().strip()]
    if len(sentences) < 2:
        return masked
    best = max(sentences, key=lambda m: sum(
        1 for w in WORD.findall(m.group()) if _searched(w.lower(), nouns)))
    return (re.sub(r"\w", " ", masked[:best.start()]) + best.group()
            + re.sub(r"\w", " ", masked[best.end():]))


def _searched(word: str, nouns: frozenset[str]) -> bool:
    return (word.strip(".'?") not in QUESTION and word not in COMMAND | GENERIC
            and word.rstrip("s") not in nouns and word not in nouns)
