"""Orchestration: agent teams, the messages agents pass, multi-agent workflows, shared memory,
and the approval queue with its audit trail.

`agent_pending_actions` is the approval queue Neptune itself uses: a risky tool call is stored
whole (`tool_name`, `tool_arguments`, `idempotency_key`) so that approving it, from any channel,
can execute exactly that call once. Its status only moves forward, by conditional updates in the
repository, so two concurrent approvals cannot both win.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import (
    JSON,
    TenantTable,
    counter_column,
    enum_column,
    flag_column,
    json_column,
    tenant_fk,
    user_fk,
)


class Department(enum.StrEnum):
    SALES = "sales"
    MARKETING = "marketing"
    SUPPORT = "support"
    OPERATIONS = "operations"
    FINANCE = "finance"
    PRODUCT = "product"
    GENERAL = "general"


class TeamStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class TeamRole(enum.StrEnum):
    COORDINATOR = "coordinator"
    SPECIALIST = "specialist"
    SUPPORT = "support"


class MessageType(enum.StrEnum):
    TASK = "task"
    RESULT = "result"
    CONTEXT = "context"
    HANDOFF = "handoff"
    STATUS = "status"
    QUERY = "query"


class MessageStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    READ = "read"
    PROCESSED = "processed"


class WorkflowTrigger(enum.StrEnum):
    MANUAL = "manual"
    EVENT = "event"
    SCHEDULE = "schedule"
    AGENT_REQUEST = "agent_request"


class WorkflowStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"
    DRAFT = "draft"


class WorkflowRunStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    PAUSED = "paused"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (
            WorkflowRunStatus.COMPLETED, WorkflowRunStatus.FAILED, WorkflowRunStatus.CANCELLED
        )


class MemoryTier(enum.StrEnum):
    SHORT_TERM = "short_term"
    MEDIUM_TERM = "medium_term"
    LONG_TERM = "long_term"


class MemoryCategory(enum.StrEnum):
    CONTEXT = "context"
    PATTERN = "pattern"
    PREFERENCE = "preference"
    KNOWLEDGE = "knowledge"
    RELATIONSHIP = "relationship"


class RiskLevel(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ApprovalStatus(enum.StrEnum):
    """pending -> approved | rejected | expired; approved -> executed | failed."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    EXECUTED = "executed"
    FAILED = "failed"


class ActionTrigger(enum.StrEnum):
    USER = "user"
    SCHEDULE = "schedule"
    WORKFLOW = "workflow"
    AGENT = "agent"


class AgentTeam(TenantTable):
    __tablename__ = "agent_teams"
    __table_args__ = (
        tenant_fk("agents", "coordinator_agent_id"),
        sa.Index(None, "workspace_id", "department"),
        sa.Index(None, "workspace_id", "status"),
    )
    name: Mapped[str]
    department: Mapped[Department] = enum_column(Department, default=Department.GENERAL)
    description: Mapped[str | None]
    coordinator_agent_id: Mapped[uuid.UUID | None]
    config: Mapped[JSON] = json_column()
    status: Mapped[TeamStatus] = enum_column(TeamStatus, default=TeamStatus.ACTIVE)
    total_executions: Mapped[int] = counter_column()
    successful_executions: Mapped[int] = counter_column()
    last_active_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None] = user_fk()


class AgentTeamMember(TenantTable):
    """An agent's seat on a team; `priority` is the execution order (lowest first)."""

    __tablename__ = "agent_team_members"
    __table_args__ = (
        tenant_fk("agent_teams", "team_id", ondelete="CASCADE"),
        tenant_fk("agents", "agent_id", ondelete="CASCADE"),
        sa.UniqueConstraint("workspace_id", "team_id", "agent_id"),
        sa.Index(None, "workspace_id", "agent_id"),
    )
    team_id: Mapped[uuid.UUID]
    agent_id: Mapped[uuid.UUID]
    role: Mapped[TeamRole] = enum_column(TeamRole, default=TeamRole.SPECIALIST)
    priority: Mapped[int] = mapped_column(default=0, server_default="0")
    config: Mapped[JSON] = json_column()


