"""Content repositories against the real database: blog, ideas, sources, analytics, alerts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.demo import content as content_demo
from store.errors import Conflict, InvalidArgument, NotFound
from store.models.content import (
    AlertStatus,
    AlertType,
    CheckFrequency,
    ContentPriority,
    ContentType,
    PostStatus,
    SourceStatus,
    SourceType,
    TopicStatus,
    UseCaseCategory,
    UseCaseStatus,
)
from store.models.core import User
from store.repositories.content import (
    AlertBadgeRepository,
    ArticleAnalyticsRepository,
    BlogCategoryRepository,
    BlogPostRepository,
    BlogPostTagRepository,
    BlogTagRepository,
    ContentSourceRepository,
    TopicIdeaRepository,
    UseCaseRepository,
    slugify,
)
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, demo_context

Sessions = async_sessionmaker[AsyncSession]


def test_slugify() -> None:
    assert slugify("  Hello, World! 2025 ") == "hello-world-2025"
    assert len(slugify("word " * 40)) <= 80
    with pytest.raises(InvalidArgument):
        slugify("!!!")


async def test_blog_post_crud_paging_search(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        guides = await BlogCategoryRepository(s, ws.scope).create(name="How-to Guides")
        assert guides.slug == "how-to-guides"
        posts = BlogPostRepository(s, ws.scope)
        first = await posts.create(
            title="Automate Your Pipeline", content="Use grids to route leads.",
            category_id=guides.id, author_id=ws.user_id, is_featured=True,
        )
        assert first.slug == "automate-your-pipeline" and first.status == PostStatus.DRAFT
        spot = await posts.create(title="Tool spotlight: enrichment",
                                  content_type=ContentType.TOOL_SPOTLIGHT,
                                  status=PostStatus.PUBLISHED)
        assert spot.published_at is not None
        for i in range(4):
            await posts.create(title=f"Filler {i}", excerpt="nothing to see")
        assert (await posts.get(first.id)).title == "Automate Your Pipeline"
        assert (await posts.by_slug("automate-your-pipeline")) is not None
        assert await posts.by_slug("missing") is None
        page1 = await posts.list(limit=4)
        page2 = await posts.list(limit=4, cursor=page1.next_cursor)
        assert len(page1.items) == 4 and len(page2.items) == 2 and page2.next_cursor is None
        assert {p.id for p in page1.items}.isdisjoint({p.id for p in page2.items})
        assert [p.id for p in (await posts.search("grids LEADS")).items] == [first.id]
        assert [p.id for p in (await posts.search(category_id=guides.id)).items] == [first.id]
        assert [p.id for p in (await posts.search(featured=True)).items] == [first.id]
        kind = await posts.search(content_type=ContentType.TOOL_SPOTLIGHT)
        assert [p.id for p in kind.items] == [spot.id]
        assert len((await posts.search(status=PostStatus.DRAFT)).items) == 5
        assert (await posts.update(first.id, seo_keywords=["crm"])).seo_keywords == ["crm"]
        assert (await posts.record_view(first.id)).view_count == 1
        assert (await posts.record_view(first.id)).view_count == 2
        assert (await posts.archive(spot.id)).status == PostStatus.ARCHIVED
        await posts.delete(spot.id)
        with pytest.raises(NotFound):
            await posts.get(spot.id)
        with pytest.raises(Conflict):
            async with s.begin_nested():
                await posts.create(title="Automate your pipeline!")
        assert await posts.count() == 5


async def test_publish_schedule_and_due(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    now = datetime.now(UTC)
    async with scoped_session(sessions, ws.scope) as s:
        posts = BlogPostRepository(s, ws.scope)
        post = await posts.create(title="Spring roadmap")
        with pytest.raises(InvalidArgument, match="future"):
            await posts.schedule(post.id, now - timedelta(minutes=1), now=now)
        with pytest.raises(InvalidArgument, match="timezone"):
            await posts.schedule(post.id, datetime(2099, 1, 1))  # noqa: DTZ001 (the point)
        at = now + timedelta(hours=2)
        scheduled = await posts.schedule(post.id, at, now=now)
        assert scheduled.status == PostStatus.SCHEDULED and scheduled.scheduled_at == at
        assert await posts.due_to_publish(now) == []
        assert [p.id for p in await posts.due_to_publish(at)] == [post.id]
        published = await posts.publish_due(at + timedelta(seconds=1))
        assert [p.id for p in published] == [post.id]
        again = await posts.get(post.id)
        assert again.status == PostStatus.PUBLISHED and again.published_at == at
        assert again.scheduled_at is None and await posts.due_to_publish(at) == []
        with pytest.raises(Conflict):
            await posts.schedule(post.id, now + timedelta(days=1), now=now)
        await posts.archive(post.id)
        republished = await posts.publish(post.id)
        assert republished.status == PostStatus.PUBLISHED and republished.published_at == at
        fresh = await posts.publish((await posts.create(title="Brand new")).id, now=now)
        assert fresh.published_at == now
        with pytest.raises(InvalidArgument):
            async with s.begin_nested():
                await posts.create(title="No time", status=PostStatus.SCHEDULED)


async def test_tags_and_links(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        tags = BlogTagRepository(s, ws.scope)
        links = BlogPostTagRepository(s, ws.scope)
        posts = BlogPostRepository(s, ws.scope)
        crm, ai = await tags.ensure(["CRM", "AI Agents"])
        assert (crm.slug, ai.slug) == ("crm", "ai-agents")
        assert [t.id for t in await tags.ensure(["crm"])] == [crm.id]
        assert (await tags.by_slug("ai-agents")) is not None
        post = await posts.create(title="Tagged")
        other = await posts.create(title="Other")
        await links.tag(post.id, crm.id)
        await links.tag(post.id, crm.id)  # idempotent
        assert await links.tag_ids(post.id) == {crm.id}
        await links.set_tags(post.id, [ai.id])
        assert [t.id for t in await tags.for_post(post.id)] == [ai.id]
        await links.set_tags(other.id, [crm.id, ai.id])
        assert [p.id for p in (await posts.search(tag_id=crm.id)).items] == [other.id]
        assert await links.untag(other.id, crm.id) is True
        assert await links.untag(other.id, crm.id) is False
        await posts.delete(other.id)
        assert await links.count(post_id=other.id) == 0
        with pytest.raises(NotFound, match="blog tag"):
            async with s.begin_nested():
                await links.tag(post.id, post.id)


async def test_category_counts_and_archive(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        categories = BlogCategoryRepository(s, ws.scope)
        news = await categories.create(name="News")
        empty = await categories.create(name="Empty", slug="nothing-here")
        posts = BlogPostRepository(s, ws.scope)
        await posts.create(title="One", category_id=news.id)
        gone = await posts.create(title="Two", category_id=news.id)
        await posts.archive(gone.id)
        assert await categories.post_counts() == {news.id: 1, empty.id: 0}
        assert (await categories.by_slug("nothing-here")) is not None
        assert (await categories.archive(empty.id)).is_active is False
        await categories.delete(news.id)
        await s.refresh(gone)
        assert gone.category_id is None  # SET NULL on the category only


async def test_topic_ideas_by_status_and_priority(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        ideas = TopicIdeaRepository(s, ws.scope)
        low = await ideas.create(title="Low", priority=ContentPriority.LOW)
        high = await ideas.create(title="High", priority=ContentPriority.HIGH,
                                  sources=[{"url": "https://a.example"}])
        mid = await ideas.create(title="Mid", status=TopicStatus.IN_PROGRESS)
        assert [i.id for i in await ideas.by_status(TopicStatus.SAVED)] == [high.id, low.id]
        assert [i.id for i in await ideas.by_status()] == [high.id, mid.id, low.id]
        only_low = await ideas.by_status(priority=ContentPriority.LOW)
        assert [i.id for i in only_low] == [low.id]
        post = await BlogPostRepository(s, ws.scope).create(title="Written")
        done = await ideas.mark_published(mid.id, post.id)
        assert done.status == TopicStatus.PUBLISHED and done.published_post_id == post.id
        await ideas.archive(low.id)
        assert low.id not in {i.id for i in await ideas.by_status()}
        assert (await ideas.get(high.id)).sources == [{"url": "https://a.example"}]


async def test_content_sources(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    now = datetime.now(UTC)
    async with scoped_session(sessions, ws.scope) as s:
        sources = ContentSourceRepository(s, ws.scope)
        news = await sources.create(name="News", url="https://n.example", type=SourceType.NEWS,
                                    relevance_score=90, frequency=CheckFrequency.DAILY,
                                    last_checked_at=now - timedelta(days=2))
        fresh = await sources.create(name="Research", url="https://r.example",
                                     type=SourceType.RESEARCH, relevance_score=50,
                                     frequency=CheckFrequency.WEEKLY,
                                     last_checked_at=now - timedelta(days=2))
        never = await sources.create(name="Unscored", url="https://u.example")
        await sources.create(name="Maybe", url="https://m.example", status=SourceStatus.SUGGESTED)
        active = await sources.by_status(SourceStatus.ACTIVE)
        assert [x.id for x in active] == [news.id, fresh.id, never.id]
        assert [x.id for x in await sources.by_status(SourceStatus.ACTIVE, type=SourceType.NEWS)] \
            == [news.id]
        assert [x.id for x in await sources.due_for_check(now)] == [never.id, news.id]
        checked = await sources.record_check(news.id, articles_found=3, now=now)
        checked = await sources.record_check(news.id, articles_found=2, now=now)
        assert checked.articles_found == 5 and checked.last_checked_at == now
        assert news.id not in {x.id for x in await sources.due_for_check(now)}
        with pytest.raises(InvalidArgument):
            await sources.record_check(news.id, articles_found=-1)
        assert (await sources.archive(fresh.id)).status == SourceStatus.ARCHIVED
        with pytest.raises(InvalidArgument):
            async with s.begin_nested():
                await sources.create(name="Bad", url="https://b.example", quality_score=101)


async def test_article_analytics_summary(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    d1, d2, d3 = date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)
    async with scoped_session(sessions, ws.scope) as s:
        posts = BlogPostRepository(s, ws.scope)
        a = await posts.create(title="A", status=PostStatus.PUBLISHED)
        b = await posts.create(title="B", status=PostStatus.PUBLISHED)
        stats = ArticleAnalyticsRepository(s, ws.scope)
        await stats.record_day(a.id, d1, views=100, unique_visitors=80,
                               avg_time_on_page_seconds=60, bounce_rate=40, conversion_count=2)
        row = await stats.record_day(a.id, d1, views=300, unique_visitors=200,
                                     avg_time_on_page_seconds=100, bounce_rate=20,
                                     conversion_count=6)
        assert row.views == 300  # replaced, not duplicated
        await stats.record_day(a.id, d2, views=100, unique_visitors=90,
                               avg_time_on_page_seconds=20, bounce_rate=60, conversion_count=2,
                               social_shares=4)
        await stats.record_day(b.id, d2, views=50, unique_visitors=40)
        await stats.record_day(b.id, d3, views=999, unique_visitors=900)
        summary = await stats.summary(d1, d2)
        assert [x.post_id for x in summary] == [a.id, b.id]
        top = summary[0]
        assert (top.days, top.views, top.unique_visitors, top.social_shares) == (2, 400, 290, 4)
        assert top.avg_time_on_page_seconds == 80.0  # (300*100 + 100*20) / 400
        assert top.bounce_rate == 30.0 and top.conversions == 8 and top.conversion_rate == 2.0
        assert [x.views for x in await stats.summary(d1, d3, post_id=b.id)] == [1049]
        assert [r.date for r in await stats.daily(a.id, d1, d3)] == [d1, d2]
        assert await stats.count() == 4
        with pytest.raises(InvalidArgument, match="unknown"):
            await stats.record_day(a.id, d1, workspace_id=b.id)
        with pytest.raises(InvalidArgument):
            async with s.begin_nested():
                await stats.record_day(a.id, d3, bounce_rate=120)
        await posts.delete(a.id)
        assert await stats.count() == 2  # cascades with the post


async def test_use_cases(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        cases = UseCaseRepository(s, ws.scope)
        saas = await cases.create(title="Lead Follow-up", category=UseCaseCategory.B2B_SAAS,
                                  features=[{"name": "qualify"}])
        await cases.create(title="Agency reporting", category=UseCaseCategory.AGENCY)
        assert saas.slug == "lead-follow-up"
        assert (await cases.by_slug("lead-follow-up")) is not None
        assert [c.id for c in await cases.by_category(UseCaseCategory.B2B_SAAS)] == [saas.id]
        assert await cases.by_category(UseCaseCategory.B2B_SAAS, published_only=True) == []
        published = await cases.publish(saas.id)
        assert published.status == UseCaseStatus.PUBLISHED and published.published_at
        only = await cases.by_category(UseCaseCategory.B2B_SAAS, published_only=True)
        assert [c.id for c in only] == [saas.id]
        assert (await cases.archive(saas.id)).status == UseCaseStatus.ARCHIVED
        assert await cases.by_category(UseCaseCategory.B2B_SAAS) == []


async def test_alert_badges_unread_for_user(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    now = datetime.now(UTC)
    async with scoped_session(sessions, ws.scope) as s:
        colleague = User(email=f"colleague-{ws.slug}@example.com")
        s.add(colleague)
        await s.flush()
        alerts = AlertBadgeRepository(s, ws.scope)
        mine = await alerts.create(type=AlertType.TREND, title="Mine", user_id=ws.user_id)
        urgent = await alerts.create(type=AlertType.WARNING, title="Everyone",
                                     priority=ContentPriority.HIGH)
        await alerts.create(type=AlertType.MILESTONE, title="Theirs", user_id=colleague.id)
        await alerts.create(type=AlertType.TREND, title="Old", user_id=ws.user_id,
                            expires_at=now - timedelta(hours=1))
        read = await alerts.create(type=AlertType.SUGGESTION, title="Seen", user_id=ws.user_id)
        await alerts.mark_read(read.id)
        unread = await alerts.unread_for(ws.user_id, now=now)
        assert [a.id for a in unread] == [urgent.id, mine.id]
        assert await alerts.unread_count(ws.user_id, now=now) == 2
        assert await alerts.unread_count(colleague.id, now=now) == 2
        actioned = await alerts.mark_actioned(mine.id)
        assert actioned.status == AlertStatus.ACTIONED and actioned.read_at is not None
        assert (await alerts.archive(urgent.id)).status == AlertStatus.DISMISSED
        assert await alerts.unread_for(ws.user_id, now=now) == []


async def test_other_workspace_ids_are_not_found(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    a, b = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, b.scope) as s:
        theirs = await BlogPostRepository(s, b.scope).create(title="Theirs")
        their_category = await BlogCategoryRepository(s, b.scope).create(name="Theirs")
        their_idea = await TopicIdeaRepository(s, b.scope).create(title="Theirs")
    async with scoped_session(sessions, a.scope) as s:
        posts = BlogPostRepository(s, a.scope)
        with pytest.raises(NotFound):
            await posts.get(theirs.id)
        with pytest.raises(NotFound):
            await posts.publish(theirs.id)
        with pytest.raises(NotFound):
            await posts.record_view(theirs.id)
        with pytest.raises(NotFound):
            await TopicIdeaRepository(s, a.scope).update(their_idea.id, title="Mine")
        assert await posts.by_slug("theirs") is None
        with pytest.raises(NotFound, match="blog categor"):
            async with s.begin_nested():
                await posts.create(title="Sneaky", category_id=their_category.id)
        with pytest.raises(NotFound, match="blog post"):
            async with s.begin_nested():
                await ArticleAnalyticsRepository(s, a.scope).record_day(theirs.id, date(2025, 1, 1))


async def test_demo_seed(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        ctx = demo_context(s, ws, seed=3)
        await content_demo.seed(ctx)
        for table in ("blog_categories", "blog_tags", "blog_posts", "topic_ideas",
                      "content_sources", "article_analytics", "use_cases", "alert_badges"):
            assert ctx.ids[table], table
        posts = BlogPostRepository(s, ws.scope)
        assert await posts.count() == 2
        assert await posts.count(status=PostStatus.PUBLISHED) == 1
        assert await BlogPostTagRepository(s, ws.scope).count() >= 2
        assert 5 <= await ArticleAnalyticsRepository(s, ws.scope).count() <= 30
        assert await AlertBadgeRepository(s, ws.scope).unread_count(ws.user_id) >= 1
