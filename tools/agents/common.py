"""What the agent tools share with each other and with the runner: reading an agent's config,
cron schedules, and the output models.

An agent's `config` is the JSON the product has always stored (camelCase keys): `model` (a model
alias; none means the workspace's model), `systemPrompt`, and `tools` (the names of the only
tools the agent may use). `AgentConfig` is the one reader of it, so the tools that write it and
the runner that executes it agree on what it means.

Schedules are five-field cron expressions read in an IANA time zone ("0 8 * * 1-5" in
"America/New_York" is 8:00 New York time on weekdays, across daylight-saving changes);
`next_run_at` is stored in UTC so the due-work query is a plain comparison.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field

from store.errors import InvalidArgument
from store.models.agents import (
    Agent,
    AgentExecution,
    AgentLog,
    AgentSchedule,
    AgentStatus,
    AgentType,
    ExecutionStatus,
)
from tools.errors import ToolFailed
from tools.registry import registry

AGENT_RUN = "agent_run"
AGENT_SCHEDULE = "agent_schedule"
MIN_SCHEDULE_GAP = timedelta(minutes=5)
TEXT_PREVIEW = 2000
# Tools that start more agent work: an agent given them could keep itself running forever.
NOT_FOR_AGENTS = frozenset({
    "run_agent", "schedule_agent", "run_agent_team", "execute_workflow",
})
AGENT_FIELDS = ("name", "description", "type", "status", "config", "source_template_id",
                "is_custom", "created_by")
SCHEDULE_FIELDS = ("agent_id", "trigger_type", "cron", "timezone", "input", "enabled",
                   "next_run_at")
EXECUTION_FIELDS = ("agent_id", "status", "input", "triggered_by", "schedule_id")


class Frozen(BaseModel):
    """Base of argument models: immutable, and unknown fields are an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class AgentConfig:
    """An agent's model, system prompt and allowed tools, as stored in `agents.config`."""

    model: str | None = None
    system_prompt: str | None = None
    tools: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: Mapping[str, Any] | None) -> AgentConfig:
        data = config or {}
        tools = data.get("tools")
        prompt = data.get("systemPrompt") or data.get("system_prompt")
        return cls(
            model=str(data["model"]) if data.get("model") else None,
            system_prompt=str(prompt) if prompt else None,
            tools=tuple(str(t) for t in tools) if isinstance(tools, list) else (),
        )

    def merged_into(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """`config` with these three keys replaced; other keys (provider, KPIs) are kept."""
        return {**config, "model": self.model, "systemPrompt": self.system_prompt,
                "tools": list(self.tools)}


def check_tool_names(names: list[str]) -> list[str]:
    """The names, deduplicated, if each is a tool an agent may be given."""
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise InvalidArgument(
            f"unknown tools: {', '.join(unknown)}; give tool names exactly as Neptune's tools"
            " are named, e.g. list_tasks or create_contact"
        )
    refused = [n for n in names if n in NOT_FOR_AGENTS]
    if refused:
        raise InvalidArgument(f"agents cannot be given {', '.join(refused)}: it starts more"
                              " agent work")
    return list(dict.fromkeys(names))


def check_runnable(agent: Agent) -> None:
    """Only an active agent runs; a paused, draft or archived one is refused, not queued."""
    if agent.status != AgentStatus.ACTIVE:
        raise ToolFailed(f"agent {agent.name!r} is {agent.status}; activate it with update_agent"
                         " first")


# -- schedules ----------------------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidArgument(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Paris or UTC"
        ) from exc


def next_run(cron: str, timezone: str, after: datetime) -> datetime:
    """The first firing strictly after `after`, in UTC."""
    local = after.astimezone(zone(timezone))
    fired: datetime = croniter(cron, local).get_next(datetime)
    return fired.astimezone(UTC)


