"""The WebSocket channel against a real uvicorn on loopback, with the `websockets` client:
tickets, streaming, two tabs, resume after a disconnect, approvals, stop, and bad frames."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from store.db import Database
from store.models.core import MemberRole
from store.models.crm import Contact
from store.repositories.crm import ContactRepository
from store.tenancy import scoped_session
from tests.http.conftest import MakeMember, Member, new_chat, token
from tests.http.live import serving
from tests.model_server import Call, ModelServer, Text, ToolCalls

Frame = dict[str, Any]


@pytest.fixture
async def base_url(app: FastAPI) -> AsyncIterator[str]:
    async with serving(app, ws_max_size=64 * 1024) as url:
        yield url


async def ticket(base_url: str, member: Member) -> str:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post("/v1/ws/tickets", headers=member.headers)
    assert response.status_code == 200, response.text
    value: str = response.json()["ticket"]
    return value


async def connect(base_url: str, member: Member) -> ClientConnection:
    value = await ticket(base_url, member)
    socket = await websockets.connect(f"{base_url.replace('http://', 'ws://')}/v1/ws?ticket={value}")
    hello = json.loads(await socket.recv())
    assert hello["type"] == "hello" and hello["user_id"] == str(member.user_id)
    return socket


async def until(socket: ClientConnection, predicate: Any) -> list[Frame]:
    """Frames up to and including the first that matches `predicate` (10 s at most)."""
    frames: list[Frame] = []
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await socket.recv())
            if frame.get("type") == "ping":
                continue
            frames.append(frame)
            if predicate(frame):
                return frames


def completed() -> Any:
    """The end of a turn."""
    return lambda f: f["type"] == "turn.completed"


def text_of(frames: list[Frame]) -> str:
    return "".join(f["text"] for f in frames if f["type"] == "text.delta")


async def test_message_streams_and_creates_a_conversation(base_url: str, owner: Member,
                                                          server: ModelServer) -> None:
    server.script(Text("Hello from Neptune.", chunks=4))
    async with await connect(base_url, owner) as socket:
        await socket.send(json.dumps({"type": "user_message", "text": "hi", "ref": "m1"}))
        frames = await until(socket, completed())
    assert frames[0]["type"] == "conversation.created" and frames[0]["ref"] == "m1"
    conversation_id = frames[0]["conversation_id"]
    events = frames[1:]
    assert all(f["conversation_id"] == conversation_id for f in events)
    assert text_of(events) == "Hello from Neptune."
    seqs = [f["seq"] for f in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_two_tabs_see_the_same_events(base_url: str, owner: Member,
                                            server: ModelServer) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        conversation_id = await new_chat(http, owner)  # type: ignore[arg-type]
    server.script(Text("Both tabs see this.", chunks=5, chunk_delay=0.02))
    async with await connect(base_url, owner) as tab1, await connect(base_url, owner) as tab2:
        await tab2.send(json.dumps({"type": "resume", "conversation_id": conversation_id,
                                    "after_seq": 0}))
        await asyncio.sleep(0.1)
        await tab1.send(json.dumps({"type": "user_message", "conversation_id": conversation_id,
                                    "text": "hello"}))
        one, two = await asyncio.gather(until(tab1, completed()), until(tab2, completed()))
    assert [f["seq"] for f in one] == [f["seq"] for f in two]
    assert text_of(two) == "Both tabs see this."


async def test_resume_after_disconnect_gets_exactly_the_missed_events(
        base_url: str, owner: Member, server: ModelServer) -> None:
    server.script(Text("one two three four five six seven eight", chunks=8, chunk_delay=0.05))
    socket = await connect(base_url, owner)
    await socket.send(json.dumps({"type": "user_message", "text": "count for me"}))
    seen = await until(socket, lambda f: f["type"] == "text.delta")
    await socket.close()
    conversation_id = seen[0]["conversation_id"]
    last_seq = seen[-1]["seq"]
    await asyncio.sleep(0.6)  # the turn goes on without any socket
    async with await connect(base_url, owner) as again:
        await again.send(json.dumps({"type": "resume", "conversation_id": conversation_id,
                                     "after_seq": last_seq}))
        missed = await until(again, completed())
    seqs = [f["seq"] for f in missed]
    assert seqs == list(range(last_seq + 1, last_seq + 1 + len(seqs)))
    assert text_of(seen) + text_of(missed) == "one two three four five six seven eight"


async def test_approve_over_the_socket_runs_the_action_once(
        base_url: str, owner: Member, server: ModelServer, database: Database) -> None:
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        contact = await ContactRepository(session, owner.ws.scope).create(
            first_name="Grace", email="grace@example.com")
    server.script(ToolCalls([Call("delete_contact", {"contact_id": str(contact.id)})]),
                  Text("That needs your approval."), Text("Deleted Grace."))
    async with await connect(base_url, owner) as socket:
        await socket.send(json.dumps({"type": "user_message", "text": "delete Grace"}))
        frames = await until(socket, completed())
        approval = next(f for f in frames if f["type"] == "approval.required")
        await socket.send(json.dumps({"type": "approve",
                                      "pending_action_id": approval["pending_action_id"]}))
        after = await until(socket, completed())
        await socket.send(json.dumps({"type": "approve",
                                      "pending_action_id": approval["pending_action_id"]}))
        again = await until(socket, lambda f: f["type"] == "error")
    kinds = [f["type"] for f in after]
    assert kinds[0] == "approval.resolved" and text_of(after) == "Deleted Grace."
    assert after[0]["call_id"] == approval["call_id"]
    assert again[-1]["code"] == "conflict"
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        assert await session.get(Contact, (owner.ws.workspace_id, contact.id)) is None


async def test_stop_keeps_the_partial_answer(base_url: str, owner: Member,
                                             server: ModelServer) -> None:
    server.script(Text("a b c d e f g h i j k l m n o p", chunks=16, chunk_delay=0.1))
    async with await connect(base_url, owner) as socket:
        await socket.send(json.dumps({"type": "user_message", "text": "go"}))
        first = await until(socket, lambda f: f["type"] == "text.delta")
        await socket.send(json.dumps({"type": "stop",
                                      "conversation_id": first[0]["conversation_id"]}))
        rest = await until(socket, completed())
    assert rest[-1]["status"] == "stopped"
    partial = next(f for f in rest if f["type"] == "message.completed")
    assert partial["status"] == "stopped"
    assert 0 < len(partial["content"]) < len("a b c d e f g h i j k l m n o p")


async def test_bad_frames_get_error_frames_and_the_socket_stays(
        base_url: str, owner: Member, other: Member) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        theirs = await new_chat(http, other)  # type: ignore[arg-type]
    async with await connect(base_url, owner) as socket:
        for raw in ("{not json", json.dumps({"type": "dance"}),
                    json.dumps({"type": "user_message", "text": ""}),
                    json.dumps({"type": "resume", "conversation_id": theirs, "after_seq": 0}),
                    json.dumps({"type": "resume", "conversation_id": str(uuid.uuid4()),
                                "after_seq": 0})):
            await socket.send(raw)
            error = (await until(socket, lambda f: f["type"] == "error"))[-1]
            assert error["code"] in {"invalid_frame", "not_found"}, error
        codes = []
        for conversation in (theirs, str(uuid.uuid4())):
            await socket.send(json.dumps({"type": "resume", "conversation_id": conversation}))
            codes.append((await until(socket, lambda f: f["type"] == "error"))[-1]["message"]
                         .replace(conversation, "X"))
        assert codes[0] == codes[1]
        await socket.send(json.dumps({"type": "ping", "ref": "p"}))
        assert (await until(socket, lambda f: f["type"] == "pong"))[-1]["ref"] == "p"


async def test_oversized_frame_closes_with_1009(base_url: str, owner: Member) -> None:
    async with await connect(base_url, owner) as socket:
        await socket.send(json.dumps({"type": "user_message", "text": "x" * 70_000}))
        with pytest.raises(ConnectionClosed) as closed:
            await until(socket, lambda f: False)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_bad_tickets_close_with_4401(base_url: str, owner: Member) -> None:
    ws_base = base_url.replace("http://", "ws://") + "/v1/ws?ticket="
    forged = token(owner.ws.workspace_id, owner.user_id)  # a user token is not a ticket
    for value in ("", "garbage", forged):
        async with websockets.connect(ws_base + value) as socket:
            with pytest.raises(ConnectionClosed) as closed:
                await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_a_read_only_credential_gets_no_ticket(base_url: str, owner: Member,
                                                     make_member: MakeMember) -> None:
    viewer = await make_member(owner.ws, MemberRole.VIEWER)
    async with httpx.AsyncClient(base_url=base_url) as http:
        ok = await http.post("/v1/ws/tickets", headers=viewer.headers)
    assert ok.status_code == 200  # viewers may chat; their tools are read-only
