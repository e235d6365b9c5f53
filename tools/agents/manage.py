"""Agent tools for the agents themselves: find, read, create, change, and find and install
marketplace templates. Creating and changing agents needs the `agents` permission (members have
it).

Marketplace templates are a catalogue shared by every workspace (`AgentTemplateCatalogue`, no
workspace filter): listing them reads no workspace's data, and only published ones are shown or
installed."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field, model_validator

from store.errors import InvalidArgument
from store.models.agents import AgentStatus, AgentTemplate, AgentType
from store.repositories.agents import (
    AgentExecutionRepository,
    AgentRepository,
    AgentScheduleRepository,
    AgentTemplateCatalogue,
)
from tools.agents.common import (
    AGENT_FIELDS,
    AgentConfig,
    AgentOut,
    ExecutionOut,
    Frozen,
    ScheduleOut,
    check_tool_names,
)
from tools.audit import record_change, replayed, snapshot
from tools.context import ToolContext
from tools.errors import ToolFailed
from tools.registry import Risk, tool

MODEL_PATTERN = r"^[A-Za-z0-9_.:/@-]{1,100}$"
ToolName = Annotated[str, Field(min_length=2, max_length=64, pattern=r"^[a-z][a-z0-9_]+$")]


# -- reading ------------------------------------------------------------------------------------


class ListAgentsArgs(Frozen):
    query: str = Field(default="", max_length=200, description="Text in the name or description.")
    type: AgentType | None = Field(default=None, description="Only agents of this kind.")
    status: AgentStatus | None = Field(
        default=None, description="Only this status (archived agents are hidden otherwise).")
    limit: int = Field(default=20, ge=1, le=50, description="Agents per page (1-50).")
    cursor: str | None = Field(default=None, max_length=500,
                               description="next_cursor of a previous call, for more.")


class AgentList(BaseModel):
    agents: list[AgentOut] = Field(description="By name.")
    has_more: bool
    next_cursor: str | None


@tool(risk=Risk.LOW, examples=(
    "which agents do we have?", "show our paused agents", "is there a sales agent?",
))
async def list_agents(ctx: ToolContext, args: ListAgentsArgs) -> AgentList:
    """List the workspace's AI agents by name, with their status, model and allowed tools.
    Filter by text, type or status. Use get_agent for one agent's schedules and recent runs."""
    page = await AgentRepository(ctx.session, ctx.scope).search(
        args.query, type=args.type, status=args.status, limit=args.limit, cursor=args.cursor)
    return AgentList(agents=[AgentOut.of(a) for a in page.items],
                     has_more=page.next_cursor is not None, next_cursor=page.next_cursor)


class GetAgentArgs(Frozen):
    agent_id: uuid.UUID = Field(description="The agent, from list_agents.")


class AgentStats(BaseModel):
    runs: int
    completed: int
    failed: int
    in_progress: int
    success_rate: float | None = Field(description="Completed share of finished runs, percent.")
    avg_duration_ms: int | None
    tokens_used: int


class AgentDetail(BaseModel):
    agent: AgentOut
    system_prompt: str | None
    schedules: list[ScheduleOut]
    stats: AgentStats
    recent_runs: list[ExecutionOut] = Field(description="Newest first, at most 5.")


@tool(risk=Risk.LOW, examples=(
    "how is the Lead Scout doing?", "when does the inbox agent run next?",
    "show me the research agent's setup",
))
async def get_agent(ctx: ToolContext, args: GetAgentArgs) -> AgentDetail:
    """Show one agent: its configuration (system prompt, model, tools), schedules with their
    next run, run statistics and its five most recent runs."""
    agents = AgentRepository(ctx.session, ctx.scope)
    agent = await agents.get(args.agent_id)
    stats = await agents.execution_stats(agent.id)
    runs = await AgentExecutionRepository(ctx.session, ctx.scope).for_agent(agent.id, limit=5)
    schedules = await AgentScheduleRepository(ctx.session, ctx.scope).for_agent(agent.id)
    return AgentDetail(
        agent=AgentOut.of(agent), system_prompt=AgentConfig.of(agent.config).system_prompt,
        schedules=[ScheduleOut.of(s) for s in schedules],
        stats=AgentStats(runs=stats.total, completed=stats.completed, failed=stats.failed,
                         in_progress=stats.in_progress, success_rate=stats.success_rate,
                         avg_duration_ms=stats.avg_duration_ms, tokens_used=stats.tokens_used),
        recent_runs=[ExecutionOut.of(r) for r in runs.items],
    )


# -- writing ------------------------------------------------------------------------------------


