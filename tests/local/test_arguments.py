"""Arguments read for a tool's fields (`assistant.local.arguments`): which words fill which
field, and which fill none."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assistant.local import arguments as args_of
from tools.catalog import load_catalog

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _args(tool: str, text: str) -> dict[str, object]:
    found = load_catalog().get(tool)
    assert found is not None
    creating = tool.split("_")[0] in ("create", "add", "submit", "log", "reply", "save")
    return args_of.extract(found.args_model, text, NOW, creating=creating)


@pytest.mark.parametrize(("text", "amount"), [
    ("1,500", 1500), ("38.50", 38.5), ("a payment of 4350.50 on INV-00036", 4350.5),
    ("$1,200", 1200), ("2.5k", 2500),
    ("10 hours on Dec 3", None), ("for 20 seats", None), ("in 2026", None),
    ("INV-00036", None), ("at 3pm tomorrow", None),
])
def test_a_bare_number_is_an_amount_only_where_nothing_else_fits(
        text: str, amount: float | None) -> None:
    assert _args("record_payment", text).get("amount") == amount


def test_a_written_cron_is_not_cut_to_its_first_field() -> None:
    said = _args("schedule_agent", "schedule it with cron 0 7 * * 1-5 in America/New_York")
    assert said["cron"] == "0 7 * * 1-5" and said["timezone"] == "America/New_York"


@pytest.mark.parametrize(("tool", "text"), [
    ("create_topic_idea", "save a topic idea for the blog"),
    ("create_collection", "make a new knowledge collection"),
    ("submit_feedback", "I want to report a bug"),
])
def test_words_that_only_name_a_kind_of_record_are_no_title(tool: str, text: str) -> None:
    said = _args(tool, text)
    assert not ({"title", "name"} & said.keys()), said


def test_an_optional_title_beside_the_text_is_kept_only_when_said_as_one() -> None:
    reply = _args("reply_to_conversation", "reply to Leo Garcia: the contract is on its way")
    assert reply == {"body": "the contract is on its way"}
    titled = _args("reply_to_conversation",
                   "reply to Leo with subject 'Contract': it is on its way")
    assert titled.get("subject") == "Contract"
