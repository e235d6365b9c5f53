"""Orchestration demo data: a sales pod and a content studio, the messages their agents
exchanged, two workflows with a history of runs, shared memory, and an approval queue with
actions in every state (three still waiting), plus the audit trail of what agents did.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from store.demo.agents import agent_ids
from store.demo.context import DemoContext
from store.models.orchestration import (
    ActionTrigger,
    ApprovalStatus,
    Department,
    MemoryCategory,
    MemoryTier,
    MessageStatus,
    MessageType,
    RiskLevel,
    TeamRole,
    WorkflowRunStatus,
    WorkflowStatus,
    WorkflowTrigger,
)
from store.repositories.orchestration import (
    AgentActionAuditLogRepository,
    AgentMessageRepository,
    AgentPendingActionRepository,
    AgentSharedMemoryRepository,
    AgentTeamMemberRepository,
    AgentTeamRepository,
    AgentWorkflowExecutionRepository,
    AgentWorkflowRepository,
)

TEAMS = {
    "Sales Pod": (
        Department.SALES,
        "Qualifies, follows up and books meetings with new leads.",
        ["Lead Scout", "Meeting Notetaker", "Follow-up Caller"],
    ),
    "Content Studio": (
        Department.MARKETING,
        "Researches the market and writes the weekly post.",
        ["Blog Writer", "Market Researcher"],
    ),
}
ROLES = [TeamRole.COORDINATOR, TeamRole.SPECIALIST, TeamRole.SUPPORT]


async def _teams(ctx: DemoContext, agents: dict[str, uuid.UUID]) -> dict[str, uuid.UUID]:
    teams = AgentTeamRepository(ctx.session, ctx.scope)
    members = AgentTeamMemberRepository(ctx.session, ctx.scope)
    ids: dict[str, uuid.UUID] = {}
    for name, (department, description, seats) in TEAMS.items():
        total = ctx.rng.randint(40, 90)
        team = await teams.create(
            name=name,
            department=department,
            description=description,
            coordinator_agent_id=agents[seats[0]],
            created_by=ctx.user(),
            config={
                "autonomyLevel": "semi_autonomous",
                "approvalRequired": ["send_email"],
                "workingHours": {"start": "09:00", "end": "18:00", "timezone": "UTC"},
            },
            total_executions=total,
            successful_executions=total - ctx.rng.randint(2, 8),
            last_active_at=ctx.days_ago(0, 1),
            created_at=ctx.days_ago(40, 60),
        )
        await members.create_many(
            [
                {
                    "team_id": team.id,
                    "agent_id": agents[agent],
                    "role": ROLES[min(i, 2)],
                    "priority": i,
                    "config": {"specializations": [department.value]},
                }
                for i, agent in enumerate(seats)
            ]
        )
        ids[name] = team.id
    ctx.remember("agent_teams", list(ids.values()))
    return ids


THREADS = [
    (
        "Lead Scout",
        "Meeting Notetaker",
        "New enterprise lead: Northwind",
        "Northwind booked a demo for Thursday; please prepare a brief from their last call.",
    ),
    (
        "Meeting Notetaker",
        "Follow-up Caller",
        "Follow-up needed: Initech",
        "Initech went quiet after the pricing call. Can you call them next week?",
    ),
    (
        "Market Researcher",
        "Blog Writer",
        "Topic idea: pricing transparency",
        "Two competitors published price lists this week; worth a post on our approach.",
    ),
]


async def _messages(
    ctx: DemoContext, agents: dict[str, uuid.UUID], teams: dict[str, uuid.UUID]
) -> None:
    bus = AgentMessageRepository(ctx.session, ctx.scope)
    created: list[uuid.UUID] = []
    for sender, receiver, subject, body in THREADS:
        team = teams["Content Studio" if sender == "Market Researcher" else "Sales Pod"]
        task = await bus.send(
            MessageType.TASK,
            {"subject": subject, "body": body, "priority": "high"},
            from_agent_id=agents[sender],
            to_agent_id=agents[receiver],
            team_id=team,
        )
        reply = await bus.send(
            MessageType.RESULT,
            {
                "subject": f"Re: {subject}",
                "body": "Done — notes attached to the record.",
                "priority": "normal",
            },
            from_agent_id=agents[receiver],
            to_agent_id=agents[sender],
            parent_message_id=task.id,
        )
        await bus.mark(task.id, MessageStatus.PROCESSED)
        await bus.mark(reply.id, MessageStatus.DELIVERED)
        created += [task.id, reply.id]
    status = await bus.send(
        MessageType.STATUS,
        {
            "subject": "Daily sync",
            "priority": "low",
            "body": "Three leads qualified, one handed off.",
        },
        from_agent_id=agents["Lead Scout"],
        team_id=teams["Sales Pod"],
    )
    ctx.remember("agent_messages", [*created, status.id])


WORKFLOWS = [
    (
        "New lead follow-up",
        "Sales Pod",
        "sales",
        WorkflowTrigger.EVENT,
        {
            "eventType": "contact.created",
            "conditions": [{"field": "lead_score", "operator": ">=", "value": 60}],
        },
        [
            ("qualify", "Qualify lead", "Lead Scout", "score_lead"),
            ("brief", "Prepare call brief", "Meeting Notetaker", "summarise_history"),
            ("call", "Book a meeting", "Follow-up Caller", "book_meeting"),
        ],
    ),
    (
        "Weekly content brief",
        "Content Studio",
        "marketing",
        WorkflowTrigger.SCHEDULE,
        {"cron": "0 9 * * 1"},
        [
            ("research", "Collect market news", "Market Researcher", "collect_news"),
            ("draft", "Draft the post", "Blog Writer", "draft_post"),
        ],
    ),
]


async def _workflows(
    ctx: DemoContext, agents: dict[str, uuid.UUID], teams: dict[str, uuid.UUID]
) -> list[uuid.UUID]:
    repo = AgentWorkflowRepository(ctx.session, ctx.scope)
    ids = []
    for name, team, category, trigger, trigger_config, steps in WORKFLOWS:
        workflow = await repo.create(
            name=name,
            team_id=teams[team],
            category=category,
            trigger_type=trigger,
            trigger_config=trigger_config,
            status=WorkflowStatus.ACTIVE,
            created_by=ctx.user(),
            description=" → ".join(step[1] for step in steps),
            steps=[
                {
                    "id": sid,
                    "name": label,
                    "agentId": str(agents[agent]),
                    "action": action,
                    "inputs": {},
                }
                for sid, label, agent, action in steps
            ],
        )
        ids.append(workflow.id)
        await _workflow_runs(ctx, workflow.id, [s[0] for s in steps])
    return ctx.remember("agent_workflows", ids)


async def _workflow_runs(ctx: DemoContext, workflow_id: uuid.UUID, step_ids: list[str]) -> None:
    rows: list[dict[str, Any]] = []
    for _ in range(ctx.count(12, minimum=3)):
        status = ctx.rng.choices(
            [WorkflowRunStatus.COMPLETED, WorkflowRunStatus.FAILED], weights=[80, 20]
        )[0]
        done = (
            len(step_ids)
            if status == WorkflowRunStatus.COMPLETED
            else ctx.rng.randint(0, len(step_ids) - 1)
        )
        started, duration = ctx.days_ago(1, 30), ctx.rng.randint(20_000, 400_000)
        rows.append(
            {
                "workflow_id": workflow_id,
                "status": status,
                "started_at": started,
                "completed_at": started + timedelta(milliseconds=duration),
                "duration_ms": duration,
                "total_steps": len(step_ids),
                "completed_steps": done,
                "current_step_index": done,
                "current_step_id": step_ids[done] if done < len(step_ids) else None,
                "step_results": {sid: {"status": "completed"} for sid in step_ids[:done]},
                "trigger_type": WorkflowTrigger.EVENT,
                "trigger_data": {"source": "demo"},
                "error": {"message": "Step timed out", "step": step_ids[done]}
                if status == WorkflowRunStatus.FAILED
                else None,
            }
        )
    runs = AgentWorkflowExecutionRepository(ctx.session, ctx.scope)
    ctx.remember("agent_workflow_executions", await runs.create_many(rows))
    await AgentWorkflowRepository(ctx.session, ctx.scope).update(
        workflow_id,
        total_executions=len(rows),
        successful_executions=sum(r["status"] == WorkflowRunStatus.COMPLETED for r in rows),
        avg_duration_ms=sum(r["duration_ms"] for r in rows) // len(rows),
        last_executed_at=max(r["completed_at"] for r in rows),
    )


async def _memory(
    ctx: DemoContext, agents: dict[str, uuid.UUID], teams: dict[str, uuid.UUID]
) -> None:
    memory = AgentSharedMemoryRepository(ctx.session, ctx.scope)
    sales, content = teams["Sales Pod"], teams["Content Studio"]
    entries = [
        (
            "ideal_customer_profile",
            {"industries": ["logistics", "manufacturing"], "employees": "50-500"},
            sales,
            None,
            MemoryTier.LONG_TERM,
            MemoryCategory.KNOWLEDGE,
            90,
        ),
        (
            "common_objection",
            {
                "text": "Worried about migration effort",
                "answer": "We migrate your data in week one.",
            },
            sales,
            None,
            MemoryTier.MEDIUM_TERM,
            MemoryCategory.PATTERN,
            70,
        ),
        (
            "house_style",
            {"tone": "plain, warm, no jargon", "max_words": 900},
            content,
            None,
            MemoryTier.LONG_TERM,
            MemoryCategory.PREFERENCE,
            80,
        ),
        (
            "last_topics",
            {"topics": ["pricing", "onboarding", "security"]},
            content,
            None,
            MemoryTier.SHORT_TERM,
            MemoryCategory.CONTEXT,
            40,
        ),
        (
            "preferred_call_window",
            {"from": "10:00", "to": "12:00"},
            None,
            agents["Follow-up Caller"],
            MemoryTier.MEDIUM_TERM,
            MemoryCategory.PREFERENCE,
            55,
        ),
        (
            "company_timezone",
            "America/New_York",
            None,
            None,
            MemoryTier.LONG_TERM,
            MemoryCategory.KNOWLEDGE,
            60,
        ),
    ]
    ids = []
    for key, value, team, agent, tier, category, importance in entries:
        row = await memory.put(
            key,
            value,
            team_id=team,
            agent_id=agent,
            tier=tier,
            category=category,
            importance=importance,
            provenance={"source": "demo", "confidence": 80},
            expires_at=ctx.now + timedelta(days=7) if tier == MemoryTier.SHORT_TERM else None,
        )
        ids.append(row.id)
    ctx.remember("agent_shared_memory", ids)


def _approval_rows(
    ctx: DemoContext, agents: dict[str, uuid.UUID], teams: dict[str, uuid.UUID]
) -> list[dict[str, Any]]:
    deal, contact = ctx.pick("deals"), ctx.pick("contacts")
    calls = [
        (
            "send_email",
            {
                "contact_id": str(contact),
                "subject": "Your proposal",
                "body": "Hi — the proposal is attached.",
            },
            RiskLevel.HIGH,
            "Send the proposal email",
            ["external email"],
            ApprovalStatus.PENDING,
        ),
        (
            "update_deal",
            {"deal_id": str(deal), "stage": "negotiation"},
            RiskLevel.MEDIUM,
            "Move the deal to negotiation",
            ["changes pipeline"],
            ApprovalStatus.PENDING,
        ),
        (
            "create_invoice",
            {"customer_name": "Northwind", "amount_cents": 1_250_000, "currency": "USD"},
            RiskLevel.CRITICAL,
            "Invoice Northwind $12,500",
            ["financial transaction"],
            ApprovalStatus.PENDING,
        ),
        (
            "send_email",
            {"contact_id": str(contact), "subject": "Meeting recap"},
            RiskLevel.HIGH,
            "Send the meeting recap",
            ["external email"],
            ApprovalStatus.EXECUTED,
        ),
        (
            "delete_contact",
            {"contact_id": str(contact)},
            RiskLevel.CRITICAL,
            "Delete a duplicate contact",
            ["data deletion"],
            ApprovalStatus.REJECTED,
        ),
        (
            "update_deal",
            {"deal_id": str(deal), "value_cents": 900_000},
            RiskLevel.MEDIUM,
            "Lower the deal value",
            ["changes pipeline"],
            ApprovalStatus.EXPIRED,
        ),
    ]
    rows = []
    for i, (tool, arguments, risk, title, reasons, status) in enumerate(calls):
        waiting = status == ApprovalStatus.PENDING  # recent enough to still be decidable
        requested = ctx.now - timedelta(hours=1 + i if waiting else 30 + 20 * i)
        decided = status in (ApprovalStatus.EXECUTED, ApprovalStatus.REJECTED)
        rows.append(
            {
                "tool_name": tool,
                "action_type": tool,
                "tool_arguments": arguments,
                "risk_level": risk,
                "title": title,
                "reasons": reasons,
                "status": status,
                "idempotency_key": f"demo-turn-{i}:call-1",
                "user_id": ctx.user(),
                "agent_id": agents["Lead Scout"] if i % 2 == 0 else None,
                "team_id": teams["Sales Pod"] if i % 2 == 0 else None,
                "description": f"Neptune wants to {title.lower()}.",
                "requested_at": requested,
                "created_at": requested,
                "expires_at": requested + timedelta(days=1),
                "reviewed_by": ctx.user() if decided else None,
                "reviewed_at": requested + timedelta(minutes=30) if decided else None,
                "review_channel": "slack" if decided else None,
                "review_notes": "Duplicate is still referenced by a deal"
                if status == ApprovalStatus.REJECTED
                else None,
                "result": {"message_id": "msg_demo_1"}
                if status == ApprovalStatus.EXECUTED
                else None,
                "executed_at": requested + timedelta(minutes=31)
                if status == ApprovalStatus.EXECUTED
                else None,
            }
        )
    return rows


async def _audit(
    ctx: DemoContext, agents: dict[str, uuid.UUID], teams: dict[str, uuid.UUID], approved: uuid.UUID
) -> None:
    actions = [
        ("update_contact", RiskLevel.MEDIUM),
        ("create_task", RiskLevel.MEDIUM),
        ("create_note", RiskLevel.LOW),
        ("label_email", RiskLevel.LOW),
        ("send_email", RiskLevel.HIGH),
    ]
    rows = []
    for _ in range(ctx.count(40, minimum=5)):
        action, risk = ctx.rng.choice(actions)
        ok = ctx.rng.random() > 0.1
        rows.append(
            {
                "agent_id": ctx.rng.choice(list(agents.values())),
                "team_id": None,
                "action_type": action,
                "risk_level": risk,
                "action_details": {"source": "demo"},
                "was_automatic": risk != RiskLevel.HIGH,
                "success": ok,
                "error": None if ok else "Tool returned an error",
                "pending_action_id": None,
                "triggered_by": ctx.rng.choice([ActionTrigger.SCHEDULE, ActionTrigger.AGENT]),
                "executed_at": ctx.days_ago(0, 30),
                "duration_ms": ctx.rng.randint(50, 3000),
            }
        )
    rows.append(
        {
            **rows[0],
            "action_type": "send_email",
            "risk_level": RiskLevel.HIGH,
            "was_automatic": False,
            "success": True,
            "error": None,
            "pending_action_id": approved,
            "team_id": teams["Sales Pod"],
            "agent_id": agents["Lead Scout"],
            "triggered_by": ActionTrigger.USER,
            "executed_at": ctx.now - timedelta(hours=61),
        }
    )
    log = AgentActionAuditLogRepository(ctx.session, ctx.scope)
    ctx.remember("agent_action_audit_log", await log.create_many(rows))


async def seed(ctx: DemoContext) -> None:
    agents = agent_ids(ctx)
    teams = await _teams(ctx, agents)
    await _messages(ctx, agents, teams)
    await _workflows(ctx, agents, teams)
    await _memory(ctx, agents, teams)
    approvals = AgentPendingActionRepository(ctx.session, ctx.scope)
    action_ids = ctx.remember(
        "agent_pending_actions", await approvals.create_many(_approval_rows(ctx, agents, teams))
    )
    await _audit(ctx, agents, teams, approved=action_ids[3])
