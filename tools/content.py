"""Content tools: topic ideas, blog posts from draft to published, content sources, and article
analytics.

Publishing rules (only a future time can be scheduled, a published post keeps its first date)
live in `BlogPostRepository`; scheduling only sets the schedule, and the publishing job turns
due posts into published ones. A post drafted from a topic idea is linked through the idea's
`working_draft.post_id`, so publishing the post also marks the idea published.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any, Self

import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from store.models.content import (
    BlogPost,
    CheckFrequency,
    ContentPriority,
    ContentSource,
    GeneratedBy,
    PostStatus,
    SourceStatus,
    SourceType,
    TopicIdea,
    TopicStatus,
)
from store.models.core import MemberRole
from store.repositories.content import (
    ArticleAnalyticsRepository,
    BlogCategoryRepository,
    BlogPostRepository,
    ContentSourceRepository,
    TopicIdeaRepository,
    slugify,
)
from store.tenancy import WorkspaceScope, scoped_session
from tools.audit import record_change, record_worker_change, replayed, snapshot
from tools.context import ToolContext
from tools.errors import RetryableToolError
from tools.jobs import JobContext
from tools.registry import Risk, tool
from tools.workspace import today

ARGS = ConfigDict(frozen=True, extra="forbid")
SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
WORDS_PER_MINUTE = 200
IDEA_PUBLISH_FIELDS = ("status", "published_post_id")
POST_FIELDS = ("title", "slug", "status", "category_id", "excerpt", "content", "seo_title",
               "seo_description", "seo_keywords", "featured_image_url", "reading_time_minutes")


# -- topic ideas ---------------------------------------------------------------------------------


class CreateTopicIdeaArgs(BaseModel):
    model_config = ARGS

    title: str = Field(
        min_length=1, max_length=200, description="Working title, e.g. 'Why CRMs fail in SMBs'."
    )
    description: str | None = Field(
        default=None, max_length=2000, description="What the piece would cover."
    )
    angle: str | None = Field(
        default=None, max_length=500, description="The take that makes it different."
    )
    target_audience: str | None = Field(
        default=None, max_length=200, description="Who it is for, e.g. 'ops managers'."
    )
    priority: ContentPriority = Field(
        default=ContentPriority.MEDIUM, description="low, medium or high."
    )
    outline: list[str] = Field(
        default_factory=list, max_length=30,
        description="Section headings, in order, e.g. ['Hook', 'The problem', 'What works'].",
    )
    suggested_by_assistant: bool = Field(
        default=False, description="True when you proposed the idea rather than the user."
    )


class TopicIdeaOut(BaseModel):
    id: uuid.UUID
    title: str
    status: TopicStatus
    priority: ContentPriority
    angle: str | None
    target_audience: str | None
    outline: list[str]
    draft_post_id: uuid.UUID | None
    created_at: datetime


def _idea_out(row: TopicIdea) -> TopicIdeaOut:
    draft = row.working_draft.get("post_id") or row.published_post_id
    return TopicIdeaOut(
        id=row.id, title=row.title, status=row.status, priority=row.priority, angle=row.angle,
        target_audience=row.target_audience, outline=list(row.outline.get("sections", [])),
        draft_post_id=uuid.UUID(str(draft)) if draft else None, created_at=row.created_at,
    )


class TopicIdeaResult(BaseModel):
    idea: TopicIdeaOut


@tool(
    risk=Risk.LOW, role=MemberRole.MEMBER, title="Save topic idea {title}",
    examples=("save an idea: why spreadsheets break at 50 customers",
              "add a blog idea about onboarding checklists for ops managers"),
)
async def create_topic_idea(ctx: ToolContext, args: CreateTopicIdeaArgs) -> TopicIdeaResult:
    """Save a content topic idea (a possible blog post) to the ideas board, status `saved`.
    Draft the post itself later with draft_blog_post and the idea's id."""
    ideas = TopicIdeaRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "create", "topic_idea")
    if earlier is not None:
        return TopicIdeaResult(idea=_idea_out(await ideas.get(earlier)))
    row = await ideas.create(
        user_id=ctx.caller.user_id, title=args.title, description=args.description,
        angle=args.angle, target_audience=args.target_audience, priority=args.priority,
        outline={"sections": list(args.outline)},
        generated_by=GeneratedBy.AI if args.suggested_by_assistant else GeneratedBy.USER,
    )
    await record_change(ctx, "create", "topic_idea", row.id, after=snapshot(
        row, ["title", "description", "angle", "target_audience", "priority", "outline"]))
    return TopicIdeaResult(idea=_idea_out(row))


