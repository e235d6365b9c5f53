"""What a Neptune turn adds over a bare model call, against the loopback model server.

    .venv/bin/python benchmarks/turn_overhead.py [--turns 200]

In one run, with no model delay: p50/p95 of (a) a bare streamed `litellm.acompletion` of the
very request a Neptune text turn sends (same system prompt, history and tool schemas), (b) a
Neptune text-only turn (user message stored, context built, model streamed, answer, usage,
ledger and events stored), (c) a Neptune turn with one tool call (two model calls, one tool
run in its own transaction, its history row). Prints the added milliseconds and the ratios;
asserts nothing. Target: (b) adds at most 5 ms p50 over (a).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import litellm
from pydantic import BaseModel, ConfigDict

from assistant.deps import RuntimeDeps
from assistant.gateway import Gateway
from assistant.runtime import Runtime
from assistant.settings import RuntimeSettings
from store.bootstrap import prepare_embedded
from store.db import Database
from store.embedded import EmbeddedServer
from store.migrations import upgrade
from store.models.core import MemberRole, SubscriptionTier, User, Workspace, WorkspaceMember
from store.repositories.ai import ConversationRepository
from store.tenancy import WorkspaceScope, scoped_session
from tests.model_server import Call, ModelServer, RecordedRequest, Text, ToolCalls
from tools.context import Caller, ToolContext
from tools.registry import Risk, ToolRegistry

registry = ToolRegistry()
ANSWER = Text("Your pipeline holds twelve open deals worth 84,000 dollars.", chunks=8)


class NoArgs(BaseModel):
    model_config = ConfigDict(frozen=True)


class Pong(BaseModel):
    pong: bool


@registry.tool(risk=Risk.LOW)
async def ping(ctx: ToolContext, args: NoArgs) -> Pong:
    """Answer pong."""
    return Pong(pong=True)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(runs: int, once: Callable[[], Awaitable[float | None]]) -> tuple[
        list[float], list[float]]:
    """(time to the answer, time to the end) per run; `once` returns its answer time, if any."""
    for _ in range(max(5, runs // 10)):
        await once()  # warm connections, caches and litellm's lazy imports
    answered, ended = [], []
    for _ in range(runs):
        started = time.perf_counter()
        answer_at = await once()
        finished = time.perf_counter()
        answered.append(((answer_at or finished) - started) * 1000)
        ended.append((finished - started) * 1000)
    return answered, ended


def answer_or_call(request: RecordedRequest) -> bool:
    return request.messages[-1]["role"] != "tool"


async def setup(db: Database) -> tuple[Caller, Callable[[], Awaitable[uuid.UUID]]]:
    scope = WorkspaceScope(uuid.uuid4())
    async with scoped_session(db.sessions, scope) as session:
        session.add(Workspace(id=scope.workspace_id, name="Bench", slug=f"b-{uuid.uuid4().hex[:8]}",
                              subscription_tier=SubscriptionTier.ENTERPRISE))
        user = User(email="bench@example.com", first_name="Bench")
        session.add(user)
        await session.flush()
        session.add(WorkspaceMember(workspace_id=scope.workspace_id, user_id=user.id,
                                    role=MemberRole.OWNER))
    caller = Caller.for_member(scope.workspace_id, user.id, MemberRole.OWNER)

    async def conversation() -> uuid.UUID:
        async with scoped_session(db.sessions, scope) as session:
            row = await ConversationRepository(session, scope).create(
                user_id=caller.user_id, title="bench")
        return row.id

    return caller, conversation


async def bench(turns: int) -> None:
    with tempfile.TemporaryDirectory(prefix="neptune-bench-") as tmp:
        pg = EmbeddedServer(Path(tmp), delete_on_exit=True)
        urls = await prepare_embedded(pg, "bench")
        await upgrade(urls.owner)
        db = Database.connect(urls.app, pool_size=5)
        async with ModelServer() as server:
            settings = RuntimeSettings(model="bench", model_aliases={"bench": {
                "model": "openai/bench-model", "api_base": server.base_url}})
            runtime = Runtime(RuntimeDeps(db, Gateway(retries=0), registry, settings))
            caller, conversation = await setup(db)
            os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
            server.rule(lambda r: True, ANSWER)

            same: dict[str, Any] = {}

            async def bare() -> None:
                """The very request a Neptune text turn sends (system prompt, tools and all)."""
                stream = await litellm.acompletion(
                    model="openai/bench-model", api_base=server.base_url, api_key="sk-bench",
                    messages=same["messages"], tools=same["tools"], stream=True,
                    stream_options={"include_usage": True}, num_retries=0, max_retries=0,
                    _skip_mcp_handler=True)
                async for _ in stream:
                    pass

            async def turn() -> float | None:
                """Time of the last `message.completed`: when the user has the whole answer."""
                conversation_id = conversations.pop()
                answer_at = None
                async with await runtime.send(caller, conversation_id, "how is my pipeline?") as t:
                    async for event in t:
                        if event.type == "message.completed":
                            answer_at = time.perf_counter()
                return answer_at

            needed = 2 * (turns + max(5, turns // 10))
            conversations = [await conversation() for _ in range(needed)]
            b, b_end = await timed(turns, turn)
            same.update(messages=server.requests[-1].messages, tools=server.requests[-1].tools)
            a, _ = await timed(turns, bare)  # type: ignore[arg-type]
            server.reset()
            server.rule(answer_or_call, ToolCalls([Call("ping")]))
            server.rule(lambda r: True, ANSWER)
            c, c_end = await timed(turns, turn)
        await db.close()
        pg.stop()
    report(turns, a, b, b_end, c, c_end)


def line(label: str, samples: list[float]) -> None:
    print(f"{label:<52} p50 {statistics.median(samples):7.2f} ms"
          f"   p95 {percentile(samples, 0.95):7.2f} ms")


def report(turns: int, a: list[float], b: list[float], b_end: list[float], c: list[float],
           c_end: list[float]) -> None:
    print(f"turn overhead over {turns} runs each (loopback model, no delay)")
    line("(a) bare litellm.acompletion of the same request", a)
    line("(b) text turn: send() to the answer's message.completed", b)
    line("    ... to the turn's end (all stored, lock released)", b_end)
    line("(c) one-tool turn: send() to the final message.completed", c)
    line("    ... to the turn's end", c_end)
    pa = statistics.median(a)
    for label, samples, calls in (("text turn adds, to the answer", b, 1),
                                  ("text turn adds, to the end", b_end, 1),
                                  ("tool turn adds over two bare calls, to the answer", c, 2),
                                  ("tool turn adds over two bare calls, to the end", c_end, 2)):
        p = statistics.median(samples)
        print(f"{label:<52} {p - calls * pa:7.2f} ms   ratio {p / (calls * pa):5.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    asyncio.run(bench(parser.parse_args().turns))
