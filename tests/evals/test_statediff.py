"""The state diff: generated ids and timestamps are ignored; a wrong amount, a missing row and
an extra row are each caught and described."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from evals.statediff import Row, Snapshot, Window, canonical, diff

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(minutes=1))
OWNER = str(uuid.uuid4())
CONTACT = str(uuid.uuid4())


def _deal(name: str, cents: int, **extra: Any) -> Row:
    row: Row = {"workspace_id": str(uuid.uuid4()), "id": str(uuid.uuid4()), "name": name,
                "value_cents": cents, "currency": "USD", "stage": "lead", "owner_id": OWNER,
                "contact_id": CONTACT, "created_at": (START + timedelta(seconds=5)).isoformat(),
                "updated_at": (START + timedelta(seconds=5)).isoformat(),
                "stage_changed_at": "2025-01-01T00:00:00+00:00", "probability": 10,
                "priority": "medium", "custom_fields": {}}
    row.update(extra)
    return row


def _state(*deals: Row, known: set[str] | None = None) -> dict[str, list[Row]]:
    return canonical(Snapshot({"deals": list(deals)}), known or {OWNER, CONTACT}, WINDOW)


def test_generated_ids_and_timestamps_are_ignored() -> None:
    gold, agent = _state(_deal("Robots", 500_000)), _state(_deal("Robots", 500_000))
    assert diff(gold, agent) == []
    row = gold["deals"][0]
    assert "id" not in row and "workspace_id" not in row
    assert row["created_at"] == "<now>" and row["owner_id"] == OWNER
    assert row["stage_changed_at"] == "2025-01-01T00:00:00+00:00"  # before the trial: kept


def test_a_reference_to_a_new_row_differs_from_a_known_one() -> None:
    stranger = str(uuid.uuid4())
    gold = _state(_deal("Robots", 500_000))
    agent = _state(_deal("Robots", 500_000, contact_id=stranger))
    assert agent["deals"][0]["contact_id"] == "<new>"
    [found] = diff(gold, agent)
    assert found.kind == "changed" and found.columns == ("contact_id",)


def test_wrong_amount() -> None:
    [found] = diff(_state(_deal("Robots", 500_000)), _state(_deal("Robots", 50_000)))
    assert found.kind == "changed" and found.columns == ("value_cents",)
    assert found.describe() == (
        "deals: row (name='Robots') differs: value_cents expected 500000, got 50000")


def test_missing_row() -> None:
    gold = _state(_deal("Robots", 500_000), _deal("Arms", 100))
    [found] = diff(gold, _state(_deal("Robots", 500_000)))
    assert found.kind == "missing" and found.expected is not None
    assert found.expected["name"] == "Arms"
    assert found.describe().startswith("deals: missing row (name='Arms')")


def test_extra_row() -> None:
    agent = _state(_deal("Robots", 500_000), _deal("Spam", 1, stage="won"))
    [found] = diff(_state(_deal("Robots", 500_000)), agent)
    assert found.kind == "extra" and found.actual is not None and found.actual["name"] == "Spam"
    assert '"value_cents": 1' in found.describe()


def test_rows_compare_as_a_multiset() -> None:
    twice = _state(_deal("Robots", 1), _deal("Robots", 1))
    once = _state(_deal("Robots", 1))
    [found] = diff(twice, once)
    assert found.kind == "missing"
    assert diff(twice, _state(_deal("Robots", 1), _deal("Robots", 1))) == []


def test_ignored_columns() -> None:
    gold = canonical(Snapshot({"deals": [_deal("Robots", 1, notes="a")]}), {OWNER, CONTACT},
                     WINDOW, {"deals": ["notes"]})
    agent = canonical(Snapshot({"deals": [_deal("Robots", 1, notes="b")]}), {OWNER, CONTACT},
                      WINDOW, {"deals": ["notes"]})
    assert diff(gold, agent) == []


def test_inside_json_columns_ids_keys_and_times_are_canonical() -> None:
    def meta(key: str, message: str) -> Row:
        return _deal("Robots", 1, custom_fields={
            "idempotency_key": key, "outbound_message_id": message, "owner": OWNER,
            "sent": (START + timedelta(seconds=3)).isoformat(), "note": "kept",
            "history": [{"at": "2020-01-01T00:00:00+00:00", "by": str(uuid.uuid4())}]})

    gold = _state(meta("gold:case:0", str(uuid.uuid4())))
    agent = _state(meta("turn:abc:call_1", str(uuid.uuid4())))
    fields = gold["deals"][0]["custom_fields"]
    assert fields == {"outbound_message_id": "<new>", "owner": OWNER, "sent": "<now>",
                      "note": "kept",
                      "history": [{"at": "2020-01-01T00:00:00+00:00", "by": "<new>"}]}
    assert diff(gold, agent) == []
    [found] = diff(gold, _state(_deal("Robots", 1, custom_fields={"note": "changed"})))
    assert found.columns == ("custom_fields",)