class ListTopicIdeasArgs(BaseModel):
    model_config = ARGS

    status: TopicStatus | None = Field(
        default=None, description="Only this status; omit for every idea except archived ones."
    )
    priority: ContentPriority | None = Field(default=None, description="Only this priority.")
    limit: int = Field(default=20, ge=1, le=50, description="Most ideas to return (1-50).")


class TopicIdeaList(BaseModel):
    ideas: list[TopicIdeaOut]
    has_more: bool


@tool(
    risk=Risk.LOW,
    examples=("what blog ideas do we have?", "show high-priority topic ideas",
              "which ideas are in progress?"),
)
async def list_topic_ideas(ctx: ToolContext, args: ListTopicIdeasArgs) -> TopicIdeaList:
    """List saved content topic ideas, highest priority first, then newest."""
    rows = await TopicIdeaRepository(ctx.session, ctx.scope).by_status(
        args.status, priority=args.priority, limit=args.limit + 1
    )
    return TopicIdeaList(ideas=[_idea_out(r) for r in rows[:args.limit]],
                         has_more=len(rows) > args.limit)


# -- blog posts ----------------------------------------------------------------------------------


class BlogPostOut(BaseModel):
    id: uuid.UUID
    title: str
    slug: str
    status: PostStatus
    category_id: uuid.UUID | None
    excerpt: str | None
    reading_time_minutes: int | None
    scheduled_at: datetime | None
    published_at: datetime | None
    view_count: int
    updated_at: datetime


class BlogPostResult(BaseModel):
    post: BlogPostOut


def _post_out(row: BlogPost) -> BlogPostOut:
    return BlogPostOut(
        id=row.id, title=row.title, slug=row.slug, status=row.status, category_id=row.category_id,
        excerpt=row.excerpt, reading_time_minutes=row.reading_time_minutes,
        scheduled_at=row.scheduled_at, published_at=row.published_at, view_count=row.view_count,
        updated_at=row.updated_at,
    )


def reading_minutes(content: str) -> int:
    """Minutes to read `content` at 200 words a minute; at least 1 once there is any text."""
    words = len(content.split())
    return max(1, round(words / WORDS_PER_MINUTE)) if words else 0


async def _category_id(ctx: ToolContext, name: str) -> uuid.UUID:
    """The category called `name` (by name or slug), or a retryable error listing the ones
    that exist."""
    categories = BlogCategoryRepository(ctx.session, ctx.scope)
    found = await categories.by_slug(slugify(name))
    if found is not None:
        return found.id
    known = [c.name for c in (await categories.list(limit=50, sort="name")).items]
    raise RetryableToolError(f"no blog category {name!r}; use one of {known} or omit it")


async def _free_slug(ctx: ToolContext, slug: str, post_id: uuid.UUID | None = None) -> str:
    taken = await BlogPostRepository(ctx.session, ctx.scope).by_slug(slug)
    if taken is not None and taken.id != post_id:
        raise RetryableToolError(f"slug {slug!r} is used by post {taken.id}; pass another slug")
    return slug


