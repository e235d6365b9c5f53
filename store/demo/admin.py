"""Admin demo data: a finished sprint and one in progress (with overdue tasks) across two epics,
platform feedback, a webhook with its delivery history, audit log rows, integrations (a Slack
workspace "T0DEMO" and a Google account), and a fortnight of product analytics events.

OAuth tokens are not seeded: they exist only as ciphertext under the deployment's master key,
which the demo loader does not hold.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from store.demo.content import insert_rows
from store.demo.context import DemoContext
from store.models.admin import (
    EpicStatus,
    FeedbackStatus,
    FeedbackType,
    IntegrationProvider,
    IntegrationStatus,
    Sentiment,
    SprintStatus,
    TaskPriority,
    TaskStatus,
)
from store.repositories.admin import (
    AnalyticsEventRepository,
    AuditLogRepository,
    EpicRepository,
    FeedbackRepository,
    IntegrationRepository,
    SprintRepository,
    TaskRepository,
    WebhookRepository,
)

TASKS = [
    "Write tool docstrings for the CRM domain", "Record the onboarding walkthrough",
    "Fix timezone bug in campaign scheduler", "Add Slack approval buttons", "Review SMS copy",
    "Load test the WebSocket gateway", "Draft pricing page FAQ", "Migrate invoices to cents",
    "Set up error budget alerts", "Update the API changelog", "Triage feedback backlog",
    "Design the usage dashboard", "Add retries to webhook delivery", "Refresh demo data",
    "Publish the Q2 roadmap post", "Clean up stale feature flags", "Write the voice re-prompt",
    "Audit workspace API key usage", "Tune knowledge search ranking", "Plan the offsite agenda",
]


async def seed(ctx: DemoContext) -> None:
    await _todo_hq(ctx)
    await _feedback(ctx)
    await _webhook(ctx)
    await _audit_log(ctx)
    await _integrations(ctx)
    await _analytics_events(ctx)


async def _todo_hq(ctx: DemoContext) -> None:
    today = ctx.now.date()
    sprints = [
        {"name": "Sprint 14", "status": SprintStatus.COMPLETED, "sort_order": 14,
         "start_date": today - timedelta(days=21), "end_date": today - timedelta(days=8),
         "goals": ["Ship the billing revamp beta", "Zero P1 bugs"],
         "description": "Billing revamp beta and bug bash."},
        {"name": "Sprint 15", "status": SprintStatus.IN_PROGRESS, "sort_order": 15,
         "start_date": today - timedelta(days=7), "end_date": today + timedelta(days=6),
         "goals": ["Neptune assistant in Slack", "Demo data for every domain"],
         "description": "Assistant launch push."},
    ]
    done_sprint, current_sprint = await insert_rows(ctx, SprintRepository, sprints)
    epics = [
        {"name": "Neptune assistant launch", "status": EpicStatus.IN_PROGRESS, "sort_order": 1,
         "target_completion_percent": 80, "tags": ["ai", "launch"],
         "description": "Everything needed to put the assistant in customers' hands."},
        {"name": "Billing revamp", "status": EpicStatus.IN_PROGRESS, "sort_order": 2,
         "target_completion_percent": 100, "tags": ["billing"],
         "description": "Integer cents everywhere, invoices and usage-based tiers."},
    ]
    epic_ids = await insert_rows(ctx, EpicRepository, epics)
    current = [_task(ctx, i, current_sprint, epic_ids, today, finished=False)
               for i in range(ctx.count(15))]
    past = [_task(ctx, 15 + i, done_sprint, epic_ids, today, finished=True)
            for i in range(ctx.count(5))]
    await insert_rows(ctx, TaskRepository, current + past)


def _task(
    ctx: DemoContext, i: int, sprint_id: uuid.UUID, epic_ids: list[uuid.UUID], today: date,
    *, finished: bool,
) -> dict[str, Any]:
    if finished:
        status = TaskStatus.DONE if i % 5 else TaskStatus.CANCELLED
        due = today - timedelta(days=ctx.rng.randint(9, 20))
    else:
        status = [TaskStatus.TODO, TaskStatus.IN_PROGRESS, TaskStatus.DONE, TaskStatus.TODO][i % 4]
        # Every third open task is already past its due date: the overdue list is never empty.
        offset = ctx.rng.randint(-5, -1) if i % 3 == 0 else ctx.rng.randint(0, 6)
        due = today + timedelta(days=offset)
    return {
        "title": TASKS[i % len(TASKS)], "sprint_id": sprint_id, "epic_id": epic_ids[i % 2],
        "status": status, "priority": ctx.rng.choice(list(TaskPriority)),
        "assignee_id": ctx.user(), "sort_order": i, "due_date": due,
        "tags": ctx.rng.sample(["backend", "frontend", "docs", "ops", "design"], k=1),
        "completed_at": ctx.days_ago(1, 6) if status == TaskStatus.DONE else None,
        "notes": "Pairing with design on Thursday." if i % 7 == 0 else None,
    }


FEEDBACK = [
    (FeedbackType.BUG, "Calendar invites show the wrong timezone", Sentiment.NEGATIVE),
    (FeedbackType.FEATURE_REQUEST, "Let me approve actions from my phone", Sentiment.POSITIVE),
    (FeedbackType.SUGGESTION, "Group notifications by project", Sentiment.NEUTRAL),
    (FeedbackType.GENERAL, "The assistant saved me an hour today", Sentiment.VERY_POSITIVE),
    (FeedbackType.BUG, "CSV import fails on semicolons", Sentiment.VERY_NEGATIVE),
    (FeedbackType.FEATURE_REQUEST, "Dark mode for the grid builder", Sentiment.POSITIVE),
    (FeedbackType.SUGGESTION, "Shorter weekly digest email", Sentiment.NEUTRAL),
    (FeedbackType.BUG, "Pipeline totals off by one cent", Sentiment.NEGATIVE),
]


async def _feedback(ctx: DemoContext) -> None:
    statuses = list(FeedbackStatus)
    rows = [{
        "type": kind, "title": title, "sentiment": sentiment, "user_id": ctx.user(),
        "description": f"{title}. Noticed this while working on a client account.",
        "status": statuses[i % len(statuses)], "priority": ctx.rng.choice(list(TaskPriority)),
        "url": f"https://app.example.com/{ctx.rng.choice(['crm', 'grids', 'inbox', 'billing'])}",
        "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15",
        "assigned_to": ctx.user() if i % 2 else None, "category": kind.value,
        "meta": {"plan": "professional"}, "created_at": ctx.days_ago(0, 45),
    } for i, (kind, title, sentiment) in enumerate(FEEDBACK[:ctx.count(8)])]
    await insert_rows(ctx, FeedbackRepository, rows)


async def _webhook(ctx: DemoContext) -> None:
    webhooks = WebhookRepository(ctx.session, ctx.scope)
    hook = await webhooks.create(
        name="Data warehouse sync", url="https://hooks.example.com/neptune/acme",
        events=["deal.created", "deal.won", "contact.created"], created_by=ctx.user(),
    )
    ctx.remember("webhooks", [hook.id])
    deliveries = []
    for n in range(ctx.count(12)):
        ok = ctx.rng.random() < 0.8
        event = ctx.rng.choice(hook.events)
        delivery = await webhooks.record_delivery(
            hook.id, event, {"event": event, "sequence": n}, success=ok,
            response_status=200 if ok else ctx.rng.choice([500, 502, 504]),
            response_body='{"ok":true}' if ok else "upstream timeout",
            error=None if ok else "receiver returned an error", now=ctx.days_ago(0, 14),
        )
        deliveries.append(delivery.id)
    ctx.remember("webhook_deliveries", deliveries)


async def _audit_log(ctx: DemoContext) -> None:
    targets: list[tuple[str, str, uuid.UUID]] = [
        (table.removesuffix("s"), action, entity_id)
        for table, action in (("contacts", "update"), ("deals", "stage_change"),
                              ("todo_hq_tasks", "status_change"), ("webhooks", "create"))
        for entity_id in ctx.ids.get(table, [])[:5]
    ]
    rows = []
    for _ in range(ctx.count(20) if targets else 0):
        entity_type, action, entity_id = ctx.rng.choice(targets)
        rows.append({
            "user_id": ctx.user(), "action": action, "entity_type": entity_type,
            "entity_id": str(entity_id), "ip_address": f"203.0.113.{ctx.rng.randint(2, 250)}",
            "changes": {"before": {"status": "open"}, "after": {"status": "updated"}},
            "user_agent": "Neptune/1.0", "meta": {"channel": ctx.rng.choice(["web", "slack"])},
            "created_at": ctx.days_ago(0, 30),
        })
    await insert_rows(ctx, AuditLogRepository, rows)


async def _integrations(ctx: DemoContext) -> None:
    domain = ctx.company_name.lower().replace(" ", "") + ".example"
    rows = [
        {"provider": IntegrationProvider.SLACK, "account_id": "T0DEMO", "name": "Slack",
         "status": IntegrationStatus.ACTIVE, "scopes": ["app_mentions:read", "chat:write"],
         "config": {"team_name": ctx.company_name, "default_channel": "#sales"},
         "last_sync_at": ctx.days_ago(0, 1), "connected_by": ctx.user()},
        {"provider": IntegrationProvider.GOOGLE, "account_id": f"ops@{domain}",
         "name": "Google Workspace", "status": IntegrationStatus.ACTIVE,
         "scopes": ["https://www.googleapis.com/auth/calendar"],
         "config": {"calendar_id": "primary"}, "last_sync_at": ctx.days_ago(0, 2),
         "connected_by": ctx.user()},
    ]
    await insert_rows(ctx, IntegrationRepository, rows)


EVENTS = ["page_view", "page_view", "page_view", "chat_opened", "tool_approved", "deal_created",
          "grid_run", "report_exported"]
PAGES = ["/dashboard", "/crm/deals", "/crm/contacts", "/grids", "/inbox", "/content/blog"]


async def _analytics_events(ctx: DemoContext) -> None:
    rows = []
    for n in range(ctx.count(80)):
        session = n // 6
        occurred_at = ctx.days_ago(0, 14)
        rows.append({
            "event": ctx.rng.choice(EVENTS), "user_id": ctx.user(),
            "session_id": f"s-{session:04d}", "page": ctx.rng.choice(PAGES),
            "referrer": ctx.rng.choice([None, "https://www.google.com/", "https://slack.com/"]),
            "user_agent": "Mozilla/5.0", "occurred_at": occurred_at, "created_at": occurred_at,
            "data": {"duration_ms": ctx.rng.randint(50, 9000)},
        })
    await insert_rows(ctx, AnalyticsEventRepository, rows)
