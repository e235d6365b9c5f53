"""The offline model's readers for arguments with a shape (assistant/local/structured.py)."""

from __future__ import annotations

import pytest

from assistant.local import structured
from assistant.local.structured import (
    READERS,
    TEXT_READERS,
    answer_length,
    answer_tone,
    audience,
    change_kind,
    completion_target,
    conditions,
    cron,
    expiry_days,
    fact_scope,
    fits,
    invoice_lines,
    run_input,
    shortcut_command,
    shortcut_expansion,
    slug,
    sprint_goals,
    time_zone,
    window_days,
)


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


def _blanked(text: str, *values: str) -> str:
    """`text` as the readers get it masked: each value (a date, an email) blanked by spaces."""
    for value in values:
        text = text.replace(value, " " * len(value))
    return text


@pytest.mark.parametrize(("text", "expected"), [
    ("create Sprint 16, goal: ship the usage dashboard", ["Ship the usage dashboard"]),
    ("goals: fix onboarding bugs and launch the referral page",
     ["Fix onboarding bugs", "Launch the referral page"]),
    ("goals: migrate billing; clean up the backlog", ["Migrate billing", "Clean up the backlog"]),
    ("the goal is to improve search and filters", ["Improve search and filters"]),
    ("goal: reach 40% activation. Starts Monday", ["Reach 40% activation"]),
    ("create Sprint 16 focused on our goals for Q1", None),
    ("plan a sprint for next week", None),
])
def test_sprint_goals_are_read_after_goal_or_goals(text: str,
                                                   expected: list[str] | None) -> None:
    assert sprint_goals(text, text) == expected


def test_a_value_after_a_goal_belongs_to_the_sprint() -> None:
    text = "goal: ship the usage dashboard, from June 2 to June 13"
    masked = _blanked(text, "June 2", "June 13")
    assert sprint_goals(text, masked) == ["Ship the usage dashboard"]


@pytest.mark.parametrize(("text", "expected"), [
    ("install the research-analyst template", "research-analyst"),
    ("install lead-scout from the marketplace", "lead-scout"),
    ("set up the template inbox-triage", "inbox-triage"),
    ("change the post's slug to pricing-explained", "pricing-explained"),
    ("install the Lead Scout template", None),
    ("draft a blog post about follow-up emails", None),
    ("draft a post from the case-study template", None),
    ("install the agent from lead-scout@acme.io", None),
    ("install https://market.example/lead-scout", None),
])
def test_a_slug_is_read_where_one_is_said(text: str, expected: str | None) -> None:
    assert slug(text, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("run the grid with jane@x.io as the input email", {"email": "jane@x.io"}),
    ("run it with email maria@contoso.com", {"email": "maria@contoso.com"}),
    ("input email: sam@fabrikam.com", {"email": "sam@fabrikam.com"}),
    ("run the enrichment grid with company Acme Corp and domain acme.com",
     {"company": "Acme Corp", "domain": "acme.com"}),
    ("run the workflow with input: Acme renewal, signed Dec 3, wants a call",
     "Acme renewal, signed Dec 3, wants a call"),
    ("run the weekly content workflow on: the Q3 launch recap.", "the Q3 launch recap"),
    ("input: 'Kestrel onboarding'", "Kestrel onboarding"),
    ('run that grid with input {"email": "jo@acme.com"}', {"email": "jo@acme.com"}),
    ("run the lead enrichment grid for Ada", None),
    ("start the workflow with the company", None),
    ("use the Q3 recap as input for the workflow", None),
])
def test_an_input_is_pairs_for_a_grid_or_text_for_a_workflow(
        text: str, expected: dict[str, str] | str | None) -> None:
    assert run_input(text, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("save an idea: why spreadsheets break, aimed at founders", "founders"),
    ("topic idea for an audience of ops managers", "ops managers"),
    ("a post about cash flow targeting CFOs", "CFOs"),
    ("audience: the finance team", "finance team"),
    ("new idea: grids vs zapier, audience ops leads", "ops leads"),
    ("topic idea: AI agents vs Zapier, angle: cost, target CTOs", "CTOs"),
    ("add a blog idea about onboarding checklists for ops managers", None),
    ("save an idea about our audience growth", None),
])
def test_a_target_audience_is_read_when_said_as_one(text: str, expected: str | None) -> None:
    assert audience(text, text) == expected