class PostFields(BaseModel):
    """Fields a draft and an update share."""

    model_config = ARGS

    title: str | None = Field(
        default=None, min_length=1, max_length=200, description="The post's title."
    )
    content: str | None = Field(
        default=None, max_length=50_000, description="The body in Markdown."
    )
    excerpt: str | None = Field(
        default=None, max_length=500, description="One or two sentences shown in listings."
    )
    category: str | None = Field(
        default=None, max_length=100, description="Blog category name, e.g. 'Product'."
    )
    slug: str | None = Field(
        default=None, max_length=80, pattern=SLUG,
        description="URL slug like 'pricing-explained'; drafts default to the title's.",
    )
    seo_title: str | None = Field(default=None, max_length=200, description="Title for search.")
    seo_description: str | None = Field(
        default=None, max_length=300, description="Meta description for search engines."
    )
    seo_keywords: list[str] | None = Field(
        default=None, max_length=20, description="Search keywords, e.g. ['crm', 'pipeline']."
    )
    featured_image_url: HttpUrl | None = Field(default=None, description="Header image URL.")


async def _post_values(
    ctx: ToolContext, fields: PostFields, post_id: uuid.UUID | None
) -> dict[str, Any]:
    """Store values for the fields the caller set (category and slug resolved and checked)."""
    given = fields.model_dump(exclude_unset=True, exclude={"topic_idea_id", "post_id"})
    values: dict[str, Any] = {k: v for k, v in given.items() if k not in ("category", "slug")}
    if fields.category is not None:
        values["category_id"] = await _category_id(ctx, fields.category)
    if fields.slug is not None:
        values["slug"] = await _free_slug(ctx, fields.slug, post_id)
    if fields.featured_image_url is not None:
        values["featured_image_url"] = str(fields.featured_image_url)
    if fields.content is not None:
        values["reading_time_minutes"] = reading_minutes(fields.content)
    return {k: v for k, v in values.items() if v is not None}


class DraftBlogPostArgs(PostFields):
    title: str = Field(min_length=1, max_length=200, description="The post's title.")
    topic_idea_id: uuid.UUID | None = Field(
        default=None, description="The topic idea this post is written from, if any."
    )


@tool(
    risk=Risk.MEDIUM, title="Draft blog post {title}",
    examples=("draft a blog post about our new grid builder",
              "write up the onboarding checklist idea as a draft post"),
)
async def draft_blog_post(ctx: ToolContext, args: DraftBlogPostArgs) -> BlogPostResult:
    """Create a blog post as a draft (not visible to readers) with you as author. Publish it
    with publish_blog_post or schedule it with schedule_blog_post; change it with
    update_blog_post. Pass topic_idea_id when writing up a saved idea."""
    posts = BlogPostRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "create", "blog_post")
    if earlier is not None:
        return BlogPostResult(post=_post_out(await posts.get(earlier)))
    idea = None
    if args.topic_idea_id is not None:
        idea = await TopicIdeaRepository(ctx.session, ctx.scope).get(args.topic_idea_id)
    values = await _post_values(ctx, args, None)
    if "slug" not in values:
        values["slug"] = await _free_slug(ctx, slugify(args.title))
    row = await posts.create(author_id=ctx.caller.user_id, status=PostStatus.DRAFT, **values)
    await record_change(ctx, "create", "blog_post", row.id, after=snapshot(row, POST_FIELDS))
    if idea is not None:
        await _link_idea(ctx, idea, row.id)
    return BlogPostResult(post=_post_out(row))


async def _link_idea(ctx: ToolContext, idea: TopicIdea, post_id: uuid.UUID) -> None:
    before = snapshot(idea, ["status", "working_draft"])
    status = idea.status if idea.status == TopicStatus.PUBLISHED else TopicStatus.IN_PROGRESS
    updated = await TopicIdeaRepository(ctx.session, ctx.scope).update(
        idea.id, status=status, working_draft={**idea.working_draft, "post_id": str(post_id)}
    )
    await record_change(ctx, "update", "topic_idea", idea.id, before=before,
                        after=snapshot(updated, ["status", "working_draft"]))


class UpdateBlogPostArgs(PostFields):
    post_id: uuid.UUID = Field(description="The post to change.")

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.model_fields_set - {"post_id"}:
            raise ValueError("give at least one field to change")
        return self