def check_cron(cron: str, timezone: str, now: datetime) -> datetime:
    """Validate a five-field cron expression (at most every five minutes) in an IANA zone;
    returns its next firing in UTC."""
    zone(timezone)
    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise InvalidArgument(
            f"{cron!r} is not a cron expression; use five fields: minute hour day-of-month"
            " month day-of-week, e.g. '0 8 * * 1-5' for 8:00 on weekdays"
        )
    first = next_run(cron, timezone, now)
    if next_run(cron, timezone, first) - first < MIN_SCHEDULE_GAP:
        raise InvalidArgument("an agent may run at most every 5 minutes")
    return first


# -- output models ------------------------------------------------------------------------------


def preview(text: str | None, limit: int = TEXT_PREVIEW) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + "…"


class AgentOut(BaseModel):
    id: uuid.UUID
    name: str
    type: AgentType
    status: AgentStatus
    description: str | None
    model: str | None = Field(description="Model alias; null means the workspace's model.")
    tools: list[str] = Field(description="The only tools the agent may use.")
    execution_count: int
    last_executed_at: datetime | None
    source_template_id: uuid.UUID | None

    @classmethod
    def of(cls, row: Agent) -> AgentOut:
        config = AgentConfig.of(row.config)
        return cls(id=row.id, name=row.name, type=row.type, status=row.status,
                   description=row.description, model=config.model, tools=list(config.tools),
                   execution_count=row.execution_count, last_executed_at=row.last_executed_at,
                   source_template_id=row.source_template_id)


class ScheduleOut(BaseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    cron: str | None
    timezone: str
    task: str | None
    enabled: bool
    next_run_at: datetime | None = Field(description="Next firing, UTC.")
    next_run_local: str | None = Field(description="Next firing in the schedule's time zone.")
    last_run_at: datetime | None
    last_run_status: ExecutionStatus | None

    @classmethod
    def of(cls, row: AgentSchedule) -> ScheduleOut:
        local = None
        if row.next_run_at is not None:
            local = row.next_run_at.astimezone(zone(row.timezone)).isoformat()
        return cls(id=row.id, agent_id=row.agent_id, cron=row.cron, timezone=row.timezone,
                   task=(row.input or {}).get("task"), enabled=row.enabled,
                   next_run_at=row.next_run_at, next_run_local=local,
                   last_run_at=row.last_run_at, last_run_status=row.last_run_status)


class ExecutionOut(BaseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    status: ExecutionStatus
    task: str | None
    answer: str | None = Field(description="The agent's final answer (shortened).")
    awaiting_approval: list[uuid.UUID] = Field(
        description="Pending actions the run waits on (list_pending_actions).")
    error: str | None
    triggered_by: uuid.UUID | None
    schedule_id: uuid.UUID | None
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None
    tokens_used: int | None
    cost_cents: int
    currency: str

    @classmethod
    def of(cls, row: AgentExecution) -> ExecutionOut:
        output, error = row.output or {}, row.error or {}
        return cls(
            id=row.id, agent_id=row.agent_id, status=row.status,
            task=(row.input or {}).get("task") or (row.input or {}).get("objective"),
            answer=preview(output.get("text")),
            awaiting_approval=[uuid.UUID(str(i)) for i in output.get("awaiting_approval", [])],
            error=error.get("message"), triggered_by=row.triggered_by,
            schedule_id=row.schedule_id, started_at=row.started_at,
            completed_at=row.completed_at, duration_ms=row.duration_ms,
            tokens_used=row.tokens_used, cost_cents=row.cost_cents, currency=row.currency,
        )


class LogOut(BaseModel):
    logged_at: datetime
    model: str | None
    success: bool
    duration_ms: int | None
    input_summary: str | None
    output_summary: str | None
    error: str | None

    @classmethod
    def of(cls, row: AgentLog) -> LogOut:
        return cls(logged_at=row.logged_at, model=row.model, success=row.success,
                   duration_ms=row.duration_ms, input_summary=row.input_summary,
                   output_summary=row.output_summary, error=row.error)
