"""Admin repositories against the real database: feedback, to-do HQ, webhooks, audit log,
integrations, OAuth tokens and analytics events."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.crypto import Keyring, new_key_spec
from store.demo import admin as admin_demo
from store.errors import Conflict, InvalidArgument, NotFound
from store.models.admin import (
    FeedbackStatus,
    FeedbackType,
    IntegrationProvider,
    IntegrationStatus,
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
    OAuthTokenRepository,
    SprintRepository,
    TaskRepository,
    WebhookDeliveryRepository,
    WebhookRepository,
)
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, demo_context

Sessions = async_sessionmaker[AsyncSession]
TODAY = date(2025, 6, 10)


async def test_feedback_by_status_and_type(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        feedback = FeedbackRepository(s, ws.scope)
        bug = await feedback.create(type=FeedbackType.BUG, description="Crash on save",
                                    user_id=ws.user_id, meta={"browser": "firefox"})
        idea = await feedback.create(type=FeedbackType.FEATURE_REQUEST, description="Dark mode")
        for i in range(3):
            await feedback.create(description=f"General {i}", status=FeedbackStatus.IN_REVIEW)
        assert (await feedback.get(bug.id)).meta == {"browser": "firefox"}
        new = await feedback.by_status(FeedbackStatus.NEW)
        assert {f.id for f in new.items} == {bug.id, idea.id}
        bugs = await feedback.by_status(FeedbackStatus.NEW, type=FeedbackType.BUG)
        assert [f.id for f in bugs.items] == [bug.id]
        first = await feedback.by_status(limit=3)
        rest = await feedback.by_status(limit=3, cursor=first.next_cursor)
        assert len(first.items) == 3 and len(rest.items) == 2 and rest.next_cursor is None
        await feedback.update(idea.id, status=FeedbackStatus.PLANNED, assigned_to=ws.user_id)
        counts = await feedback.counts_by_status()
        assert counts[FeedbackStatus.NEW] == 1 and counts[FeedbackStatus.PLANNED] == 1
        assert counts[FeedbackStatus.IN_REVIEW] == 3 and counts[FeedbackStatus.WONT_FIX] == 0
        assert (await feedback.archive(bug.id)).status == FeedbackStatus.CLOSED
        await feedback.delete(bug.id)
        assert await feedback.count() == 4


async def test_task_status_moves_stamp_completed_at(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        tasks = TaskRepository(s, ws.scope)
        done = await tasks.create(title="Already done", status=TaskStatus.DONE)
        assert done.completed_at is not None
        task = await tasks.create(title="Write docs", priority=TaskPriority.HIGH)
        assert task.completed_at is None and task.status == TaskStatus.TODO
        moved = await tasks.move(task.id, TaskStatus.DONE)
        stamped = moved.completed_at
        assert stamped is not None
        assert (await tasks.move(task.id, TaskStatus.DONE)).completed_at == stamped
        reopened = await tasks.move(task.id, TaskStatus.IN_PROGRESS)
        assert reopened.completed_at is None
        cancelled = await tasks.archive(done.id)
        assert cancelled.status == TaskStatus.CANCELLED and cancelled.completed_at is None
        with pytest.raises(InvalidArgument):
            async with s.begin_nested():
                await tasks.update(task.id, completed_at=datetime.now(UTC))
        await tasks.delete(done.id)
        with pytest.raises(NotFound):
            await tasks.get(done.id)


async def test_overdue_sprint_and_epic_progress(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        sprints, epics = SprintRepository(s, ws.scope), EpicRepository(s, ws.scope)
        tasks = TaskRepository(s, ws.scope)
        sprint = await sprints.create(name="S1", status=SprintStatus.IN_PROGRESS,
                                      start_date=TODAY - timedelta(days=3), goals=["ship"])
        await sprints.create(name="S0", status=SprintStatus.COMPLETED)
        epic = await epics.create(name="Launch", target_completion_percent=50)

        async def add(title: str, status: TaskStatus, due: date | None, **kw: object) -> uuid.UUID:
            row = await tasks.create(title=title, status=status, due_date=due,
                                     sprint_id=sprint.id, **kw)
            return row.id

        late_low = await add("late low", TaskStatus.TODO, TODAY - timedelta(days=2),
                             priority=TaskPriority.LOW, epic_id=epic.id, sort_order=2)
        late_urgent = await add("late urgent", TaskStatus.IN_PROGRESS, TODAY - timedelta(days=2),
                                priority=TaskPriority.URGENT, sort_order=1,
                                assignee_id=ws.user_id)
        oldest = await add("oldest", TaskStatus.TODO, TODAY - timedelta(days=9), sort_order=3)
        await add("done late", TaskStatus.DONE, TODAY - timedelta(days=5), epic_id=epic.id)
        await add("cancelled late", TaskStatus.CANCELLED, TODAY - timedelta(days=5))
        await add("due today", TaskStatus.TODO, TODAY, assignee_id=ws.user_id)
        await tasks.create(title="no sprint", due_date=TODAY - timedelta(days=1))
        overdue = [t.title for t in await tasks.overdue(TODAY)]
        assert overdue == ["oldest", "late urgent", "late low", "no sprint"]
        board = await tasks.by_sprint(sprint.id)
        assert [t.id for t in board][3:] == [late_urgent, late_low, oldest]  # sort_order 0 first
        assert [t.id for t in await tasks.by_sprint(sprint.id, status=TaskStatus.IN_PROGRESS)] \
            == [late_urgent]
        assert {t.id for t in await tasks.by_epic(epic.id)} >= {late_low}
        mine = await tasks.for_assignee(ws.user_id)
        assert [t.title for t in mine] == ["late urgent", "due today"]
        progress = await sprints.progress(sprint.id)
        assert (progress.total, progress.todo, progress.in_progress, progress.done,
                progress.cancelled) == (6, 3, 1, 1, 1)
        assert progress.percent_done == 20
        epic_progress = await epics.progress(epic.id)
        assert epic_progress.tasks.total == 2 and epic_progress.tasks.percent_done == 50
        assert epic_progress.on_target
        assert [x.id for x in await sprints.current()] == [sprint.id]
        assert (await sprints.archive(sprint.id)).status == SprintStatus.CANCELLED
        await epics.delete(epic.id)
        orphan = await tasks.get(late_low)
        await s.refresh(orphan)
        assert orphan.epic_id is None and orphan.sprint_id == sprint.id


async def test_webhooks_and_deliveries(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    now = datetime.now(UTC)
    async with scoped_session(sessions, ws.scope) as s:
        hooks = WebhookRepository(s, ws.scope)
        deliveries = WebhookDeliveryRepository(s, ws.scope)
        deals = await hooks.create(name="Deals", url="https://h.example/d",
                                   events=["deal.created", "deal.won"])
        everything = await hooks.create(name="All", url="https://h.example/a", events=["*"],
                                        secret="s3cret")
        off = await hooks.create(name="Off", url="https://h.example/o", events=["deal.won"],
                                 is_active=False)
        await hooks.create(name="Contacts", url="https://h.example/c", events=["contact.created"])
        assert len(deals.secret) == 64 and everything.secret == "s3cret"
        assert {h.id for h in await hooks.active_for("deal.won")} == {deals.id, everything.id}
        assert off.id not in {h.id for h in await hooks.active_for("deal.won")}
        assert {h.id for h in await hooks.active_for("invoice.paid")} == {everything.id}
        ok = await hooks.record_delivery(deals.id, "deal.won", {"id": 1}, success=True,
                                         response_status=200, now=now)
        failed = await hooks.record_delivery(deals.id, "deal.created", {"id": 2}, success=False,
                                             response_status=500, response_body="x" * 10_000,
                                             error="server error", now=now)
        assert ok.attempts == 1 and len(failed.response_body or "") == 4000
        counted = await hooks.get(deals.id)
        assert (counted.success_count, counted.failure_count) == (1, 1)
        assert counted.last_triggered_at == now
        assert [d.id for d in await deliveries.retryable(max_attempts=3)] == [failed.id]
        later = now + timedelta(minutes=5)
        retried = await deliveries.record_retry(failed.id, success=True, response_status=204,
                                                now=later)
        assert retried.attempts == 2 and retried.success and retried.error is None
        counted = await hooks.get(deals.id)
        assert (counted.success_count, counted.failure_count) == (2, 1)
        assert counted.last_triggered_at == later
        assert await deliveries.retryable(max_attempts=3) == []
        page = await deliveries.for_webhook(deals.id, limit=1)
        assert len(page.items) == 1 and page.next_cursor
        assert (await hooks.archive(everything.id)).is_active is False
        await hooks.delete(deals.id)
        assert await deliveries.count() == 0
        with pytest.raises(NotFound, match="webhook"):
            async with s.begin_nested():
                await hooks.record_delivery(deals.id, "deal.won", {}, success=True)


async def test_audit_log_is_append_only(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    deal_id = uuid.uuid4()
    async with scoped_session(sessions, ws.scope) as s:
        log = AuditLogRepository(s, ws.scope)
        first = await log.append("create", "deal", deal_id, user_id=ws.user_id,
                                 changes={"after": {"name": "Acme"}}, ip_address="203.0.113.9")
        for stage in ("proposal", "negotiation"):
            await log.append("update", "deal", deal_id, changes={"after": {"stage": stage}})
        await log.append("create", "contact", "external-42", meta={"source": "import"})
        history = await log.for_entity("deal", deal_id, limit=2)
        more = await log.for_entity("deal", str(deal_id), limit=2, cursor=history.next_cursor)
        assert len(history.items) == 2 and len(more.items) == 1
        assert first.id in {e.id for e in history.items + more.items}
        assert [e.entity_id for e in (await log.for_entity("contact", "external-42")).items] \
            == ["external-42"]
        assert [e.id for e in (await log.by_user(ws.user_id)).items] == [first.id]
        with pytest.raises(InvalidArgument, match="append-only"):
            await log.update(first.id, action="tampered")
        with pytest.raises(InvalidArgument, match="append-only"):
            await log.delete(first.id)
        with pytest.raises(InvalidArgument):
            await log.archive(first.id)
        assert (await log.get(first.id)).action == "create"


async def test_integrations(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws, other = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, other.scope) as s:
        await IntegrationRepository(s, other.scope).create(
            provider=IntegrationProvider.SLACK, account_id="T123"
        )
    async with scoped_session(sessions, ws.scope) as s:
        integrations = IntegrationRepository(s, ws.scope)
        slack = await integrations.create(provider=IntegrationProvider.SLACK, account_id="T123",
                                          scopes=["chat:write"], config={"channel": "#x"})
        google = await integrations.create(provider=IntegrationProvider.GOOGLE,
                                           account_id="ops@acme.example")
        assert [i.id for i in await integrations.by_provider(IntegrationProvider.SLACK)] \
            == [slack.id]
        assert (await integrations.find_account(IntegrationProvider.SLACK, "T123")) is slack
        assert await integrations.find_account(IntegrationProvider.GOOGLE, "T123") is None
        await integrations.mark_error(google.id, "token revoked")
        failed = await integrations.mark_error(google.id, "token revoked again")
        assert failed.status == IntegrationStatus.ERROR and failed.retry_count == 2
        synced = await integrations.mark_synced(google.id)
        assert (synced.status, synced.retry_count, synced.error_message) == (
            IntegrationStatus.ACTIVE, 0, None)
        assert synced.last_sync_at is not None
        assert (await integrations.archive(slack.id)).status == IntegrationStatus.INACTIVE
        with pytest.raises(Conflict):
            async with s.begin_nested():
                await integrations.create(provider=IntegrationProvider.SLACK, account_id="T123")


async def test_oauth_tokens_are_stored_encrypted(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    keys = Keyring.parse(new_key_spec("t1"))
    now = datetime.now(UTC)

    def seal(text: str, purpose: str) -> bytes:
        return keys.encrypt_text(text, ws.workspace_id, purpose)

    async with scoped_session(sessions, ws.scope) as s:
        integration = await IntegrationRepository(s, ws.scope).create(
            provider=IntegrationProvider.GOOGLE, account_id="me@example.com"
        )
        tokens = OAuthTokenRepository(s, ws.scope)
        with pytest.raises(InvalidArgument, match="encrypted"):
            await tokens.store(integration.id, access_token_encrypted=b"ya29.plaintext")
        with pytest.raises(InvalidArgument, match="refresh"):
            await tokens.store(integration.id, access_token_encrypted=seal("a", "oauth:access"),
                               refresh_token_encrypted=b"1//plain")
        first = await tokens.store(
            integration.id, access_token_encrypted=seal("access-1", "oauth:access"),
            refresh_token_encrypted=seal("refresh-1", "oauth:refresh"),
            expires_at=now + timedelta(minutes=5), scopes=["calendar"],
        )
        assert first.key_id == "t1"
        second = await tokens.store(
            integration.id, access_token_encrypted=seal("access-2", "oauth:access"),
            refresh_token_encrypted=seal("refresh-2", "oauth:refresh"),
            expires_at=now + timedelta(hours=1),
        )
        assert second.id == first.id and await tokens.count() == 1
        stored = await tokens.for_integration(integration.id)
        assert stored is not None and b"access-2" not in stored.access_token_encrypted
        assert keys.decrypt_text(stored.access_token_encrypted, ws.workspace_id,
                                 "oauth:access") == "access-2"
        assert [t.id for t in await tokens.expiring_before(now + timedelta(hours=2))] \
            == [first.id]
        assert await tokens.expiring_before(now + timedelta(minutes=10)) == []
        with pytest.raises(NotFound, match="integration"):
            async with s.begin_nested():
                await tokens.store(uuid.uuid4(), access_token_encrypted=seal("x", "oauth:access"))
        await IntegrationRepository(s, ws.scope).delete(integration.id)
        assert await tokens.count() == 0


async def test_analytics_events(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    t0 = datetime(2025, 6, 1, 12, tzinfo=UTC)
    async with scoped_session(sessions, ws.scope) as s:
        events = AnalyticsEventRepository(s, ws.scope)
        for minutes, name in ((0, "page_view"), (1, "page_view"), (2, "chat_opened"),
                              (60 * 24, "page_view")):
            await events.track(name, session_id="s1" if minutes < 60 else "s2",
                               occurred_at=t0 + timedelta(minutes=minutes), page="/crm",
                               user_id=ws.user_id, data={"n": minutes})
        day = await events.counts(t0, t0 + timedelta(days=1))
        assert day == {"page_view": 2, "chat_opened": 1}
        assert list(day) == ["page_view", "chat_opened"]
        assert await events.counts(t0, t0 + timedelta(days=2), event="page_view") == {
            "page_view": 3}
        session = await events.for_session("s1")
        assert [e.event for e in session] == ["page_view", "page_view", "chat_opened"]
        newest = await events.list(sort="occurred_at", limit=1)
        assert newest.items[0].session_id == "s2"


async def test_other_workspace_ids_are_not_found(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    a, b = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, b.scope) as s:
        their_sprint = await SprintRepository(s, b.scope).create(name="Theirs")
        their_task = await TaskRepository(s, b.scope).create(title="Theirs")
        their_hook = await WebhookRepository(s, b.scope).create(name="T", url="https://t.example")
        their_integration = await IntegrationRepository(s, b.scope).create(
            provider=IntegrationProvider.SLACK, account_id="TB"
        )
    async with scoped_session(sessions, a.scope) as s:
        tasks = TaskRepository(s, a.scope)
        with pytest.raises(NotFound):
            await tasks.move(their_task.id, TaskStatus.DONE)
        with pytest.raises(NotFound):
            await SprintRepository(s, a.scope).progress(their_sprint.id)
        with pytest.raises(NotFound):
            await WebhookRepository(s, a.scope).count_attempt(
                their_hook.id, success=True, at=datetime.now(UTC))
        with pytest.raises(NotFound):
            await IntegrationRepository(s, a.scope).mark_error(their_integration.id, "x")
        assert await IntegrationRepository(s, a.scope).find_account(
            IntegrationProvider.SLACK, "TB") is None
        with pytest.raises(NotFound, match="todo hq sprint"):
            async with s.begin_nested():
                await tasks.create(title="Sneaky", sprint_id=their_sprint.id)


async def test_demo_seed(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    now = datetime.now(UTC)
    async with scoped_session(sessions, ws.scope) as s:
        ctx = demo_context(s, ws, seed=9, now=now)
        await admin_demo.seed(ctx)
        sprints = SprintRepository(s, ws.scope)
        [current] = await sprints.current()
        assert (await sprints.progress(current.id)).total == 2
        assert await sprints.count(status=SprintStatus.COMPLETED) == 1
        assert await TaskRepository(s, ws.scope).overdue(now.date())
        [hook] = (await WebhookRepository(s, ws.scope).list(limit=5)).items
        assert hook.success_count + hook.failure_count == len(ctx.ids["webhook_deliveries"]) == 2
        integrations = IntegrationRepository(s, ws.scope)
        assert await integrations.find_account(IntegrationProvider.SLACK, "T0DEMO") is not None
        assert await integrations.by_provider(IntegrationProvider.GOOGLE)
        for table in ("platform_feedback", "audit_logs", "analytics_events", "todo_hq_epics"):
            assert ctx.ids[table], table
