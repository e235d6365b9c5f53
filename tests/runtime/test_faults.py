"""Model faults, limits and budgets: what the user sees and what is stored."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from assistant.runtime import Runtime
from store.crypto import Keyring, new_key_spec
from store.db import Database
from store.models.ai import AiMessage, NeptuneActionHistory
from store.models.core import SubscriptionTier, Workspace
from store.models.neptune import ConversationEvent, UsageLedger
from store.provider_keys import ProviderKeys
from store.repositories.neptune import UsageLedgerRepository
from store.tenancy import scoped_session
from tests.model_server import (
    Call,
    Cut,
    Error,
    ModelServer,
    RecordedRequest,
    Text,
    Timeout,
    ToolCalls,
)
from tests.runtime.conftest import Chat, MakeRuntime
from tests.runtime.test_turns import kinds, rows


def on(model: str) -> Callable[[RecordedRequest], bool]:
    """A server rule predicate: requests for this model."""
    return lambda request: request.model == model


async def test_fallback_before_first_token(make_runtime: MakeRuntime, server: ModelServer,
                                           chat: Chat, database: Database) -> None:
    runtime = make_runtime(model_retries=1)
    server.rule(on("primary-model"), Error(500))
    server.rule(on("backup-model"), Text("From the backup."))
    async with await runtime.send(chat.caller, chat.conversation_id, "hello") as turn:
        events = await turn.collect()
    assert "turn.restarted" not in kinds(events)  # nothing was shown, so nothing to discard
    assert "".join(e.text for e in events if e.type == "text.delta") == "From the backup."
    assert [r.model for r in server.requests] == ["primary-model"] * 2 + ["backup-model"]
    ledger = await rows(database, chat, UsageLedger, UsageLedger.created_at, UsageLedger.id)
    assert sorted((r.model, r.status) for r in ledger) == [
        ("openai/backup-model", "success"), ("openai/primary-model", "error"),
        ("openai/primary-model", "error")]


async def test_stream_cut_midway_restarts_on_fallback(
    runtime: Runtime, server: ModelServer, chat: Chat, database: Database
) -> None:
    server.rule(on("primary-model"), Cut(Text("This answer will break off", chunks=5),
                                         after_chunks=3))
    server.rule(on("backup-model"), Text("A complete answer."))
    async with await runtime.send(chat.caller, chat.conversation_id, "hello") as turn:
        events = await turn.collect()
    names = kinds(events)
    restart = names.index("turn.restarted")
    assert "text.delta" in names[:restart]  # partial text was shown, then withdrawn
    after = "".join(e.text for e in events[restart:] if e.type == "text.delta")
    assert after == "A complete answer."
    assert events[restart].model == "backup"
    messages = await rows(database, chat, AiMessage, AiMessage.seq)
    assert messages[-1].content == "A complete answer."  # no splicing of the broken text


async def test_all_models_failing_ends_with_an_error_event(
    make_runtime: MakeRuntime, server: ModelServer, chat: Chat, database: Database
) -> None:
    runtime = make_runtime(model_retries=0, model_timeout=0.3)
    server.rule(lambda r: True, Timeout(2))
    async with await runtime.send(chat.caller, chat.conversation_id, "hello") as turn:
        events = await turn.collect()
        outcome = await turn.wait()
    error = next(e for e in events if e.type == "error")
    assert error.code == "model_timeout" and error.retryable
    assert outcome.status == "error"
    messages = await rows(database, chat, AiMessage, AiMessage.seq)
    assert [(m.role, m.status) for m in messages] == [("user", "complete"),
                                                      ("assistant", "error")]


async def test_budget_exceeded_sends_nothing(runtime: Runtime, server: ModelServer, chat: Chat,
                                             database: Database) -> None:
    async with scoped_session(database.sessions, chat.ws.scope) as session:
        await UsageLedgerRepository(session, chat.ws.scope).create(
            model="openai/primary-model", prompt_tokens=49_990, completion_tokens=0)
        workspace = await session.get(Workspace, chat.ws.workspace_id)
        assert workspace is not None and workspace.subscription_tier == SubscriptionTier.FREE
    server.script(Text("should never be sent"))
    async with await runtime.send(chat.caller, chat.conversation_id, "hello") as turn:
        events = await turn.collect()
    error = next(e for e in events if e.type == "error")
    assert error.code == "budget_exceeded" and "50,000" in error.message
    assert server.requests == []
    messages = await rows(database, chat, AiMessage, AiMessage.seq)
    assert messages[0].content == "hello"  # the user's message is kept


async def test_step_limit_ends_with_a_clear_message(make_runtime: MakeRuntime,
                                                    server: ModelServer, chat: Chat) -> None:
    runtime = make_runtime(step_limit=3)
    server.rule(lambda r: True, ToolCalls([Call("count_contacts")]))
    async with await runtime.send(chat.caller, chat.conversation_id, "loop") as turn:
        events = await turn.collect()
        outcome = await turn.wait()
    assert len(server.requests) == 3
    assert next(e for e in events if e.type == "error").code == "step_limit"
    assert "stopped after 3 steps" in outcome.text
    assert events[-2].type == "message.completed" and events[-2].content == outcome.text
    assert events[-1].type == "turn.completed" and events[-1].status == "complete"


async def test_invalid_arguments_then_recovery(runtime: Runtime, server: ModelServer,
                                               chat: Chat, database: Database) -> None:
    server.script(
        ToolCalls([Call("add_contact", {"first_name": "Ada", "email": "not-an-email"})]),
        ToolCalls([Call("echo", {"word": "ok"})]),
        Text("Fixed it."),
    )
    async with await runtime.send(chat.caller, chat.conversation_id, "add Ada") as turn:
        events = await turn.collect()
    first = next(e for e in events if e.type == "tool.finished")
    assert first.status == "error" and "email" in (first.error or "")
    retry_note = server.requests[1].messages[-1]
    assert retry_note["role"] == "tool" and '"retry":true' in retry_note["content"]
    history = await rows(database, chat, NeptuneActionHistory, NeptuneActionHistory.created_at)
    assert [(h.action_type, h.status) for h in history] == [("add_contact", "error"),
                                                            ("echo", "success")]


async def test_invalid_calls_are_bounded(make_runtime: MakeRuntime, server: ModelServer,
                                         chat: Chat) -> None:
    runtime = make_runtime(tool_retry_limit=1)
    bad = ToolCalls([Call("echo", '{"word": ')])
    server.script(bad, bad, Text("I could not do it."))
    async with await runtime.send(chat.caller, chat.conversation_id, "echo") as turn:
        await turn.collect()
    assert server.requests[1].tools  # one correction allowed ...
    assert server.requests[2].tools == []  # ... then the model must answer in words


async def test_a_crashing_tool_ends_the_turn_generically(runtime: Runtime, server: ModelServer,
                                                         chat: Chat, database: Database,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    server.script(ToolCalls([Call("explode")]))
    async with await runtime.send(chat.caller, chat.conversation_id, "boom") as turn:
        events = await turn.collect()
        outcome = await turn.wait()
    error = next(e for e in events if e.type == "error")
    assert error.code == "internal_error" and str(turn.id) in error.message
    assert "boom" not in error.message and outcome.status == "error"
    assert any(str(turn.id) in r.getMessage() for r in caplog.records)
    history = await rows(database, chat, NeptuneActionHistory)
    assert [(h.action_type, h.status) for h in history] == [("explode", "error")]


async def test_no_provider_key_in_logs_or_stored_rows(
    make_runtime: MakeRuntime, server: ModelServer, chat: Chat, database: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "sk-workspace-" + uuid.uuid4().hex
    keyring = Keyring.parse(new_key_spec("k1"))
    async with scoped_session(database.sessions, chat.ws.scope) as session:
        await ProviderKeys(session, chat.ws.scope, keyring).add("openai", secret, name="team")
    runtime = make_runtime(keyring=keyring, model_retries=0)
    caplog.set_level(logging.DEBUG)
    server.script(Error(401, message=f"Incorrect API key provided: {secret}"),
                  ToolCalls([Call("echo", {"word": "hi"})]), Text("done"))
    async with await runtime.send(chat.caller, chat.conversation_id, "hi") as turn:
        await turn.collect()
    assert all(r.headers.get("authorization") == f"Bearer {secret}" for r in server.requests)
    assert secret not in caplog.text
    async with scoped_session(database.sessions, chat.ws.scope) as session:
        for table in (ConversationEvent, AiMessage, NeptuneActionHistory, UsageLedger):
            dump = await session.scalar(sa.select(sa.func.string_agg(
                sa.cast(sa.func.row_to_json(sa.literal_column(table.__tablename__)), sa.Text),
                "\n")).select_from(table).where(table.workspace_id == chat.ws.workspace_id))
            assert secret not in (dump or ""), table.__tablename__
