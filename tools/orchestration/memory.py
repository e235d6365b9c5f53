"""Shared memory for agents and people: small named facts kept for a team, one agent, or the
whole workspace (`agent_shared_memory`), e.g. "acme_contact_preference" -> "email, not calls".

A key is unique within its scope, so remembering under a key that exists replaces the value.
Low risk: it changes no business record, but it writes, so it needs the member role.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from store.models.core import MemberRole
from store.models.orchestration import AgentSharedMemory, MemoryCategory, MemoryTier
from store.repositories.agents import AgentRepository
from store.repositories.base import utcnow
from store.repositories.orchestration import AgentSharedMemoryRepository, AgentTeamRepository
from tools.agents.common import Frozen
from tools.audit import record_change, snapshot
from tools.context import ToolContext
from tools.registry import Risk, tool

MAX_VALUE_CHARS = 20_000
MEMORY_FIELDS = ("key", "value", "team_id", "agent_id", "memory_tier", "category", "importance",
                 "expires_at")
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/ -]*$"
JsonValue = str | int | float | bool | list[Any] | dict[str, Any]


class MemoryScope(Frozen):
    team_id: uuid.UUID | None = Field(default=None, description="A team's memory.")
    agent_id: uuid.UUID | None = Field(default=None, description="One agent's memory.")

    @model_validator(mode="after")
    def _one_scope(self) -> MemoryScope:
        if self.team_id is not None and self.agent_id is not None:
            raise ValueError("give team_id or agent_id (or neither, for the workspace), not both")
        return self


async def _check_scope(ctx: ToolContext, scope: MemoryScope) -> None:
    if scope.team_id is not None:
        await AgentTeamRepository(ctx.session, ctx.scope).get(scope.team_id)
    if scope.agent_id is not None:
        await AgentRepository(ctx.session, ctx.scope).get(scope.agent_id)


class MemoryOut(BaseModel):
    key: str
    value: Any
    team_id: uuid.UUID | None
    agent_id: uuid.UUID | None
    tier: MemoryTier
    category: MemoryCategory
    importance: int
    expires_at: datetime | None
    updated_at: datetime

    @classmethod
    def of(cls, row: AgentSharedMemory) -> MemoryOut:
        return cls(key=row.key, value=row.value, team_id=row.team_id, agent_id=row.agent_id,
                   tier=row.memory_tier, category=row.category, importance=row.importance,
                   expires_at=row.expires_at, updated_at=row.updated_at)


class RememberArgs(MemoryScope):
    key: str = Field(min_length=1, max_length=200, pattern=KEY_PATTERN,
                     description="Name of the fact, e.g. 'acme_contact_preference'.")
    value: JsonValue = Field(description="The fact: text, a number, or a small JSON object.")
    category: MemoryCategory = Field(default=MemoryCategory.CONTEXT, description="What it is.")
    tier: MemoryTier = Field(default=MemoryTier.LONG_TERM, description="How long it matters.")
    importance: int = Field(default=50, ge=0, le=100, description="0-100; recall sorts by it.")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650,
                                        description="Forget it after this many days.")

    @field_validator("value")
    @classmethod
    def _small(cls, value: JsonValue) -> JsonValue:
        if len(json.dumps(value)) > MAX_VALUE_CHARS:
            raise ValueError(f"at most {MAX_VALUE_CHARS:,} characters of JSON")
        return value


class MemoryResult(BaseModel):
    memory: MemoryOut
    replaced: bool = Field(description="True when the key held an earlier value.")


@tool(risk=Risk.LOW, role=MemberRole.MEMBER, title="Remember {key}", examples=(
    "remember that Acme prefers email over calls", "note for the sales team: Q3 focus is EMEA",
))
async def remember_shared(ctx: ToolContext, args: RememberArgs) -> MemoryResult:
    """Remember a fact in shared memory for the whole workspace, a team (team_id) or one agent
    (agent_id). Remembering under an existing key replaces its value. Agents and Neptune read
    it with recall_shared."""
    await _check_scope(ctx, args)
    repo = AgentSharedMemoryRepository(ctx.session, ctx.scope)
    old = await repo.get_by_key(args.key, team_id=args.team_id, agent_id=args.agent_id)
    before = snapshot(old, MEMORY_FIELDS) if old is not None else None
    expires = utcnow() + timedelta(days=args.expires_in_days) if args.expires_in_days else None
    row = await repo.put(
        args.key, args.value, team_id=args.team_id, agent_id=args.agent_id, tier=args.tier,
        category=args.category, importance=args.importance, expires_at=expires,
        provenance={"user_id": str(ctx.caller.user_id), "channel": ctx.caller.channel,
                    "conversation_id": str(ctx.conversation_id) if ctx.conversation_id else None},
    )
    await record_change(ctx, "update" if old else "create", "agent_shared_memory", row.id,
                        before=before, after=snapshot(row, MEMORY_FIELDS))
    return MemoryResult(memory=MemoryOut.of(row), replaced=old is not None)


class RecallArgs(MemoryScope):
    key: str | None = Field(default=None, min_length=1, max_length=200,
                            description="The exact key; omit to list the most important facts.")
    tier: MemoryTier | None = Field(default=None, description="Only this tier (when listing).")
    limit: int = Field(default=10, ge=1, le=50, description="Facts to list (1-50).")


class RecallResult(BaseModel):
    memories: list[MemoryOut] = Field(description="Most important first; empty if none.")


@tool(risk=Risk.LOW, examples=(
    "what do we know about Acme's preferences?", "what has the sales team noted?",
))
async def recall_shared(ctx: ToolContext, args: RecallArgs) -> RecallResult:
    """Recall shared memory of the workspace, a team (team_id) or one agent (agent_id): one
    fact by its exact key, or the most important facts of that scope. Expired facts are gone."""
    await _check_scope(ctx, args)
    repo = AgentSharedMemoryRepository(ctx.session, ctx.scope)
    if args.key is not None:
        row = await repo.get_by_key(args.key, team_id=args.team_id, agent_id=args.agent_id)
        return RecallResult(memories=[MemoryOut.of(row)] if row else [])
    rows = await repo.most_important(team_id=args.team_id, agent_id=args.agent_id,
                                     tier=args.tier, limit=args.limit)
    return RecallResult(memories=[MemoryOut.of(r) for r in rows])
