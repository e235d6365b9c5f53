"""Two API replicas on one database: a socket on replica B follows a conversation whose turn
runs on replica A, and receives every event in order, including one too large to notify."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from assistant import events as ev
from assistant.http.app import Services, create_app
from assistant.relay import EventRelay
from store.bootstrap import DatabaseUrls
from tests.http.conftest import MakeServices, Member, new_chat
from tests.http.live import serving
from tests.http.test_ws import connect, until
from tests.model_server import Call, ModelServer, Text, ToolCalls


@pytest.fixture
async def replicas(make_services: MakeServices,
                   db_urls: DatabaseUrls) -> AsyncIterator[tuple[Services, Services]]:
    pair = (make_services(), make_services())
    relays = []
    for services in pair:
        relay = EventRelay(db_urls.app, services.deps.database.sessions)
        await relay.start()
        services.deps.hub.attach(relay)
        relays.append(relay)
    yield pair
    for relay in relays:
        await relay.close()


async def test_a_socket_on_another_replica_gets_every_event(
        replicas: tuple[Services, Services], owner: Member, server: ModelServer) -> None:
    a, b = replicas
    big = "Quarterly notes. " * 800  # ~13 kB of arguments: too large for one notification
    server.script(ToolCalls([Call("create_document", {"name": "Q3 notes", "content": big})]),
                  Text("Saved your notes.", chunks=6, chunk_delay=0.02))
    transport = httpx.ASGITransport(app=create_app(a))
    async with httpx.AsyncClient(transport=transport, base_url="http://a") as on_a, \
            serving(create_app(b)) as b_url:
        conversation_id = await new_chat(on_a, owner)
        async with await connect(b_url, owner) as socket:
            await socket.send(json.dumps({"type": "resume", "conversation_id": conversation_id,
                                          "after_seq": 0}))
            await asyncio.sleep(0.2)
            answered = asyncio.create_task(on_a.post(
                f"/v1/conversations/{conversation_id}/messages",
                json={"text": "save my Q3 notes"}, headers=owner.headers))
            seen = await until(socket, lambda f: f["type"] == "turn.completed")
            result = (await answered).json()
    assert [f["seq"] for f in seen] == [e["seq"] for e in result["events"]]
    started = next(f for f in seen if f["type"] == "tool.started")
    assert started["arguments"]["content"] == big
    assert "".join(f["text"] for f in seen if f["type"] == "text.delta") == "Saved your notes."


async def test_payloads_stay_under_the_notification_limit(
        replicas: tuple[Services, Services]) -> None:
    relay = replicas[0].deps.hub.relay
    assert relay is not None
    conversation, workspace = uuid.uuid4(), uuid.uuid4()
    batch = [(workspace, ev.TextDelta(seq=n, conversation_id=conversation,
                                      message_id=uuid.uuid4(), text="x" * 300))
             for n in range(1, 80)]
    batch.append((workspace, ev.TextDelta(seq=80, conversation_id=conversation,
                                          message_id=uuid.uuid4(), text="y" * 9000)))
    payloads = relay._payloads(batch)
    assert len(payloads) > 1 and all(len(p.encode()) < 8000 for p in payloads)
    items = [item for p in payloads for item in json.loads(p)["e"]]
    assert [i["seq"] for i in items] == list(range(1, 81)) and items[-1] == {"seq": 80,
                                                                             "big": True}
