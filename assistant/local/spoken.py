"""Values said aloud, written the way the argument readers read them (issue #6).

The phone channel hands the offline model a transcript: "fifteen hundred dollars", "marta at
brightline dot com", "plus one four one five five five five zero one nine two", "at three thirty
pm", "december fifteenth". `written` rewrites those spans as digits and symbols ("1500 dollars",
"marta@brightline.com", "+14155550192", "at 3:30 pm", "december 15th") and leaves every other
word alone, so the extractors in `extract` need no spoken variants of their own.

It rewrites only what cannot be a title's words: a run of number words with grammar between
them ("twenty five", "two thousand five hundred"), a single number word right before a unit
("thirty minutes", "five pm", "twelve k"), seven or more digits said one by one, an address with
a spoken "dot com". "Five ways to cut churn" and "one of the tasks" stay as they are, and quoted
text is never touched. Linear in the length of the text, and total: odd input comes back as is.
"""

from __future__ import annotations

import re

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
         "seventy": 70, "eighty": 80, "ninety": 90}
_SCALES = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}
_DIGIT_WORDS = {**{w: str(v) for w, v in _UNITS.items() if v < 10}, "oh": "0", "o": "0"}
_SUFFIX = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}

_NUMBER_WORD = "|".join(sorted([*_UNITS, *_TENS, *_SCALES, "hundred"], key=len, reverse=True))
#: A word after a lone number word that makes it a quantity, a price or a time.
_UNIT_AFTER = re.compile(
    r"[\s-]+(?:minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|dollars?|bucks|euros?"
    r"|pounds?|quid|percent|per\s+cent|k|grand|[ap]\.?\s?m\b\.?|o['\u2019]?clock|people|seats?"
    r"|users?|licen[cs]es?|units?|points?|times|items?|hundred|thousand|million|billion)(?![a-z])",
    re.IGNORECASE,
)
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|march|apr(?:il)?|may|june|july|aug(?:ust)?"
          r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_ORDINAL_WORD = ("(?:(?:twenty|thirty)[\\s-]+)?(?:" + "|".join(
    sorted(_ORDINALS, key=len, reverse=True)) + ")")
_QUOTE = re.compile(r'"[^"\n]{0,500}"|“[^”\n]{0,500}”|(?<!\w)\'[^\'\n]{0,500}\'(?!\w)')

_EMAIL = re.compile(
    r"(?<![\w@.])(?P<local>[a-z0-9]+(?:\s+(?:dot|underscore|dash|hyphen)\s+[a-z0-9]+){0,4})"
    r"\s+at\s+(?P<domain>[a-z0-9]+(?:\s+(?:dot|dash)\s+[a-z0-9]+){0,3}\s+dot\s+"
    r"(?:com|org|net|io|co|ai|dev|app|us|uk|de|fr|eu|ca|au|biz|info|me|tech|edu|gov))(?![\w@])",
    re.IGNORECASE,
)
_SPOKEN_SYMBOLS = {"dot": ".", "underscore": "_", "dash": "-", "hyphen": "-"}
_DIGIT = rf"(?:{'|'.join(_DIGIT_WORDS)}|\d{{1,4}}|(?:double|triple)\s+(?:{'|'.join(_DIGIT_WORDS)}))"
_PHONE = re.compile(
    rf"(?<![\w+])(?P<plus>plus\s+)?{_DIGIT}(?:[\s,.-]+{_DIGIT}){{3,24}}(?![\w-])", re.IGNORECASE)
_CLOCK = re.compile(
    rf"(?P<at>\bat\s+)?\b(?P<h>{'|'.join(w for w, v in _UNITS.items() if 1 <= v <= 12)})\b"
    r"(?:[\s-]+(?P<m>oh[\s-]+(?:one|two|three|four|five|six|seven|eight|nine)"
    r"|(?:twenty|thirty|forty|fifty)(?:[\s-]+(?:one|two|three|four|five|six|seven|eight|nine))?"
    r"|fifteen|ten|eleven|twelve|thirteen|fourteen|sixteen|seventeen|eighteen|nineteen))?"
    r"(?P<ap>\s+[ap]\.?\s?m\b\.?|\s+o['\u2019]?clock\b)?",
    re.IGNORECASE,
)
#: What may follow "at five" when it is a time: the end, punctuation, or a day.
_TIME_AFTER = re.compile(
    r"\s*(?:$|[,.;!?)]|(?:on|today|tonight|tomorrow|next|this|monday|tuesday|wednesday"
    r"|thursday|friday|saturday|sunday|in\s+the\s+(?:morning|afternoon|evening))\b)",
    re.IGNORECASE)
_ORDINAL_DATE = re.compile(
    rf"\b(?P<mon1>{_MONTH})\s+(?:the\s+)?(?P<o1>{_ORDINAL_WORD})\b"
    rf"|\b(?P<o2>{_ORDINAL_WORD})\s+of\s+(?P<mon2>{_MONTH}|next\s+month|this\s+month)\b",
    re.IGNORECASE,
)
_RUN = re.compile(rf"\b(?:a\s+(?=hundred|thousand|million))?(?:{_NUMBER_WORD})"
                  rf"(?:(?:\s+and\s+|[\s-]+)(?:{_NUMBER_WORD}))*"
                  rf"(?:\s+point(?:\s+(?:{'|'.join(_DIGIT_WORDS)}))+)?\b", re.IGNORECASE)
