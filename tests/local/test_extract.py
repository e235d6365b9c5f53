"""The offline model's argument extractors, one table per function: what each must read, and
what it must leave alone (amounts that are phones or years, names that are companies, domains).

Dates are anchored on Wednesday 2026-11-25 so every relative phrase has one right answer.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from assistant.local.extract import (
    Money,
    after_keyword,
    company_names,
    find_dates,
    find_datetimes,
    find_emails,
    find_money,
    find_numbers,
    find_percent,
    find_phones,
    fuzzy_choice,
    person_names,
    quoted,
    strip_fillers,
)

TODAY = date(2026, 11, 25)  # a Wednesday
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
# The same instant: late Wednesday evening in New York is Thursday afternoon in Tokyo.
NOW_NY = datetime(2026, 11, 25, 23, 30, tzinfo=NEW_YORK)
NOW_TOKYO = NOW_NY.astimezone(TOKYO)

ODD_INPUTS = ["", " ", "🎉🚀", "\x00\n\t", "'\"“«\u2018", "a" * 5000, "1" * 3000, "@." * 2000]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("email ada@example.com please", ["ada@example.com"]),
        ("Ada <Ada.Lovelace+crm@mail.acme.co.uk>, bob_99@x.io.", [
            "Ada.Lovelace+crm@mail.acme.co.uk", "bob_99@x.io"]),
        ("ada@example.com and ADA@EXAMPLE.COM", ["ada@example.com"]),
        ("mailto:sales@globex.com", ["sales@globex.com"]),
        ("not an email: ada@localhost or @handle", []),
        ("ada at example dot com", []),
        ("broken@.com and a@b.c", []),
        ("", []),
    ],
)
def test_find_emails(text: str, expected: list[str]) -> None:
    assert find_emails(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call +1 (415) 555-0100", ["+14155550100"]),
        ("office 020 7946 0958", ["02079460958"]),
        ("+44 20 7946 0958 or (415) 555-0100", ["+442079460958", "4155550100"]),
        ("ext 555-0100, again 555-0100", ["5550100"]),
        ("415.555.0100", ["4155550100"]),
        ("4155550100", ["4155550100"]),
        ("order 1234567", []),  # a short unbroken run is an id, not a phone
        ("due 2026-11-25, in 2020-2025", []),
        ("on 25.11.2026", []),
        ("worth $1 000 000 or 12 000 000 EUR", []),
        ("call me at 3", []),
        ("1234567.50 total", []),
    ],
)
def test_find_phones(text: str, expected: list[str]) -> None:
    assert find_phones(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a $12k deal", [Money(12000.0, "USD")]),
        ("12,000 EUR", [Money(12000.0, "EUR")]),
        ("€40,000 and 40k euros", [Money(40000.0, "EUR"), Money(40000.0, "EUR")]),
        ("budget 1.5m", [Money(1500000.0, None)]),
        ("USD 300 or 300 dollars", [Money(300.0, "USD"), Money(300.0, "USD")]),
        ("12 000 €", [Money(12000.0, "EUR")]),
        ("£1.2 million", [Money(1200000.0, "GBP")]),
        ("$1 000 000", [Money(1000000.0, "USD")]),
        ("EUR12k", [Money(12000.0, "EUR")]),
        ("call +1 (415) 555-0100 about the $300 invoice", [Money(300.0, "USD")]),
        ("call me at 3", []),
        ("2025", []),
        ("60% of 12 apples", []),
        ("Q3 review", []),
        ("room 12km away", []),
    ],
)
def test_find_money(text: str, expected: list[Money]) -> None:
    assert find_money(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("60%", [60.0]),
        ("60 percent", [60.0]),
        ("12.5 % then 40 per cent", [12.5, 40.0]),
        ("ten percent", [10.0]),
        ("probability 75pct", [75.0]),
        ("v60% and 60 percentile", []),
        ("$60", []),
        ("60 people", []),
        ("rate 2.5%", [2.5]),
        ("", []),
    ],
)
def test_find_percent(text: str, expected: list[float]) -> None:
    assert find_percent(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("order 3 boxes and 12 pens", [3.0, 12.0]),
        ("three or four, maybe a dozen", [3.0, 4.0, 12.0]),
        ("half a dozen eggs", [6.0]),
        ("2,500.5 units and -5", [2500.5, -5.0]),
        ("the one I want, one more", [1.0]),
        ("Q3 review at 3pm on 3/31 at 15:30", []),
        ("on 2026-11-25", []),
        ("call +1 (415) 555-0100 or ada1@x.io", []),
        ("someone often tones", []),
        ("", []),
    ],
)
def test_find_numbers(text: str, expected: list[float]) -> None:
    assert find_numbers(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("due 2026-12-01", [date(2026, 12, 1)]),
        ("March 31", [date(2027, 3, 31)]),  # past this year: next year's
        ("31 March", [date(2027, 3, 31)]),
        ("3/31", [date(2027, 3, 31)]),
        ("Dec 5th, 2027", [date(2027, 12, 5)]),
        ("December 1", [date(2026, 12, 1)]),
        ("today, tomorrow or yesterday", [TODAY, date(2026, 11, 26), date(2026, 11, 24)]),
        ("the day after tomorrow", [date(2026, 11, 27)]),
        ("Friday", [date(2026, 11, 27)]),
        ("this Friday", [date(2026, 11, 27)]),
        ("next Friday", [date(2026, 12, 4)]),
        ("last Friday", [date(2026, 11, 20)]),
        ("on Wednesday", [TODAY]),
        ("in 3 days", [date(2026, 11, 28)]),
        ("in two weeks", [date(2026, 12, 9)]),
        ("in a month", [date(2026, 12, 25)]),
        ("2 weeks ago", [date(2026, 11, 11)]),
        ("next week", [date(2026, 11, 30)]),
        ("next month", [date(2026, 12, 1)]),
        ("end of March", [date(2027, 3, 31)]),
        ("end of the month", [date(2026, 11, 30)]),
        ("end of next month", [date(2026, 12, 31)]),
        ("end of quarter", [date(2026, 12, 31)]),
        ("by the end of the quarter", [date(2026, 12, 31)]),
        ("Q3", [date(2027, 9, 30)]),
        ("Q3 review", [date(2027, 9, 30)]),
        ("Q4", [date(2026, 12, 31)]),
        ("Q1 2026", [date(2026, 3, 31)]),
        ("from May 3 to May 3", [date(2027, 5, 3), date(2027, 5, 3)]),
        ("Feb 30 or 13/45", []),
        ("in 9999 years", []),
        ("March 2027", []),
        ("call me at 3", []),
        ("$12k for 12 apples", []),
    ],
)
def test_find_dates(text: str, expected: list[date]) -> None:
    assert find_dates(text, TODAY) == expected


def test_find_dates_leap_day_is_the_next_one() -> None:
    assert find_dates("Feb 29", TODAY) == [date(2028, 2, 29)]


def _at(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        # Late Wednesday in New York is Thursday in Tokyo: "tomorrow" differs by zone.
        ("tomorrow at 9", NOW_NY, [_at(NEW_YORK, 2026, 11, 26, 9, 0)]),
        ("tomorrow at 9", NOW_TOKYO, [_at(TOKYO, 2026, 11, 27, 9, 0)]),
        # A time alone is its next occurrence: passed in New York, still ahead in Tokyo.
        ("at 3pm", NOW_NY, [_at(NEW_YORK, 2026, 11, 26, 15, 0)]),
        ("at 3pm", NOW_TOKYO, [_at(TOKYO, 2026, 11, 26, 15, 0)]),
        ("noon", NOW_TOKYO, [_at(TOKYO, 2026, 11, 27, 12, 0)]),
        ("15:30", NOW_NY, [_at(NEW_YORK, 2026, 11, 26, 15, 30)]),
        ("at 3pm tomorrow", NOW_NY, [_at(NEW_YORK, 2026, 11, 26, 15, 0)]),
        ("March 31 at 15:30", NOW_NY, [_at(NEW_YORK, 2027, 3, 31, 15, 30)]),
        ("next Friday 10am", NOW_TOKYO, [_at(TOKYO, 2026, 12, 4, 10, 0)]),
        ("call me at 3 on Friday", NOW_NY, [_at(NEW_YORK, 2026, 11, 27, 15, 0)]),
        ("Friday", NOW_NY, [_at(NEW_YORK, 2026, 11, 27, 9, 0)]),  # DEFAULT_TIME
        ("2026-12-01T14:00", NOW_NY, [_at(NEW_YORK, 2026, 12, 1, 14, 0)]),
        ("at 5 March", NOW_NY, [_at(NEW_YORK, 2027, 3, 5, 9, 0)]),  # "5" is the day
        ("at 3% or 3 apples", NOW_NY, []),
        ("13pm", NOW_NY, []),
        ("", NOW_NY, []),
    ],
)
def test_find_datetimes(text: str, now: datetime, expected: list[datetime]) -> None:
    found = find_datetimes(text, now)
    assert found == expected
    assert all(moment.tzinfo is now.tzinfo for moment in found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('a task called "Buy milk"', ["Buy milk"]),
        ('say "hello there" and “bye”', ["hello there", "bye"]),
        ("named 'Apollo' now", ["Apollo"]),
        ("«Bonjour» and \u2018hi\u2019", ["Bonjour", "hi"]),
        ("Bob's and Alice's notes", []),
        ("don't 'x' here", ["x"]),
        ('empty "" here', []),
        ('"   " only', []),
        ('an "unclosed quote', []),
    ],
)
def test_quoted(text: str, expected: list[str]) -> None:
    assert quoted(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Add Ada Lovelace from Acme Corp", ["Ada Lovelace"]),
        ("Schedule a call with Maria at Globex Inc.", ["Maria"]),
        ("Jean-Luc Picard works at Starfleet", ["Jean-Luc Picard"]),
        ("email from Maria", ["Maria"]),
        ("Please Call Maria on Friday in March", ["Maria"]),
        ("I met Ludwig van Beethoven and O'Brien's team", ["Ludwig van Beethoven", "O'Brien"]),
        ("José Müller and José Müller", ["José Müller"]),
        ("Create a task for Monday", []),
        ("email Ada@Acme.com", []),
        ("IBM wants a demo", []),
        ("Add Acme Robotics as a customer", []),
        ("Hi, Thanks!", []),
    ],
)
def test_person_names(text: str, expected: list[str]) -> None:
    assert person_names(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Add Acme Corp as a customer", ["Acme Corp"]),
        ("Globex Inc. signed", ["Globex Inc."]),
        ("Ada works at Initech", ["Initech"]),
        ("a deal with Acme", ["Acme"]),
        ("Add Ada Lovelace from Acme", ["Acme"]),
        ("Meeting with Bob from Acme Robotics", ["Acme Robotics"]),
        ("at Wayne Enterprises and Stark Industries", ["Wayne Enterprises", "Stark Industries"]),
        ("email ada@acme.com or Ada@Acme.com", []),  # a domain is not a company
        ("see https://Globex.example/Inc", []),
        ("Call Maria tomorrow", []),
        ("Group meeting on Friday", []),
    ],
)
def test_company_names(text: str, expected: list[str]) -> None:
    assert company_names(text) == expected


STAGES = ["lead", "qualified", "proposal", "negotiation", "closed_won", "closed_lost"]


@pytest.mark.parametrize(
    ("text", "choices", "expected"),
    [
        ("we are negotiating now", STAGES, "negotiation"),
        ("mark it as won", STAGES, "closed_won"),
        ("closed lost, sadly", STAGES, "closed_lost"),
        ("set stage to CLOSED_WON", STAGES, "closed_won"),
        ("sent the proposed terms", STAGES, "proposal"),
        ("negociation stage", STAGES, "negotiation"),  # a typo: difflib
        ("move from lead to qualified", STAGES, "qualified"),  # the later mention
        ("it's closed", STAGES, None),  # "closed" alone does not say which
        ("progressing nicely", ["todo", "in_progress", "done"], "in_progress"),
        ("high priority please", ["low", "medium", "high"], "high"),
        ("the law firm", ["low", "medium", "high"], None),  # too short to guess
        ("nothing relevant", STAGES, None),
        ("lead", [], None),
        ("", STAGES, None),
    ],
)
def test_fuzzy_choice(text: str, choices: list[str], expected: str | None) -> None:
    assert fuzzy_choice(text, choices) == expected


def test_fuzzy_choice_cutoff_is_honoured() -> None:
    assert fuzzy_choice("negoshiation", STAGES, cutoff=0.99) is None
    assert fuzzy_choice("negoshiation", STAGES, cutoff=0.7) == "negotiation"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("please create a task to call Bob tomorrow", "call Bob tomorrow"),
        ("Can you add a reminder: renew passport", "renew passport"),
        ("remind me to email Ada", "email Ada"),
        ("Hey Neptune, please schedule a meeting with Bob on Friday, thanks!",
         "meeting with Bob on Friday"),
        ("I need to call Bob", "call Bob"),
        ("new task - pay invoice", "pay invoice"),
        ("buy milk please.", "buy milk"),
        ('Add a note saying "ship it"', "ship it"),
        ("Call Bob", "Call Bob"),
        ("create a task", ""),
        ("", ""),
    ],
)
def test_strip_fillers(text: str, expected: str) -> None:
    assert strip_fillers(text) == expected


KEYWORDS = ("called", "named", "titled", "about", "subject")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a task called Buy milk, due tomorrow", "Buy milk"),
        ('a deal named "Q3, final" for Acme', "Q3, final"),
        ("email with subject: Renewal terms. Thanks", "Renewal terms"),
        ("a note about the offsite titled Plan", "the offsite"),
        ("named 'Apollo' please", "Apollo"),
        ("called. Then named Zed", "Zed"),  # the first keyword with a phrase
        ("Acme Inc. called", None),
        ("recalled nothing", None),
        ("no keyword here", None),
    ],
)
def test_after_keyword(text: str, expected: str | None) -> None:
    assert after_keyword(text, KEYWORDS) == expected


def test_after_keyword_without_keywords() -> None:
    assert after_keyword("called Bob", []) is None
    assert after_keyword("called Bob", ["", "  "]) is None


@pytest.mark.parametrize("text", ODD_INPUTS)
def test_odd_input_never_raises(text: str) -> None:
    assert isinstance(find_emails(text), list)
    assert isinstance(find_phones(text), list)
    assert isinstance(find_money(text), list)
    assert isinstance(find_percent(text), list)
    assert isinstance(find_numbers(text), list)
    assert isinstance(find_dates(text, TODAY), list)
    assert isinstance(find_datetimes(text, NOW_NY), list)
    assert isinstance(quoted(text), list)
    assert isinstance(person_names(text), list)
    assert isinstance(company_names(text), list)
    assert fuzzy_choice(text, STAGES) in [None, *STAGES]
    assert isinstance(strip_fillers(text), str)
    assert after_keyword(text, KEYWORDS) is None or isinstance(after_keyword(text, KEYWORDS), str)


def test_long_hostile_text_stays_fast() -> None:
    text = ("a" * 20000 + " " * 20000 + "1" * 20000 + "x." * 10000 + "' " * 5000
            + "A b " * 5000 + "+1 " * 5000 + "in 3 days " * 500 + '"' + "end of " * 2000)
    started = time.perf_counter()
    find_emails(text), find_phones(text), find_money(text), find_percent(text)
    find_numbers(text), find_dates(text, TODAY), find_datetimes(text, NOW_NY), quoted(text)
    person_names(text), company_names(text), fuzzy_choice(text, STAGES), strip_fillers(text)
    after_keyword(text, KEYWORDS)
    assert time.perf_counter() - started < 5

