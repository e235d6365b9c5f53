"""The approval queue as people see it: actions Neptune, agents, grids and workflows proposed
that wait for a decision. Reading only: deciding belongs to people, through the approval flow
of the runtime (`assistant.approvals`), never to a tool."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from store.models.core import MemberRole
from store.models.orchestration import AgentPendingAction, RiskLevel
from store.repositories.agents import AgentRepository
from store.repositories.orchestration import AgentPendingActionRepository
from tools.agents.common import Frozen
from tools.context import ToolContext
from tools.registry import Risk, tool


class ListPendingArgs(Frozen):
    agent_id: uuid.UUID | None = Field(default=None,
                                       description="Only actions this agent proposed.")
    everyone: bool = Field(default=False, description=(
        "Admins: include actions other members must decide (default: only yours)."))
    limit: int = Field(default=20, ge=1, le=100, description="Actions to list (1-100).")


class PendingActionOut(BaseModel):
    id: uuid.UUID
    title: str
    tool: str
    arguments: dict[str, Any]
    risk: RiskLevel
    reasons: list[Any]
    agent_id: uuid.UUID | None
    agent_name: str | None
    requested_by: uuid.UUID | None
    requested_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, row: AgentPendingAction, names: dict[uuid.UUID, str]) -> PendingActionOut:
        return cls(id=row.id, title=row.title, tool=row.tool_name, arguments=row.tool_arguments,
                   risk=row.risk_level, reasons=list(row.reasons), agent_id=row.agent_id,
                   agent_name=names.get(row.agent_id) if row.agent_id else None,
                   requested_by=row.user_id, requested_at=row.requested_at,
                   expires_at=row.expires_at)


class PendingList(BaseModel):
    actions: list[PendingActionOut] = Field(description="Oldest request first.")
    total: int = Field(description="Pending actions matching, before the limit.")


@tool(risk=Risk.LOW, examples=(
    "what is waiting for my approval?", "did the Lead Scout ask me to approve anything?",
))
async def list_pending_actions(ctx: ToolContext, args: ListPendingArgs) -> PendingList:
    """List actions waiting for approval (not yet expired), oldest first: what each would do,
    its risk, and which agent proposed it. Shows yours; admins may ask for everyone's. The user
    approves or rejects them in the approval cards, not through a tool."""
    if args.agent_id is not None:
        await AgentRepository(ctx.session, ctx.scope).get(args.agent_id)
    everyone = args.everyone and ctx.caller.at_least(MemberRole.ADMIN)
    rows = await AgentPendingActionRepository(ctx.session, ctx.scope).list_pending(
        None if everyone else ctx.caller.user_id)
    if args.agent_id is not None:
        rows = [r for r in rows if r.agent_id == args.agent_id]
    agents = await AgentRepository(ctx.session, ctx.scope).get_many(
        {r.agent_id for r in rows[: args.limit] if r.agent_id})
    names = {a.id: a.name for a in agents}
    return PendingList(actions=[PendingActionOut.of(r, names) for r in rows[: args.limit]],
                       total=len(rows))
