"""What the orchestration tools share with each other and with the runner: the team-run service,
the message format of the agent bus, and output models."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from store.models.orchestration import (
    AgentMessage,
    AgentTeam,
    Department,
    MessageStatus,
    MessageType,
    TeamRole,
    TeamStatus,
)
from store.repositories.orchestration import TeamRoster
from tools.agents.common import preview

TEAM_RUN_SERVICE = "team_run"
WORKFLOW_RUN = "workflow_run"
TEAM_FIELDS = ("name", "department", "description", "coordinator_agent_id", "status")
WORKFLOW_FIELDS = ("name", "description", "team_id", "steps", "status", "trigger_type")
RUN_FIELDS = ("workflow_id", "status", "trigger_type", "trigger_data", "triggered_by",
              "total_steps")


@dataclass(frozen=True)
class TeamRun:
    """The team run a coordinator's tool call belongs to. The runner puts it in the services of
    the coordinator's turns only, so `hand_off_task` works there and nowhere else."""

    team_id: uuid.UUID
    coordinator_id: uuid.UUID
    thread_id: uuid.UUID
    objective_message_id: uuid.UUID
    members: Mapping[uuid.UUID, str] = field(default_factory=dict)


def message_text(message: AgentMessage) -> str:
    """The words a message carries, whatever kind it is."""
    content: Mapping[str, Any] = message.content or {}
    for key in ("text", "task", "objective", "instruction"):
        if content.get(key):
            return str(content[key])
    return ""


class SeatOut(BaseModel):
    agent_id: uuid.UUID
    name: str
    role: TeamRole


class TeamOut(BaseModel):
    id: uuid.UUID
    name: str
    department: Department
    status: TeamStatus
    description: str | None
    coordinator_agent_id: uuid.UUID | None
    members: list[SeatOut] = Field(description="In execution order.")
    total_runs: int
    successful_runs: int
    last_active_at: datetime | None

    @classmethod
    def of(cls, roster: TeamRoster) -> TeamOut:
        team: AgentTeam = roster.team
        return cls(
            id=team.id, name=team.name, department=team.department, status=team.status,
            description=team.description, coordinator_agent_id=team.coordinator_agent_id,
            members=[SeatOut(agent_id=s.agent.id, name=s.agent.name, role=s.member.role)
                     for s in roster.seats],
            total_runs=team.total_executions, successful_runs=team.successful_executions,
            last_active_at=team.last_active_at,
        )


class MessageOut(BaseModel):
    id: uuid.UUID
    type: MessageType
    from_agent_id: uuid.UUID | None
    to_agent_id: uuid.UUID | None
    text: str | None = Field(description="What it says (shortened).")
    status: MessageStatus
    sent_at: datetime

    @classmethod
    def of(cls, row: AgentMessage) -> MessageOut:
        return cls(id=row.id, type=row.message_type, from_agent_id=row.from_agent_id,
                   to_agent_id=row.to_agent_id, text=preview(message_text(row), 1000),
                   status=row.status, sent_at=row.created_at)