class AgentResult(BaseModel):
    agent: AgentOut


class CreateAgentArgs(Frozen):
    name: str = Field(min_length=1, max_length=120, description="Agent name, e.g. 'Lead Scout'.")
    system_prompt: str = Field(
        min_length=1, max_length=8000,
        description="What the agent is and how it works: its standing instructions.")
    tools: list[ToolName] = Field(
        default_factory=list, max_length=30,
        description="Names of the only tools it may use, e.g. ['search_contacts', 'create_task'].")
    description: str | None = Field(default=None, max_length=2000,
                                    description="One or two sentences for people.")
    type: AgentType = Field(default=AgentType.CUSTOM, description="Kind of agent.")
    model: str | None = Field(default=None, pattern=MODEL_PATTERN,
                              description="Model alias; omit to use the workspace's model.")
    status: Literal["active", "draft"] = Field(
        default="active", description="active can run now; draft cannot run until activated.")


@tool(risk=Risk.MEDIUM, permission="agents", title="Create agent {name}", examples=(
    "create an agent that tidies overdue tasks every morning",
    "set up a research agent that can search contacts",
))
async def create_agent(ctx: ToolContext, args: CreateAgentArgs) -> AgentResult:
    """Create a custom AI agent with standing instructions (system prompt) and the only tools it
    may use. It acts as whoever runs it and its risky actions still wait for approval. Start it
    with run_agent or schedule_agent."""
    repo = AgentRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "create", "agent")
    if earlier is not None:
        return AgentResult(agent=AgentOut.of(await repo.get(earlier)))
    config = AgentConfig(args.model, args.system_prompt, tuple(check_tool_names(args.tools)))
    agent = await repo.create(
        name=args.name.strip(), description=args.description, type=args.type,
        status=AgentStatus(args.status), config=config.merged_into({}), is_custom=True,
        created_by=ctx.caller.user_id,
    )
    await record_change(ctx, "create", "agent", agent.id, after=snapshot(agent, AGENT_FIELDS))
    return AgentResult(agent=AgentOut.of(agent))


class UpdateAgentArgs(Frozen):
    agent_id: uuid.UUID = Field(description="The agent, from list_agents.")
    status: Literal["active", "paused", "draft"] | None = Field(
        default=None, description="active to let it run, paused to stop runs and schedules.")
    name: str | None = Field(default=None, min_length=1, max_length=120, description="New name.")
    description: str | None = Field(default=None, max_length=2000, description="New description.")
    system_prompt: str | None = Field(default=None, min_length=1, max_length=8000,
                                      description="New standing instructions (replaces them).")
    tools: list[ToolName] | None = Field(default=None, max_length=30,
                                    description="New tool list; replaces the whole list.")
    model: str | None = Field(default=None, pattern=MODEL_PATTERN, description="New model alias.")
    use_workspace_model: bool = Field(
        default=False, description="Forget the agent's own model and use the workspace's.")

    @model_validator(mode="after")
    def _something(self) -> UpdateAgentArgs:
        if not (self.model_fields_set - {"agent_id"}):
            raise ValueError("nothing to change: give at least one field")
        if self.use_workspace_model and self.model is not None:
            raise ValueError("give either model or use_workspace_model, not both")
        return self


def _new_config(current: AgentConfig, args: UpdateAgentArgs) -> AgentConfig:
    model = None if args.use_workspace_model else (args.model or current.model)
    tools = tuple(check_tool_names(args.tools)) if args.tools is not None else current.tools
    return AgentConfig(model, args.system_prompt or current.system_prompt, tools)


@tool(risk=Risk.MEDIUM, permission="agents", title="Update agent {agent_id}", examples=(
    "pause the Lead Scout", "turn the inbox agent back on",
    "let the research agent also create tasks",
))
async def update_agent(ctx: ToolContext, args: UpdateAgentArgs) -> AgentResult:
    """Change an agent: pause it (no runs, its schedules skip) or activate it, rename it, or
    replace its instructions, tool list or model. Only the fields you give change."""
    repo = AgentRepository(ctx.session, ctx.scope)
    agent = await repo.get(args.agent_id)
    if agent.status == AgentStatus.ARCHIVED:
        raise ToolFailed(f"agent {agent.name!r} is archived and cannot be changed")
    before = snapshot(agent, AGENT_FIELDS)
    config = _new_config(AgentConfig.of(agent.config), args).merged_into(agent.config)
    values = {name: getattr(args, name) for name in ("name", "description")
              if getattr(args, name) is not None}
    if args.status is not None:
        values["status"] = AgentStatus(args.status)
    if config != agent.config:
        values["config"] = config
    agent = await repo.update(agent.id, **values)
    moved = "status" in values and before["status"] != agent.status
    await record_change(ctx, "status_change" if moved else "update", "agent", agent.id,
                        before=before, after=snapshot(agent, AGENT_FIELDS))
    return AgentResult(agent=AgentOut.of(agent))