@tool(
    risk=Risk.MEDIUM, title="Update blog post {post_id}",
    examples=("change the title of the pricing post", "add an excerpt to the launch draft",
              "fix the SEO description of that post"),
)
async def update_blog_post(ctx: ToolContext, args: UpdateBlogPostArgs) -> BlogPostResult:
    """Change a blog post's title, body, excerpt, category, slug, SEO fields or image; only the
    fields you pass change. Works on published posts too (changing a published slug breaks old
    links). Status changes go through publish_blog_post and schedule_blog_post."""
    posts = BlogPostRepository(ctx.session, ctx.scope)
    post = await posts.get(args.post_id)
    values = await _post_values(ctx, args, post.id)
    before = snapshot(post, POST_FIELDS)
    row = await posts.update(post.id, **values)
    await record_change(ctx, "update", "blog_post", row.id, before=before,
                        after=snapshot(row, POST_FIELDS))
    return BlogPostResult(post=_post_out(row))


class ScheduleBlogPostArgs(BaseModel):
    model_config = ARGS

    post_id: uuid.UUID = Field(description="The draft post to schedule.")
    publish_at: AwareDatetime = Field(
        description="When to publish, in the future, with timezone, e.g. '2025-06-02T09:00:00Z'."
    )


@tool(
    risk=Risk.HIGH, title="Schedule blog post {post_id} for {publish_at}",
    examples=("schedule the launch post for Monday 9am", "publish the pricing post next Tuesday"),
)
async def schedule_blog_post(ctx: ToolContext, args: ScheduleBlogPostArgs) -> BlogPostResult:
    """Schedule a post to be published at a future time: its status becomes `scheduled` and the
    publishing job publishes it when the time comes. Scheduling again moves the time. A
    published post cannot be scheduled."""
    posts = BlogPostRepository(ctx.session, ctx.scope)
    post = await posts.get(args.post_id)
    before = snapshot(post, ["status", "scheduled_at"])
    row = await posts.schedule(post.id, args.publish_at)
    await record_change(ctx, "schedule", "blog_post", row.id, before=before,
                        after=snapshot(row, ["status", "scheduled_at"]))
    return BlogPostResult(post=_post_out(row))


class PublishBlogPostArgs(BaseModel):
    model_config = ARGS

    post_id: uuid.UUID = Field(description="The post to publish now.")


class PublishResult(BaseModel):
    post: BlogPostOut
    already_published: bool = False


@tool(
    risk=Risk.HIGH, title="Publish blog post {post_id}",
    examples=("publish the grid builder post", "make the launch post live now"),
)
async def publish_blog_post(ctx: ToolContext, args: PublishBlogPostArgs) -> PublishResult:
    """Publish a post now, making it visible on the blog (a scheduled post's schedule is
    cleared). A post published before keeps its original date; an already published post is
    left as it is."""
    posts = BlogPostRepository(ctx.session, ctx.scope)
    post = await posts.get(args.post_id)
    if post.status == PostStatus.PUBLISHED:
        return PublishResult(post=_post_out(post), already_published=True)
    before = snapshot(post, ["status", "scheduled_at", "published_at"])
    row = await posts.publish(post.id)
    await record_change(ctx, "publish", "blog_post", row.id, before=before,
                        after=snapshot(row, ["status", "scheduled_at", "published_at"]))
    await _mark_ideas_published(ctx, row.id)
    return PublishResult(post=_post_out(row))


async def _mark_ideas_published(ctx: ToolContext, post_id: uuid.UUID) -> None:
    async def audit(idea_id: uuid.UUID, before: dict[str, Any], after: dict[str, Any]) -> None:
        await record_change(ctx, "update", "topic_idea", idea_id, before=before, after=after)

    await mark_ideas_published(ctx.session, ctx.scope, post_id, audit)


