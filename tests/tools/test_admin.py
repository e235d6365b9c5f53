"""Admin tools against the real database: feedback, webhooks (admin only, secret never shown),
the audit log, integrations and product analytics; audit rows for every write, idempotent
retries, roles, bad arguments and other workspaces' ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

import tools.admin  # noqa: F401  (registers the tools)
from store.models.admin import (
    AuditLog,
    FeedbackStatus,
    FeedbackType,
    IntegrationProvider,
    IntegrationStatus,
    PlatformFeedback,
    Sentiment,
    Webhook,
)
from store.models.core import MemberRole
from store.repositories.admin import (
    AnalyticsEventRepository,
    AuditLogRepository,
    IntegrationRepository,
    WebhookRepository,
)
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, WorkspaceFixture
from tests.tools.helpers import CallTool, Sessions, audit, row_counts, rows, unchanged
from tools.errors import RetryableToolError, ToolFailed


async def footprint(sessions: Sessions, ws: WorkspaceFixture) -> dict[str, int]:
    return await row_counts(sessions, ws, AuditLog, PlatformFeedback, Webhook)


# -- feedback ------------------------------------------------------------------------------------


async def test_submit_feedback_stores_it_once(
    sessions: Sessions, call_tool: CallTool,
    make_workspace: MakeWorkspace,
) -> None:
    ws = await make_workspace()
    args = {"description": "The export button does nothing.", "title": "Export broken",
            "type": "bug", "sentiment": "negative", "url": "https://app.example.com/crm"}
    first = await call_tool(ws, "submit_feedback", args, key="k-fb",
                            role=MemberRole.MEMBER)
    again = await call_tool(ws, "submit_feedback", args, key="k-fb")
    assert again.already_submitted and again.feedback.id == first.feedback.id
    [row] = await rows(sessions, ws, PlatformFeedback)
    assert (row.type, row.status, row.sentiment, row.user_id) == (
        FeedbackType.BUG, FeedbackStatus.NEW, Sentiment.NEGATIVE, ws.user_id)
    assert row.meta["idempotency_key"] == "k-fb"
    [change] = await audit(sessions, ws, "platform_feedback")
    assert change.action == "create" and change.entity_id == str(row.id)
    assert change.changes["description"]["after"] == args["description"]

    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed):
            await call_tool(ws, "submit_feedback", args, role=MemberRole.VIEWER)
        for bad in ({"description": ""}, {**args, "type": "rant"}, {"title": "no description"}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "submit_feedback", bad)


# -- webhooks ------------------------------------------------------------------------------------


async def test_create_webhook_is_admin_only_and_hides_the_secret(
    sessions: Sessions, call_tool: CallTool,
    make_workspace: MakeWorkspace,
) -> None:
    ws = await make_workspace()
    args = {"name": "Warehouse", "url": "https://hooks.example.com/deals",
            "events": ["deal.created", "invoice.paid", "deal.created"]}
    first = await call_tool(ws, "create_webhook", args, key="k-hook",
                            role=MemberRole.ADMIN)
    again = await call_tool(ws, "create_webhook", args, key="k-hook")
    assert again.webhook.id == first.webhook.id
    [hook] = await rows(sessions, ws, Webhook)
    assert hook.events == ["deal.created", "invoice.paid"] and hook.created_by == ws.user_id
    assert len(hook.secret) == 64 and hook.secret not in first.model_dump_json()
    [change] = await audit(sessions, ws, "webhook")
    assert change.changes["url"]["after"] == "https://hooks.example.com/deals"
    assert hook.secret not in str(change.changes)

    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed, match="admin role"):
            await call_tool(ws, "create_webhook", args, role=MemberRole.MEMBER)
        for bad in ({**args, "url": "http://hooks.example.com/x"},
                    {**args, "url": "https://127.0.0.1/hook"},
                    {**args, "url": "https://localhost/hook"},
                    {**args, "events": []}, {**args, "events": ["Deal Created"]},
                    {**args, "name": ""}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "create_webhook", bad)


async def test_list_webhooks_for_admins(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture]
) -> None:
    ws, other = two
    for w, name in ((ws, "First"), (ws, "Second"), (other, "Theirs")):
        async with scoped_session(sessions, w.scope) as s:  # one transaction each: ordered times
            await WebhookRepository(s, w.scope).create(
                name=name, url=f"https://h.example.com/{name}", events=["*"])
    async with scoped_session(sessions, ws.scope) as s:
        second = (await WebhookRepository(s, ws.scope).list(name="Second")).items[0]
        await WebhookRepository(s, ws.scope).archive(second.id)

    result = await call_tool(ws, "list_webhooks", {}, role=MemberRole.ADMIN)
    assert [w.name for w in result.webhooks] == ["First", "Second"] and result.total == 2
    assert "secret" not in result.model_dump_json()
    active = await call_tool(ws, "list_webhooks", {"active_only": True})
    assert [w.name for w in active.webhooks] == ["First"] and active.total == 1
    with pytest.raises(ToolFailed, match="admin role"):
        await call_tool(ws, "list_webhooks", {}, role=MemberRole.MEMBER)
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "list_webhooks", {"limit": 100})


# -- audit log -----------------------------------------------------------------------------------


async def test_query_audit_log_filters_and_pages(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture]
) -> None:
    ws, other = two
    deal_id = uuid.uuid4()
    async with scoped_session(sessions, ws.scope) as s:
        log = AuditLogRepository(s, ws.scope)
        base = datetime.now(UTC) - timedelta(hours=3)
        for n, (action, entity) in enumerate((("create", "deal"), ("update", "deal"),
                                              ("create", "contact"))):
            row = await log.append(action, entity, deal_id if entity == "deal" else uuid.uuid4(),
                                   user_id=ws.user_id, changes={"n": n})
            row.created_at = base + timedelta(hours=n)
    async with scoped_session(sessions, other.scope) as s:
        await AuditLogRepository(s, other.scope).append("delete", "deal", deal_id)

    history = await call_tool(ws, "query_audit_log",
                              {"entity_type": "deal", "entity_id": str(deal_id)},
                              role=MemberRole.VIEWER)
    assert [e.action for e in history.entries] == ["update", "create"]  # newest first
    assert history.entries[0].actor_id == ws.user_id and not history.has_more
    first_page = await call_tool(ws, "query_audit_log", {"limit": 2})
    assert first_page.has_more and [e.entity_type for e in first_page.entries] == [
        "contact", "deal"]
    rest = await call_tool(ws, "query_audit_log", {"until": first_page.entries[-1].at.isoformat()})
    assert [e.action for e in rest.entries] == ["create"] and not rest.has_more
    recent = await call_tool(ws, "query_audit_log", {
        "since": (base + timedelta(minutes=90)).isoformat(), "actor_id": str(ws.user_id)})
    assert [e.entity_type for e in recent.entries] == ["contact"]

    with pytest.raises(RetryableToolError, match="no member"):
        await call_tool(ws, "query_audit_log", {"actor_id": str(other.user_id)})
    for bad in ({"limit": 101}, {"since": "2025-01-01T00:00:00"},
                {"since": "2025-02-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "query_audit_log", bad)


# -- integrations and analytics ------------------------------------------------------------------


async def test_list_integrations_without_secrets(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture]
) -> None:
    ws, other = two
    async with scoped_session(sessions, ws.scope) as s:
        integrations = IntegrationRepository(s, ws.scope)
        await integrations.create(provider=IntegrationProvider.SLACK, account_id="T1",
                                  name="Slack", config={"bot_token_hint": "xoxb-hidden"})
        broken = await integrations.create(provider=IntegrationProvider.GOOGLE, name="Google")
        await integrations.mark_error(broken.id, "token expired")
    async with scoped_session(sessions, other.scope) as s:
        await IntegrationRepository(s, other.scope).create(provider=IntegrationProvider.HUBSPOT)

    result = await call_tool(ws, "list_integrations", {}, role=MemberRole.VIEWER)
    assert sorted(i.provider for i in result.integrations) == [IntegrationProvider.GOOGLE,
                                                               IntegrationProvider.SLACK]
    assert result.total == 2 and "xoxb-hidden" not in result.model_dump_json()
    [failing] = (await call_tool(ws, "list_integrations", {"status": "error"})).integrations
    assert (failing.name, failing.status, failing.error_message) == (
        "Google", IntegrationStatus.ERROR, "token expired")
    slack = await call_tool(ws, "list_integrations", {"provider": "slack"})
    assert [i.account_id for i in slack.integrations] == ["T1"]
    for bad in ({"provider": "myspace"}, {"limit": 0}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "list_integrations", bad)


async def test_get_analytics_summary_counts_the_period(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture]
) -> None:
    ws, other = two
    now = datetime.now(UTC)
    async with scoped_session(sessions, ws.scope) as s:
        events = AnalyticsEventRepository(s, ws.scope)
        for event, days_ago, session in (("page_view", 1, "a"), ("page_view", 2, "a"),
                                         ("chat_opened", 3, "b"), ("page_view", 40, "c")):
            await events.track(event, user_id=ws.user_id, session_id=session,
                               occurred_at=now - timedelta(days=days_ago))
    async with scoped_session(sessions, other.scope) as s:
        await AnalyticsEventRepository(s, other.scope).track("page_view", occurred_at=now)

    month = await call_tool(ws, "get_analytics_summary", {}, role=MemberRole.VIEWER)
    assert (month.total_events, month.active_users, month.sessions) == (3, 1, 2)
    assert [(e.event, e.count) for e in month.top_events] == [("page_view", 2),
                                                              ("chat_opened", 1)]
    quarter = await call_tool(ws, "get_analytics_summary", {"days": 90, "top": 1})
    assert quarter.total_events == 4 and [e.event for e in quarter.top_events] == ["page_view"]
    for bad in ({"days": 0}, {"days": 400}, {"top": 0}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "get_analytics_summary", bad)
