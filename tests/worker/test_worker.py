"""The worker really fires schedules: at their time, and once, with two workers running.

These tests use a database of their own (the sweep looks across every workspace, and must not
fire what other tests scheduled) and a clock they move by hand.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.worker import Worker, WorkerSettings
from store.bootstrap import DatabaseUrls, prepare_embedded
from store.db import Database
from store.embedded import EmbeddedServer
from store.migrations import upgrade
from store.models.admin import AuditLog
from store.models.content import BlogPost, PostStatus, TopicIdea
from store.models.core import MemberRole
from store.models.crm import Contact
from store.models.knowledge import KnowledgeChunk
from store.models.marketing import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    CampaignType,
    RecipientStatus,
    Segment,
)
from store.models.neptune import OutboundMessage
from store.tenancy import WorkspaceScope, scoped_session
from tests.conftest import WorkspaceFixture, create_workspace
from tools.catalog import load_catalog
from tools.content import publish_scheduled_post
from tools.context import Caller, ToolContext
from tools.invoke import invoke
from tools.jobs import JobContext, notify_due
from tools.knowledge.embedder import EMBEDDER_SERVICE, default_embedder
from tools.marketing.delivery import fire_campaign

T = datetime(2031, 3, 14, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
async def worker_urls(pg: EmbeddedServer) -> DatabaseUrls:
    urls = await prepare_embedded(pg, "neptune_worker")
    await upgrade(urls.owner)
    return urls


@pytest.fixture(scope="module")
async def worker_db(worker_urls: DatabaseUrls) -> AsyncIterator[Database]:
    db = Database.connect(worker_urls.app, pool_size=5)
    yield db
    await db.close()


async def seed_campaign(
    sessions: async_sessionmaker[AsyncSession], ws: WorkspaceFixture, *, at: datetime = T,
    kind: CampaignType = CampaignType.EMAIL,
) -> uuid.UUID:
    """Three reachable contacts and one without an email; a match-all segment; a campaign
    scheduled at `at`."""
    async with scoped_session(sessions, ws.scope) as session:
        session.add_all([
            Contact(workspace_id=ws.workspace_id, first_name=name, email=email)
            for name, email in [("Ada", "ada@example.com"), ("Bo", "bo@example.com"),
                                ("Cy", "cy@example.com"), ("Di", None)]
        ])
        segment = Segment(workspace_id=ws.workspace_id, name="Everyone", rules={})
        session.add(segment)
        await session.flush()
        campaign = Campaign(
            workspace_id=ws.workspace_id, name="Spring news", type=kind, subject="Hello",
            content={"headline": "Spring", "body": "New things."}, segment_id=segment.id,
            status=CampaignStatus.SCHEDULED, scheduled_at=at, created_by=ws.user_id,
        )
        session.add(campaign)
        await session.flush()
        return campaign.id


async def seed_post(
    sessions: async_sessionmaker[AsyncSession], ws: WorkspaceFixture, at: datetime,
    *, nudge: bool = False,
) -> uuid.UUID:
    async with scoped_session(sessions, ws.scope) as session:
        post = BlogPost(workspace_id=ws.workspace_id, title="Launch", slug=f"launch-{uuid.uuid4()}",
                        status=PostStatus.SCHEDULED, scheduled_at=at)
        session.add(post)
        await session.flush()
        session.add(TopicIdea(workspace_id=ws.workspace_id, title="Launch idea",
                              working_draft={"post_id": str(post.id)}))
        if nudge:
            await notify_due(session, "blog_post", post.id)
        return post.id


async def count(sessions: async_sessionmaker[AsyncSession], scope: WorkspaceScope,
                stmt: sa.Select[int]) -> int:
    async with scoped_session(sessions, scope) as session:
        return int(await session.scalar(stmt) or 0)


async def wait_for(check: Callable[[], Awaitable[bool]], seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the worker did not get there in time")
        await asyncio.sleep(0.1)


async def campaign_status(sessions: async_sessionmaker[AsyncSession], ws: WorkspaceFixture,
                          campaign_id: uuid.UUID) -> CampaignStatus:
    async with scoped_session(sessions, ws.scope) as session:
        status = await session.scalar(sa.select(Campaign.status).where(Campaign.id == campaign_id))
        assert status is not None
        return status


def outbox_for(campaign_id: uuid.UUID) -> sa.Select[int]:
    return sa.select(sa.func.count()).select_from(OutboundMessage).where(
        OutboundMessage.related_id == campaign_id)


def audit_rows(entity_id: uuid.UUID, action: str) -> sa.Select[int]:
    return sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.entity_id == str(entity_id), AuditLog.action == action)


async def running(workers: list[Worker]) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(w.run()) for w in workers]
    await asyncio.sleep(0.5)
    return tasks


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_two_workers_fire_a_campaign_after_its_time_and_once(
    worker_db: Database, worker_urls: DatabaseUrls
) -> None:
    ws = await create_workspace(worker_db.sessions)
    campaign_id = await seed_campaign(worker_db.sessions, ws)
    post_id = await seed_post(worker_db.sessions, ws, T + timedelta(minutes=30))
    clock = Clock(T - timedelta(minutes=1))
    settings = WorkerSettings(sweep_seconds=0.2, concurrency=2)
    workers = [Worker(worker_db, worker_urls.app, clock=clock,
                      settings=WorkerSettings(**{**settings.__dict__, "name": f"w{i}"}))
               for i in range(2)]
    tasks = await running(workers)
    try:
        await asyncio.sleep(1.0)  # several sweeps by both workers before T
        assert await campaign_status(worker_db.sessions, ws, campaign_id) == \
            CampaignStatus.SCHEDULED
        assert await count(worker_db.sessions, ws.scope, outbox_for(campaign_id)) == 0

        clock.now = T + timedelta(seconds=1)

        async def completed() -> bool:
            status = await campaign_status(worker_db.sessions, ws, campaign_id)
            return status == CampaignStatus.COMPLETED

        await wait_for(completed)
        await asyncio.sleep(1.0)  # more sweeps after the firing: nothing happens twice
    finally:
        await stop(tasks)
    scope = ws.scope
    assert await count(worker_db.sessions, scope, outbox_for(campaign_id)) == 3
    assert await count(worker_db.sessions, scope, audit_rows(campaign_id, "send")) == 1
    async with scoped_session(worker_db.sessions, scope) as session:
        statuses = sorted((await session.scalars(sa.select(CampaignRecipient.status).where(
            CampaignRecipient.campaign_id == campaign_id))).all())
        campaign = await session.get_one(Campaign, (ws.workspace_id, campaign_id))
        post_status = await session.scalar(sa.select(BlogPost.status).where(
            BlogPost.id == post_id))
    assert statuses == sorted([RecipientStatus.SENT] * 3 + [RecipientStatus.FAILED])
    assert campaign.metrics["sent"] == 3 and campaign.completed_at == clock.now
    assert post_status == PostStatus.SCHEDULED  # its time (T+30 min) has not come


async def test_handlers_racing_on_one_record_act_once(worker_db: Database) -> None:
    ws = await create_workspace(worker_db.sessions)
    campaign_id = await seed_campaign(worker_db.sessions, ws)
    post_id = await seed_post(worker_db.sessions, ws, T)
    job = JobContext(worker_db.sessions, T + timedelta(seconds=5))
    await asyncio.gather(*(fire_campaign(job, ws.workspace_id, campaign_id) for _ in range(3)),
                         *(publish_scheduled_post(job, ws.workspace_id, post_id)
                           for _ in range(3)))
    assert await count(worker_db.sessions, ws.scope, outbox_for(campaign_id)) == 3
    assert await count(worker_db.sessions, ws.scope, audit_rows(campaign_id, "send")) == 1
    assert await count(worker_db.sessions, ws.scope, audit_rows(post_id, "publish")) == 1
    async with scoped_session(worker_db.sessions, ws.scope) as session:
        post = await session.get_one(BlogPost, (ws.workspace_id, post_id))
        idea = (await session.scalars(sa.select(TopicIdea))).one()
    assert (post.status, post.published_at, post.scheduled_at) == (PostStatus.PUBLISHED, T, None)
    assert idea.published_post_id == post_id


async def test_a_handler_before_the_time_does_nothing(worker_db: Database) -> None:
    ws = await create_workspace(worker_db.sessions)
    campaign_id = await seed_campaign(worker_db.sessions, ws)
    await fire_campaign(JobContext(worker_db.sessions, T - timedelta(seconds=1)),
                        ws.workspace_id, campaign_id)
    assert await campaign_status(worker_db.sessions, ws, campaign_id) == CampaignStatus.SCHEDULED
    assert await count(worker_db.sessions, ws.scope, outbox_for(campaign_id)) == 0


async def test_an_sms_campaign_without_a_number_pauses_with_the_reason(
    worker_db: Database,
) -> None:
    ws = await create_workspace(worker_db.sessions)
    campaign_id = await seed_campaign(worker_db.sessions, ws, kind=CampaignType.SMS)
    await fire_campaign(JobContext(worker_db.sessions, T), ws.workspace_id, campaign_id)
    assert await campaign_status(worker_db.sessions, ws, campaign_id) == CampaignStatus.PAUSED
    async with scoped_session(worker_db.sessions, ws.scope) as session:
        audit = (await session.scalars(sa.select(AuditLog).where(
            AuditLog.entity_id == str(campaign_id)))).one()
    assert audit.action == "pause" and "phone number" in audit.changes["reason"]["after"]


async def test_a_committed_nudge_wakes_a_sleeping_worker(
    worker_db: Database, worker_urls: DatabaseUrls
) -> None:
    ws = await create_workspace(worker_db.sessions)
    clock = Clock(T)
    worker = Worker(worker_db, worker_urls.app, clock=clock,
                    settings=WorkerSettings(sweep_seconds=60))
    tasks = await running([worker])
    try:
        post_id = await seed_post(worker_db.sessions, ws, T - timedelta(minutes=1), nudge=True)

        async def published() -> bool:
            return await count(worker_db.sessions, ws.scope, audit_rows(post_id, "publish")) == 1

        await wait_for(published, seconds=10)  # far sooner than the 60 s sweep
    finally:
        await stop(tasks)


async def test_run_once_drains_what_is_due(worker_db: Database, worker_urls: DatabaseUrls) -> None:
    ws = await create_workspace(worker_db.sessions)
    campaign_id = await seed_campaign(worker_db.sessions, ws)
    worker = Worker(worker_db, worker_urls.app, clock=Clock(T + timedelta(hours=1)))
    swept = await worker.run_once()
    assert swept.kinds.get("campaign", 0) >= 1
    assert await campaign_status(worker_db.sessions, ws, campaign_id) == CampaignStatus.COMPLETED


async def test_a_document_made_by_a_tool_is_embedded_by_the_worker(
    worker_db: Database, worker_urls: DatabaseUrls
) -> None:
    """create_document chunks at once and nudges; the worker embeds with the local model."""
    ws = await create_workspace(worker_db.sessions)
    caller = Caller.for_member(ws.workspace_id, ws.user_id, MemberRole.OWNER)
    tool = load_catalog().get("create_document")
    assert tool is not None
    async with scoped_session(worker_db.sessions, ws.scope) as session:
        ctx = ToolContext(caller, session, "worker-test:doc")
        await invoke(tool, ctx, {"name": "Refunds", "content": "# Refunds\n\nWithin 30 days."})
    embedder = default_embedder()
    worker = Worker(worker_db, worker_urls.app, services={EMBEDDER_SERVICE: embedder})
    swept = await worker.run_once()
    assert swept.kinds.get("embed", 0) >= 1
    async with scoped_session(worker_db.sessions, ws.scope) as session:
        models = (await session.scalars(sa.select(KnowledgeChunk.embedding_model))).all()
    assert models and set(models) == {embedder.name}