async def mark_ideas_published(
    session: AsyncSession, scope: WorkspaceScope, post_id: uuid.UUID,
    audit: Callable[[uuid.UUID, dict[str, Any], dict[str, Any]], Awaitable[None]],
) -> None:
    """Mark the topic ideas drafted into this post as published (with an audit row each)."""
    ideas = TopicIdeaRepository(session, scope)
    stmt = ideas.select().where(TopicIdea.working_draft["post_id"].astext == str(post_id),
                                TopicIdea.status != TopicStatus.PUBLISHED)
    for idea in list(await session.scalars(stmt)):
        before = snapshot(idea, IDEA_PUBLISH_FIELDS)
        updated = await ideas.mark_published(idea.id, post_id)
        await audit(idea.id, before, snapshot(updated, IDEA_PUBLISH_FIELDS))


async def publish_scheduled_post(
    job: JobContext, workspace_id: uuid.UUID, post_id: uuid.UUID
) -> None:
    """The worker's handler for a due scheduled post (kind `blog_post`): publish it dated at its
    scheduled time, once. The conditional update is the claim: a post unscheduled, rescheduled
    or already published by another worker is left alone."""
    scope = WorkspaceScope(workspace_id)
    async with scoped_session(job.sessions, scope) as session:
        stmt = (
            sa.update(BlogPost)
            .where(BlogPost.id == post_id, BlogPost.status == PostStatus.SCHEDULED,
                   BlogPost.scheduled_at <= job.now)
            .values(status=PostStatus.PUBLISHED, published_at=BlogPost.scheduled_at,
                    scheduled_at=None)
            .returning(BlogPost.published_at)
        )
        row = (await session.execute(stmt)).one_or_none()
        if row is None:
            return
        before = {"status": PostStatus.SCHEDULED, "scheduled_at": row.published_at,
                  "published_at": None}
        after = {"status": PostStatus.PUBLISHED, "scheduled_at": None,
                 "published_at": row.published_at}
        await record_worker_change(session, scope, "publish", "blog_post", post_id,
                                   before=before, after=after, job="blog_post")

        async def audit(idea_id: uuid.UUID, old: dict[str, Any], new: dict[str, Any]) -> None:
            await record_worker_change(session, scope, "update", "topic_idea", idea_id,
                                       before=old, after=new, job="blog_post")

        await mark_ideas_published(session, scope, post_id, audit)


class SearchBlogPostsArgs(BaseModel):
    model_config = ARGS

    text: str = Field(
        default="", max_length=200, description="Words in the title, excerpt or body; '' for all."
    )
    status: PostStatus | None = Field(
        default=None, description="Only draft, scheduled, published or archived posts."
    )
    limit: int = Field(default=10, ge=1, le=50, description="Most posts to return (1-50).")


class BlogPostList(BaseModel):
    posts: list[BlogPostOut]
    has_more: bool


@tool(
    risk=Risk.LOW,
    examples=("find our post about pricing", "which blog posts are still drafts?",
              "list scheduled posts"),
)
async def search_blog_posts(ctx: ToolContext, args: SearchBlogPostsArgs) -> BlogPostList:
    """Find blog posts by words and status, newest first; gives the ids the other blog tools
    need."""
    page = await BlogPostRepository(ctx.session, ctx.scope).search(
        args.text, status=args.status, limit=args.limit
    )
    return BlogPostList(posts=[_post_out(p) for p in page.items],
                        has_more=page.next_cursor is not None)


# -- sources -------------------------------------------------------------------------------------


class AddContentSourceArgs(BaseModel):
    model_config = ARGS

    name: str = Field(min_length=1, max_length=200, description="e.g. 'HBR — Sales'.")
    url: HttpUrl = Field(description="The page or feed to follow, e.g. 'https://hbr.org/sales'.")
    type: SourceType = Field(
        default=SourceType.OTHER,
        description="news, research, competitor, inspiration, industry, blog or other.",
    )
    description: str | None = Field(default=None, max_length=1000, description="Why it matters.")
    frequency: CheckFrequency = Field(
        default=CheckFrequency.WEEKLY, description="How often to check it: daily, weekly, monthly."
    )


class ContentSourceOut(BaseModel):
    id: uuid.UUID
    name: str
    url: str
    type: SourceType
    status: SourceStatus
    frequency: CheckFrequency


class ContentSourceResult(BaseModel):
    source: ContentSourceOut
    already_added: bool = False


