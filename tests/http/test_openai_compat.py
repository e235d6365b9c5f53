"""The OpenAI-compatible endpoint through the real `openai` SDK against a live server: answers
(JSON and streamed), tools run server-side, history continuing one conversation, models, and
every error an SDK user can meet, each readable as the SDK's own exception."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from openai import AsyncOpenAI

from assistant.http import openai_wire as wire
from store.access_keys import AccessKeys
from store.db import Database
from store.models.ai import AiConversation, AiMessage
from store.models.crm import Contact
from store.models.orchestration import AgentPendingAction
from store.repositories.crm import ContactRepository
from store.repositories.neptune import AutonomyRepository
from store.tenancy import scoped_session
from tests.http.conftest import MakeServices, Member
from tests.http.live import serving
from tests.model_server import Call, ModelServer, Text, ToolCalls

PROBLEM = "application/problem+json"
HELLO: list[Any] = [{"role": "user", "content": "Hello Neptune"}]


@pytest.fixture
async def url(app: FastAPI) -> AsyncIterator[str]:
    async with serving(app) as base:
        yield base


def sdk(url: str, key: str) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


async def access_key(database: Database, member: Member, *scopes: str) -> str:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        issued = await AccessKeys(session, member.ws.scope).create(
            member.user_id, "sdk test", scopes or ("chat",))
    return issued.token


async def conversations(database: Database, member: Member) -> list[AiConversation]:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        return list((await session.scalars(sa.select(AiConversation))).all())


async def messages(database: Database, member: Member,
                   conversation_id: uuid.UUID) -> list[tuple[str, str]]:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        rows = await session.scalars(sa.select(AiMessage).where(
            AiMessage.conversation_id == conversation_id).order_by(AiMessage.seq))
        return [(str(m.role), m.content) for m in rows]


async def test_answer_as_chat_completion(url: str, owner: Member, server: ModelServer,
                                         database: Database) -> None:
    key = await access_key(database, owner)
    server.script(Text("Your pipeline holds 3 deals."))
    async with sdk(url, key) as client:
        completion = await client.chat.completions.create(model="neptune", messages=[
            {"role": "user", "content": [{"type": "text", "text": "How is my pipeline?"}]}])
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.model == "neptune" and len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.finish_reason == "stop"
    assert choice.message.content == "Your pipeline holds 3 deals."
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens,
            completion.usage.total_tokens) == (10, 5, 15)
    [conversation] = await conversations(database, owner)
    neptune = (completion.model_extra or {})["neptune"]
    assert neptune["conversation_id"] == str(conversation.id)
    assert neptune["status"] == "complete" and neptune["pending_approvals"] == []
    assert str(conversation.channel) == "api" and conversation.title == "How is my pipeline?"
    assert await messages(database, owner, conversation.id) == [
        ("user", "How is my pipeline?"), ("assistant", "Your pipeline holds 3 deals.")]
    assert server.requests[0].model == "primary-model"


async def test_streamed_answer_reassembles(url: str, owner: Member, server: ModelServer,
                                           database: Database) -> None:
    key = await access_key(database, owner)
    server.script(Text("Streaming works, piece by piece, as promised.", chunks=5))
    async with sdk(url, key) as client:
        stream = await client.chat.completions.create(
            model="neptune", messages=HELLO, stream=True,
            stream_options={"include_usage": True})
        chunks = [chunk async for chunk in stream]
    assert all(c.object == "chat.completion.chunk" and c.model == "neptune" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Streaming works, piece by piece, as promised."
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 5
    finish, usage = chunks[-2], chunks[-1]
    assert finish.choices[0].finish_reason == "stop" and finish.usage is None
    assert usage.choices == [] and usage.usage is not None
    assert usage.usage.total_tokens == 15


async def test_tools_run_server_side(url: str, owner: Member, server: ModelServer,
                                     database: Database) -> None:
    key = await access_key(database, owner)
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        autonomy = AutonomyRepository(session, owner.ws.scope)
        for _ in range(5):  # the owner has approved this often and switched on automatic runs
            await autonomy.record_approval(owner.user_id, "create_contact")
        await autonomy.enable_auto_execute(owner.user_id, "create_contact")
    server.script(ToolCalls([Call("create_contact",
                                  {"first_name": "Ada", "email": "ada@example.com"})]),
                  Text("I added Ada Lovelace to your contacts."))
    async with sdk(url, key) as client:
        completion = await client.chat.completions.create(model="neptune", messages=[
            {"role": "user", "content": "Add Ada, ada@example.com"}])
    assert completion.choices[0].message.content == "I added Ada Lovelace to your contacts."
    assert completion.choices[0].message.tool_calls is None
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        emails = (await session.scalars(sa.select(Contact.email))).all()
    assert emails == ["ada@example.com"]
    assert "create_contact" in server.requests[0].tool_names
    told = server.requests[1].messages[-1]
    assert told["role"] == "tool" and "ada@example.com" in told["content"]


async def test_resent_history_continues_the_conversation(
        url: str, owner: Member, server: ModelServer, database: Database) -> None:
    key = await access_key(database, owner)
    server.script(Text("It is sunny today."), Text("Rain is expected tomorrow."))
    history: list[Any] = [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "Weather today?"}]
    async with sdk(url, key) as client:
        stream = await client.chat.completions.create(model="neptune", messages=history,
                                                      stream=True)
        first = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        history += [{"role": "assistant", "content": first},
                    {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]}]
        second = await client.chat.completions.create(model="neptune", messages=history)
    assert first == "It is sunny today."
    assert second.choices[0].message.content == "Rain is expected tomorrow."
    [conversation] = await conversations(database, owner)
    stored = await messages(database, owner, conversation.id)
    assert [role for role, _ in stored] == ["user", "assistant", "user", "assistant"]
    assert stored[2:] == [("user", "And tomorrow?"), ("assistant", "Rain is expected tomorrow.")]
    assert "Be brief." in stored[0][1] and stored[0][1].endswith("Weather today?")
    sent = [(m["role"], m["content"]) for m in server.requests[1].messages[1:]]
    assert sent == [("user", stored[0][1]), ("assistant", "It is sunny today."),
                    ("user", "And tomorrow?")]


async def test_unknown_history_starts_a_conversation_with_a_transcript(
        url: str, owner: Member, server: ModelServer, database: Database) -> None:
    key = await access_key(database, owner)
    server.script(Text("Noted."), Text("Fresh start."))
    history: list[Any] = [{"role": "user", "content": "My favourite colour is teal."},
                          {"role": "assistant", "content": "Teal it is."},
                          {"role": "user", "content": "What did I say?"}]
    async with sdk(url, key) as client:
        await client.chat.completions.create(model="neptune", messages=history)
        edited = [{**history[0], "content": "My favourite colour is red."}, *history[1:]]
        await client.chat.completions.create(model="neptune", messages=edited)
    first, second = sorted(await conversations(database, owner), key=lambda c: c.created_at)
    [(_, told), _] = await messages(database, owner, first.id)
    assert "User: My favourite colour is teal." in told
    assert "Assistant: Teal it is." in told and told.endswith("What did I say?")
    assert server.requests[0].messages[-1]["content"] == told
    [(_, retold), _] = await messages(database, owner, second.id)
    assert "red" in retold and "teal" not in retold


async def test_pending_approval_is_named_in_the_answer(
        url: str, owner: Member, server: ModelServer, database: Database) -> None:
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        contact = await ContactRepository(session, owner.ws.scope).create(first_name="Bob")
    key = await access_key(database, owner)
    server.script(ToolCalls([Call("delete_contact", {"contact_id": str(contact.id)})]),
                  Text("Deleting Bob needs your approval."))
    async with sdk(url, key) as client:
        completion = await client.chat.completions.create(model="neptune", messages=[
            {"role": "user", "content": "Delete Bob"}])
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        [pending] = (await session.scalars(sa.select(AgentPendingAction))).all()
        still_there = await session.scalar(sa.select(Contact.id).where(Contact.id == contact.id))
    assert still_there == contact.id
    content = completion.choices[0].message.content or ""
    first, note = content.split("\n\n")
    assert first == "Deleting Bob needs your approval."
    assert note.startswith("Waiting for approval: ") and "(delete_contact)" in note
    assert f"POST /v1/approvals/{pending.id}/approve" in note
    neptune = (completion.model_extra or {})["neptune"]
    assert neptune["status"] == "awaiting_approval"
    assert neptune["pending_approvals"] == [str(pending.id)]


async def test_models_list_and_retrieve(url: str, owner: Member, database: Database) -> None:
    key = await access_key(database, owner, "read")
    async with sdk(url, key) as client:
        page = await client.models.list()
        model = await client.models.retrieve("neptune")
        with pytest.raises(openai.NotFoundError) as missing:
            await client.models.retrieve("gpt-4o")
    assert [m.id for m in page.data] == ["neptune"]
    assert page.data[0].owned_by == "neptune" and model.id == "neptune"
    assert (model.model_extra or {})["neptune"] == {"model": "primary"}
    assert missing.value.code == "model_not_found"


async def test_unknown_model_is_model_not_found(url: str, owner: Member, server: ModelServer,
                                                database: Database) -> None:
    key = await access_key(database, owner)
    async with sdk(url, key) as client:
        with pytest.raises(openai.NotFoundError) as error:
            await client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert error.value.status_code == 404 and error.value.code == "model_not_found"
    assert "'gpt-4o' does not exist" in error.value.message
    body = error.value.response.json()
    assert error.value.response.headers["content-type"] == PROBLEM
    assert body["status"] == 404 and body["error"]["type"] == "invalid_request_error"
    assert await conversations(database, owner) == [] and server.requests == []


async def test_client_tools_are_refused(url: str, owner: Member, server: ModelServer,
                                        database: Database) -> None:
    key = await access_key(database, owner)
    tool: Any = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}
    async with sdk(url, key) as client:
        with pytest.raises(openai.BadRequestError) as error:
            await client.chat.completions.create(model="neptune", messages=HELLO,
                                                 tools=[tool])
    assert error.value.code == "tools_not_supported"
    assert "runs its own tools server-side" in error.value.message
    assert await conversations(database, owner) == [] and server.requests == []


@pytest.mark.parametrize(("request_args", "status", "code"), [
    ({"messages": [{"role": "assistant", "content": "hi"}]}, 400, "invalid_messages"),
    ({"messages": [*HELLO, {"role": "tool", "content": "42", "tool_call_id": "c1"}]}, 400,
     "tools_not_supported"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]},
     400, "unsupported_content"),
    ({"messages": HELLO, "n": 2}, 400, "invalid_n"),
    ({"messages": HELLO, "extra_body": {"temperature": "warm"}}, 422, "invalid"),
    ({"messages": HELLO, "extra_body": {"stream": "yes"}}, 422, "invalid"),
    ({"messages": [{"role": "user", "content": 42}]}, 422, "invalid"),
    ({"messages": []}, 422, "invalid"),
])
async def test_bad_requests_are_errors_and_store_nothing(
        url: str, owner: Member, server: ModelServer, database: Database,
        request_args: dict[str, Any], status: int, code: str) -> None:
    key = await access_key(database, owner)
    async with sdk(url, key) as client:
        with pytest.raises(openai.APIStatusError) as error:
            await client.chat.completions.create(model="neptune", **request_args)
    assert error.value.status_code == status and error.value.code == code
    body = error.value.response.json()
    assert body["status"] == status and body["error"]["message"] == body["detail"]
    assert await conversations(database, owner) == [] and server.requests == []


async def test_invalid_and_revoked_keys_are_authentication_errors(
        url: str, owner: Member, database: Database) -> None:
    key = await access_key(database, owner)
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        keys = AccessKeys(session, owner.ws.scope)
        [row] = await keys.list()
        await keys.revoke(row.id)
    for bad in (key, key[:-4] + "AAAA", "nep_not-a-key", "not-a-jwt"):
        async with sdk(url, bad) as client:
            with pytest.raises(openai.AuthenticationError) as error:
                await client.chat.completions.create(model="neptune", messages=HELLO)
        assert error.value.status_code == 401 and error.value.code == "unauthorized"
        assert error.value.type == "authentication_error"
    assert await conversations(database, owner) == []


async def test_read_only_key_cannot_chat(url: str, owner: Member, server: ModelServer,
                                         database: Database) -> None:
    key = await access_key(database, owner, "read")
    async with sdk(url, key) as client:
        with pytest.raises(openai.PermissionDeniedError) as error:
            await client.chat.completions.create(model="neptune", messages=HELLO)
        assert [m.id async for m in client.models.list()] == ["neptune"]
    assert "'chat' scope" in error.value.message
    assert await conversations(database, owner) == [] and server.requests == []


async def test_a_jwt_works_too(url: str, owner: Member, server: ModelServer,
                               database: Database) -> None:
    server.script(Text("Signed in with a token."))
    async with sdk(url, owner.token) as client:
        completion = await client.chat.completions.create(model="neptune", messages=HELLO)
    assert completion.choices[0].message.content == "Signed in with a token."
    [conversation] = await conversations(database, owner)
    assert conversation.user_id == owner.user_id


async def test_a_failed_turn_is_an_error(url: str, owner: Member, server: ModelServer,
                                         database: Database) -> None:
    key = await access_key(database, owner)  # nothing scripted: every model call fails
    async with sdk(url, key) as client:
        with pytest.raises(openai.InternalServerError) as error:
            await client.chat.completions.create(model="neptune", messages=HELLO)
        with pytest.raises(openai.APIError) as streamed:
            stream = await client.chat.completions.create(model="neptune", messages=HELLO,
                                                          stream=True)
            async for _ in stream:
                pass
    assert error.value.status_code == 502 and error.value.code == "model_unavailable"
    assert error.value.response.headers["x-should-retry"] == "false"
    assert streamed.value.code == "model_unavailable"
    assert all(c.external_key is None for c in await conversations(database, owner))


async def test_rate_limit_is_a_rate_limit_error(make_services: MakeServices, owner: Member,
                                                database: Database) -> None:
    from assistant.http.app import create_app

    key = await access_key(database, owner)
    app = create_app(make_services(user_rate_limit=1))
    async with serving(app) as base, sdk(base, key) as client:
        for _ in range(5):
            await client.models.list()
        with pytest.raises(openai.RateLimitError) as error:
            await client.models.list()
    assert error.value.code == "rate_limited"
    assert int(error.value.response.headers["retry-after"]) >= 1


def test_the_transcript_is_bounded_and_keeps_the_latest_messages() -> None:
    earlier = [("user" if i % 2 == 0 else "assistant", f"message {i}: " + "x" * 2_000)
               for i in range(40)]
    told = wire.with_transcript(earlier, "So, what now?")
    assert len(told) <= wire.TRANSCRIPT_CHARS + 200 and told.endswith("So, what now?")
    assert "message 39:" in told and "message 0:" not in told
    assert "earlier message(s) omitted]" in told
    assert wire.with_transcript([], "Hi") == "Hi"
