"""Rule-based argument extractors for the built-in offline model (issue #6).

The offline model picks a tool by its words and fills the tool's arguments with these functions,
so each one is pure and total: no network, no state, and no exception on odd input (empty text,
emoji, a megabyte of text); it returns an empty result instead. Every pattern is bounded and free
of nested open-ended repeats, so matching stays linear in the length of the message.

Shared conventions: results come in the order they appear. Identities (emails, phones, names) are
de-duplicated; quantities (money, numbers, dates) are not, because "from May 3 to May 3" or
"$5 now and $5 later" mean what they say. Overlapping readings are settled leftmost-longest, the
way a tokenizer does, so "end of next month" is one date, not "next month" as well.
"""

from __future__ import annotations

import calendar
import contextlib
import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Generic, TypeAlias, TypeVar

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
_Build: TypeAlias = Callable[[re.Match[str]], T | None]

#: How far back the "word before" checks look; a bounded window keeps them linear overall.
_LOOK_BACK = 24
#: The hour a date-only mention resolves to in `find_datetimes` ("remind me Friday" -> 09:00).
DEFAULT_TIME = time(9, 0)


@dataclass(frozen=True)
class Money:
    """An amount of money as said: "12k" is 12000.0; `currency` is an ISO code or None."""

    amount: float
    currency: str | None


@dataclass(frozen=True)
class _Hit(Generic[T_co]):
    start: int
    end: int
    value: T_co


def _scan(text: str, rules: Iterable[tuple[re.Pattern[str], _Build[T]]]) -> list[_Hit[T]]:
    """Leftmost-longest non-overlapping readings across several patterns.

    A builder returning None (an impossible date, a number that is really a year) drops that
    reading only, so a shorter valid reading at the same place can still win.
    """
    found: list[_Hit[T]] = []
    for pattern, build in rules:
        for match in pattern.finditer(text):
            try:
                value = build(match)
            except (ValueError, OverflowError):  # "Feb 30", "in 9999 years"
                value = None
            if value is not None:
                found.append(_Hit(match.start(), match.end(), value))
    found.sort(key=lambda hit: (hit.start, hit.start - hit.end))
    chosen: list[_Hit[T]] = []
    for hit in found:
        if not chosen or hit.start >= chosen[-1].end:
            chosen.append(hit)
    return chosen