# -- marketplace --------------------------------------------------------------------------------


class ListTemplatesArgs(Frozen):
    query: str = Field(default="", max_length=200,
                       description="Words in the name or description; '' for all.")
    type: AgentType | None = Field(default=None, description="Only templates of this kind.")
    category: str | None = Field(default=None, max_length=50,
                                 description="Only this category, e.g. 'sales' or 'support'.")
    limit: int = Field(default=20, ge=1, le=50, description="Templates to return (1-50).")


class TemplateOut(BaseModel):
    id: uuid.UUID
    slug: str
    name: str
    description: str | None = Field(description="One line on what it does.")
    type: AgentType
    category: str
    tools: list[str] = Field(description="The only tools an installed agent may use.")
    featured: bool

    @classmethod
    def of(cls, row: AgentTemplate) -> TemplateOut:
        return cls(id=row.id, slug=row.slug, name=row.name,
                   description=row.short_description or row.description, type=row.type,
                   category=row.category, tools=list(AgentConfig.of(row.config).tools),
                   featured=row.is_featured)


class TemplateList(BaseModel):
    templates: list[TemplateOut] = Field(description="Most trending first.")
    has_more: bool


@tool(risk=Risk.LOW, examples=(
    "which agent templates are in the marketplace?", "is there a template for inbox triage?",
    "show the sales agent templates",
))
async def list_agent_templates(ctx: ToolContext, args: ListTemplatesArgs) -> TemplateList:
    """List the marketplace's published agent templates, most trending first, filtered by text,
    type or category. Install one with install_agent_template. The marketplace is shared by all
    workspaces."""
    rows = await AgentTemplateCatalogue(ctx.session).published(
        args.query, type=args.type, category=args.category, limit=args.limit + 1)
    return TemplateList(templates=[TemplateOut.of(t) for t in rows[:args.limit]],
                        has_more=len(rows) > args.limit)


class InstallTemplateArgs(Frozen):
    template_id: uuid.UUID | None = Field(
        default=None, description="The marketplace template, from list_agent_templates.")
    slug: str | None = Field(default=None, min_length=1, max_length=100,
                             description="Or the template's slug, e.g. 'lead-scout'.")
    name: str | None = Field(default=None, min_length=1, max_length=120,
                             description="Name for the installed agent; default the template's.")

    @model_validator(mode="after")
    def _one(self) -> InstallTemplateArgs:
        if (self.template_id is None) == (self.slug is None):
            raise ValueError("give exactly one of template_id or slug")
        return self


async def _template(ctx: ToolContext, args: InstallTemplateArgs) -> AgentTemplate:
    catalogue = AgentTemplateCatalogue(ctx.session)
    if args.template_id is not None:
        template = await catalogue.get(args.template_id)
    else:
        found = await catalogue.by_slug(args.slug or "")
        if found is None:
            raise InvalidArgument(f"no agent template with slug {args.slug!r}")
        template = found
    if not template.is_published:
        raise ToolFailed(f"template {template.name!r} is not published")
    return template


@tool(risk=Risk.MEDIUM, permission="agents", title="Install agent template {slug}", examples=(
    "install the Lead Scout template", "add the inbox triage agent from the marketplace",
))
async def install_agent_template(ctx: ToolContext, args: InstallTemplateArgs) -> AgentResult:
    """Install a marketplace agent template as an agent of this workspace (active). The agent
    gets a copy of the template's configuration, so later template changes never alter it."""
    repo = AgentRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "install", "agent")
    if earlier is not None:
        return AgentResult(agent=AgentOut.of(await repo.get(earlier)))
    template = await _template(ctx, args)
    agent = await repo.create(
        name=args.name or template.name, description=template.short_description or
        template.description, type=template.type, status=AgentStatus.ACTIVE,
        config=dict(template.config), source_template_id=template.id, is_custom=False,
        created_by=ctx.caller.user_id,
    )
    await ctx.session.execute(
        sa.update(AgentTemplate).where(AgentTemplate.id == template.id)
        .values(install_count=AgentTemplate.install_count + 1)
    )
    await record_change(ctx, "install", "agent", agent.id, after=snapshot(agent, AGENT_FIELDS))
    return AgentResult(agent=AgentOut.of(agent))