#: Lengths of time said as fractions of an hour.
_DURATIONS = [(re.compile(source, re.IGNORECASE), minutes) for source, minutes in (
    (r"\b(?:an|one)\s+hour\s+and\s+a\s+half\b|\b(?:one\s+and\s+a\s+half|1\.5)\s+hours\b",
     "90 minutes"),
    (r"\bhalf\s+an\s+hour\b|\bhalf[\s-]+hour\b", "30 minutes"),
    (r"\ba\s+quarter\s+of\s+an\s+hour\b", "15 minutes"),
)]
#: Names numbered after their kind: "sprint sixteen", "phase eight", "version two".
_NUMBERED = re.compile(r"\b(?:sprint|phase|version|week|round|level|step|part|chapter|season"
                       r"|episode|wave|batch|cohort|release|tier|room|floor|number|no)\s+$",
                       re.IGNORECASE)
_GRAND = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s+(?:grand|k)\b", re.IGNORECASE)


def written(text: str) -> str:
    """The text with its spoken values written (see the module docstring); unchanged if none."""
    if not text or not re.search(r"[a-z]", text, re.IGNORECASE):
        return text
    pieces: list[str] = []
    last = 0
    for quote in _QUOTE.finditer(text):
        pieces.append(_rewrite(text[last:quote.start()]))
        pieces.append(quote.group())
        last = quote.end()
    pieces.append(_rewrite(text[last:]))
    return "".join(pieces)


def _rewrite(text: str) -> str:
    for idiom, minutes in _DURATIONS:
        text = idiom.sub(minutes, text)
    text = _EMAIL.sub(_email, text)
    text = _PHONE.sub(_phone, text)
    text = _ORDINAL_DATE.sub(_ordinal_date, text)
    text = _CLOCK.sub(_clock, text)
    text = _RUN.sub(_numbers, text)
    return _GRAND.sub(lambda m: f"{m[1]}k", text)


def _email(match: re.Match[str]) -> str:
    def join(part: str) -> str:
        words = part.split()
        return "".join(_SPOKEN_SYMBOLS.get(w.lower(), w) for w in words).lower()
    return f"{join(match['local'])}@{join(match['domain'])}"


def _phone(match: re.Match[str]) -> str:
    digits: list[str] = []
    tokens = re.findall(r"[a-z]+|\d+", match.group().lower())
    repeat = 1
    for token in tokens:
        if token in ("double", "triple"):
            repeat = 2 if token == "double" else 3
        elif token != "plus":
            digits.append((_DIGIT_WORDS.get(token) or token) * repeat)
            repeat = 1
    said = "".join(digits)
    spoken = sum(1 for t in tokens if not t.isdigit() and t != "plus")
    if not 7 <= len(said) <= 15 or spoken < 1:
        return match.group()  # digits already written, or too few to be a phone number
    return ("+" if match["plus"] else "") + said


def _ordinal_value(said: str) -> int:
    words = said.lower().replace("-", " ").split()
    return sum(_TENS.get(w, 0) for w in words[:-1]) + _ORDINALS[words[-1]]


def _ordinal_date(match: re.Match[str]) -> str:
    day = _ordinal_value(match["o1"] or match["o2"])
    if not 1 <= day <= 31:
        return match.group()
    th = f"{day}{_SUFFIX.get(day, 'th')}"
    return f"{match['mon1']} {th}" if match["mon1"] else f"{th} of {match['mon2']}"


def _clock(match: re.Match[str]) -> str:
    if not match["ap"] and not (match["at"] and (match["m"] or _TIME_AFTER.match(
            match.string, match.end()))):
        return match.group()  # "five thirty" may be two numbers, "at five people" a count
    hour = _UNITS[match["h"].lower()]
    minute = 0
    if match["m"]:
        words = match["m"].lower().replace("-", " ").split()
        minute = sum(_UNITS.get(w, 0) + _TENS.get(w, 0) for w in words if w != "oh")
    said = match["ap"] or ""
    if "clock" in said.lower():
        clock = f"{hour}:{minute:02d}"
    else:
        clock = (f"{hour}:{minute:02d}" if minute else f"{hour}") + (
            " " + said.strip().replace(" ", "").replace(".", "").lower() if said else "")
    return (match["at"] or "") + clock


def _numbers(match: re.Match[str]) -> str:
    words = re.findall(r"[a-z]+", match.group().lower())
    groups = _parse(words)
    if groups is None:
        return match.group()
    value, size = groups
    if size < 2 and not _UNIT_AFTER.match(match.string, match.end()) and words[0] not in _TENS \
            and not _NUMBERED.search(match.string, max(0, match.start() - 24), match.start()):
        return match.group()  # a lone "five" stays a word: "five ways to cut churn"
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text


def _parse(words: list[str]) -> tuple[int | float, int] | None:
    """The value of one spoken number and how many number words said it, or None when the
    words are not one number ("five five", "nineteen ninety")."""
    total, current, size = 0, 0, 0
    previous = ""  # "unit", "teen", "tens", "hundred", "scale"
    fraction = ""
    in_fraction = False
    for word in words:
        if in_fraction:
            fraction += _DIGIT_WORDS[word]
            continue
        if word == "point":
            in_fraction = True
            continue
        if word in ("and", "a"):
            continue
        size += 1
        if word in _UNITS:
            value = _UNITS[word]
            kind = "teen" if value >= 10 else "unit"
            if previous in ("unit", "teen") or (previous == "tens" and kind == "teen"):
                return None
            current += value
            previous = kind
        elif word in _TENS:
            if previous in ("unit", "teen", "tens"):
                return None
            current += _TENS[word]
            previous = "tens"
        elif word == "hundred":
            if previous == "hundred" or (current % 100 == 0 and current):
                return None
            current = (current or 1) * 100
            previous = "hundred"
        else:
            total += (current or 1) * _SCALES[word]
            current = 0
            previous = "scale"
    number: int | float = total + current
    if fraction:
        number = float(f"{number}.{fraction}")
    return number, size + (1 if fraction else 0)


