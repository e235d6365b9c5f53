"""Arguments read for a tool's fields (`assistant.local.arguments`): which words fill which
field, and which fill none."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assistant.local import arguments as args_of
from assistant.local.model import CREATING, _with_aliases
from assistant.local.select import profile
from tools.catalog import load_catalog

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _args(tool: str, text: str) -> dict[str, object]:
    """What the offline model reads for this tool: its nouns and whether it makes something,
    as `LocalModel` passes them."""
    found = load_catalog().get(tool)
    assert found is not None
    nouns = _with_aliases(profile(found).nouns)
    return args_of.extract(found.args_model, text, NOW, nouns,
                           creating=tool.split("_")[0] in CREATING)


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


def test_an_expiry_in_days_is_no_date_too() -> None:
    said = _args("share_document", "share it with a link that expires in a week")
    assert said.get("expires_in_days") == 7 and "expires_at" not in said


@pytest.mark.parametrize(("tool", "text", "expected"), [
    ("create_topic_idea", "add a blog idea about onboarding checklists aimed at ops managers",
     {"title": "onboarding checklists", "target_audience": "ops managers"}),
    ("install_agent_template", "install research-analyst from the agent marketplace",
     {"slug": "research-analyst"}),
    ("create_automation_rule", "automation 'Thank-you SMS': when a deal is won, text the contact",
     {"name": "Thank-you SMS", "trigger": "deal_won", "action": "send_sms"}),
    ("query_audit_log", "everything that got deleted since Nov 1",
     {"action": "delete", "since": "2026-11-01T00:00:00Z"}),
    ("set_preference", "be more formal", {"tone": "formal"}),
    ("list_tasks", "what does Sam still have open", {"open_only": True, "query": "Sam"}),
    ("get_article_analytics", "how many views did our posts get in october?",
     {"start": "2026-10-01", "end": "2026-10-31"}),
    ("create_customer", "Set up Harborview Clinics as a customer - billing goes to ap@hc.com",
     {"name": "Harborview Clinics", "email": "ap@hc.com"}),
    ("create_project", "kick off a project called Ledger integration for Kramerica, budget 30k",
     {"name": "Ledger integration", "budget": 30000}),
    ("remember_fact", "remember this for the whole team: discounts over 15% need CFO sign-off",
     {"fact": "discounts over 15% need CFO sign-off", "scope": "workspace"}),
])
def test_fields_read_from_everyday_requests(tool: str, text: str,
                                            expected: dict[str, object]) -> None:
    assert _args(tool, text) == expected


@pytest.mark.parametrize(("tool", "text", "expected"), [
    # a currency named without an amount
    ("create_customer", "add Fenwick Labs as a customer, they pay in EUR",
     {"name": "Fenwick Labs", "currency": "EUR"}),
    # what has happened lies in the past
    ("record_payment", "Initech paid 2,400 on Monday", {"amount": 2400, "paid_on": "2026-11-23"}),
    # the angle said inline, the audience after it
    ("create_topic_idea", "blog idea: 'Quiet quitting in sales', the angle is what managers "
     "miss, written for sales leaders",
     {"title": "Quiet quitting in sales", "angle": "what managers miss",
      "target_audience": "sales leaders"}),
    # a field's label, and its words taken whole
    ("cancel_invoice", "void INV-00040 - reason: duplicate of INV-00039, sent twice",
     {"reason": "duplicate of INV-00039, sent twice"}),
    # a description after a short head and a comma
    ("submit_feedback", "small bug, the invoice preview cuts off long addresses",
     {"type": "bug", "description": "the invoice preview cuts off long addresses"}),
    # a statement names no title; field words are no title
    ("create_campaign", "let's set up a draft email campaign with a budget of 2k",
     {"type": "email", "budget": 2000}),
    # the text a creation says, after "says:"
    ("create_creator_item", "draft a newsletter titled 'Winter notes' that says: We ship "
     "twice as fast now. Thanks for sticking with us.",
     {"type": "newsletter", "title": "Winter notes",
      "text": "We ship twice as fast now. Thanks for sticking with us"}),
    # a key's value
    ("remember_shared", "save to shared memory under renewal_owner: Lee owns all renewals",
     {"key": "renewal_owner", "value": "Lee owns all renewals"}),
    # a text that ends on values keeps them
    ("remember_fact", "remember for everyone: the office closes dec 24",
     {"fact": "the office closes dec 24", "scope": "workspace"}),
    # "remind <name> to ..." is the reminder
    ("notify_user", "remind vic to send the board pack before 4pm today",
     {"type": "reminder", "title": "send the board pack before 4pm today"}),
])
def test_more_fields_read_from_everyday_requests(tool: str, text: str,
                                                 expected: dict[str, object]) -> None:
    assert _args(tool, text) == expected


def test_a_search_keeps_the_words_that_join_what_it_looks_for() -> None:
    assert _args("search_knowledge", "look up notice period for enterprise plans in the kb") \
        == {"query": "notice period for enterprise plans"}


@pytest.mark.parametrize(("tool", "text", "expected"), [
    # of two dates, the deadline; a value after an article stays in the title
    ("create_task", "Sam needs to finish the Q2 budget review by December 12",
     {"title": "finish the Q2 budget review", "due_date": "2026-12-12"}),
    ("create_task", "new task: draft the 2027 roadmap by Friday",
     {"title": "draft the 2027 roadmap", "due_date": "2026-11-27"}),
    # a day said apart from the title is its deadline, not part of it
    ("create_task", "call Bob tomorrow about pricing",
     {"title": "call Bob about pricing", "due_date": "2026-11-26"}),
    # choices listed in a pattern; "Black Friday" is a name, not a date
    ("list_phone_numbers", "which numbers can send SMS?", {"capability": "sms"}),
    ("create_campaign", "New email campaign: Black Friday deals, budget $500",
     {"name": "Black Friday deals", "type": "email", "budget": 500, "currency": "USD"}),
    # a bug said as a label is a bug
    ("submit_feedback", "bug: the export button does nothing on Safari",
     {"type": "bug", "description": "the export button does nothing on Safari"}),
])
def test_titles_dates_and_choices(tool: str, text: str, expected: dict[str, object]) -> None:
    assert _args(tool, text) == expected


@pytest.mark.parametrize(("tool", "text", "expected"), [
    # a summary reported in the third person; a deadline in it is no date the call happened
    ("log_interaction", "just got off a call with Freya, 25 minutes she wants the enterprise "
     "quote by friday", {"type": "call", "duration_minutes": 25,
                         "summary": "she wants the enterprise quote by friday"}),
    # a memory value said after "value", whole
    ("remember_shared", "save to shared memory: key banned_words, value 'synergy, leverage, "
     "disrupt'", {"key": "banned_words", "value": "synergy, leverage, disrupt"}),
    ("update_knowledge_item", "move the Brand Voice doc into the Help Center collection",
     {"collection": "Help Center"}),
    # a change's note, said as what someone did
    ("update_prospect_stage", "move the Dunder opportunity to negotiation, they asked for a "
     "redline of the MSA", {"stage": "negotiation", "note": "they asked for a redline of the MSA"}),
    # a description after a name's dash, or after "the goal is"
    ("create_epic", "new epic 'Mobile app beta' - the goal is to get iOS testers onboarded",
     {"name": "Mobile app beta", "description": "get iOS testers onboarded"}),
    ("create_epic", "Create an epic called Mobile app beta; the goal is to get the iOS app into "
     "TestFlight", {"name": "Mobile app beta", "description": "get the iOS app into TestFlight"}),
    # what happened names nothing: the name is asked for
    ("create_prospect", "add a prospect worth about 9k we met them at the trade show",
     {"value": 9000}),
    ("set_shortcut", "make /ar a shortcut that shows me every overdue invoice",
     {"command": "/ar", "expansion": "show me every overdue invoice"}),
    # an automation's action settings
    ("create_automation_rule", "Whenever a deal is won, automatically create a task 'Send "
     "welcome pack' due in 2 days.", {"trigger": "deal_won", "action": "create_task",
                                      "action_config": {"title": "Send welcome pack",
                                                        "due_in_days": 2}}),
    ("remember_fact", "Remember for everyone in the company that our fiscal year starts in "
     "February.", {"scope": "workspace", "fact": "our fiscal year starts in February"}),
    ("get_deals_closing_soon", "which deals close in the next 2 weeks? leave out the overdue "
     "ones", {"include_overdue": False, "days": 14}),
    # a keyword at the end of a name is part of it
    ("create_lead_scoring_rule", "Add a lead scoring rule named Director title: +15 points if "
     "the job title contains Director", {"name": "Director title", "field": "job_title",
                                         "operator": "contains", "value": "Director",
                                         "points": 15}),
    # a request after a comma is no reason; an "!" is part of what is said
    ("cancel_invoice", "INV-00040 shouldn't exist, please cancel it", {}),
    ("post_team_message", "post in #sales: Oscorp expansion is signed, great work everyone!",
     {"content": "Oscorp expansion is signed, great work everyone!"}),
    # a search: the words after a name, and the sentence that asks
    ("search_knowledge", "A customer asked about single sign-on. Could you search our "
     "knowledge base for SSO setup steps?", {"query": "SSO setup steps"}),
    ("search_knowledge", "what's our refund window for annual plans? check the kb",
     {"query": "refund window for annual plans"}),
    ("update_contact", "Jonas got promoted, so please update his job title to COO",
     {"job_title": "COO"}),
    # a tool with no date field keeps the day in its words
    ("notify_user", "send Vic an in-app notification: Timesheets are due Friday",
     {"title": "Timesheets are due Friday"}),
    ("schedule_agent", "schedule Blog Writer to draft a post from the top topic idea every "
     "Monday at 9am Paris time", {"task": "draft a post from the top topic idea",
                                  "cron": "0 9 * * 1", "timezone": "Europe/Paris"}),
    ("create_sprint", "create sprint 16 running december 7th to december 18th",
     {"name": "sprint 16", "start_date": "2026-12-07", "end_date": "2026-12-18"}),
    ("create_segment", "a segment called Logistics leads: contacts with status lead whose "
     "company contains logistics", {"name": "Logistics leads", "rules": {
         "match": "all", "conditions": [
             {"field": "status", "operator": "eq", "value": "lead"},
             {"field": "company", "operator": "contains", "value": "logistics"}]}}),
    # a name ends where its values begin
    ("create_deal", "create a deal called zenith freight pilot worth 18500 dollars closing "
     "december 15th", {"title": "zenith freight pilot", "value": 18500, "currency": "USD",
                       "expected_close_date": "2026-12-15"}),
])
def test_what_a_careful_reader_takes_from_each_phrase(tool: str, text: str,
                                                      expected: dict[str, object]) -> None:
    assert _args(tool, text) == expected


def test_a_morning_expense_happened_today_and_is_no_part_of_its_description() -> None:
    said = _args("submit_expense", "file an expense for airport parking from this morning, $42.50")
    assert said["spent_on"] == "2026-11-25" and said["description"] == "airport parking"
    assert said["amount"] == 42.5