@pytest.mark.parametrize(("text", "command", "expansion"), [
    ("make /overdue a shortcut for: show me overdue invoices", "/overdue",
     "show me overdue invoices"),
    ("/pipe should mean 'show my pipeline'", "/pipe", "show my pipeline"),
    ("shortcut /w = weekly report", "/w", "weekly report"),
    ("make /pipeline show my open deals by stage", "/pipeline", "show my open deals by stage"),
    ("save 'show overdue invoices' as /overdue", "/overdue", "show overdue invoices"),
    ("when I type /cash, give me this month's finance summary", "/cash",
     "give me this month's finance summary"),
    ("/weekly should now show tasks due this week — update it", "/weekly",
     "show tasks due this week"),
    ("remove the /pipeline shortcut", "/pipeline", None),
    ("change /overdue so it also includes overdue tasks", "/overdue", None),
    ("read https://acme.example/pricing and/or the 12/3 notes", None, None),
])
def test_a_shortcut_and_what_it_sends(text: str, command: str | None,
                                      expansion: str | None) -> None:
    assert shortcut_command(text, text) == command
    assert shortcut_expansion(text, text) == expansion


@pytest.mark.parametrize(("text", "expected"), [
    ("share it, the link should expire after 7 days", 7),
    ("give me a link valid for 2 weeks", 14),
    ("share the deck with a 30-day link", 30),
    ("remember that Acme prefers email, forget it after a month", 30),
    ("expiring in 30 days", 30),
    ("share the webinar slides for 3 days", 3),
    ("a share link for the script, comments allowed, 7 days", 7),
    ("block a week for the launch doc", None),
    ("remember that quotes are valid for 30 days", None),
    ("share the deck with a password", None),
])
def test_an_expiry_is_read_only_when_tied_to_expiring(text: str, expected: int | None) -> None:
    assert expiry_days(text, text) == expected


def test_an_expiry_is_read_where_the_dates_took_it_too() -> None:
    """("arguments" then drops the date: share_document takes one or the other.)"""
    text = "share it with a link that expires in a week"
    assert expiry_days(text, _blanked(text, "in a week")) == 7


@pytest.mark.parametrize(("text", "expected"), [
    ("who deleted the Acme deal?", "delete"),
    ("what got deleted this week", "delete"),
    ("everything created since Monday", "create"),
    ("which records were updated yesterday", "update"),
    ("what emails were sent today", "send"),
    ("what did Sam change yesterday?", None),
    ("who removed Vic from the workspace?", None),
    ("what was created or deleted today", None),
])
def test_the_kind_of_change_an_audit_question_asks_for(text: str, expected: str | None) -> None:
    assert change_kind(text, text) == expected


def test_the_kind_of_change_is_read_only_for_a_free_text_action() -> None:
    assert "action" not in READERS and TEXT_READERS["action"] is change_kind


@pytest.mark.parametrize(("text", "expected"), [
    ("deals closing in the next 2 weeks", 14),
    ("deals closing in the next two weeks", 14),
    ("next 10 days", 10),
    ("usage over the last month", 30),
    ("usage this past week", 7),
    ("deals closing within a month", 30),
    ("which deals close this month?", None),
    ("deals closing next week", None),
    ("usage in the coming weeks", None),
])
def test_a_window_of_days(text: str, expected: int | None) -> None:
    assert window_days(text, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("remember for the whole team that we never discount more than 15%", "workspace"),
    ("note for everyone: our fiscal year starts in April", "workspace"),
    ("company-wide: invoices go out on the 1st", "workspace"),
    ("remember this about me: I prefer meetings before noon", "me"),
    ("remember that I'm the contact for the whole team", None),
    ("remember the budget for the company retreat is 5k", None),
    ("remember that our fiscal year starts in April", None),
])
def test_the_scope_of_a_fact(text: str, expected: str | None) -> None:
    assert fact_scope(text, text) == expected


