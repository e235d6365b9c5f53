"""Webhook and api nodes: real HTTP to a loopback server when the operator allows private
addresses, and refusal of loopback, private, link-local and multicast addresses otherwise."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import WorkspaceFixture
from tests.grids.support import Sessions, chain, node, run_grid
from tools.grids.safe_http import ALLOW_PRIVATE_ENV, refusal

START = node("start", "trigger")


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Loopback:
    """A tiny HTTP/1.1 server on 127.0.0.1: answers `status` with `reply`, after `delay`."""

    status: int = 200
    reply: Any = field(default_factory=lambda: {"ok": True})
    delay: float = 0.0
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        lines = head.split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {k.lower(): v.strip() for k, v in
                   (line.split(":", 1) for line in lines[1:] if ":" in line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.seen.append(Seen(method, target, headers, body))
        await asyncio.sleep(self.delay)
        payload = json.dumps(self.reply).encode()
        writer.write(f"HTTP/1.1 {self.status} X\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                     + payload)
        await writer.drain()
        writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def server() -> AsyncIterator[Loopback]:
    loopback = Loopback()
    listener = await asyncio.start_server(loopback.handle, "127.0.0.1", 0)
    loopback.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield loopback


@pytest.fixture
def allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")


@pytest.mark.usefixtures("allow_private")
async def test_webhook_posts_the_input_and_api_reads_json(
    call_tool: Any, sessions: Sessions, ws: WorkspaceFixture, server: Loopback,
) -> None:
    server.reply = {"employees": 120}
    nodes = [START, node("hook", "webhook", url=f"{server.url}/hooks/{{{{ input.id }}}}",
                         headers={"X-Token": "secret-{{ input.id }}"}),
             node("lookup", "api", url=f"{server.url}/company",
                  query={"domain": "{{ trigger.d }}"}),
             node("big", "transform", expression="input.body.employees > 50")]
    run = await run_grid(call_tool, sessions, ws, nodes, chain("start", "hook", "lookup", "big"),
                         {"id": 7, "d": "acme.com"})
    assert run.status == "completed", run.execution.error
    post, get = server.seen
    assert (post.method, post.target) == ("POST", "/hooks/7")
    assert json.loads(post.body) == {"id": 7, "d": "acme.com"}
    assert post.headers["x-token"] == "secret-7"
    assert post.headers["host"] == f"127.0.0.1:{server.port}"
    assert post.headers["idempotency-key"] == f"grid:{run.execution.id}:hook:0"
    assert post.headers["content-type"] == "application/json"
    assert (get.method, get.target, get.body) == ("GET", "/company?domain=acme.com", b"")
    assert run.output("lookup") == {"status": 200, "body": {"employees": 120},
                                    "content_type": "application/json"}
    assert run.output("big") is True
    assert run.by_node()["hook"][0].output["logs"] == [f"POST {server.url}/hooks/7 -> 200"]


@pytest.mark.usefixtures("allow_private")
async def test_an_error_status_fails_the_node_unless_told_otherwise(
    call_tool: Any, sessions: Sessions, ws: WorkspaceFixture, server: Loopback,
) -> None:
    server.status, server.reply = 503, {"error": "down"}
    failing = [START, node("hook", "webhook", url=server.url)]
    run = await run_grid(call_tool, sessions, ws, failing, chain("start", "hook"))
    assert run.status == "failed"
    assert run.execution.error["message"] == (f"POST {server.url} -> 503: the server answered "
                                              "with an error")
    tolerant = [START, node("hook", "webhook", url=server.url, fail_on_status=False)]
    run = await run_grid(call_tool, sessions, ws, tolerant, chain("start", "hook"))
    assert run.status == "completed" and run.output("hook")["status"] == 503


@pytest.mark.usefixtures("allow_private")
async def test_a_slow_server_times_out(call_tool: Any, sessions: Sessions,
                                       ws: WorkspaceFixture, server: Loopback) -> None:
    server.delay = 1.0
    nodes = [START, node("hook", "api", url=server.url, timeout_seconds=0.2)]
    run = await run_grid(call_tool, sessions, ws, nodes, chain("start", "hook"))
    assert run.status == "failed"
    assert run.execution.error["message"] == "GET 127.0.0.1 timed out after 0.2s"


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1:{port}/x", "loopback address (127.0.0.1)"),
    ("http://localhost:{port}/x", "loopback address"),
    ("http://10.1.2.3/x", "private address (10.1.2.3)"),
    ("http://192.168.0.10/x", "private address (192.168.0.10)"),
    ("http://169.254.169.254/latest/meta-data", "link-local address (169.254.169.254)"),
    ("http://224.0.0.1/x", "multicast address (224.0.0.1)"),
    ("http://[::1]:{port}/x", "loopback address (::1)"),
    ("http://[::ffff:10.0.0.1]/x", "private address"),
    ("http://0.0.0.0:{port}/x", "address (0.0.0.0)"),
])
async def test_private_addresses_are_refused_without_the_allowance(
    call_tool: Any, sessions: Sessions, ws: WorkspaceFixture, server: Loopback,
    monkeypatch: pytest.MonkeyPatch, url: str, reason: str,
) -> None:
    monkeypatch.delenv(ALLOW_PRIVATE_ENV, raising=False)
    nodes = [START, node("hook", "webhook", url=url.format(port=server.port))]
    run = await run_grid(call_tool, sessions, ws, nodes, chain("start", "hook"))
    assert run.status == "failed"
    message = run.execution.error["message"]
    assert message.startswith("refusing to call") and reason in message, message
    assert server.seen == []


async def test_only_http_urls_are_called(call_tool: Any, sessions: Sessions,
                                         ws: WorkspaceFixture) -> None:
    nodes = [START, node("hook", "api", url="file:///etc/passwd")]
    run = await run_grid(call_tool, sessions, ws, nodes, chain("start", "hook"))
    assert run.status == "failed"
    assert "only http and https URLs" in run.execution.error["message"]


def test_address_classification() -> None:
    def reason(text: str) -> str | None:
        return refusal(ipaddress.ip_address(text))

    assert reason("8.8.8.8") is None and reason("2606:4700:4700::1111") is None
    assert reason("::ffff:127.0.0.1") == "loopback"
    assert reason("fd00::1") == "private" and reason("fe80::1") == "link-local"
    assert reason("100.64.0.1") == "non-public"
    assert reason("ff02::1") == "multicast"