def _source_out(row: ContentSource) -> ContentSourceOut:
    return ContentSourceOut(id=row.id, name=row.name, url=row.url, type=row.type,
                            status=row.status, frequency=row.frequency)


@tool(
    risk=Risk.LOW, role=MemberRole.MEMBER, title="Follow content source {url}",
    examples=("follow TechCrunch enterprise for ideas", "add our competitor's blog as a source"),
)
async def add_content_source(ctx: ToolContext, args: AddContentSourceArgs) -> ContentSourceResult:
    """Follow a website or feed as a content source; it is checked at the chosen frequency for
    articles that inspire topic ideas. A URL already followed is returned as it is."""
    sources = ContentSourceRepository(ctx.session, ctx.scope)
    url = str(args.url)
    existing = (await sources.list(url=url, limit=1)).items
    if existing:
        return ContentSourceResult(source=_source_out(existing[0]), already_added=True)
    row = await sources.create(
        name=args.name, url=url, type=args.type, description=args.description,
        frequency=args.frequency, added_by=ctx.caller.user_id,
    )
    await record_change(ctx, "create", "content_source", row.id,
                        after=snapshot(row, ["name", "url", "type", "status", "frequency"]))
    return ContentSourceResult(source=_source_out(row))


# -- analytics -----------------------------------------------------------------------------------


class ArticleAnalyticsArgs(BaseModel):
    model_config = ARGS

    post_id: uuid.UUID | None = Field(default=None, description="One post; omit for all posts.")
    start: date | None = Field(
        default=None, description="First day (inclusive); defaults to 30 days before end."
    )
    end: date | None = Field(default=None, description="Last day (inclusive); defaults to today.")
    limit: int = Field(default=10, ge=1, le=50, description="Most posts to return (1-50).")

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.start and self.end and self.end < self.start:
            raise ValueError("end must not be before start")
        if self.start and self.end and (self.end - self.start).days > 366:
            raise ValueError("the period can be at most a year")
        return self


class PostStats(BaseModel):
    post_id: uuid.UUID
    title: str
    days: int
    views: int
    unique_visitors: int
    avg_time_on_page_seconds: float
    bounce_rate: float = Field(description="Percent of views.")
    social_shares: int
    conversions: int
    conversion_rate: float = Field(description="Percent of views.")


class ArticleAnalyticsResult(BaseModel):
    start: date
    end: date
    posts: list[PostStats] = Field(description="Most viewed first.")
    total_views: int
    total_conversions: int
    has_more: bool


def _period(args: ArticleAnalyticsArgs) -> tuple[date, date]:
    end = args.end or today()
    start = args.start or end - timedelta(days=30)
    if end < start:
        raise RetryableToolError("end must not be before start")
    return start, end


@tool(
    risk=Risk.LOW,
    examples=("how are our blog posts doing?", "views on the pricing post last month",
              "which articles convert best this quarter?"),
)
async def get_article_analytics(
    ctx: ToolContext, args: ArticleAnalyticsArgs
) -> ArticleAnalyticsResult:
    """Blog traffic per post over a period (default the last 30 days): views, unique visitors,
    time on page, bounce and conversion rates (percent, weighted by views), shares. Most viewed
    first. For product usage use get_analytics_summary."""
    posts = BlogPostRepository(ctx.session, ctx.scope)
    if args.post_id is not None:
        await posts.get(args.post_id)
    start, end = _period(args)
    rows = await ArticleAnalyticsRepository(ctx.session, ctx.scope).summary(
        start, end, post_id=args.post_id
    )
    titles = {p.id: p.title for p in await posts.get_many(r.post_id for r in rows[:args.limit])}
    stats = [PostStats(title=titles.get(r.post_id, "?"), **_summary_fields(r))
             for r in rows[:args.limit]]
    return ArticleAnalyticsResult(
        start=start, end=end, posts=stats, total_views=sum(r.views for r in rows),
        total_conversions=sum(r.conversions for r in rows), has_more=len(rows) > args.limit,
    )


def _summary_fields(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in PostStats.model_fields if name != "title"}
