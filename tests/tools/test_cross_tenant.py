"""Generated over the whole catalogue: every tool that takes an id, given ids of another
workspace's records, answers "not found" and writes nothing.

Workspace B is seeded with the full demo (small), so each id field gets a real id of B's record
of the matching kind: the very id that would work if tenancy leaked. The other required
arguments are generated from the tool's JSON schema. The caller is an owner of an empty
workspace A, so no permission check stands between the call and the lookup.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.demo import DemoWorkspaceSpec, seed_workspace
from store.maintenance import workspace_counts
from store.models import tenant_tables
from store.models.admin import AuditLog
from store.models.core import MemberRole, SubscriptionTier
from store.tenancy import WorkspaceScope, scoped_session
from tests.conftest import WorkspaceFixture, create_workspace
from tools.errors import ToolError
from tools.registry import Tool, ToolRegistry

Sessions = async_sessionmaker[AsyncSession]
TABLES = {t.name: t for t in tenant_tables()}

# Id fields whose name does not say the table (or says it ambiguously), by (domain, field).
TABLE_FOR = {
    ("*", "owner"): "users", ("*", "assignee"): "users", ("*", "assigned_to"): "users",
    ("*", "member"): "users", ("*", "reviewer"): "users", ("*", "approver"): "users",
    ("*", "post"): "blog_posts", ("*", "idea"): "topic_ideas", ("*", "topic"): "topic_ideas",
    ("*", "source"): "content_sources", ("*", "conversation"): "conversations",
    ("*", "member_user"): "users", ("*", "manager"): "users", ("*", "recipient"): "users",
    ("*", "actor"): "users", ("*", "assign_to"): "users", ("*", "round_robin_members"): "users",
    ("*", "reply_to_message"): "team_messages", ("creator", "template"): "creator_templates",
    ("*", "number"): "workspace_phone_numbers", ("*", "phone_number"): "workspace_phone_numbers",
    ("*", "rule"): "automation_rules", ("*", "channel"): "marketing_channels",
    ("*", "category"): "blog_categories", ("*", "parent"): "todo_hq_tasks",
    ("*", "sprint"): "todo_hq_sprints", ("*", "epic"): "todo_hq_epics",
    ("*", "task"): "todo_hq_tasks",
    ("*", "pending_action"): "agent_pending_actions", ("*", "execution"): "agent_executions",
    ("*", "webhook"): "webhooks", ("*", "integration"): "integrations",
    ("*", "template"): "agent_templates", ("*", "team"): "agent_teams",
    ("*", "workflow"): "agent_workflows", ("*", "schedule"): "agent_schedules",
    ("*", "collection"): "knowledge_collections", ("*", "tag"): "knowledge_tags",
    ("*", "item"): "knowledge_items", ("*", "document"): "creator_items",
    ("creator", "item"): "creator_items", ("creator", "collection"): "creator_collections",
    ("grids", "execution"): "grid_executions", ("grids", "template"): "grid_templates",
    ("orchestration", "execution"): "agent_workflow_executions",
    ("orchestration", "coordinator_agent"): "agents",
    ("orchestration", "member_agent"): "agents",
    ("*", "grid"): "galaxy_grids", ("*", "insight"): "proactive_insights",
    ("*", "fact"): "memory_facts",
}
# Arguments a tool needs beyond the generated ones, and id fields to leave out (mutually
# exclusive with another, or naming a global table such as templates every workspace shares).
EXTRA: dict[str, dict[str, Any]] = {
    "create_contact": {"first_name": "Ann"},
    "update_blog_post": {"title": "New title"},
    "install_agent_template": {"slug": "no-such-template"},
    "update_agent": {"name": "Renamed"},
    "update_knowledge_item": {"name": "New name"},
}
OMIT: dict[str, set[str]] = {
    "create_lead_routing_rule": {"round_robin_members"},
    "create_creator_item": {"template_id"},
    "install_agent_template": {"template_id"},
    "remember_shared": {"agent_id"},
    "recall_shared": {"agent_id"},
    "list_insights": {"record_id"},  # any kind of record: a filter, never a look-up
}
# Id fields that get an id that never existed in both calls (one of B's ids would clash with
# another field's: a team's coordinator may not also be a member).
FRESH: dict[str, set[str]] = {"create_agent_team": {"member_agent_ids"}}


def spec() -> DemoWorkspaceSpec:
    return DemoWorkspaceSpec(
        slug=f"xt-{uuid.uuid4().hex[:8]}", name="Cross-tenant B", tier=SubscriptionTier.FREE,
        people=(("Bea", "B", MemberRole.OWNER), ("Bob", "B", MemberRole.MEMBER)),
        size=0.05, seed=11,
    )


async def ids_by_table(sessions: Sessions, scope: WorkspaceScope) -> dict[str, uuid.UUID]:
    found: dict[str, uuid.UUID] = {}
    async with scoped_session(sessions, scope) as session:
        for name, table in TABLES.items():
            row = await session.scalar(sa.select(table.c.id).order_by(table.c.id).limit(1))
            if row is not None:
                found[name] = row
        members = await session.execute(sa.text(
            "SELECT user_id FROM workspace_members ORDER BY user_id LIMIT 1"))
        found["users"] = members.scalar_one()
    return found


def table_for(tool: Tool, field: str) -> str | None:
    stem = field.removesuffix("_ids").removesuffix("_id")
    for key in ((tool.domain, stem), ("*", stem)):
        if key in TABLE_FOR:
            return TABLE_FOR[key]
    for name in (f"{stem}s", f"{stem}es", stem.removesuffix("y") + "ies"):
        if name in TABLES:
            return name
    return None


class Builder:
    """Arguments for one tool from its JSON schema: B's ids for id fields, plain valid values
    for the rest."""

    def __init__(self, tool: Tool, ids: Mapping[str, uuid.UUID], *, fake: bool = False) -> None:
        self.tool, self.ids, self.fake = tool, ids, fake
        self.schema = tool.args_model.model_json_schema()
        self.unmapped: list[str] = []
        self.id_values: list[str] = []  # every id put in the arguments, nested ones too

    def build(self) -> dict[str, Any]:
        return self.object(self.schema, top=True)

    def resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            node = self.schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        return node

    def object(self, node: Mapping[str, Any], *, top: bool = False) -> dict[str, Any]:
        node = self.resolve(node)
        out: dict[str, Any] = {}
        required = set(node.get("required", []))
        for name, prop in node.get("properties", {}).items():
            if top and name in OMIT.get(self.tool.name, ()):
                continue
            if self.is_id(prop):
                out[name] = self.id_value(name, prop)
            elif name in required:
                out[name] = self.value(name, prop)
        return {**out, **EXTRA.get(self.tool.name, {})} if top else out

    def is_id(self, prop: Mapping[str, Any]) -> bool:
        prop = self.resolve(prop)
        options = prop.get("anyOf", [prop])
        return any(self.resolve(o).get("format") == "uuid" or
                   self.resolve(o.get("items", {})).get("format") == "uuid" for o in options)

    def id_value(self, name: str, prop: Mapping[str, Any]) -> Any:
        table = table_for(self.tool, name)
        if table is None or table not in self.ids:
            self.unmapped.append(f"{name} -> {table}")
            return str(uuid.uuid4())
        fresh = self.fake or name in FRESH.get(self.tool.name, ())
        value = str(uuid.uuid4() if fresh else self.ids[table])
        self.id_values.append(value)
        options = self.resolve(prop).get("anyOf", [prop])
        is_list = any(self.resolve(o).get("type") == "array" for o in options)
        return [value] if is_list else value

    def value(self, name: str, prop: Mapping[str, Any]) -> Any:
        prop = self.resolve(prop)
        if "anyOf" in prop:
            prop = self.resolve(next(o for o in prop["anyOf"] if o.get("type") != "null"))
        if "const" in prop:
            return prop["const"]
        if "enum" in prop:
            return prop["enum"][0]
        kind = prop.get("type")
        if kind == "object" or "properties" in prop:
            return self.object(prop)
        if kind == "array":
            return [self.value(name, prop.get("items", {}))] * max(prop.get("minItems", 0), 1)
        if kind == "integer":
            return max(int(prop.get("minimum", 1)), int(prop.get("exclusiveMinimum", 0)) + 1)
        if kind == "number":
            return max(float(prop.get("minimum", 1)), 1.0)
        if kind == "boolean":
            return True
        return self.text(name, prop)

    def text(self, name: str, prop: Mapping[str, Any]) -> str:
        fmt = prop.get("format")
        if fmt == "date":
            return (datetime.now(UTC).date() + timedelta(days=7)).isoformat()
        if fmt == "date-time":
            return (datetime.now(UTC) + timedelta(days=7)).isoformat()
        if fmt == "email" or "email" in name:
            return "someone@example.com"
        if fmt == "uri" or "url" in name:
            return "https://example.com/x"
        if "phone" in name:
            return "+14155550123"
        if name == "currency":
            return "USD"
        return "x" * max(int(prop.get("minLength", 1)), 3)


@pytest.fixture(scope="module")
async def b_ids(sessions: Sessions) -> tuple[WorkspaceScope, dict[str, uuid.UUID]]:
    b = spec()
    await seed_workspace(sessions, b)
    scope = WorkspaceScope(b.workspace_id)
    return scope, await ids_by_table(sessions, scope)


def tools_with_ids(catalog: ToolRegistry) -> list[Tool]:
    return [t for t in catalog if Builder(t, {}).schema and any(
        Builder(t, {}).is_id(p) for p in Builder(t, {}).schema.get("properties", {}).values())]


async def outcome(call_tool: Any, ws: WorkspaceFixture, tool: Tool,
                  arguments: dict[str, Any], ids: list[str]) -> str:
    """What the caller sees, with the ids it passed blanked out: an error's text, or the
    result."""
    try:
        seen = repr(await call_tool(ws, tool.name, arguments))
    except ToolError as exc:
        seen = f"{type(exc).__name__}: {exc}"
    for value in ids:
        seen = seen.replace(value, "<id>")
    return seen


async def test_every_tool_treats_another_workspaces_ids_as_missing(
    catalog: ToolRegistry, call_tool: Any, sessions: Sessions,
    b_ids: tuple[WorkspaceScope, dict[str, uuid.UUID]],
) -> None:
    """For each tool, B's ids and ids that never existed give the same answer (a not-found
    error, or the same empty result for a filter), and B is unchanged."""
    b_scope, ids = b_ids
    a: WorkspaceFixture = await create_workspace(sessions)
    before = await workspace_counts(sessions, b_scope.workspace_id)
    problems: list[str] = []
    tools = tools_with_ids(catalog)
    assert len(tools) >= 40, "expected most of the catalogue to take ids"
    not_found = 0
    for tool in tools:
        real, fake = Builder(tool, ids), Builder(tool, ids, fake=True)
        with_b, with_fake = real.build(), fake.build()
        if real.unmapped:
            problems.append(f"{tool.name}: no table for id field(s) {real.unmapped}")
            continue
        seen_b = await outcome(call_tool, a, tool, with_b, real.id_values)
        seen_fake = await outcome(call_tool, a, tool, with_fake, fake.id_values)
        if seen_b != seen_fake:
            problems.append(f"{tool.name}: B's ids -> {seen_b}; missing ids -> {seen_fake}")
        elif "invalid arguments" in seen_b:
            problems.append(f"{tool.name}: generated arguments were refused: {seen_b}")
        not_found += "in this workspace" in seen_b
    assert not problems, "\n".join(problems)
    assert not_found >= len(tools) * 3 // 4, "most id-taking tools should look the id up"
    assert await workspace_counts(sessions, b_scope.workspace_id) == before
    async with scoped_session(sessions, a.scope) as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == 0
