"""Agents demo data: the shared template catalogue, eight agents of different kinds, a month of
runs (a few failed, one agent failing right now), schedules and model-call logs.

Agent counters (`execution_count`, `last_executed_at`) are derived from the generated runs, so
the demo tells one consistent story whichever screen or tool reads it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from store.demo.context import DemoContext
from store.models.agents import (
    AgentStatus,
    AgentType,
    ExecutionStatus,
    PricingType,
    ScheduleTrigger,
)
from store.repositories.agents import (
    AgentExecutionRepository,
    AgentLogRepository,
    AgentPackCatalogue,
    AgentRepository,
    AgentScheduleRepository,
    AgentTemplateCatalogue,
)

MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class DemoAgent:
    name: str
    type: AgentType
    status: AgentStatus
    description: str
    tools: tuple[str, ...]
    template: str | None = None


AGENTS = (
    DemoAgent(
        "Lead Scout",
        AgentType.SALES,
        AgentStatus.ACTIVE,
        "Scores new signups and drafts a first-touch email for the best ones.",
        ("search_contacts", "update_contact", "draft_email"),
        "lead-scout",
    ),
    DemoAgent(
        "Inbox Triage",
        AgentType.EMAIL,
        AgentStatus.ACTIVE,
        "Labels incoming mail, answers FAQs, escalates anything about billing.",
        ("read_inbox", "label_email", "send_email"),
        "inbox-triage",
    ),
    DemoAgent(
        "Meeting Notetaker",
        AgentType.MEETING,
        AgentStatus.ACTIVE,
        "Turns call transcripts into notes and follow-up tasks on the deal.",
        ("create_note", "create_task"),
        "meeting-notes",
    ),
    DemoAgent(
        "Follow-up Caller",
        AgentType.CALL,
        AgentStatus.PAUSED,
        "Calls leads who went quiet after a demo and books a second meeting.",
        ("place_call", "book_meeting"),
    ),
    DemoAgent(
        "Blog Writer",
        AgentType.CONTENT,
        AgentStatus.ACTIVE,
        "Drafts a weekly post from the topic backlog in the company's voice.",
        ("search_knowledge", "create_blog_draft"),
        "content-writer",
    ),
    DemoAgent(
        "Market Researcher",
        AgentType.RESEARCH,
        AgentStatus.ACTIVE,
        "Summarises competitor news and pricing changes every morning.",
        ("web_search", "create_note"),
        "research-analyst",
    ),
    DemoAgent(
        "Task Router",
        AgentType.TASK,
        AgentStatus.DRAFT,
        "Assigns inbound requests to the right teammate by skill and load.",
        ("list_members", "create_task"),
    ),
    DemoAgent(
        "CRM Data Cleaner",
        AgentType.DATA,
        AgentStatus.ACTIVE,
        "Merges duplicate contacts and fixes malformed phone numbers nightly.",
        ("search_contacts", "merge_contacts", "update_contact"),
    ),
)

TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "slug": "lead-scout",
        "name": "Lead Scout",
        "category": "sales",
        "type": AgentType.SALES,
        "short_description": "Qualify signups and draft first-touch emails.",
        "badge_text": "Popular",
        "trending_score": 940,
        "install_count": 1830,
        "is_featured": True,
    },
    {
        "slug": "inbox-triage",
        "name": "Inbox Triage",
        "category": "support",
        "type": AgentType.EMAIL,
        "short_description": "Label, answer and escalate incoming email.",
        "badge_text": "Trending",
        "trending_score": 870,
        "install_count": 1210,
        "is_featured": True,
    },
    {
        "slug": "meeting-notes",
        "name": "Meeting Notes",
        "category": "productivity",
        "type": AgentType.MEETING,
        "short_description": "Notes and tasks from every call.",
        "badge_text": None,
        "trending_score": 610,
        "install_count": 950,
        "is_featured": False,
    },
    {
        "slug": "content-writer",
        "name": "Content Writer",
        "category": "marketing",
        "type": AgentType.CONTENT,
        "short_description": "Weekly blog drafts in your voice.",
        "badge_text": "New",
        "trending_score": 720,
        "install_count": 400,
        "is_featured": False,
    },
    {
        "slug": "research-analyst",
        "name": "Research Analyst",
        "category": "operations",
        "type": AgentType.RESEARCH,
        "short_description": "Daily competitor and market digest.",
        "badge_text": None,
        "trending_score": 380,
        "install_count": 310,
        "is_featured": False,
    },
)


def _template_rows() -> list[dict[str, Any]]:
    return [
        {
            **t,
            "description": f"{t['short_description']} Installs as an editable agent.",
            "config": {"model": MODEL, "systemPrompt": f"You are {t['name']}.", "tools": []},
            "kpis": {"successRate": 90 + i, "avgTimeSaved": f"{2 + i} hours/week"},
            "author_name": "Neptune Team",
            "rating": Decimal("4.2") + Decimal(i) / 10,
            "review_count": 40 + 13 * i,
            "installs_24h": 5 + i,
            "installs_7d": 40 + 7 * i,
            "installs_30d": 150 + 30 * i,
            "is_published": True,
        }
        for i, t in enumerate(TEMPLATES)
    ]


async def seed_catalogue(ctx: DemoContext) -> dict[str, uuid.UUID]:
    """The shared catalogue; rows another workspace (or the platform) created are kept."""
    templates = await AgentTemplateCatalogue(ctx.session).ensure(_template_rows())
    await AgentPackCatalogue(ctx.session).ensure(
        [
            {
                "slug": "sales-starter",
                "name": "Sales starter pack",
                "category": "sales",
                "description": "Lead Scout, Inbox Triage and Meeting Notes, wired together.",
                "agent_templates": [
                    {"slug": s} for s in ("lead-scout", "inbox-triage", "meeting-notes")
                ],
                "author_name": "Neptune Team",
                "tags": ["sales", "starter"],
                "pricing_type": PricingType.FREE,
                "price_cents": 0,
                "install_count": 640,
                "rating": Decimal("4.6"),
                "review_count": 51,
                "is_published": True,
            }
        ]
    )
    return templates


def _agent_row(
    ctx: DemoContext, agent: DemoAgent, templates: dict[str, uuid.UUID]
) -> dict[str, Any]:
    return {
        "name": agent.name,
        "type": agent.type,
        "status": agent.status,
        "description": agent.description,
        "created_by": ctx.user(),
        "config": {
            "aiProvider": "openai",
            "model": MODEL,
            "tools": list(agent.tools),
            "systemPrompt": f"You are {agent.name} at {ctx.company_name}. {agent.description}",
        },
        "source_template_id": templates.get(agent.template or ""),
        "is_custom": agent.template is None,
        "created_at": ctx.days_ago(45, 120),
    }


ERRORS = [
    "Provider timeout after 30s",
    "Rate limited by provider (429)",
    "Tool update_contact failed: phone number invalid",
    "Mailbox credentials expired",
]


def _execution(
    ctx: DemoContext,
    agent_id: uuid.UUID,
    when: datetime,
    status: ExecutionStatus,
    error: str | None = None,
) -> dict[str, Any]:
    duration = ctx.rng.randint(800, 45_000)
    tokens = ctx.rng.randint(400, 9_000)
    finished = status.is_final
    return {
        "agent_id": agent_id,
        "status": status,
        "triggered_by": ctx.user(),
        "input": {"source": ctx.rng.choice(["schedule", "manual", "webhook"])},
        "output": {"summary": "Processed 14 items"}
        if status == ExecutionStatus.COMPLETED
        else None,
        "error": {"message": error or ctx.rng.choice(ERRORS)}
        if status == ExecutionStatus.FAILED
        else None,
        "duration_ms": duration if finished else None,
        "tokens_used": tokens,
        "cost_cents": max(1, tokens // 1500),
        "currency": "USD",
        "started_at": when,
        "completed_at": when + timedelta(milliseconds=duration) if finished else None,
        "created_at": when,
    }


def _executions(
    ctx: DemoContext, active: list[uuid.UUID], failing: uuid.UUID
) -> list[dict[str, Any]]:
    statuses = [ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED]
    rows = [
        _execution(
            ctx,
            ctx.rng.choice(active),
            ctx.days_ago(1, 30),
            ctx.rng.choices(statuses, weights=[85, 10, 5])[0],
        )
        for _ in range(ctx.count(80, minimum=10))
    ]
    for minutes in (35, 150, 320):  # the data cleaner is failing right now
        rows.append(
            _execution(
                ctx,
                failing,
                ctx.now - timedelta(minutes=minutes),
                ExecutionStatus.FAILED,
                "Tool merge_contacts failed: lock timeout",
            )
        )
    rows.append(_execution(ctx, active[0], ctx.now - timedelta(minutes=2), ExecutionStatus.RUNNING))
    return rows


async def _runs(ctx: DemoContext, agents: AgentRepository, ids: dict[str, uuid.UUID]) -> None:
    active = [ids[a.name] for a in AGENTS if a.status == AgentStatus.ACTIVE]
    rows = _executions(ctx, active, ids["CRM Data Cleaner"])
    ctx.remember(
        "agent_executions", await AgentExecutionRepository(ctx.session, ctx.scope).create_many(rows)
    )
    for agent_id in set(active):
        mine = [r for r in rows if r["agent_id"] == agent_id and r["status"].is_final]
        if mine:
            await agents.update(
                agent_id,
                execution_count=len(mine),
                last_executed_at=max(r["completed_at"] for r in mine),
            )


async def _schedules(ctx: DemoContext, ids: dict[str, uuid.UUID]) -> None:
    tomorrow_8 = (ctx.now + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    rows = [
        {
            "agent_id": ids["Lead Scout"],
            "cron": "0 8 * * 1-5",
            "timezone": "America/New_York",
            "next_run_at": tomorrow_8,
            "last_run_at": tomorrow_8 - timedelta(days=1),
        },
        {
            "agent_id": ids["Inbox Triage"],
            "cron": "*/15 * * * *",
            "timezone": "UTC",
            "next_run_at": ctx.now - timedelta(minutes=1),
            "last_run_at": ctx.now - timedelta(minutes=16),
        },
        {
            "agent_id": ids["Market Researcher"],
            "cron": "30 6 * * *",
            "timezone": "Europe/London",
            "next_run_at": tomorrow_8 - timedelta(minutes=90),
            "last_run_at": ctx.days_ago(0, 0),
        },
        {
            "agent_id": ids["CRM Data Cleaner"],
            "cron": "0 2 * * *",
            "timezone": "UTC",
            "next_run_at": tomorrow_8 - timedelta(hours=6),
            "last_run_at": ctx.now - timedelta(minutes=35),
        },
        {
            "agent_id": ids["Follow-up Caller"],
            "cron": "0 14 * * 2",
            "timezone": "UTC",
            "next_run_at": None,
            "last_run_at": ctx.days_ago(10, 20),
            "enabled": False,
        },
    ]
    for row in rows:
        row.setdefault("enabled", True)
        row.update(
            trigger_type=ScheduleTrigger.SCHEDULED, last_run_status=ExecutionStatus.COMPLETED
        )
    rows[3]["last_run_status"] = ExecutionStatus.FAILED
    rows.append(
        {
            "agent_id": ids["Task Router"],
            "trigger_type": ScheduleTrigger.WEBHOOK,
            "webhook_url": "https://hooks.example.com/neptune/task-router",
            "enabled": True,
            "cron": None,
            "timezone": "UTC",
            "next_run_at": None,
            "last_run_at": None,
            "last_run_status": None,
        }
    )
    repo = AgentScheduleRepository(ctx.session, ctx.scope)
    ctx.remember("agent_schedules", await repo.create_many(rows))


async def _logs(ctx: DemoContext, ids: dict[str, uuid.UUID]) -> None:
    rows = []
    for _ in range(ctx.count(60, minimum=5)):
        name = ctx.rng.choice([a.name for a in AGENTS if a.status == AgentStatus.ACTIVE])
        ok = ctx.rng.random() > 0.08
        batch = ctx.rng.choice(["batch of 12 items", "one request", "daily run"])
        rows.append(
            {
                "agent_id": ids[name],
                "user_id": ctx.user(),
                "success": ok,
                "input_summary": f"{name}: {batch}",
                "output_summary": "Done" if ok else None,
                "duration_ms": ctx.rng.randint(300, 12_000),
                "provider": "openai",
                "model": MODEL,
                "error": None if ok else ctx.rng.choice(ERRORS),
                "details": {"tokens": ctx.rng.randint(200, 4000)},
                "logged_at": ctx.days_ago(0, 30),
            }
        )
    ctx.remember("agent_logs", await AgentLogRepository(ctx.session, ctx.scope).create_many(rows))


def agent_ids(ctx: DemoContext) -> dict[str, uuid.UUID]:
    """The demo agents' ids by name, for the seeders that run after this one."""
    return dict(zip((a.name for a in AGENTS), ctx.ids["agents"][: len(AGENTS)], strict=True))


async def seed(ctx: DemoContext) -> None:
    templates = await seed_catalogue(ctx)
    agents = AgentRepository(ctx.session, ctx.scope)
    new_ids = await agents.create_many([_agent_row(ctx, a, templates) for a in AGENTS])
    ids = dict(zip((a.name for a in AGENTS), ctx.remember("agents", new_ids), strict=True))
    await _runs(ctx, agents, ids)
    await _schedules(ctx, ids)
    await _logs(ctx, ids)
