"""Galaxy grids: visual workflows as a graph of nodes and edges, their runs and run steps.

Nodes are addressed by `node_id`, the builder's own text id, unique within a grid; edges name
their endpoints by that id. A composite foreign key (workspace_id, grid_id, node_id) ties each
edge end to a node of the same grid, so PostgreSQL refuses a dangling edge and deleting a node
takes its edges with it.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import (
    JSON,
    GlobalTable,
    TenantTable,
    counter_column,
    enum_column,
    flag_column,
    json_column,
    tenant_fk,
    user_fk,
)


class GridStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class NodeType(enum.StrEnum):
    TRIGGER = "trigger"
    ACTION = "action"
    CONDITION = "condition"
    LOOP = "loop"
    AI = "ai"
    WEBHOOK = "webhook"
    DELAY = "delay"
    TRANSFORM = "transform"
    FILTER = "filter"
    AGGREGATE = "aggregate"
    BRANCH = "branch"
    MERGE = "merge"
    API = "api"
    DATABASE = "database"
    EMAIL = "email"
    NOTIFICATION = "notification"
    INTEGRATION = "integration"
    CUSTOM = "custom"


class NodeStatus(enum.StrEnum):
    IDLE = "idle"
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    SKIPPED = "skipped"


class EdgeType(enum.StrEnum):
    DEFAULT = "default"
    CONDITIONAL = "conditional"
    LOOP = "loop"
    ERROR = "error"


class GridRunStatus(enum.StrEnum):
    """`waiting` sleeps in a delay node until `resume_at`; `paused` waits for a person to approve
    an action node's tool call (an `agent_pending_actions` row naming the execution)."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (GridRunStatus.COMPLETED, GridRunStatus.FAILED, GridRunStatus.CANCELLED)


class StepStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


class GalaxyGrid(TenantTable):
    __tablename__ = "galaxy_grids"
    __table_args__ = (
        sa.Index(None, "workspace_id", "status"),
        sa.Index(None, "workspace_id", "name"),
        sa.CheckConstraint("success_rate BETWEEN 0 AND 100", name="success_rate_percent"),
    )
    created_by: Mapped[uuid.UUID | None] = user_fk()
    name: Mapped[str]
    description: Mapped[str | None]
    status: Mapped[GridStatus] = enum_column(GridStatus, default=GridStatus.DRAFT)
    trigger_type: Mapped[str] = mapped_column(default="manual", server_default="manual")
    trigger_config: Mapped[JSON] = json_column()
    settings: Mapped[JSON] = json_column()
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    published_at: Mapped[datetime | None]
    execution_count: Mapped[int] = counter_column()
    success_rate: Mapped[float | None] = mapped_column(sa.Float)
    avg_duration_ms: Mapped[int | None]
    last_executed_at: Mapped[datetime | None]


class GridNode(TenantTable):
    __tablename__ = "grid_nodes"
    __table_args__ = (
        tenant_fk("galaxy_grids", "grid_id", ondelete="CASCADE"),
        sa.UniqueConstraint("workspace_id", "grid_id", "node_id"),
    )
    grid_id: Mapped[uuid.UUID]
    node_id: Mapped[str]
    type: Mapped[NodeType] = enum_column(NodeType)
    label: Mapped[str]
    description: Mapped[str | None]
    config: Mapped[JSON] = json_column()
    position: Mapped[JSON] = json_column()
    dimensions: Mapped[JSON] = json_column()
    status: Mapped[NodeStatus] = enum_column(NodeStatus, default=NodeStatus.IDLE)
    is_enabled: Mapped[bool] = flag_column(True)
    execution_order: Mapped[int | None]


def _node_fk(column: str) -> sa.ForeignKeyConstraint:
    """Edge end -> node of the same grid, following renames and deletions of the node."""
    return sa.ForeignKeyConstraint(
        ["workspace_id", "grid_id", column],
        ["grid_nodes.workspace_id", "grid_nodes.grid_id", "grid_nodes.node_id"],
        ondelete="CASCADE",
        onupdate="CASCADE",
    )


class GridEdge(TenantTable):
    __tablename__ = "grid_edges"
    __table_args__ = (
        tenant_fk("galaxy_grids", "grid_id", ondelete="CASCADE"),
        _node_fk("source_node_id"),
        _node_fk("target_node_id"),
        sa.UniqueConstraint("workspace_id", "grid_id", "edge_id"),
    )
    grid_id: Mapped[uuid.UUID]
    edge_id: Mapped[str]
    source_node_id: Mapped[str]
    target_node_id: Mapped[str]
    type: Mapped[EdgeType] = enum_column(EdgeType, default=EdgeType.DEFAULT)
    label: Mapped[str | None]
    config: Mapped[JSON] = json_column()
    is_enabled: Mapped[bool] = flag_column(True)


class GridExecution(TenantTable):
    __tablename__ = "grid_executions"
    __table_args__ = (
        tenant_fk("galaxy_grids", "grid_id", ondelete="CASCADE"),
        sa.Index(None, "workspace_id", "grid_id", "created_at"),
        sa.Index(None, "workspace_id", "status"),
        sa.Index(
            "ix_grid_executions_resume_at", "resume_at",
            postgresql_where=sa.text("status = 'waiting'"),
        ),
    )
    grid_id: Mapped[uuid.UUID]
    grid_version: Mapped[int | None]
    status: Mapped[GridRunStatus] = enum_column(GridRunStatus, default=GridRunStatus.PENDING)
    triggered_by: Mapped[uuid.UUID | None] = user_fk()
    trigger_type: Mapped[str | None]
    trigger_data: Mapped[JSON] = json_column()
    context: Mapped[JSON] = json_column()
    result: Mapped[JSON | None]
    error: Mapped[JSON | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None]
    # When a `waiting` run's delay ends; the worker resumes it then.
    resume_at: Mapped[datetime | None]
    nodes_executed: Mapped[int] = counter_column()
    nodes_succeeded: Mapped[int] = counter_column()
    nodes_failed: Mapped[int] = counter_column()


class ExecutionStep(TenantTable):
    """One node's run inside a grid execution; `sequence` is the order the engine ran it in."""

    __tablename__ = "execution_steps"
    __table_args__ = (
        tenant_fk("grid_executions", "execution_id", ondelete="CASCADE"),
        sa.Index(None, "workspace_id", "execution_id", "sequence"),
    )
    execution_id: Mapped[uuid.UUID]
    sequence: Mapped[int]
    node_id: Mapped[str]
    node_name: Mapped[str | None]
    node_type: Mapped[NodeType | None] = enum_column(NodeType, nullable=True)
    status: Mapped[StepStatus] = enum_column(StepStatus, default=StepStatus.PENDING)
    input: Mapped[JSON] = json_column()
    output: Mapped[JSON | None]
    error: Mapped[JSON | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None]


class GridTemplate(GlobalTable):
    """A published grid (nodes and edges as JSON) a workspace can copy into a new grid."""

    __tablename__ = "grid_templates"
    __table_args__ = (sa.Index(None, "category"),)
    name: Mapped[str]
    slug: Mapped[str] = mapped_column(unique=True)
    description: Mapped[str | None]
    category: Mapped[str | None]
    nodes: Mapped[list[Any]] = json_column("[]")
    edges: Mapped[list[Any]] = json_column("[]")
    settings: Mapped[JSON] = json_column()
    preview_image_url: Mapped[str | None]
    is_published: Mapped[bool] = flag_column(True)
    is_featured: Mapped[bool] = flag_column(False)
    usage_count: Mapped[int] = counter_column()