@pytest.mark.parametrize(("text", "verbosity", "tone"), [
    ("keep your answers short", "brief", None),
    ("be more concise", "brief", None),
    ("shorter answers please", "brief", None),
    ("less detail please, keep it to one line", "brief", None),
    ("give me more detail", "detailed", None),
    ("longer answers", "detailed", None),
    ("be more casual", None, "casual"),
    ("less formal please", None, "casual"),
    ("drop the formal tone", None, "casual"),
    ("be more formal", None, "formal"),
    ("be friendlier", None, "friendly"),
    ("sound professional", None, "professional"),
    ("answer in French", None, None),
    ("add the Weekly content brief to my favourites", None, None),
    ("short answers but in more detail", None, None),
    ("friendly but formal", None, None),
])
def test_how_answers_should_sound(text: str, verbosity: str | None, tone: str | None) -> None:
    assert answer_length(text, text) == verbosity
    assert answer_tone(text, text) == tone


@pytest.mark.parametrize(("text", "expected"), [
    ("create an epic for the billing revamp, on target at 90% done", 90),
    ("90% complete counts as on target", 90),
    ("epic Mobile launch with a completion target of 80%", 80),
    ("a 75% target", 75),
    ("new epic Billing v2, target: 85%", 85),
    ("epic to cut churn by 20%", None),
    ("epic Billing v2", None),
])
def test_an_epics_completion_target(text: str, expected: int | None) -> None:
    assert completion_target(text, text) == expected


@pytest.mark.parametrize(("value", "schema", "expected"), [
    ("delete", {"type": "string"}, True),
    ("delete", {"type": "string", "enum": ["send_email", "create_task"]}, False),
    ("delete", {"type": "integer"}, False),
    ({"email": "jane@x.io"}, {"type": "object"}, True),
    ({"email": "jane@x.io"}, {"type": "string"}, False),
    (400, {"type": "integer", "minimum": 1, "maximum": 365}, False),
    (True, {"type": "integer"}, False),
])
def test_a_read_value_fits_the_fields_schema(value: object, schema: dict[str, object],
                                            expected: bool) -> None:
    assert fits(value, schema) is expected


@pytest.mark.parametrize(("text", "lines"), [
    ('Invoice Tailspin for 12 x "Implementation hours" at $150 each',
     [{"description": "Implementation hours", "quantity": 12, "unit_price": 150}]),
    ("bill Hooli with one line for Implementation hours, 12 of them at $150 each",
     [{"description": "Implementation hours", "quantity": 12, "unit_price": 150}]),
    ("Invoice Wayne Foods: one line, 'Robot arm calibration', 12 hours at $150/hr",
     [{"description": "Robot arm calibration", "quantity": 12, "unit_price": 150}]),
    ("a strategy workshop, 2 days at $1,800",
     [{"description": "strategy workshop", "quantity": 2, "unit_price": 1800}]),
])
def test_invoice_lines_name_what_was_done_where_it_is_said(
        text: str, lines: list[dict[str, object]]) -> None:
    assert structured.invoice_lines(text, text) == lines


@pytest.mark.parametrize(("action", "text", "settings"), [
    ("create_task", "when a deal is lost create a task to call the customer within 3 days",
     {"title": "call the customer", "due_in_days": 3}),
    ("create_task", "whenever an invoice goes overdue create a task 'Chase payment' due in 1 week",
     {"title": "Chase payment", "due_in_days": 7}),
    ("add_tag", "when a contact is created tag it vip", {"tag": "vip"}),
    ("send_sms", 'when a lead comes in send an sms saying "Thanks, we will call you soon"',
     {"body": "Thanks, we will call you soon"}),
    ("call_webhook", "when a deal is won call https://hooks.example.com/won.",
     {"url": "https://hooks.example.com/won"}),
    ("create_task", "when a deal is won do something", None),
])
def test_an_automations_action_settings_are_read_as_said(
        action: str, text: str, settings: dict[str, object] | None) -> None:
    assert structured.action_settings(action, text) == settings


@pytest.mark.parametrize(("text", "conditions"), [
    ("contacts with status lead", [{"field": "status", "operator": "eq", "value": "lead"}]),
    ("whose status is still lead", [{"field": "status", "operator": "eq", "value": "lead"}]),
    ("+15 points when a contact has the vip tag",
     [{"field": "tags", "operator": "has_tag", "value": "vip"}]),
])
def test_conditions_said_with_and_has(text: str, conditions: list[dict[str, object]]) -> None:
    assert structured.conditions(text) == conditions