class AgentMessage(TenantTable):
    """A message on the agent bus. Every message belongs to a thread; a reply inherits its
    parent's `thread_id`, a new conversation starts a fresh one."""

    __tablename__ = "agent_messages"
    __table_args__ = (
        tenant_fk("agents", "from_agent_id"),
        tenant_fk("agents", "to_agent_id"),
        tenant_fk("agent_teams", "team_id"),
        tenant_fk("agent_messages", "parent_message_id"),
        sa.Index(None, "workspace_id", "thread_id", "created_at"),
        sa.Index(None, "workspace_id", "to_agent_id", "status"),
        sa.Index(None, "workspace_id", "team_id", "created_at"),
    )
    from_agent_id: Mapped[uuid.UUID | None]
    to_agent_id: Mapped[uuid.UUID | None]
    team_id: Mapped[uuid.UUID | None]
    message_type: Mapped[MessageType] = enum_column(MessageType)
    content: Mapped[JSON] = json_column()
    parent_message_id: Mapped[uuid.UUID | None]
    thread_id: Mapped[uuid.UUID]
    status: Mapped[MessageStatus] = enum_column(MessageStatus, default=MessageStatus.PENDING)
    delivered_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]


class AgentWorkflow(TenantTable):
    __tablename__ = "agent_workflows"
    __table_args__ = (
        tenant_fk("agent_teams", "team_id"),
        sa.Index(None, "workspace_id", "team_id"),
        sa.Index(None, "workspace_id", "status"),
    )
    team_id: Mapped[uuid.UUID | None]
    name: Mapped[str]
    description: Mapped[str | None]
    category: Mapped[str | None]
    trigger_type: Mapped[WorkflowTrigger] = enum_column(
        WorkflowTrigger, default=WorkflowTrigger.MANUAL
    )
    trigger_config: Mapped[JSON] = json_column()
    steps: Mapped[list[Any]] = json_column("[]")
    status: Mapped[WorkflowStatus] = enum_column(WorkflowStatus, default=WorkflowStatus.DRAFT)
    total_executions: Mapped[int] = counter_column()
    successful_executions: Mapped[int] = counter_column()
    avg_duration_ms: Mapped[int | None]
    last_executed_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None] = user_fk()


class AgentWorkflowExecution(TenantTable):
    __tablename__ = "agent_workflow_executions"
    __table_args__ = (
        tenant_fk("agent_workflows", "workflow_id", ondelete="CASCADE"),
        sa.Index(None, "workspace_id", "workflow_id", "started_at"),
        sa.Index(None, "workspace_id", "status"),
    )
    workflow_id: Mapped[uuid.UUID]
    status: Mapped[WorkflowRunStatus] = enum_column(
        WorkflowRunStatus, default=WorkflowRunStatus.PENDING
    )
    current_step_id: Mapped[str | None]
    current_step_index: Mapped[int] = counter_column()
    step_results: Mapped[JSON] = json_column()
    context: Mapped[JSON] = json_column()
    triggered_by: Mapped[uuid.UUID | None] = user_fk()
    trigger_type: Mapped[WorkflowTrigger | None] = enum_column(WorkflowTrigger, nullable=True)
    trigger_data: Mapped[JSON] = json_column()
    started_at: Mapped[datetime] = mapped_column(server_default=sa.func.now(), default=None)
    completed_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None]
    total_steps: Mapped[int] = counter_column()
    completed_steps: Mapped[int] = counter_column()
    error: Mapped[JSON | None]


class AgentSharedMemory(TenantTable):
    """Key/value memory shared by a team (team_id), one agent (agent_id) or the whole workspace
    (both null). A key is unique within its scope; NULLS NOT DISTINCT makes the workspace-wide
    scope unique too, so `put` can upsert with ON CONFLICT."""

    __tablename__ = "agent_shared_memory"
    __table_args__ = (
        tenant_fk("agent_teams", "team_id", ondelete="CASCADE"),
        tenant_fk("agents", "agent_id", ondelete="CASCADE"),
        sa.UniqueConstraint(
            "workspace_id", "team_id", "agent_id", "key",
            name="uq_agent_shared_memory_scope_key", postgresql_nulls_not_distinct=True,
        ),
        sa.Index(None, "workspace_id", "team_id", "importance"),
        sa.Index(None, "workspace_id", "expires_at"),
        sa.CheckConstraint("importance BETWEEN 0 AND 100", name="importance_percent"),
    )
    team_id: Mapped[uuid.UUID | None]
    agent_id: Mapped[uuid.UUID | None]
    memory_tier: Mapped[MemoryTier] = enum_column(MemoryTier, default=MemoryTier.SHORT_TERM)
    category: Mapped[MemoryCategory] = enum_column(MemoryCategory, default=MemoryCategory.CONTEXT)
    key: Mapped[str]
    value: Mapped[Any] = mapped_column(JSONB, nullable=False)
    provenance: Mapped[JSON] = json_column()
    importance: Mapped[int] = mapped_column(default=50, server_default="50")
    expires_at: Mapped[datetime | None]


