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


async def test_default_model_is_offline_and_calls_tools(
        runtime: Runtime, make_workspace: MakeWorkspace, database: Database) -> None:
    ws = await make_workspace()
    async with scoped_session(database.sessions, ws.scope) as session:
        await ContactRepository(session, ws.scope).create(
            first_name="Ada", last_name="Lovelace", email="ada@engines.io")
    caller = Caller.for_member(ws.workspace_id, ws.user_id, MemberRole.OWNER)
    conversation = await new_conversation(database, ws)
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
    ws = await make_workspace()
    async with scoped_session(database.sessions, ws.scope) as session:
        await ContactRepository(session, ws.scope).create(
            first_name="Ada", last_name="Lovelace", email="ada@engines.io")
    caller = Caller.for_member(ws.workspace_id, ws.user_id, MemberRole.OWNER)
    conversation = await new_conversation(database, ws)
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


def _converse(model: LocalModel, text: str, records: dict[str, list[dict[str, Any]]],
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
            found = [r for r in records.get(name, []) if query in json.dumps(r).lower()]
            messages.append({"role": "tool", "tool_call_id": call_id, "content": json.dumps(
                {"ok": True, "result": {name.split("_", 1)[1]: found}})})
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
