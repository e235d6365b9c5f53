"""`neptune chat` in-process on the offline model: a missing field is asked for, the answer
completes the call, the approval prompt decides it, and the commands work."""

from __future__ import annotations

import io

import sqlalchemy as sa

from assistant.chat_cli import Console, InProcess, converse
from assistant.runtime import Runtime
from assistant.services import build_deps
from assistant.settings import RuntimeSettings
from store.db import Database
from store.models.core import MemberRole
from store.models.crm import Deal
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace
from tools.context import Caller


async def chat(runtime: Runtime, caller: Caller, lines: list[str]) -> tuple[str, list[str]]:
    out, prompts = io.StringIO(), []
    answers = iter(lines)

    def ask(prompt: str) -> str | None:
        prompts.append(prompt)
        return next(answers, None)

    assert await converse(InProcess(runtime, caller), Console(out, ask)) == 0
    return out.getvalue(), prompts


async def deals_titled(database: Database, caller: Caller, title: str) -> int:
    async with scoped_session(database.sessions, caller.scope) as session:
        found = await session.scalar(sa.select(sa.func.count()).select_from(Deal).where(
            Deal.workspace_id == caller.workspace_id, Deal.name == title))
    return int(found or 0)


async def test_a_missing_title_is_asked_then_the_answer_completes_the_call(
        database: Database, make_workspace: MakeWorkspace) -> None:
    runtime = Runtime(build_deps(database, settings=RuntimeSettings()))
    ws = await make_workspace()
    caller = Caller.for_member(ws.workspace_id, ws.user_id, MemberRole.OWNER)
    output, prompts = await chat(runtime, caller, [
        "create a deal", "call it Northgate pilot", "y", "/history", "/model", "/new", "/quit",
    ])
    assert "To create deal, what is the title?" in output
    assert "→ create_deal" in output and "Northgate pilot" in output
    assert any(p.startswith("approve ") and p.endswith("[y/n] ") for p in prompts)
    assert "user: create a deal" in output  # /history
    assert "model: neptune-local/neptune" in output
    assert "new conversation" in output
    assert await deals_titled(database, caller, "Northgate pilot") == 1


async def test_a_rejected_approval_changes_nothing(
        database: Database, make_workspace: MakeWorkspace) -> None:
    runtime = Runtime(build_deps(database, settings=RuntimeSettings()))
    ws = await make_workspace()
    caller = Caller.for_member(ws.workspace_id, ws.user_id, MemberRole.OWNER)
    output, _ = await chat(runtime, caller, ["open a deal called Harbor renewal worth $9k", "n"])
    assert "→ create_deal" in output
    assert await deals_titled(database, caller, "Harbor renewal") == 0
