"""Content tools against the real database: topic ideas, blog posts from draft to schedule and
publication (with the idea they came from), sources and article analytics; audit rows for
every write, idempotent retries, roles, bad arguments and other workspaces' ids."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

import tools.content  # noqa: F401  (registers the tools)
from store.models.admin import AuditLog
from store.models.content import (
    BlogPost,
    ContentSource,
    GeneratedBy,
    PostStatus,
    TopicIdea,
    TopicStatus,
)
from store.models.core import MemberRole
from store.repositories.content import (
    ArticleAnalyticsRepository,
    BlogCategoryRepository,
    BlogPostRepository,
    TopicIdeaRepository,
)
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, WorkspaceFixture
from tests.tools.helpers import CallTool, Sessions, audit, rows, unchanged
from tools.content import reading_minutes
from tools.errors import RetryableToolError, ToolFailed

TOMORROW = datetime.now(UTC) + timedelta(days=1)


async def footprint(sessions: Sessions, ws: WorkspaceFixture) -> dict[str, Any]:
    """Counts and post states, to prove a refused call changed nothing."""
    posts = await rows(sessions, ws, BlogPost)
    return {
        "audit": len(await rows(sessions, ws, AuditLog)),
        "ideas": [(i.id, i.status) for i in await rows(sessions, ws, TopicIdea)],
        "sources": len(await rows(sessions, ws, ContentSource)),
        "posts": sorted((p.id, p.title, p.status, p.slug, p.scheduled_at) for p in posts),
    }



async def seed_post(
    sessions: Sessions, ws: WorkspaceFixture, title: str, **values: Any
) -> uuid.UUID:
    async with scoped_session(sessions, ws.scope) as s:
        return (await BlogPostRepository(s, ws.scope).create(title=title, **values)).id


# -- topic ideas ---------------------------------------------------------------------------------


async def test_topic_ideas_are_saved_and_listed_by_priority(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace,
) -> None:
    ws = await make_workspace()
    args = {"title": "Why spreadsheets break", "priority": "high", "outline": ["Hook", "Fix"],
            "suggested_by_assistant": True}
    first = await call_tool(ws, "create_topic_idea", args, key="k-idea")
    again = await call_tool(ws, "create_topic_idea", args, key="k-idea")
    assert again.idea.id == first.idea.id
    [idea] = await rows(sessions, ws, TopicIdea)
    assert (idea.status, idea.generated_by, idea.user_id) == (
        TopicStatus.SAVED, GeneratedBy.AI, ws.user_id)
    assert idea.outline == {"sections": ["Hook", "Fix"]}
    [change] = await audit(sessions, ws, "topic_idea")
    assert change.action == "create" and change.changes["title"]["after"] == args["title"]

    await call_tool(ws, "create_topic_idea", {"title": "Onboarding checklists"})
    listed = await call_tool(ws, "list_topic_ideas", {}, role=MemberRole.VIEWER)
    assert [i.title for i in listed.ideas] == ["Why spreadsheets break", "Onboarding checklists"]
    high = await call_tool(ws, "list_topic_ideas", {"priority": "high", "limit": 1})
    assert [i.id for i in high.ideas] == [idea.id] and not high.has_more
    assert (await call_tool(ws, "list_topic_ideas", {"limit": 1})).has_more

    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed):
            await call_tool(ws, "create_topic_idea", {"title": "x"}, role=MemberRole.VIEWER)
        for bad in ({"title": ""}, {"title": "x", "priority": "urgent"},
                    {"title": "x", "angel": 1}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "create_topic_idea", bad)
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "list_topic_ideas", {"status": "done"})


# -- drafting and updating -----------------------------------------------------------------------


async def test_draft_blog_post_creates_a_draft_linked_to_its_idea(
    sessions: Sessions, call_tool: CallTool,
    make_workspace: MakeWorkspace,
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        category = await BlogCategoryRepository(s, ws.scope).create(name="Product")
        idea = await TopicIdeaRepository(s, ws.scope).create(title="Grid builder")
    body = "word " * 450
    args = {"title": "Meet the Grid Builder!", "content": body, "category": "product",
            "seo_keywords": ["grids"], "topic_idea_id": str(idea.id)}
    first = await call_tool(ws, "draft_blog_post", args, key="k-draft")
    again = await call_tool(ws, "draft_blog_post", args, key="k-draft")
    assert again.post.id == first.post.id
    [post] = await rows(sessions, ws, BlogPost)
    assert (post.status, post.slug, post.author_id, post.category_id) == (
        PostStatus.DRAFT, "meet-the-grid-builder", ws.user_id, category.id)
    assert post.reading_time_minutes == reading_minutes(body) == 2
    assert post.seo_keywords == ["grids"]
    [linked] = await rows(sessions, ws, TopicIdea)
    assert linked.status == TopicStatus.IN_PROGRESS
    assert linked.working_draft == {"post_id": str(post.id)}
    [created] = await audit(sessions, ws, "blog_post")
    assert created.changes["slug"]["after"] == "meet-the-grid-builder"
    assert len(await audit(sessions, ws, "topic_idea")) == 1

    second = await call_tool(ws, "draft_blog_post", {"title": "Other", "slug": "custom-slug"})
    assert second.post.slug == "custom-slug"


async def test_draft_blog_post_refusals_write_nothing(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture]
) -> None:
    ws, other = two
    await seed_post(sessions, ws, "Taken", slug="taken")
    async with scoped_session(sessions, other.scope) as s:
        foreign_idea = await TopicIdeaRepository(s, other.scope).create(title="Theirs")
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed):
            await call_tool(ws, "draft_blog_post", {"title": "x"}, role=MemberRole.VIEWER)
        with pytest.raises(RetryableToolError, match="no topic idea"):
            await call_tool(ws, "draft_blog_post",
                            {"title": "x", "topic_idea_id": str(foreign_idea.id)})
        with pytest.raises(RetryableToolError, match="is used by post"):
            await call_tool(ws, "draft_blog_post", {"title": "Taken"})
        with pytest.raises(RetryableToolError, match="no blog category"):
            await call_tool(ws, "draft_blog_post", {"title": "x", "category": "Nope"})
        for bad in ({"title": ""}, {"title": "x", "slug": "Not A Slug"}, {"title": "!!!"},
                    {"title": "x", "featured_image_url": "not a url"}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "draft_blog_post", bad)


async def test_update_blog_post_changes_only_given_fields(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture]
) -> None:
    ws, other = two
    post_id = await seed_post(sessions, ws, "Pricing", excerpt="Old", content="one two")
    await seed_post(sessions, ws, "Taken", slug="taken")
    foreign = await seed_post(sessions, other, "Theirs")
    result = await call_tool(ws, "update_blog_post", {
        "post_id": str(post_id), "title": "Pricing, explained", "excerpt": "New"})
    assert (result.post.title, result.post.excerpt, result.post.slug) == (
        "Pricing, explained", "New", "pricing")
    [post] = await rows(sessions, ws, BlogPost, BlogPost.id == post_id)
    assert post.content == "one two"
    [change] = await audit(sessions, ws, "blog_post")
    assert change.action == "update"
    assert change.changes == {"title": {"before": "Pricing", "after": "Pricing, explained"},
                              "excerpt": {"before": "Old", "after": "New"}}

    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed):
            await call_tool(ws, "update_blog_post", {"post_id": str(post_id), "title": "x"},
                            role=MemberRole.VIEWER)
        with pytest.raises(RetryableToolError, match="no blog post"):
            await call_tool(ws, "update_blog_post", {"post_id": str(foreign), "title": "x"})
        with pytest.raises(RetryableToolError, match="is used by post"):
            await call_tool(ws, "update_blog_post", {"post_id": str(post_id), "slug": "taken"})
        for bad in ({"post_id": str(post_id)}, {"post_id": "nope", "title": "x"},
                    {"post_id": str(post_id), "status": "published"}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "update_blog_post", bad)


# -- scheduling and publishing -------------------------------------------------------------------


async def test_schedule_blog_post_sets_the_schedule_for_the_publishing_job(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture]
) -> None:
    ws, other = two
    post_id = await seed_post(sessions, ws, "Launch")
    published = await seed_post(sessions, ws, "Live", status=PostStatus.PUBLISHED)
    foreign = await seed_post(sessions, other, "Theirs")
    at = TOMORROW.replace(microsecond=0)
    result = await call_tool(ws, "schedule_blog_post",
                             {"post_id": str(post_id), "publish_at": at.isoformat()})
    assert result.post.status == PostStatus.SCHEDULED and result.post.scheduled_at == at
    async with scoped_session(sessions, ws.scope) as s:
        due = await BlogPostRepository(s, ws.scope).due_to_publish(at + timedelta(seconds=1))
    assert [p.id for p in due] == [post_id]
    [change] = await audit(sessions, ws, "blog_post")
    assert change.action == "schedule" and change.changes["status"] == {
        "before": "draft", "after": "scheduled"}

    async with unchanged(footprint, sessions, ws):
        good = {"post_id": str(post_id), "publish_at": at.isoformat()}
        with pytest.raises(ToolFailed):
            await call_tool(ws, "schedule_blog_post", good, role=MemberRole.VIEWER)
        with pytest.raises(ToolFailed, match="already published"):
            await call_tool(ws, "schedule_blog_post", {**good, "post_id": str(published)})
        with pytest.raises(RetryableToolError, match="no blog post"):
            await call_tool(ws, "schedule_blog_post", {**good, "post_id": str(foreign)})
        past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        for bad in ({**good, "publish_at": past}, {**good, "publish_at": "2030-01-01T09:00:00"},
                    {"post_id": str(post_id)}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "schedule_blog_post", bad)


async def test_publish_blog_post_publishes_once_and_marks_its_idea(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture]
) -> None:
    ws, other = two
    draft = await call_tool(ws, "draft_blog_post", {"title": "Grid builder"})
    post_id = draft.post.id
    async with scoped_session(sessions, ws.scope) as s:
        idea = await TopicIdeaRepository(s, ws.scope).create(
            title="Grids", working_draft={"post_id": str(post_id)})
        await BlogPostRepository(s, ws.scope).schedule(post_id, TOMORROW)
    foreign = await seed_post(sessions, other, "Theirs")

    result = await call_tool(ws, "publish_blog_post", {"post_id": str(post_id)})
    assert result.post.status == PostStatus.PUBLISHED and result.post.scheduled_at is None
    assert not result.already_published and result.post.published_at is not None
    again = await call_tool(ws, "publish_blog_post", {"post_id": str(post_id)})
    assert again.already_published and again.post.published_at == result.post.published_at
    [marked] = await rows(sessions, ws, TopicIdea, TopicIdea.id == idea.id)
    assert (marked.status, marked.published_post_id) == (TopicStatus.PUBLISHED, post_id)
    actions = sorted(a.action for a in await audit(sessions, ws, "blog_post"))
    assert actions == ["create", "publish"]
    assert len(await audit(sessions, ws, "topic_idea")) == 1

    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed):
            await call_tool(ws, "publish_blog_post", {"post_id": str(post_id)},
                            role=MemberRole.VIEWER)
        with pytest.raises(RetryableToolError, match="no blog post"):
            await call_tool(ws, "publish_blog_post", {"post_id": str(foreign)})
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "publish_blog_post", {"post_id": 42})


async def test_search_blog_posts_by_words_and_status(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    await seed_post(sessions, ws, "Pricing explained", content="annual plans")
    await seed_post(sessions, ws, "Pricing FAQ", status=PostStatus.PUBLISHED)
    await seed_post(sessions, ws, "Hiring")
    found = await call_tool(ws, "search_blog_posts", {"text": "pricing"}, role=MemberRole.VIEWER)
    assert sorted(p.title for p in found.posts) == ["Pricing FAQ", "Pricing explained"]
    live = await call_tool(ws, "search_blog_posts", {"text": "pricing", "status": "published"})
    assert [p.title for p in live.posts] == ["Pricing FAQ"]
    assert (await call_tool(ws, "search_blog_posts", {"limit": 2})).has_more
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "search_blog_posts", {"limit": 0})


# -- sources and analytics -----------------------------------------------------------------------


async def test_add_content_source_follows_a_url_once(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    args = {"name": "HBR sales", "url": "https://hbr.org/topic/sales", "type": "research",
            "frequency": "daily"}
    first = await call_tool(ws, "add_content_source", args, role=MemberRole.MEMBER)
    again = await call_tool(ws, "add_content_source", {**args, "name": "Again"})
    assert again.already_added and again.source.id == first.source.id
    [source] = await rows(sessions, ws, ContentSource)
    assert (source.url, source.added_by, source.name) == (
        "https://hbr.org/topic/sales", ws.user_id, "HBR sales")
    assert len(await audit(sessions, ws, "content_source")) == 1

    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed):
            await call_tool(ws, "add_content_source", args, role=MemberRole.VIEWER)
        for bad in ({**args, "url": "hbr"}, {**args, "type": "podcast"}, {**args, "name": ""}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "add_content_source", bad)


async def test_article_analytics_totals_per_post(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture]
) -> None:
    ws, other = two
    popular = await seed_post(sessions, ws, "Popular", status=PostStatus.PUBLISHED)
    quiet = await seed_post(sessions, ws, "Quiet", status=PostStatus.PUBLISHED)
    foreign = await seed_post(sessions, other, "Theirs", status=PostStatus.PUBLISHED)
    today = datetime.now(UTC).date()
    async with scoped_session(sessions, ws.scope) as s:
        analytics = ArticleAnalyticsRepository(s, ws.scope)
        for days_ago, views in ((1, 100), (2, 300)):
            await analytics.record_day(popular, today - timedelta(days=days_ago), views=views,
                                       unique_visitors=views // 2, conversion_count=4)
        await analytics.record_day(quiet, today - timedelta(days=1), views=10)
        await analytics.record_day(quiet, today - timedelta(days=90), views=999)

    result = await call_tool(ws, "get_article_analytics", {}, role=MemberRole.VIEWER)
    assert [(p.title, p.views) for p in result.posts] == [("Popular", 400), ("Quiet", 10)]
    assert result.total_views == 410 and result.total_conversions == 8
    assert result.posts[0].conversion_rate == 2.0 and result.end == today
    one = await call_tool(ws, "get_article_analytics", {
        "post_id": str(quiet), "start": str(today - timedelta(days=100)), "end": str(today)})
    assert [(p.title, p.views, p.days) for p in one.posts] == [("Quiet", 1009, 2)]
    top = await call_tool(ws, "get_article_analytics", {"limit": 1})
    assert [p.title for p in top.posts] == ["Popular"] and top.has_more

    with pytest.raises(RetryableToolError, match="no blog post"):
        await call_tool(ws, "get_article_analytics", {"post_id": str(foreign)})
    for bad in ({"start": "2025-02-01", "end": "2025-01-01"},
                {"start": "2020-01-01", "end": "2025-01-01"},
                {"start": str(date.max)}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "get_article_analytics", bad)
