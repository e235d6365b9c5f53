"""The offline model through the real runtime and LiteLLM: tool calls, then an answer."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.local.model import LocalModel
from assistant.runtime import Runtime
from assistant.services import build_deps
from assistant.settings import RuntimeSettings
from store.db import Database
from store.models.core import MemberRole
from store.repositories.crm import ContactRepository
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace
from tests.runtime.conftest import new_conversation
from tools.catalog import load_catalog
from tools.context import Caller
from tools.knowledge.embedder import LocalEmbedder


@pytest.fixture
def runtime(database: Database) -> Runtime:
    return Runtime(build_deps(database, settings=RuntimeSettings()))


async def turn(runtime: Runtime, caller: Caller, conversation: Any, text: str) -> list[Any]:
    async with await runtime.send(caller, conversation, text) as running:
        return await running.collect()


async def _with_ada(make_workspace: MakeWorkspace, database: Database,
                    ) -> tuple[Any, Caller, Any]:
    """A workspace with one contact, Ada Lovelace; its owner; a new conversation."""
    ws = await make_workspace()
    async with scoped_session(database.sessions, ws.scope) as session:
        await ContactRepository(session, ws.scope).create(
            first_name="Ada", last_name="Lovelace", email="ada@engines.io")
    caller = Caller.for_member(ws.workspace_id, ws.user_id, MemberRole.OWNER)
    return ws, caller, await new_conversation(database, ws)


async def test_default_model_is_offline_and_calls_tools(
        runtime: Runtime, make_workspace: MakeWorkspace, database: Database) -> None:
    _, caller, conversation = await _with_ada(make_workspace, database)
    events = await turn(runtime, caller, conversation, "find Ada Lovelace")
    started = [e for e in events if e.type == "tool.started"]
    assert [e.tool for e in started] == ["search_contacts"]
    completed = [e for e in events if e.type == "message.completed"]
    assert "Ada Lovelace" in completed[-1].content
    about = await turn(runtime, caller, conversation, "are you a large language model?")
    text = [e for e in about if e.type == "message.completed"][-1].content
    assert "not a large language model" in text


async def test_a_lookup_then_an_action_runs_the_action_once_then_answers(
        runtime: Runtime, make_workspace: MakeWorkspace, database: Database) -> None:
    """"Add a note to Ada Lovelace": search, then update, then words; the update is never
    planned again from the earlier lookup (it used to repeat until the step limit)."""
    ws, caller, conversation = await _with_ada(make_workspace, database)
    events = await turn(runtime, caller, conversation, "Ada Lovelace got promoted to CTO")
    started = [e.tool for e in events if e.type == "tool.started"]
    assert "search_contacts" in started and started[-1] == "update_contact", started
    assert started.count("update_contact") == 1, started
    answer = [e for e in events if e.type == "message.completed"][-1].content
    assert answer == "That needs your approval first; I've asked for it.", answer
    required = next(e for e in events if e.type == "approval.required")
    async with await runtime.decide(caller, required.pending_action_id, approve=True) as run:
        after = await run.collect()
    assert [e.tool for e in after if e.type == "tool.started"] == ["update_contact"]  # once
    final = [e for e in after if e.type == "message.completed"][-1].content
    assert final.startswith("Updated"), final
    async with scoped_session(database.sessions, ws.scope) as session:
        contacts = (await ContactRepository(session, ws.scope).list()).items
    assert [c.job_title for c in contacts] == ["CTO"]


@pytest.fixture(scope="module")
def offline() -> LocalModel:
    return LocalModel(load_catalog(), LocalEmbedder().embed_blocking)


@pytest.mark.parametrize(("text", "tool"), [
    ("show my open deals over 50k", "search_deals"),  # "open" here is not "open a deal"
    ("open a deal for Acme, $12k", "create_deal"),
    ("list the open tasks", "list_tasks"),
])
def test_listing_and_creating_are_read_apart(offline: LocalModel, text: str, tool: str) -> None:
    choice = offline.choose(text, list(offline.registry))
    assert choice is not None and choice.tool.name == tool


def _converse(model: LocalModel, text: str, records: dict[str, Any],
              ) -> tuple[list[str], tuple[str, dict[str, Any]] | None]:
    """Run one request against canned lookup results (each list tool returns its records);
    the lookups made, and the call the model finally plans (or None when it asks)."""
    import json

    messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
    offered = [t.name for t in model.registry]
    looked: list[str] = []
    for _ in range(8):
        reply = model.respond(messages, offered)
        if not reply.calls:
            return looked, None
        call_id, name, args = reply.calls[0]
        if not call_id.startswith("lookup__"):
            return looked, (name, args)
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, n, a in reply.calls]})
        for call_id, name, args in reply.calls:
            looked.append(name)
            query = str(args.get("query") or args.get("text") or "").lower()
            canned = records.get(name, [])
            result = canned if isinstance(canned, dict) else {  # (one record, as it is)
                name.split("_", 1)[1]: [r for r in canned if query in json.dumps(r).lower()]}
            messages.append({"role": "tool", "tool_call_id": call_id, "content": json.dumps(
                {"ok": True, "result": result})})
    raise AssertionError("the model kept looking things up")


def test_a_name_that_is_no_record_of_the_first_kind_is_tried_as_another(
        offline: LocalModel) -> None:
    """"rename Task Router": the words read as a task first, but no task is called that; the
    same action on another kind (an agent) is tried, and the record decides."""
    records = {"list_tasks": [{"id": "00000000-0000-0000-0000-00000000000a",
                               "title": "Plan the offsite agenda"}],
               "list_agents": [{"id": "00000000-0000-0000-0000-00000000000b",
                                "name": "Task Router"},
                               {"id": "00000000-0000-0000-0000-00000000000c",
                                "name": "Lead Scout"}]}
    looked, call = _converse(offline, "rename Task Router to Task Dispatcher", records)
    assert "list_tasks" in looked and looked[-1] == "list_agents", looked
    assert call == ("update_agent", {"agent_id": "00000000-0000-0000-0000-00000000000b",
                                     "name": "Task Dispatcher"})
    # With no agent of that name either, it asks rather than guessing.
    looked, call = _converse(offline, "rename Task Router to Task Dispatcher",
                             {"list_tasks": records["list_tasks"]})
    assert call is None


def _ids(*names: str) -> list[dict[str, Any]]:
    return [{"id": f"00000000-0000-0000-0000-{i:012d}", "name": n} for i, n in enumerate(names)]


def test_a_list_of_records_is_named_in_full_and_the_coordinator_by_its_word(
        offline: LocalModel) -> None:
    agents = _ids("Inbox Triage", "Task Router", "Meeting Notetaker", "Lead Scout")
    _, call = _converse(offline, "set up an agent team called Night Shift: Lead Scout "
                        "coordinates, Task Router and Meeting Notetaker are the members",
                        {"list_agents": agents})
    assert call is not None and call[0] == "create_agent_team"
    assert call[1]["coordinator_agent_id"] == agents[3]["id"]
    assert call[1]["member_agent_ids"] == [agents[1]["id"], agents[2]["id"]]


def test_a_name_in_lower_case_is_found_on_a_later_page(offline: LocalModel) -> None:
    """Lookups read every record a page at a time until the name said is among them."""
    import json

    people = [{"id": f"00000000-0000-0000-0000-{i:012d}", "name": f"Person {i}"}
              for i in range(120)] + [{"id": "00000000-0000-0000-0000-000000000999",
                                       "name": "Felix Moreau"}]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "delete felix moreau, dupe"}]
    offered = [t.name for t in offline.registry]
    for _ in range(10):
        reply = offline.respond(messages, offered)
        assert reply.calls, reply.text
        call_id, name, args = reply.calls[0]
        if not call_id.startswith("lookup__"):
            assert (name, args) == ("delete_contact",
                                    {"contact_id": "00000000-0000-0000-0000-000000000999"})
            return
        found = people  # (a search that does not narrow by the name: every page is read)
        start = int(args.get("cursor") or 0)
        page = found[start:start + 50]
        more = start + 50 < len(found)
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function",
             "function": {"name": name, "arguments": json.dumps(args)}}]})
        messages.append({"role": "tool", "tool_call_id": call_id, "content": json.dumps(
            {"ok": True, "result": {"contacts": page, "has_more": more,
                                    "next_cursor": str(start + 50) if more else None}})})
    raise AssertionError("never found")


def test_an_agents_schedule_is_found_through_the_agent(offline: LocalModel) -> None:
    agents = _ids("CRM Data Cleaner", "Lead Scout")
    detail = {"agent": agents[0], "schedules": [{"id": "00000000-0000-0000-0000-0000000000aa",
                                                 "cron": "0 2 * * *"}]}
    looked, call = _converse(offline, "stop the CRM Data Cleaner's nightly schedule",
                             {"list_agents": agents, "get_agent": detail})
    assert "get_agent" in looked
    assert call == ("unschedule_agent", {"schedule_id": "00000000-0000-0000-0000-0000000000aa"})


def test_an_answer_completes_the_tool_the_question_was_for(offline: LocalModel) -> None:
    """The first reading's record was not found and another tool asked; the answer goes to
    that tool, not to the first reading again."""
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "I need to post an update in the announcements channel"},
        {"role": "assistant", "content": "To post team message, what is the content?"},
        {"role": "user", "content": "The office is closed on Friday"},
    ]
    reply = offline.respond(messages, [t.name for t in offline.registry])
    assert reply.calls and reply.calls[0][1] in ("post_team_message", "list_team_channels")


def test_what_follows_a_name_is_what_they_are_asked_to_do(offline: LocalModel) -> None:
    members = [{"user_id": "00000000-0000-0000-0000-0000000000b1", "name": "Sam Okoro"}]
    _, call = _converse(offline, "have Sam draft the renewal memo by Friday",
                        {"list_team_members": members})
    assert call is not None and call[0] == "create_task", call
    assert call[1]["title"] == "draft the renewal memo"
    assert call[1]["assignee_id"] == members[0]["user_id"]
    agents = _ids("Lead Scout", "Blog Writer")
    _, call = _converse(offline, "have the Lead Scout score new signups every weekday at 7am",
                        {"list_agents": agents})
    assert call == ("schedule_agent", {"agent_id": agents[0]["id"], "cron": "0 7 * * 1-5",
                                       "task": "score new signups"})


def test_a_message_that_opens_with_a_verb_asks_for_that_verb(offline: LocalModel) -> None:
    """Words that follow ("... for our support SLA") do not outweigh the verb said first."""
    choice = offline.choose("Search the knowledge base for our support SLA",
                            list(offline.registry))
    assert choice is not None and choice.tool.name == "search_knowledge"


def test_a_record_is_not_the_one_meant_when_the_name_said_has_a_word_it_lacks(
        offline: LocalModel) -> None:
    """"pause Lead Scout": the campaign "Lead nurture" shares a word, but the name said is
    another record's (an agent's); with no such campaign, the agent is paused."""
    campaigns = {"list_campaigns": [{"id": "00000000-0000-0000-0000-00000000000a",
                                     "name": "Lead nurture", "status": "active"}]}
    records = {**campaigns, "list_agents": _ids("Inbox Triage", "Lead Scout")}
    _, call = _converse(offline, "pause Lead Scout, it's emailing the wrong people", records)
    assert call == ("update_agent", {"agent_id": records["list_agents"][1]["id"],
                                     "status": "paused"})
    _, call = _converse(offline, "pause the Lead nurture campaign", campaigns)
    assert call == ("pause_campaign", {"campaign_id": "00000000-0000-0000-0000-00000000000a"})


def test_a_template_is_found_by_its_name(offline: LocalModel) -> None:
    templates = {"list_creator_templates": {"templates": _ids("Monthly newsletter",
                                                              "Pitch deck (10 slides)")},
                 "list_agent_templates": {"templates": _ids("Research Analyst")}}
    looked, call = _converse(offline, "start a newsletter from the Monthly newsletter template "
                             "and title it 'December digest'", templates)
    assert "list_creator_templates" in looked
    assert call == ("create_creator_item", {"title": "December digest", "type": "newsletter",
                                            "template_id": _ids("Monthly newsletter")[0]["id"]})
    _, call = _converse(offline, "install the Research Analyst template from the marketplace",
                        templates)
    assert call == ("install_agent_template", {"template_id": _ids("Research Analyst")[0]["id"]})