def _overlaps(start: int, end: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(start < other_end and other_start < end for other_start, other_end in spans)


def _dedupe(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    unique: list[str] = []
    for value in values:
        if value.casefold() not in seen:
            seen.add(value.casefold())
            unique.append(value)
    return unique


def _mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """Blank out spans (emails, phones) so later patterns cannot read inside them."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


# -- emails, phones --------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}(?![\w-])"
)
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']{1,2000}", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w+$€£¥₹.,/:-])\+?\(?\d[\d \u00a0().-]{5,22}\d(?![\w%/:]|[.,-]\d)")
_NOT_A_PHONE = re.compile(
    r"\d{4}([-/.])\d{1,2}\1\d{1,2}"  # 2026-11-25
    r"|\d{1,2}([-/.])\d{1,2}\2\d{2,4}"  # 25.11.2026
    r"|(?:19|20)\d\d ?- ?(?:19|20)\d\d"  # 2020-2025
    r"|\d+\.\d{1,2}"  # 1234567.50
)
_CODE = "USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD|INR|CNY|SEK|NOK|DKK|PLN|CZK|HUF|SGD|HKD|MXN|BRL|ZAR|AED"
_MONEY_NEAR = re.compile(
    rf"[ \u00a0]?(?:[$€£¥₹%]|(?i:k|m|bn|{_CODE}|dollars?|euros?|pounds?|percent)(?![a-z]))",
)
_MONEY_BEFORE = re.compile(rf"(?:[$€£¥₹]|(?i:{_CODE}))[ \u00a0]?$")


def find_emails(text: str) -> list[str]:
    """Email addresses as written, first spelling kept when one repeats in another case."""
    return _dedupe(match.group() for match in _EMAIL.finditer(text))


def _phone_hits(text: str) -> list[_Hit[str]]:
    hits = []
    for match in _PHONE.finditer(text):
        raw = match.group()
        digits = re.sub(r"\D", "", raw)
        if not 7 <= len(digits) <= 15 or _NOT_A_PHONE.fullmatch(raw):
            continue
        if raw.isdigit() and len(digits) < 10:
            continue  # "order 1234567": a short unbroken run is an id or an amount
        if _MONEY_NEAR.match(text, match.end()) or _MONEY_BEFORE.search(
                text, max(0, match.start() - _LOOK_BACK), match.start()):
            continue  # "$1 000 000", "12 000 000 EUR": an amount written with spaces
        hits.append(_Hit(match.start(), match.end(), ("+" if raw[0] == "+" else "") + digits))
    return hits


def phones_as_written(text: str) -> list[str]:
    """Phone numbers as the user wrote them ("+1 (628) 555-0142"): the tool normalises what it
    stores, and a person reading the call sees their own number."""
    return _dedupe(text[hit.start:hit.end].strip() for hit in _phone_hits(text))


def find_phones(text: str) -> list[str]:
    """Phone numbers of 7-15 digits, normalised to an optional "+" and digits only.

    Written without separators or "+", a phone needs 10 digits; dates, year ranges, decimals
    and amounts next to a currency are not phones.
    """
    return _dedupe(hit.value for hit in _phone_hits(text))


# -- money, percentages, numbers -------------------------------------------------------------------

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d+)(?:\.\d+)?(?![\d]|[.,]\d)"
_MAG = r"(?:(?P<mag>[kKmM]|bn|BN|mn)(?![a-zA-Z])|[ \t](?P<word>thousand|million|billion)\b)"
_SYMBOLS = {"$": "USD", "US$": "USD", "A$": "AUD", "C$": "CAD", "€": "EUR", "£": "GBP",
            "¥": "JPY", "₹": "INR"}
_WORDS = {"dollar": "USD", "buck": "USD", "euro": "EUR", "pound": "GBP", "quid": "GBP",
          "yen": "JPY", "franc": "CHF", "rupee": "INR"}
_SYMBOL_RE = r"(?:US\$|A\$|C\$|[$€£¥₹])"
_MONEY_RULES_SRC = (
    rf"(?P<cur>{_SYMBOL_RE}|(?<![A-Za-z])(?i:{_CODE})(?![A-Za-z]))[ \u00a0]?(?P<num>{_NUM}){_MAG}?",
    rf"(?<![\w.,])(?P<num>{_NUM}){_MAG}?[ \u00a0]{{0,2}}(?P<cur>{_SYMBOL_RE}"
    rf"|(?i:{_CODE}|dollars?|bucks|euros?|pounds?|quid|yen|francs?|rupees?)(?![A-Za-z]))",
    rf"(?<![\w.,])(?P<num>{_NUM}){_MAG}",
)
_MONEY_RULES = [re.compile(source) for source in _MONEY_RULES_SRC]
_MULTIPLIERS = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9,
                "billion": 1e9}


def _currency(said: str | None) -> str | None:
    if not said:
        return None
    if said in _SYMBOLS:
        return _SYMBOLS[said]
    word = said.lower().rstrip("s") if said.lower() != "bucks" else "buck"
    return _WORDS.get(word, said.upper())


def _money(match: re.Match[str]) -> Money:
    amount = float(re.sub(r"[,\s]", "", match["num"]))
    scale = (match["mag"] or match["word"] or "").lower()
    groups = match.groupdict()
    return Money(amount * _MULTIPLIERS.get(scale, 1.0), _currency(groups.get("cur")))


def find_money(text: str) -> list[Money]:
    """Amounts with a currency ("$12k", "12 000 €", "USD 300") or a scale ("1.5m", "40k").

    A bare number is never money: "call me at 3", "2025" and "60%" give nothing, and digits
    that read as a phone number are left to `find_phones`.
    """
    phones = [(hit.start, hit.end) for hit in _phone_hits(text)]
    hits = _scan(text, ((pattern, _money) for pattern in _MONEY_RULES))
    return [hit.value for hit in hits if not _overlaps(hit.start, hit.end, phones)]


_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "dozen": 12, "a dozen": 12, "half a dozen": 6,
    "a couple of": 2, "a": 1, "an": 1,
}
_WORD_NUMBER = (r"half\s+a\s+dozen|a\s+dozen|dozen|zero|one|two|three|four|five|six|seven|eight"
                r"|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen"
                r"|nineteen|twenty")
_DIGITS = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_NUMBER = re.compile(
    rf"(?<![\w.,/:-])(?P<digits>{_DIGITS})(?![\w/:]|[.,-]\d)|\b(?P<word>{_WORD_NUMBER})\b",
    re.IGNORECASE,
)
_PRONOUN_ONE = re.compile(r"(?<!\w)(?:the|this|that|which|no|any|each|every|some)\s+$",
                          re.IGNORECASE)
_PERCENT = re.compile(
    rf"(?<![\w.,])(?P<digits>-?\d+(?:\.\d+)?|(?i:{_WORD_NUMBER}))"
    r"[ \u00a0]?(?:%|(?i:percent|per[ ]?cent|pct)\b)"
)


def _word_value(word: str) -> float:
    return float(_NUMBER_WORDS[" ".join(word.lower().split())])


def find_percent(text: str) -> list[float]:
    """Percentages: "60%", "12.5 %", "60 percent", "ten per cent" -> 60.0, 12.5, 60.0, 10.0."""
    values = []
    for match in _PERCENT.finditer(text):
        said = match["digits"]
        values.append(float(said) if said[-1].isdigit() else _word_value(said))
    return values


def find_numbers(text: str) -> list[float]:
    """Standalone numbers, digits or words (one..twenty, "a dozen"), as floats.

    Digits glued to letters or other digits ("Q3", "3pm", "3/31", "15:30", "2026-11-25") are not
    plain numbers, nor are phone numbers and emails; "the one" and "this one" are pronouns.
    """
    masked = _mask(text, [(h.start, h.end) for h in _phone_hits(text)]
                   + [m.span() for m in _EMAIL.finditer(text)])
    values = []
    for match in _NUMBER.finditer(masked):
        if match["digits"]:
            values.append(float(match["digits"].replace(",", "")))
        elif match["word"].lower() != "one" or not _PRONOUN_ONE.search(
                masked, max(0, match.start() - _LOOK_BACK), match.start()):
            values.append(_word_value(match["word"]))
    return values


# -- dates -----------------------------------------------------------------------------------------

_MONTH = (r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_COUNT = rf"(?P<n>\d{{1,4}}|an?|a\s+couple\s+of|{_WORD_NUMBER})"
_UNIT = r"(?P<unit>day|week|month|year)s?"
_YEAR = r"(?:,?\s+(?P<y>\d{4})(?!\d))?"


def _rx(source: str) -> re.Pattern[str]:
    return re.compile(source, re.IGNORECASE)


_ISO = _rx(r"(?<![\d.])(?P<y>\d{4})(?P<s>[-/.])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})(?!\d)")
_MONTH_DAY = _rx(rf"\b{_MONTH}\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?![\d:]){_YEAR}")
_DAY_MONTH = _rx(rf"(?<![\d.,:/])(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b{_YEAR}")
_US_DATE = _rx(r"(?<![\d/.-])(?P<m>\d{1,2})/(?P<d>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?(?![\d/])")
_DAY_WORD = _rx(r"\b(?P<w>(?:the\s+)?day\s+after\s+tomorrow|today|tonight|tomorrow|tmrw"
                r"|yesterday)\b")
#: "this morning": when something happened today, read only in a look back (no deadline).
_THIS_MORNING = _rx(r"\bthis\s+morning\b")
_WEEKDAY = _rx(r"(?<!black )(?<!cyber )(?<!good )\b(?:(?P<mod>next|this|coming|last|on)\s+)?"
               r"(?P<wd>monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
               r"(?:\s+(?:of\s+)?(?P<week>next|this)\s+week\b)?")
_IN_COUNT = _rx(rf"\bin\s+{_COUNT}\s+{_UNIT}\b")
_COUNT_AGO = _rx(rf"\b{_COUNT}\s+{_UNIT}\s+(?P<dir>from\s+(?:now|today)|ago|later)\b")
_NEXT_PERIOD = _rx(r"\b(?:(?:the\s+)?(?:first|1st|start|beginning)\s+of\s+)?"
                   r"next\s+(?P<unit>week|month|quarter|year)\b")
_END_OF_PERIOD = _rx(r"\b(?:the\s+)?end\s+of\s+(?:the\s+)?(?:(?P<which>this|next|current)\s+)?"
                     r"(?P<unit>week|month|quarter|year)\b")
_END_OF_MONTH = _rx(rf"\b(?:the\s+)?end\s+of\s+{_MONTH}\b(?:\s+(?P<y>\d{{4}})(?!\d))?")
_QUARTER = _rx(r"\b(?:(?:the\s+)?end\s+of\s+)?Q(?P<q>[1-4])(?:\s+(?P<y>\d{4})(?!\d)"
               r"|['\u2019](?P<yy>\d{2}))?\b")


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _add_months(day: date, months: int) -> date:
    years, index = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, index + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _month_number(said: str) -> int:
    return _MONTHS.index(said[:3].lower()) + 1


def _year(said: str | None, today: date) -> int | None:
    """An explicit year; two digits mean this century."""
    if not said:
        return None
    return int(said) + (2000 if len(said) == 2 else 0)


def _recent(today: date, month: int, day: int) -> date:
    """A month/day without a year, looking back: the latest one on or before today."""
    for year in range(today.year, today.year - 8, -1):
        with contextlib.suppress(ValueError):
            candidate = date(year, month, day)
            if candidate <= today:
                return candidate
    return date(today.year, month, day)


def _upcoming(today: date, month: int, day: int, year: int | None) -> date:
    """A month/day without a year is the next one on or after today."""
    if year is not None:
        return date(year, month, day)
    if month == 2 and day == 29:  # the next leap day, not an error in ordinary years
        year = next(y for y in range(today.year, today.year + 8) if calendar.isleap(y))
        candidate = date(year, 2, 29)
        return candidate if candidate >= today else date(year + 4, 2, 29)
    candidate = date(today.year, month, day)
    return candidate if candidate >= today else date(today.year + 1, month, day)


def _count(said: str) -> int:
    said = " ".join(said.lower().split())
    return int(said) if said.isdigit() else int(_NUMBER_WORDS[said])


def _shift(today: date, count: int, unit: str) -> date:
    unit = unit.lower()
    if unit == "day":
        return today + timedelta(days=count)
    if unit == "week":
        return today + timedelta(weeks=count)
    return _add_months(today, count * (12 if unit == "year" else 1))


def _quarter_end(year: int, quarter: int) -> date:
    return _month_end(year + (quarter - 1) // 4, (quarter - 1) % 4 * 3 + 3)


def _weekday(match: re.Match[str], today: date) -> date:
    """Bare and "this" Friday: the coming one (today counts); "next Friday": next week's."""
    target = _WEEKDAYS.index(match["wd"].lower())
    modifier = (match["week"] or match["mod"] or "").lower()  # "Wednesday next week"
    if modifier == "next":
        return today + timedelta(days=7 - today.weekday() + target)
    if modifier == "last":
        return today - timedelta(days=(today.weekday() - target - 1) % 7 + 1)
    return today + timedelta(days=(target - today.weekday()) % 7)


def _day_word(match: re.Match[str], today: date) -> date:
    word = match["w"].lower()
    if word.endswith("after tomorrow"):
        return today + timedelta(days=2)
    offsets = {"today": 0, "tonight": 0, "tomorrow": 1, "tmrw": 1, "yesterday": -1}
    return today + timedelta(days=offsets[word])


def _relative(match: re.Match[str], today: date) -> date:
    direction = -1 if (match.groupdict().get("dir") or "").lower() == "ago" else 1
    return _shift(today, direction * _count(match["n"]), match["unit"])


def _next_period(match: re.Match[str], today: date) -> date:
    """The first day of the next week (Monday), month, quarter or year."""
    unit = match["unit"].lower()
    if unit == "week":
        return today + timedelta(days=7 - today.weekday())
    if unit == "month":
        return _add_months(today.replace(day=1), 1)
    if unit == "quarter":
        return _quarter_end(today.year, (today.month - 1) // 3 + 1) + timedelta(days=1)
    return date(today.year + 1, 1, 1)


def _end_of_period(match: re.Match[str], today: date) -> date:
    """The last day of this or next week (its Friday), month, quarter or year."""
    ahead = 1 if (match["which"] or "").lower() == "next" else 0
    unit = match["unit"].lower()
    if unit == "week":
        friday = today + timedelta(days=4 - today.weekday() + 7 * ahead)
        return max(friday, today)
    if unit == "month":
        shifted = _add_months(today.replace(day=1), ahead)
        return _month_end(shifted.year, shifted.month)
    if unit == "quarter":
        return _quarter_end(today.year, (today.month - 1) // 3 + 1 + ahead)
    return date(today.year + ahead, 12, 31)


def _end_of_month(match: re.Match[str], today: date) -> date:
    month, year = _month_number(match["mon"]), _year(match["y"], today)
    end = _month_end(year or today.year, month)
    return end if year or end >= today else _month_end(today.year + 1, month)


def _quarter(match: re.Match[str], today: date) -> date:
    """"Q3" is the end of the third quarter: the deadline a business person means by it."""
    quarter, year = int(match["q"]), _year(match["y"] or match["yy"], today)
    end = _quarter_end(year or today.year, quarter)
    return end if year or end >= today else _quarter_end(today.year + 1, quarter)


def _date_rules(today: date, past: bool = False) -> list[tuple[re.Pattern[str], _Build[date]]]:
    """`past`: a date without a year, or a bare weekday, is the latest one on or before today
    ("since Monday", "from Sep 1 to Nov 15" in a report) rather than the next one."""
    def at(year: str | None, month: int, day: str) -> date:
        given = _year(year, today)
        if past and given is None:
            return _recent(today, month, int(day))
        return _upcoming(today, month, int(day), given)

    def on(build: Callable[[re.Match[str], date], date]) -> _Build[date]:
        return lambda match: build(match, today)

    def weekday(match: re.Match[str]) -> date:
        coming = _weekday(match, today)
        bare = not (match["mod"] or "").strip() or match["mod"].lower() == "on"
        return coming - timedelta(days=7) if past and bare and coming > today else coming

    return [
        (_ISO, lambda m: date(int(m["y"]), int(m["m"]), int(m["d"]))),
        (_MONTH_DAY, lambda m: at(m["y"], _month_number(m["mon"]), m["d"])),
        (_DAY_MONTH, lambda m: at(m["y"], _month_number(m["mon"]), m["d"])),
        # (a first number over 12 is the day: "23/11" is the 23rd of November)
        (_US_DATE, lambda m: at(m["y"], int(m["m"]), m["d"]) if int(m["m"]) <= 12
         else at(m["y"], int(m["d"]), m["m"])),
        (_DAY_WORD, on(_day_word)),
        (_WEEKDAY, weekday),
        (_IN_COUNT, on(_relative)),
        (_COUNT_AGO, on(_relative)),
        (_NEXT_PERIOD, on(_next_period)),
        (_END_OF_PERIOD, on(_end_of_period)),
        (_END_OF_MONTH, on(_end_of_month)),
        (_QUARTER, on(_quarter)),
        *([(_THIS_MORNING, lambda m: today)] if past else []),
    ]


_DEADLINE_BEFORE = re.compile(
    r"\b(?:by|due|before|until|till|no later than|deadline)\s*(?:on\s+)?$", re.IGNORECASE)


def _deadline_hits(text: str, today: date) -> list[_Hit[date]]:
    return [hit for hit in _scan(text, _date_rules(today))
            if _DEADLINE_BEFORE.search(text, max(0, hit.start - _LOOK_BACK), hit.start)]


def deadline(text: str, today: date) -> date | None:
    """Of several dates, the one said as a deadline ("the Q1 board deck by December 10")."""
    hits = _deadline_hits(text, today)
    return hits[0].value if hits else None


def without_deadlines(text: str, today: date) -> str:
    """The text with its deadlines blanked: "she wants pricing by friday" says nothing about
    when the call happened."""
    return _mask(text, [(hit.start, hit.end) for hit in _deadline_hits(text, today)])


def find_dates(text: str, today: date, *, past: bool = False) -> list[date]:
    """Calendar dates, absolute or relative to `today` (see the module tests for the phrasing).

    A month and day without a year that has passed this year means next year's, unless the
    caller reads a look back (`past`), where it means this year's or last year's.
    """
    return [hit.value for hit in _scan(text, _date_rules(today, past))]


# -- times -----------------------------------------------------------------------------------------

_CLOCK = _rx(r"(?:(?P<at>\bat|@)\s*)?(?<![\d:.+\-])(?P<h>\d{1,2})(?:(?P<sep>[:.])(?P<min>\d{2}))?"
             r"(?:\s*(?P<ap>[ap])\.?m\b\.?)?(?![\w:%])")
_NAMED_TIME = _rx(r"\b(?:at\s+)?(?P<name>noon|midday|midnight)\b")
_NOT_A_TIME = _rx(r"\s*(?:%|\$|€|£|percent|dollars?|euros?|pounds?)")
_PAIR_GAP = re.compile(r"[\s,T]*(?:(?:on|at|@|-)[\s,]*)?", re.IGNORECASE)


def _clock(match: re.Match[str]) -> time | None:
    """A clock time; without am/pm, 1-7 o'clock means the afternoon (business hours)."""
    meridiem = (match["ap"] or "").lower()
    if not (meridiem or match["sep"] == ":" or match["at"]):
        return None  # a bare "3" or "9.30" is a number
    if _NOT_A_TIME.match(match.string, match.end()) and not meridiem:
        return None  # "at 3%" or "at 3 dollars"
    hour, minute = int(match["h"]), int(match["min"] or 0)
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "p" else 0)
    elif 1 <= hour <= 7 and not match["h"].startswith("0"):
        hour += 12
    return time(hour, minute) if hour <= 23 and minute <= 59 else None


def _named_time(match: re.Match[str]) -> time:
    return time(0) if match["name"].lower() == "midnight" else time(12)


def _resolve(day: date | None, clock: time | None, now: datetime) -> datetime:
    """A date at a time in now's zone; a time alone is its next occurrence after now."""
    if day is not None:
        return datetime.combine(day, clock or DEFAULT_TIME, tzinfo=now.tzinfo)
    moment = datetime.combine(now.date(), clock or DEFAULT_TIME, tzinfo=now.tzinfo)
    return moment if moment > now else moment + timedelta(days=1)


def _pair(text: str, hits: list[_Hit[date | time]]) -> list[tuple[date | None, time | None]]:
    """Join each date with a time written right next to it ("tomorrow at 9", "3pm Friday")."""
    pairs: list[tuple[date | None, time | None]] = []
    index = 0
    while index < len(hits):
        first = hits[index]
        second = hits[index + 1] if index + 1 < len(hits) else None
        gap = _PAIR_GAP.fullmatch(text, first.end, second.start) if second else None
        if second and gap and isinstance(first.value, time) != isinstance(second.value, time):
            values = (first.value, second.value)
            day = next(v for v in values if not isinstance(v, time))
            pairs.append((day, next(v for v in values if isinstance(v, time))))
            index += 2
            continue
        value = first.value
        pairs.append((None, value) if isinstance(value, time) else (value, None))
        index += 1
    return pairs


def says_time(text: str) -> bool:
    """Whether the text names a time of day (apart from its dates)."""
    dates = [(hit.start, hit.end) for hit in _scan(text, _date_rules(date(2000, 1, 1)))]
    return any(not _overlaps(hit.start, hit.end, dates)
               for hit in _scan(text, [(_CLOCK, _clock), (_NAMED_TIME, _named_time)]))


def find_datetimes(text: str, now: datetime, *, past: bool = False) -> list[datetime]:
    """Moments in now's timezone: dates (at `DEFAULT_TIME` when no time is said) and times.

    "Today" is now's date in now's zone, so the caller converts `now` to the user's zone first.
    `past` as for `find_dates`.
    """
    dates = _scan(text, _date_rules(now.date(), past))
    spans = [(hit.start, hit.end) for hit in dates]
    times = [hit for hit in _scan(text, [(_CLOCK, _clock), (_NAMED_TIME, _named_time)])
             if not _overlaps(hit.start, hit.end, spans)]
    hits: list[_Hit[date | time]] = sorted([*dates, *times], key=lambda hit: hit.start)
    return [_resolve(day, clock, now) for day, clock in _pair(text, hits)]


# -- quoted text, keywords, titles -----------------------------------------------------------------

_QUOTED = re.compile(
    r'"(?P<a>[^"\n]{1,500})"|“(?P<b>[^”\n]{1,500})”|„(?P<c>[^“”\n]{1,500})[“”]'
    r"|«(?P<d>[^»\n]{1,500})»|\u2018(?P<e>[^\u2019\n]{1,500})\u2019|(?<!\w)'(?P<f>[^'\n]{1,500})'(?!\w)"
)
_PHRASE_END = re.compile(r"[,;!?()\n]|\.(?=\s|$)|:(?=\s)|\s[-\u2013\u2014]\s")
_KEYWORD_LEAD = re.compile(r"[\s:=\-\u2013\u2014]*(?:(?:is|was|as)\s+)?", re.IGNORECASE)


def quoted(text: str) -> list[str]:
    """Text inside straight or typographic quotes; an apostrophe ("Bob's") opens nothing."""
    found = []
    for match in _QUOTED.finditer(text):
        inner = next(group for group in match.groups() if group is not None).strip()
        if inner:
            found.append(inner)
    return found


def after_keyword(text: str, keywords: Sequence[str]) -> str | None:
    """The phrase after the first keyword ("called", "about"...) that has one.

    The phrase ends at punctuation or at the next keyword; a quotation starting before that end
    wins, so `named "Q3, final"` keeps its comma.
    """
    words = sorted({k.strip() for k in keywords if k and k.strip()}, key=len, reverse=True)
    if not words:
        return None
    keyword = re.compile(rf"(?<!\w)(?:{'|'.join(map(re.escape, words))})(?!\w)", re.IGNORECASE)
    for match in keyword.finditer(text):
        start = _KEYWORD_LEAD.match(text, match.end())
        rest = text[start.end() if start else match.end():]
        stop = _PHRASE_END.search(rest)
        following = next((k for k in keyword.finditer(rest)  # ("named Director title: ...")
                          if not re.match(r"\s*(?:[:,;.!?]|$)", rest[k.end():])), None)
        end = min(m.start() for m in (stop, following) if m) if stop or following else len(rest)
        quote = _QUOTED.search(rest)
        inner = quoted(quote.group()) if quote and quote.start() <= end else []
        if inner:
            return inner[0]
        phrase = rest[:end].strip(" \t'\"")
        if phrase:
            return phrase
    return None


_LEADING_FILLER = re.compile(
    r"""(?:hi|hello|hey|ok(?:ay)?)\b[\s,!.]*(?:neptune\b[\s,!.:]*)?
    | (?:please|pls|plz|kindly|just|quickly|go\s+ahead\s+and)\b[\s,]*
    | (?:can|could|would|will)\s+you\s+
    | (?:i\s+(?:need|want|would\s+like|have|must|should)|i['\u2019]d\s+like)\s+(?:you\s+)?to\s+
    | (?:help\s+me|remind\s+me|don['\u2019]?t\s+forget|remember)\s+(?:to|about|of)\s+
    | (?:create|add|make|set\s+up|open|log|put|write(?:\s+down)?|jot\s+down|start)\s+
      (?:me\s+)?(?:(?:a|an|the|another|one|my)\s+)?(?:new\s+)?
      (?:task|to-?do|reminder|note|item|ticket|action\s+item|follow[-\s]?up)s?\b
      [\s:,\-]*(?:(?:to|for|about|called|named|titled|saying|regarding|re)\b[\s:]*)?
    | (?:new\s+)?(?:task|to-?do|reminder|note)\s*[:\-]\s*
    | (?:schedule|book|set\s+up|arrange)\s+(?:a|an|the)\s+
    """,
    re.IGNORECASE | re.VERBOSE,
)
_TRAILING_FILLER = re.compile(r"\b(?:please|pls|plz|thanks|thank\s+you|thx|for\s+me)$",
                              re.IGNORECASE)
_TRAILING_PUNCTUATION = " \t\n,;:.!?"


def strip_fillers(text: str) -> str:
    """The words that make a title: politeness and command words removed from both ends.

    "please create a task to call Bob tomorrow" -> "call Bob tomorrow". Empty when the message
    is nothing but fillers ("create a task").
    """
    cleaned = " ".join(text.split())
    for _ in range(12):  # each pass removes one filler; the bound keeps odd input cheap
        before = cleaned
        lead = _LEADING_FILLER.match(cleaned)
        if lead and lead.end():
            cleaned = cleaned[lead.end():].lstrip(" ,")
        cleaned = cleaned.rstrip(_TRAILING_PUNCTUATION)
        cleaned = _TRAILING_FILLER.sub("", cleaned).rstrip(_TRAILING_PUNCTUATION)
        if cleaned == before:
            break
    whole = quoted(cleaned)
    if len(whole) == 1 and len(whole[0]) >= len(cleaned) - 2:
        return whole[0]
    return cleaned


# -- names of people and companies -----------------------------------------------------------------

_UPPER = "A-ZÀ-ÖØ-Þ"
_CAP_WORD = rf"[{_UPPER}][^\W\d_]*(?:['\u2019-][^\W\d_]+)*"
_PARTICLE = r"(?:van|von|de|der|den|da|di|du|del|della|la|le|bin|ibn|al)"
_CAP_NEXT = rf"[ \t]+(?:{_PARTICLE}[ \t]+)?(?:{_CAP_WORD}|&)(?![\w'\u2019-])"
_CAP_RUN = re.compile(rf"(?<![\w@.'\u2019-]){_CAP_WORD}(?:{_CAP_NEXT}){{0,6}}(?![\w@'\u2019-])")


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_WORD_BEFORE = re.compile(r"(?<!\w)(\w+)[ \t]+$")
_COMPANY_SUFFIXES = _word_set(
    "inc ltd llc llp plc gmbh ag sa sas sarl bv nv pty kg corp corporation co company group labs"
    " lab robotics holdings industries enterprises technologies tech systems partners ventures"
    " capital solutions software studios media bank limited motors airlines pharma consulting"
    " logistics analytics networks dynamics ai"
)
_ABBREVIATED = _word_set("inc ltd corp co plc")
_PREPOSITIONS = _word_set("at from for with of by to in on")
_STOPWORDS = _word_set(
    # pronouns, articles, conjunctions, question words
    "i i'm i'll i've i'd me my we our us you your he his she her it its they their them this that"
    " these those a an the and or but if then so not no yes ok okay what when where who whom why"
    " how which there here is are was were be been do does did done have has had will would can"
    " could should shall may might must let let's also just only all any each every some"
    # prepositions (a capitalised one still tells what follows)
    " at from for with of by to in on into onto about after before over under between"
    # greetings and politeness
    " hi hello hey dear thanks thank please sorry sure great good morning afternoon evening"
    " regards cheers best"
    # command verbs that open a sentence
    " add create make new set schedule book remind send email call text message update change"
    " move delete remove cancel find search show list get give tell log note record mark assign"
    " put buy pay check review follow prepare draft write fix ask meet invite share open close"
    " start stop finish complete submit approve reject reply forward contact ping confirm"
    " arrange plan organize organise look lookup help need want remember forget sign"
    # what happened, said first ("Met a great lead at the expo: ...")
    " met spoke talked emailed got had saw heard signed closed"
    # calendar words
    " today tomorrow yesterday tonight next last this week month year quarter eod eom asap"
    " monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs"
    " fri sat sun january february march april may june july august september october november"
    " december jan feb mar apr jun jul aug sep sept oct nov dec"
    # record words and titles
    " task tasks deal deals contact contacts meeting meetings reminder reminders invoice project"
    " team customer client lead leads account note notes event events subject re fwd urgent"
    " mr mrs ms miss dr prof sir madam ceo cto cfo coo vp"
)


@dataclass(frozen=True)
class _Piece:
    """Consecutive capitalised words that are not stopwords, with the word right before them."""

    start: int
    tokens: tuple[str, ...]
    prep: str | None
    company: bool

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


def _name_spans(text: str) -> list[tuple[int, int]]:
    """Emails and links: "Ada@Acme.com" names neither a person nor a company."""
    return [m.span() for m in _EMAIL.finditer(text)] + [m.span() for m in _URL.finditer(text)]


def _split_run(text: str, run: re.Match[str]) -> list[_Piece]:
    before = _WORD_BEFORE.search(text, max(0, run.start() - _LOOK_BACK), run.start())
    prep = before.group(1).lower() if before and before.group(1).lower() in _PREPOSITIONS else None
    pieces: list[_Piece] = []
    tokens: list[tuple[int, str]] = []

    def close(company: bool) -> None:
        while tokens and (tokens[-1][1] == "&" or tokens[-1][1].islower()):
            tokens.pop()
        if tokens:
            pieces.append(_Piece(tokens[0][0], tuple(t for _, t in tokens), prep, company))
        tokens.clear()

    for token in re.finditer(r"\S+", run.group()):
        word = re.sub(r"['\u2019]s$", "", token.group())
        bare = word.lower().replace("\u2019", "'")
        if bare in _COMPANY_SUFFIXES and tokens:
            dotted = bare in _ABBREVIATED and text[run.start() + token.end():][:1] == "."
            tokens.append((run.start() + token.start(), word + ("." if dotted else "")))
            close(company=True)
            prep = None
        elif bare in _STOPWORDS or bare in _COMPANY_SUFFIXES:
            close(company=False)
            prep = bare if bare in _PREPOSITIONS else None
        elif tokens or not (bare == "&" or word.islower()):
            tokens.append((run.start() + token.start(), word))
    close(company=False)
    return pieces


def _pieces(text: str) -> list[_Piece]:
    masked = _mask(text, _name_spans(text))
    return [piece for run in _CAP_RUN.finditer(masked) for piece in _split_run(masked, run)]


def person_names(text: str) -> list[str]:
    """Capitalised name sequences ("Ada Lovelace", "Jean-Luc Picard", "Maria").

    Not stopwords (days, months, command verbs, "I"), not acronyms, not companies: a sequence
    ending in a company suffix, one after "at", and a lone word after "from"/"for" when the
    message names someone else ("Ada Lovelace from Acme").
    """
    people = [p for p in _pieces(text) if not p.company and p.prep != "at"
              and not any(len(t) > 1 and t.isupper() for t in p.tokens)]
    clear = [p for p in people if not (p.prep in ("from", "for") and len(p.tokens) == 1)]
    return _dedupe(piece.text for piece in (clear or people))


def company_names(text: str) -> list[str]:
    """Company names: ones with a suffix ("Globex Inc.", "Acme Robotics"), and capitalised
    phrases after "at", or a single capitalised word after "from"/"for" ("at Initech", "from
    Acme"); a lone word after "with" only when nothing else names a company.

    Email and web addresses are masked first: a domain is not a company.
    """
    strong: list[str] = []
    weak: list[str] = []
    for piece in _pieces(text):
        if piece.company or piece.prep == "at" or (
            piece.prep in ("from", "for") and len(piece.tokens) == 1
        ):
            strong.append(piece.text)
        elif piece.prep == "with" and len(piece.tokens) == 1:
            weak.append(piece.text)
    return _dedupe(strong or weak)


# -- choosing an enum value ------------------------------------------------------------------------

_STEM_SUFFIXES = ("ions", "ion", "ings", "ing", "als", "al", "ed", "es", "s", "e")
_UNSTRIPPED = ("ss", "us", "is")  # "progress", "status", "analysis" are not plurals
_FUZZY_TOKEN_LIMIT = 400


def _stem(word: str) -> str:
    if word.endswith(_UNSTRIPPED):
        return word
    for suffix in _STEM_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.lower())


def _exact_choice(stems: list[str], options: dict[str, list[str]]) -> str | None:
    """The longest choice said in full (by stems); the later mention wins ("from X to Y")."""
    best: tuple[int, int] | None = None
    chosen = None
    for choice, words in options.items():
        size = len(words)
        for index in range(len(stems) - size + 1):
            if stems[index:index + size] == words and (best is None or (size, index) >= best):
                best, chosen = (size, index), choice
    return chosen


def _partial_choice(stems: list[str], options: dict[str, list[str]]) -> str | None:
    """A multi-word choice named by a word no other choice has: "won" -> "closed_won"."""
    counts: dict[str, int] = {}
    for words in options.values():
        for word in set(words):
            counts[word] = counts.get(word, 0) + 1
    best: tuple[int, int] | None = None
    chosen = None
    for choice, words in options.items():
        own = {w for w in words if counts[w] == 1 and len(w) >= 3} if len(words) > 1 else set()
        # ("their progress", "a progress overview": the word names no state there)
        places = [i for i, stem in enumerate(stems) if stem in own and not (
            i and stems[i - 1] in _OWNED) and stems[i + 1:i + 2] != ["overview"]]
        if places and (best is None or (len(set(stems) & own), places[-1]) > best):
            best, chosen = (len(set(stems) & own), places[-1]), choice
    return chosen


def _similar_choice(words: list[str], choices: dict[str, list[str]], cutoff: float) -> str | None:
    """The choice most like some window of the text's words (typos: "negociation")."""
    best, chosen = cutoff, None
    for choice, choice_words in choices.items():
        target = " ".join(choice_words)
        if len(target) < 4:
            continue  # "low" vs "law": too short to guess at
        size = len(choice_words)
        for index in range(len(words) - size + 1):
            window = " ".join(words[index:index + size])
            if len(window) < 4 or abs(len(window) - len(target)) > 2:
                continue  # "the" is not a typo of "other"
            if size > 1 and any(a[:1] != b[:1] for a, b in zip(
                    words[index:index + size], choice_words, strict=True)):
                continue  # "close on" is no typo of "closed won"
            # A short word one letter off is another word more often than a typo: "does"
            # is not "done".
            floor = max(best, 0.85) if len(target) < 7 else best  # nor "formal" "normal"
            matcher = difflib.SequenceMatcher(None, window, target)
            if matcher.real_quick_ratio() >= floor and matcher.ratio() >= floor:
                best, chosen = matcher.ratio(), choice
    return chosen


def fuzzy_choice(text: str, choices: Sequence[str], *, cutoff: float = 0.75) -> str | None:
    """The enum value the text mentions, or None.

    Tried in order: the whole value said (case-insensitive, "_" as a space, simple stems so
    "negotiating" finds "negotiation"), a word only one multi-word value has ("won" for
    "closed_won"), then difflib similarity of the value to each window of as many words.
    """
    options = {c: _words(c) for c in choices if isinstance(c, str) and _words(c)}
    words = _words(text)[:_FUZZY_TOKEN_LIMIT]
    if not options or not words:
        return None
    # A typo is guessed at outside names: "Meeting Notetaker" says no "marketing".
    unnamed = _words(re.sub(r"\b[A-Z][\w'&-]*(?:\s+[A-Z][\w'&-]*)+", " ", text))
    stems = [_stem(w) for w in words]
    stemmed = {choice: [_stem(w) for w in ws] for choice, ws in options.items()}
    # "when a deal is won" says "deal_won": the verbs between do not part the words.
    squeezed = [w for w in stems if w not in _BETWEEN]
    return (_exact_choice(stems, stemmed) or _exact_choice(squeezed, stemmed)
            or _partial_choice(stems, stemmed)
            or _similar_choice(unnamed[:_FUZZY_TOKEN_LIMIT], options, cutoff))


_OWNED = frozenset({"their", "its", "our", "my", "your", "the", "a"})
_BETWEEN = frozenset({"is", "are", "was", "were", "gets", "get", "got", "becomes", "become",
                      "been", "has", "have", "a", "an", "the", "its", "their", "new", "just"})


# -- what a message says besides its words ---------------------------------------------------------

def value_spans(text: str, now: datetime, *, moments: bool = True,
                amounts: bool = True) -> list[tuple[int, int]]:
    """Where the message states values (emails, links, phones, money, percentages, dates,
    times), so the words left over can be read as a title, a name or a reason. A caller with
    no field for dates (`moments`) or for amounts keeps those in the words: "notify Vic:
    timesheets are due Friday" says Friday in the notification."""
    spans = [m.span() for m in _EMAIL.finditer(text)] + [m.span() for m in _URL.finditer(text)]
    spans += [(h.start, h.end) for h in _phone_hits(text)]
    if amounts:
        spans += [(h.start, h.end) for h in _scan(text, ((p, _money) for p in _MONEY_RULES))]
        spans += [m.span() for m in _PERCENT.finditer(text)]
    if not moments:
        return sorted(spans)
    dates = _scan(text, _date_rules(now.date(), past=True))  # (spans: "this morning" too)
    spans += [(h.start, h.end) for h in dates]
    taken = [(h.start, h.end) for h in dates]
    spans += [(h.start, h.end) for h in _scan(text, [(_CLOCK, _clock), (_NAMED_TIME, _named_time)])
              if not _overlaps(h.start, h.end, taken)]
    return sorted(spans)
