"""Conversation continuity: ordering, stop, history replay, summaries, resume, titles, CRUD."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from assistant.conversations import Conversations
from assistant.locks import ConversationBusy
from assistant.runtime import Runtime
from store.db import Database
from store.errors import NotFound
from store.models.ai import AiMessage, MessageRole
from store.models.core import MemberRole
from store.repositories.ai import MessageRepository
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace
from tests.model_server import Call, ModelServer, Text, ToolCalls
from tests.runtime.conftest import Chat, MakeRuntime, new_conversation
from tests.runtime.test_turns import rows
from tools.context import Caller


async def test_two_messages_never_interleave(runtime: Runtime, server: ModelServer, chat: Chat,
                                             database: Database) -> None:
    server.script(Text("first answer, slowly", chunks=4, chunk_delay=0.1),
                  Text("second answer"))
    first = await runtime.send(chat.caller, chat.conversation_id, "one")
    second_task = asyncio.create_task(runtime.send(chat.caller, chat.conversation_id, "two"))
    await asyncio.sleep(0.2)
    assert not second_task.done()  # queued behind the running turn
    async with first:
        await first.collect()
    async with await second_task as second:
        await second.collect()
    messages = await rows(database, chat, AiMessage, AiMessage.seq)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "one"), ("assistant", "first answer, slowly"),
        ("user", "two"), ("assistant", "second answer")]
    assert server.requests[1].messages[-2]["content"] == "first answer, slowly"


async def test_reject_policy_refuses_a_second_message(make_runtime: MakeRuntime,
                                                      server: ModelServer, chat: Chat) -> None:
    runtime = make_runtime(busy_policy="reject")
    server.script(Text("slow", chunks=3, chunk_delay=0.1))
    async with await runtime.send(chat.caller, chat.conversation_id, "one") as turn:
        with pytest.raises(ConversationBusy):
            await runtime.send(chat.caller, chat.conversation_id, "two")
        await turn.collect()


async def test_disconnect_keeps_the_partial_text(runtime: Runtime, server: ModelServer,
                                                 chat: Chat, database: Database) -> None:
    server.script(Text("one two three four five six", chunks=6, chunk_delay=0.1))
    async with await runtime.send(chat.caller, chat.conversation_id, "count") as turn:
        seen = []
        async for event in turn:
            seen.append(event)
            if sum(e.type == "text.delta" for e in seen) == 2:
                break  # the client goes away
    outcome = await turn.wait()
    assert outcome.status == "stopped" and outcome.text == "one two "
    messages = await rows(database, chat, AiMessage, AiMessage.seq)
    assert (messages[-1].content, messages[-1].status) == ("one two ", "stopped")
    *_, completed, ended = await runtime.events_after(chat.caller, chat.conversation_id, 0)
    assert completed.type == "message.completed" and completed.status == "stopped"
    assert ended.type == "turn.completed" and ended.status == "stopped"


async def test_next_turn_replays_tool_calls_and_results(runtime: Runtime, server: ModelServer,
                                                        chat: Chat) -> None:
    server.script(ToolCalls([Call("echo", {"word": "pear"}, id="call_pear")]), Text("pear."))
    async with await runtime.send(chat.caller, chat.conversation_id, "echo pear") as turn:
        await turn.collect()
    server.script(Text("You asked for pear."))
    async with await runtime.send(chat.caller, chat.conversation_id, "what did I ask?") as t:
        await t.collect()
    replay = server.requests[-1].messages
    roles = [m["role"] for m in replay]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert replay[2]["tool_calls"][0] == {"id": "call_pear", "type": "function", "function": {
        "name": "echo", "arguments": '{"word": "pear"}'}}
    assert replay[3]["tool_call_id"] == "call_pear" and "pear" in replay[3]["content"]


async def test_long_history_is_summarised_and_rows_remain(
    make_runtime: MakeRuntime, server: ModelServer, chat: Chat, database: Database
) -> None:
    runtime = make_runtime(context_tokens=600)
    async with scoped_session(database.sessions, chat.ws.scope) as session:
        repo = MessageRepository(session, chat.ws.scope)
        for i in range(12):
            await repo.append_many(chat.conversation_id, [
                {"role": MessageRole.USER, "content": f"question {i} " + "word " * 40},
                {"role": MessageRole.ASSISTANT, "content": f"answer {i} " + "word " * 40},
            ])
    server.rule(lambda r: "summar" in r.messages[0]["content"].lower(),
                Text("They asked twelve questions about words."))
    server.script(Text("Here you go."))
    async with await runtime.send(chat.caller, chat.conversation_id, "and now?") as turn:
        await turn.collect()
    chat_request = server.requests[-1]
    assert "Summary of the earlier conversation" in chat_request.messages[1]["content"]
    assert "question 0 " not in str(chat_request.messages)
    assert chat_request.messages[-1]["content"] == "and now?"
    messages = await rows(database, chat, AiMessage, AiMessage.seq)
    assert sum(m.role == "user" for m in messages) == 13  # every raw row is still there
    [summary] = [m for m in messages if m.role == "summary"]
    assert summary.summary_of_until_seq and summary.content.startswith("They asked")


async def test_resume_returns_exactly_the_missed_events(runtime: Runtime, server: ModelServer,
                                                        chat: Chat) -> None:
    server.script(ToolCalls([Call("echo", {"word": "a"})]), Text("done and done", chunks=2))
    async with await runtime.send(chat.caller, chat.conversation_id, "go") as turn:
        events = await turn.collect()
    missed = await runtime.events_after(chat.caller, chat.conversation_id, events[3].seq)
    assert [e.model_dump() for e in missed] == [e.model_dump() for e in events[4:]]
    assert await runtime.events_after(chat.caller, chat.conversation_id, events[-1].seq) == []


async def test_a_conversation_of_someone_else_does_not_exist(
    runtime: Runtime, chat: Chat, make_workspace: MakeWorkspace, database: Database
) -> None:
    other = await make_workspace()
    stranger = Caller.for_member(other.workspace_id, other.user_id, MemberRole.OWNER)
    with pytest.raises(NotFound):
        await runtime.send(stranger, chat.conversation_id, "hello")
    with pytest.raises(NotFound):
        await runtime.send(chat.caller, uuid.uuid4(), "hello")
    assert await runtime.events_after(stranger, chat.conversation_id, 0) == []


async def test_title_after_first_exchange_and_crud(runtime: Runtime, server: ModelServer,
                                                   chat: Chat, database: Database) -> None:
    conversations = Conversations(database)
    created = await conversations.create(chat.caller)
    server.script(Text("Your pipeline holds 3 deals."))
    server.rule(lambda r: "title" in r.messages[0]["content"].lower(), Text('"Pipeline check."'))
    async with await runtime.send(chat.caller, created.id, "how is my pipeline?") as turn:
        await turn.collect()
    detail = await conversations.get(chat.caller, created.id)
    assert detail.conversation.title == "Pipeline check"
    assert [m.role for m in detail.messages] == ["user", "assistant"]

    renamed = await conversations.rename(chat.caller, created.id, "  Q3 pipeline ")
    assert renamed.title == "Q3 pipeline"
    assert (await conversations.pin(chat.caller, created.id)).is_pinned
    page = await conversations.list(chat.caller)
    assert page.items[0].id == created.id  # most recent activity first
    await conversations.archive(chat.caller, created.id)
    assert created.id not in [c.id for c in (await conversations.list(chat.caller)).items]
    await conversations.delete(chat.caller, created.id)
    with pytest.raises(NotFound):
        await conversations.get(chat.caller, created.id)

    someone = await new_conversation(database, chat.ws, user_id=None)
    other_user = Caller.for_member(chat.ws.workspace_id, uuid.uuid4(), MemberRole.MEMBER)
    assert someone not in [c.id for c in (await conversations.list(other_user)).items]
