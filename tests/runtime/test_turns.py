"""Turns end to end: the runtime against the scripted model server over real HTTP."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from assistant.runtime import Runtime
from store.db import Database
from store.models.ai import AiMessage, NeptuneActionHistory
from store.models.core import Workspace
from store.models.neptune import ConversationEvent, UsageLedger
from store.tenancy import scoped_session
from tests.model_server import Call, ModelServer, Text, ToolCalls, Usage
from tests.runtime.conftest import Chat, MakeRuntime
from tests.runtime.support import SESSIONS_SEEN


async def rows(database: Database, chat: Chat, model: Any, *order: Any) -> list[Any]:
    async with scoped_session(database.sessions, chat.ws.scope) as session:
        stmt = sa.select(model).where(model.workspace_id == chat.ws.workspace_id)
        if hasattr(model, "conversation_id"):
            stmt = stmt.where(model.conversation_id == chat.conversation_id)
        return list((await session.scalars(stmt.order_by(*order))).all())


def kinds(events: list[Any]) -> list[str]:
    return [e.type for e in events]


async def test_text_only_turn(runtime: Runtime, server: ModelServer, chat: Chat,
                              database: Database) -> None:
    server.script(Text("Hello there, Ada.", chunks=3, usage=Usage(120, 7, 20)))
    async with await runtime.send(chat.caller, chat.conversation_id, "hi") as turn:
        events = await turn.collect()
        outcome = await turn.wait()
    assert kinds(events) == ["message.created", "message.created", "text.delta", "text.delta",
                             "text.delta", "usage", "message.completed", "turn.completed"]
    assert [e.seq for e in events] == list(range(1, 9))
    assert "".join(e.text for e in events if e.type == "text.delta") == "Hello there, Ada."
    assert outcome.status == "complete" and outcome.text == "Hello there, Ada."

    messages = await rows(database, chat, AiMessage, AiMessage.seq)
    assert [(m.role, m.content, m.status) for m in messages] == [
        ("user", "hi", "complete"), ("assistant", "Hello there, Ada.", "complete")]
    answer = messages[1]
    assert answer.prompt_ref and answer.prompt_ref.startswith("system@v1#")
    assert answer.tool_schema_hashes.keys() == {"count_contacts", "echo", "add_contact",
                                                "delete_contact", "explode"}
    assert answer.tokens["prompt"] == 120 and answer.tokens["cached"] == 20
    assert answer.token_count > 0 and messages[0].token_count > 0

    ledger = await rows(database, chat, UsageLedger)
    assert [(r.model, r.provider, r.prompt_tokens, r.completion_tokens, r.status)
            for r in ledger] == [("openai/primary-model", "openai", 120, 7, "success")]
    stored = await rows(database, chat, ConversationEvent, ConversationEvent.seq)
    assert [(r.seq, r.type) for r in stored] == [(e.seq, e.type) for e in events]

    request = server.requests[0]
    assert request.model == "primary-model" and request.stream and request.include_usage
    assert request.messages[0]["role"] == "system"
    assert request.messages[-1] == {"role": "user", "content": "hi"}
    assert request.headers.get("authorization") == "Bearer sk-env-test-key"


async def test_two_parallel_tool_calls(runtime: Runtime, server: ModelServer, chat: Chat,
                                       database: Database) -> None:
    SESSIONS_SEEN.clear()
    server.script(
        ToolCalls([Call("echo", {"word": "slow", "delay": 0.3}, id="call_a"),
                   Call("echo", {"word": "fast"}, id="call_b")]),
        Text("Both done."),
    )
    async with await runtime.send(chat.caller, chat.conversation_id, "echo twice") as turn:
        events = await turn.collect()
    finished = [e for e in events if e.type == "tool.finished"]
    assert [e.call_id for e in finished] == ["call_a", "call_b"]
    assert all(e.status == "success" for e in finished)
    assert len(set(SESSIONS_SEEN)) == 2  # each call had its own session

    second = server.requests[1].messages
    tool_messages = [m for m in second if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_a", "call_b"]
    assert '"word":"slow"' in tool_messages[0]["content"]
    history = await rows(database, chat, NeptuneActionHistory, NeptuneActionHistory.created_at)
    assert sorted(h.tool_call_id for h in history) == ["call_a", "call_b"]
    assert all(h.status == "success" and h.automatic and h.ai_model == "openai/primary-model"
               and h.tokens_used > 0 and h.duration_ms is not None for h in history)


async def test_workspace_model_override_and_cost_from_the_price_map(
    make_runtime: MakeRuntime, server: ModelServer, chat: Chat, database: Database
) -> None:
    runtime = make_runtime(model_aliases={
        "priced": {"model": "openai/gpt-4o-mini", "api_base": server.base_url,
                   "api_key_env": "NEPTUNE_TEST_KEY"}})
    async with scoped_session(database.sessions, chat.ws.scope) as session:
        await session.execute(sa.update(Workspace).where(Workspace.id == chat.ws.workspace_id)
                              .values(settings={"model": "priced", "fallback_models": []}))
    server.script(Text("Cheap answer.", usage=Usage(1000, 500)))
    async with await runtime.send(chat.caller, chat.conversation_id, "hi") as turn:
        events = await turn.collect()
    assert server.requests[0].model == "gpt-4o-mini"
    usage = next(e for e in events if e.type == "usage")
    assert usage.model == "priced" and usage.cost_usd > 0
    [ledger] = await rows(database, chat, UsageLedger)
    assert ledger.cost_usd_micros == round(usage.cost_usd * 1_000_000) > 0


def test_only_the_gateway_imports_litellm() -> None:
    root = Path(__file__).resolve().parents[2]
    importers = sorted(
        str(path.relative_to(root)) for package in ("assistant", "tools", "store", "prompts")
        for path in (root / package).rglob("*.py")
        if re.search(r"^\s*(import litellm|from litellm)", path.read_text(), re.MULTILINE)
    )
    assert importers == ["assistant/gateway.py"]
