"""Values said aloud (`assistant.local.spoken`): the phone channel's transcripts are written as
the argument readers read them, and every other word is left alone."""

from __future__ import annotations

import pytest

from assistant.local.model import LocalModel
from assistant.local.spoken import written
from tests.local.test_protocol import _converse, offline  # noqa: F401  (the model fixture)


@pytest.mark.parametrize(("said", "text"), [
    ("fifteen hundred dollars", "1500 dollars"),
    ("two thousand five hundred euros", "2500 euros"),
    ("a hundred and fifty dollars", "150 dollars"),
    ("twelve k", "12k"),
    ("four point five k", "4.5k"),
    ("15 grand", "15k"),
    ("a forty five minute call", "a 45 minute call"),
    ("a five minute call", "a 5 minute call"),
    ("half an hour", "30 minutes"),
    ("an hour and a half", "90 minutes"),
    ("thirty percent off", "30 percent off"),
    ("in twenty days", "in 20 days"),
    ("next tuesday at three pm", "next tuesday at 3 pm"),
    ("at three thirty", "at 3:30"),
    ("ten a m on friday", "10 am on friday"),
    ("at nine o'clock", "at 9:00"),
    ("at five tomorrow", "at 5 tomorrow"),
    ("december fifteenth", "december 15th"),
    ("the twenty first of december", "the 21st of december"),
    ("marta at brightline dot com", "marta@brightline.com"),
    ("sam dot lee at acme dot co dot uk", "sam.lee@acme.co.uk"),
    ("plus one four one five five five five zero one nine two", "+14155550192"),
    ("plus one 415 555 0192", "+14155550192"),
    ("five five five, oh one nine two, double two", "555019222"),
])
def test_spoken_values_are_written(said: str, text: str) -> None:
    assert written(said) == text


@pytest.mark.parametrize("text", [
    "Five ways to cut churn",  # a lone number word without a unit is a title's word
    "one of the tasks is done",
    "stay at five star hotels",  # "at five" is a time only before a day or the end
    "nineteen ninety nine",  # not one number
    "five five",  # nor these: too few digits for a phone
    "it's 'twenty five minutes' in the title",  # quoted text is as written
    "meet Ada at the Acme office",  # "at" without a spoken address
    "order 1234 5678",
    "",
])
def test_everything_else_is_left_alone(text: str) -> None:
    assert written(text) == text


def test_a_phone_transcript_fills_the_fields_it_says(offline: LocalModel) -> None:  # noqa: F811
    _, planned = _converse(
        offline, "uh add a contact marta jovanovic email marta at brightline dot com phone "
                 "plus one four one five five five five zero one nine two", {})
    assert planned is not None
    name, args = planned
    assert name == "create_contact"
    assert args["email"] == "marta@brightline.com" and args["phone"] == "+14155550192"
    _, planned = _converse(offline, "log a forty five minute call with Noah Garcia, "
                                    "he wants a demo next week",
                           {"search_contacts": [{"id": "c1", "first_name": "Noah",
                                                 "last_name": "Garcia"}]})
    assert planned is not None and planned[1].get("duration_minutes") == 45, planned
    _, planned = _converse(offline, "create a deal called Brightline pilot worth fifteen "
                                    "hundred dollars", {})
    assert planned is not None and planned[1].get("value") == 1500, planned