class AgentPendingAction(TenantTable):
    """A tool call waiting for a person's approval, stored exactly as it will be executed."""

    __tablename__ = "agent_pending_actions"
    __table_args__ = (
        tenant_fk("agents", "agent_id"),
        tenant_fk("agent_teams", "team_id"),
        tenant_fk("agent_workflow_executions", "workflow_execution_id"),
        tenant_fk("grid_executions", "grid_execution_id", ondelete="CASCADE"),
        sa.UniqueConstraint("workspace_id", "idempotency_key"),
        sa.Index(None, "workspace_id", "status", "expires_at"),
        sa.Index(None, "workspace_id", "user_id", "status"),
        sa.Index(None, "workspace_id", "conversation_id"),
        sa.CheckConstraint(
            "status NOT IN ('approved', 'rejected') OR reviewed_at IS NOT NULL",
            name="reviewed_when_decided",
        ),
    )
    agent_id: Mapped[uuid.UUID | None]
    team_id: Mapped[uuid.UUID | None]
    workflow_execution_id: Mapped[uuid.UUID | None]
    # A grid run paused on this action's approval; approving it resumes the run.
    grid_execution_id: Mapped[uuid.UUID | None]
    user_id: Mapped[uuid.UUID | None] = user_fk()
    # The ai tables belong to another domain module; kept as a plain id, not a foreign key.
    conversation_id: Mapped[uuid.UUID | None]
    action_type: Mapped[str]
    tool_name: Mapped[str]
    tool_arguments: Mapped[JSON] = json_column()
    idempotency_key: Mapped[str | None]
    risk_level: Mapped[RiskLevel] = enum_column(RiskLevel)
    reasons: Mapped[list[Any]] = json_column("[]")
    title: Mapped[str]
    description: Mapped[str | None]
    details: Mapped[JSON] = json_column()
    status: Mapped[ApprovalStatus] = enum_column(ApprovalStatus, default=ApprovalStatus.PENDING)
    requested_at: Mapped[datetime] = mapped_column(server_default=sa.func.now(), default=None)
    expires_at: Mapped[datetime] = mapped_column(
        server_default=sa.text("now() + interval '1 day'"), default=None
    )
    reviewed_by: Mapped[uuid.UUID | None] = user_fk()
    reviewed_at: Mapped[datetime | None]
    review_notes: Mapped[str | None]
    review_channel: Mapped[str | None]
    result: Mapped[JSON | None]
    executed_at: Mapped[datetime | None]


class AgentActionAuditLog(TenantTable):
    """Append-only record of every action an agent took, automatic or approved."""

    __tablename__ = "agent_action_audit_log"
    __table_args__ = (
        tenant_fk("agents", "agent_id"),
        tenant_fk("agent_teams", "team_id"),
        tenant_fk("agent_workflow_executions", "workflow_execution_id"),
        tenant_fk("agent_pending_actions", "pending_action_id"),
        sa.Index(None, "workspace_id", "executed_at"),
        sa.Index(None, "workspace_id", "agent_id", "executed_at"),
        sa.Index(None, "workspace_id", "action_type"),
    )
    agent_id: Mapped[uuid.UUID | None]
    team_id: Mapped[uuid.UUID | None]
    workflow_execution_id: Mapped[uuid.UUID | None]
    pending_action_id: Mapped[uuid.UUID | None]
    action_type: Mapped[str]
    action_details: Mapped[JSON] = json_column()
    description: Mapped[str | None]
    risk_level: Mapped[RiskLevel | None] = enum_column(RiskLevel, nullable=True)
    was_automatic: Mapped[bool] = flag_column(True)
    success: Mapped[bool]
    error: Mapped[str | None]
    result: Mapped[JSON | None]
    triggered_by: Mapped[ActionTrigger] = enum_column(ActionTrigger, default=ActionTrigger.AGENT)
    triggered_by_user_id: Mapped[uuid.UUID | None] = user_fk()
    executed_at: Mapped[datetime] = mapped_column(server_default=sa.func.now(), default=None)
    duration_ms: Mapped[int | None]
