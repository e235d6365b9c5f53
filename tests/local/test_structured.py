"""The offline model's readers for arguments with a shape (assistant/local/structured.py)."""

from __future__ import annotations

import pytest

from assistant.local.structured import conditions, cron, invoice_lines, time_zone


@pytest.mark.parametrize(("text", "expected"), [
    ("every weekday at 7:30", "30 7 * * 1-5"),
    ("run it on 0 7 * * 1-5 please", "0 7 * * 1-5"),
    ("every monday and thursday at 9am", "0 9 * * 1,4"),
    ("daily at 18:00", "0 18 * * *"),
    ("on fridays at 4pm", "0 16 * * 5"),
    ("every morning", "0 9 * * *"),
    ("hourly", "0 * * * *"),
    ("schedule the Blog Writer", None),
])
def test_a_schedule_becomes_cron(text: str, expected: str | None) -> None:
    assert cron(text, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("at 7:30 Berlin time", "Europe/Berlin"),
    ("9am New York time", "America/New_York"),
    ("in Europe/Paris", "Europe/Paris"),
    ("the Monday time slot", None),
])
def test_a_time_zone_is_named_by_its_city(text: str, expected: str | None) -> None:
    assert time_zone(text, text) == expected


def test_invoice_lines_with_quantities_and_a_single_priced_line() -> None:
    assert invoice_lines("2 workshops at 1,200 EUR each", "") == [
        {"description": "workshops", "quantity": 2, "unit_price": 1200}]
    assert invoice_lines("one premium support package, $199", "") == [
        {"description": "premium support package", "quantity": 1, "unit_price": 199}]


def test_conditions_on_contacts() -> None:
    assert conditions("contacts with a lead score of at least 80 tagged vip") == [
        {"field": "lead_score", "operator": "gte", "value": 80},
        {"field": "tags", "operator": "has_tag", "value": "vip"}]
    assert conditions("minus 20 if a contact has no email set") == [
        {"field": "email", "operator": "is_not_set"}]
