"""Content repositories: blog posts and their categories/tags, topic ideas, content sources,
article analytics, use cases and alert badges.

Publishing rules live here so every caller (a tool, the scheduler job, the demo) obeys them:
only a future time can be scheduled, publishing stamps `published_at` once and clears the
schedule, and the scheduler finds due posts with `due_to_publish(now)`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert

from store.errors import Conflict, InvalidArgument, NotFound
from store.models.base import TenantTable
from store.models.content import (
    AlertBadge,
    AlertStatus,
    ArticleAnalytics,
    BlogCategory,
    BlogPost,
    BlogPostTag,
    BlogTag,
    CheckFrequency,
    ContentPriority,
    ContentSource,
    ContentType,
    PostStatus,
    SourceStatus,
    SourceType,
    TopicIdea,
    TopicStatus,
    UseCase,
    UseCaseCategory,
    UseCaseStatus,
)
from store.pagination import Page
from store.repositories.base import Repository, utcnow
from store.repositories.crm import ilike_any

T = TypeVar("T", bound=TenantTable)

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
SLUG_MAX = 80


def slugify(text: str) -> str:
    """URL-safe slug of `text` ("Hello, World!" -> "hello-world")."""
    slug = _NOT_SLUG.sub("-", text.lower()).strip("-")[:SLUG_MAX].strip("-")
    if not slug:
        raise InvalidArgument(f"cannot make a slug from {text!r}")
    return slug


def priority_rank(column: Any) -> sa.ColumnElement[int]:
    """SQL rank of a ContentPriority column, so `ORDER BY rank DESC` puts high first."""
    return sa.case({p.value: p.rank for p in ContentPriority}, value=column, else_=0)


class AtomicUpdates(Repository[T]):
    """Single-statement updates (counters, derived values) that must not read-modify-write."""

    async def _update_in_place(self, row_id: uuid.UUID, **values: Any) -> T:
        model: Any = self.model
        stmt = (
            sa.update(model)
            .where(model.workspace_id == self.scope.workspace_id, model.id == row_id)
            .values(**values, updated_at=sa.func.now())
            .returning(model)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        row = await self.session.scalar(stmt)
        if row is None:
            raise NotFound(self.entity, row_id)
        return row  # type: ignore[no-any-return]


# -- blog ----------------------------------------------------------------------------------------


class BlogCategoryRepository(Repository[BlogCategory]):
    model = BlogCategory
    sortable = frozenset({"created_at", "updated_at", "name", "sort_order"})
    archive_values = {"is_active": False}

    async def create(self, **values: Any) -> BlogCategory:
        values.setdefault("slug", slugify(values.get("name") or ""))
        return await super().create(**values)

    async def by_slug(self, slug: str) -> BlogCategory | None:
        rows = await self._all(BlogCategory.slug == slug, limit=1)
        return rows[0] if rows else None

    async def post_counts(self) -> dict[uuid.UUID, int]:
        """Number of posts (any status but archived) per category id; empty categories are 0."""
        ws = self.scope.workspace_id
        stmt = (
            sa.select(BlogCategory.id, sa.func.count(BlogPost.id))
            .outerjoin(
                BlogPost,
                sa.and_(
                    BlogPost.workspace_id == BlogCategory.workspace_id,
                    BlogPost.category_id == BlogCategory.id,
                    BlogPost.status != PostStatus.ARCHIVED,
                ),
            )
            .where(BlogCategory.workspace_id == ws)
            .group_by(BlogCategory.id)
        )
        return {row[0]: int(row[1]) for row in (await self.session.execute(stmt)).all()}


class BlogTagRepository(Repository[BlogTag]):
    model = BlogTag
    sortable = frozenset({"created_at", "updated_at", "name"})

    async def create(self, **values: Any) -> BlogTag:
        values.setdefault("slug", slugify(values.get("name") or ""))
        return await super().create(**values)

    async def by_slug(self, slug: str) -> BlogTag | None:
        rows = await self._all(BlogTag.slug == slug, limit=1)
        return rows[0] if rows else None

    async def ensure(self, names: Iterable[str]) -> list[BlogTag]:
        """The tags called `names` (matched by slug), creating the missing ones, in input order."""
        wanted = {slugify(name): name.strip() for name in names}
        found = {t.slug: t for t in await self._all(BlogTag.slug.in_(list(wanted)))}
        for slug, name in wanted.items():
            if slug not in found:
                found[slug] = await self.create(name=name, slug=slug)
        return [found[slug] for slug in wanted]

    async def for_post(self, post_id: uuid.UUID) -> list[BlogTag]:
        links = sa.select(BlogPostTag.tag_id).where(
            BlogPostTag.workspace_id == self.scope.workspace_id, BlogPostTag.post_id == post_id
        )
        return await self._all(BlogTag.id.in_(links), order_by=[BlogTag.name])


class BlogPostTagRepository(Repository[BlogPostTag]):
    """The post <-> tag links. Linking is idempotent; `set_tags` replaces a post's whole set."""

    model = BlogPostTag

    async def tag(self, post_id: uuid.UUID, tag_id: uuid.UUID) -> None:
        stmt = (
            pg_insert(BlogPostTag)
            .values(workspace_id=self.scope.workspace_id, post_id=post_id, tag_id=tag_id)
            .on_conflict_do_nothing(index_elements=["workspace_id", "post_id", "tag_id"])
        )
        await self._execute(stmt, {"post_id": post_id, "tag_id": tag_id})

    async def untag(self, post_id: uuid.UUID, tag_id: uuid.UUID) -> bool:
        """Remove one link; False when there was none."""
        result = await self.session.execute(
            self._links(post_id).where(BlogPostTag.tag_id == tag_id)
        )
        return bool(getattr(result, "rowcount", 0))

    async def set_tags(self, post_id: uuid.UUID, tag_ids: Sequence[uuid.UUID]) -> None:
        await self.session.execute(self._links(post_id).where(BlogPostTag.tag_id.not_in(tag_ids)))
        for tag_id in tag_ids:
            await self.tag(post_id, tag_id)

    async def tag_ids(self, post_id: uuid.UUID) -> set[uuid.UUID]:
        return {link.tag_id for link in await self._all(BlogPostTag.post_id == post_id)}

    def _links(self, post_id: uuid.UUID) -> sa.Delete:
        return sa.delete(BlogPostTag).where(
            BlogPostTag.workspace_id == self.scope.workspace_id, BlogPostTag.post_id == post_id
        )

    async def _execute(self, stmt: Any, values: dict[str, Any]) -> None:
        try:
            await self.session.execute(stmt)
        except sa_exc.DBAPIError as error:
            raise self._translate(error, values) from error


class BlogPostRepository(AtomicUpdates[BlogPost]):
    model = BlogPost
    sortable = frozenset({"created_at", "updated_at", "view_count"})
    archive_values = {"status": PostStatus.ARCHIVED}

    async def create(self, **values: Any) -> BlogPost:
        """Create a post; the slug defaults to the title's, a published post gets its time."""
        values.setdefault("slug", slugify(values.get("title") or ""))
        if values.get("status") == PostStatus.PUBLISHED:
            values.setdefault("published_at", utcnow())
        return await super().create(**values)

    async def by_slug(self, slug: str) -> BlogPost | None:
        rows = await self._all(BlogPost.slug == slug, limit=1)
        return rows[0] if rows else None

    async def publish(self, post_id: uuid.UUID, *, now: datetime | None = None) -> BlogPost:
        """Publish now. A post published before keeps its original date."""
        post = await self.get(post_id)
        return await self.update(
            post_id, status=PostStatus.PUBLISHED,
            published_at=post.published_at or now or utcnow(), scheduled_at=None,
        )

    async def schedule(
        self, post_id: uuid.UUID, at: datetime, *, now: datetime | None = None
    ) -> BlogPost:
        """Schedule publication at `at`, which must be timezone-aware and in the future."""
        if at.tzinfo is None:
            raise InvalidArgument("scheduled time must include a timezone")
        if at <= (now or utcnow()):
            raise InvalidArgument(f"scheduled time {at.isoformat()} is not in the future")
        post = await self.get(post_id)
        if post.status == PostStatus.PUBLISHED:
            raise Conflict(f"blog post {post_id} is already published")
        return await self.update(post_id, status=PostStatus.SCHEDULED, scheduled_at=at)

    async def due_to_publish(self, now: datetime) -> list[BlogPost]:
        """Scheduled posts whose time has come, oldest schedule first."""
        return await self._all(
            BlogPost.status == PostStatus.SCHEDULED, BlogPost.scheduled_at <= now,
            order_by=[BlogPost.scheduled_at, BlogPost.id],
        )

    async def publish_due(self, now: datetime) -> list[BlogPost]:
        """Publish every due post, dated at its scheduled time; returns them."""
        due = await self.due_to_publish(now)
        return [
            await self.update(
                p.id, status=PostStatus.PUBLISHED, published_at=p.scheduled_at, scheduled_at=None
            )
            for p in due
        ]

    async def search(
        self, text: str = "", *, status: PostStatus | None = None,
        category_id: uuid.UUID | None = None, tag_id: uuid.UUID | None = None,
        content_type: ContentType | None = None, featured: bool | None = None,
        limit: int = 20, cursor: str | None = None,
    ) -> Page[BlogPost]:
        """Posts whose title, excerpt or body contains every word of `text`, newest first."""
        where = [ilike_any(word, BlogPost.title, BlogPost.excerpt, BlogPost.content)
                 for word in text.split()]
        if status is not None:
            where.append(BlogPost.status == status)
        if category_id is not None:
            where.append(BlogPost.category_id == category_id)
        if content_type is not None:
            where.append(BlogPost.content_type == content_type)
        if featured is not None:
            where.append(BlogPost.is_featured.is_(featured))
        if tag_id is not None:
            where.append(BlogPost.id.in_(
                sa.select(BlogPostTag.post_id).where(
                    BlogPostTag.workspace_id == self.scope.workspace_id,
                    BlogPostTag.tag_id == tag_id,
                )
            ))
        return await self._page(*where, limit=limit, cursor=cursor)

    async def recently_published(self, limit: int = 10) -> list[BlogPost]:
        return await self._all(
            BlogPost.status == PostStatus.PUBLISHED,
            order_by=[BlogPost.published_at.desc(), BlogPost.id], limit=limit,
        )

    async def record_view(self, post_id: uuid.UUID) -> BlogPost:
        return await self._update_in_place(post_id, view_count=BlogPost.view_count + 1)


# -- ideas and sources ---------------------------------------------------------------------------


class TopicIdeaRepository(Repository[TopicIdea]):
    model = TopicIdea
    archive_values = {"status": TopicStatus.ARCHIVED}

    async def by_status(
        self, status: TopicStatus | None = None, *, priority: ContentPriority | None = None,
        limit: int = 50,
    ) -> list[TopicIdea]:
        """Ideas in `status` (all but archived when None), highest priority first, then newest."""
        where = [TopicIdea.status == status if status is not None
                 else TopicIdea.status != TopicStatus.ARCHIVED]
        if priority is not None:
            where.append(TopicIdea.priority == priority)
        return await self._all(
            *where,
            order_by=[priority_rank(TopicIdea.priority).desc(), TopicIdea.created_at.desc(),
                      TopicIdea.id],
            limit=limit,
        )

    async def mark_published(self, idea_id: uuid.UUID, post_id: uuid.UUID) -> TopicIdea:
        """Link the idea to the post written from it."""
        return await self.update(
            idea_id, status=TopicStatus.PUBLISHED, published_post_id=post_id
        )


FREQUENCY_INTERVAL = {
    CheckFrequency.DAILY: timedelta(days=1),
    CheckFrequency.WEEKLY: timedelta(days=7),
    CheckFrequency.MONTHLY: timedelta(days=30),
}


class ContentSourceRepository(AtomicUpdates[ContentSource]):
    model = ContentSource
    sortable = frozenset({"created_at", "updated_at", "name"})
    archive_values = {"status": SourceStatus.ARCHIVED}

    async def by_status(
        self, status: SourceStatus, *, type: SourceType | None = None
    ) -> list[ContentSource]:
        """Sources in `status`, most relevant first (unscored last)."""
        where = [ContentSource.status == status]
        if type is not None:
            where.append(ContentSource.type == type)
        return await self._all(
            *where,
            order_by=[ContentSource.relevance_score.desc().nulls_last(), ContentSource.name],
        )

    async def due_for_check(self, now: datetime) -> list[ContentSource]:
        """Active sources never checked, or not checked within their frequency."""
        overdue = [
            sa.and_(ContentSource.frequency == freq, ContentSource.last_checked_at < now - every)
            for freq, every in FREQUENCY_INTERVAL.items()
        ]
        return await self._all(
            ContentSource.status == SourceStatus.ACTIVE,
            sa.or_(ContentSource.last_checked_at.is_(None), *overdue),
            order_by=[ContentSource.last_checked_at.asc().nulls_first(), ContentSource.id],
        )

    async def record_check(
        self, source_id: uuid.UUID, *, articles_found: int, now: datetime | None = None
    ) -> ContentSource:
        """A check ran and found `articles_found` new articles (added to the running total)."""
        if articles_found < 0:
            raise InvalidArgument("articles_found cannot be negative")
        return await self._update_in_place(
            source_id, last_checked_at=now or utcnow(),
            articles_found=ContentSource.articles_found + articles_found,
        )


# -- analytics -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostAnalyticsSummary:
    """One post's totals over a date range. Rates are view-weighted percentages."""

    post_id: uuid.UUID
    days: int
    views: int
    unique_visitors: int
    avg_time_on_page_seconds: float
    bounce_rate: float
    social_shares: int
    conversions: int
    conversion_rate: float


ANALYTICS_METRICS = frozenset({
    "views", "unique_visitors", "avg_time_on_page_seconds", "bounce_rate", "scroll_depth",
    "social_shares", "traffic_sources", "device_breakdown", "conversion_count", "conversion_rate",
})


class ArticleAnalyticsRepository(Repository[ArticleAnalytics]):
    model = ArticleAnalytics
    sortable = frozenset({"created_at", "updated_at", "date"})

    async def record_day(self, post_id: uuid.UUID, day: date, **metrics: Any) -> ArticleAnalytics:
        """Insert or replace one post's numbers for `day`."""
        unknown = set(metrics) - ANALYTICS_METRICS
        if unknown:
            raise InvalidArgument(f"unknown analytics fields: {sorted(unknown)}")
        stmt = (
            pg_insert(ArticleAnalytics)
            .values(workspace_id=self.scope.workspace_id, post_id=post_id, date=day, **metrics)
            .on_conflict_do_update(
                index_elements=["workspace_id", "post_id", "date"],
                set_={**metrics, "updated_at": sa.func.now()},
            )
            .returning(ArticleAnalytics)
            .execution_options(populate_existing=True)
        )
        try:
            row = await self.session.scalar(stmt)
        except sa_exc.DBAPIError as error:
            raise self._translate(error, {"post_id": post_id}) from error
        assert row is not None  # INSERT .. ON CONFLICT DO UPDATE always returns the row
        return row

    async def daily(self, post_id: uuid.UUID, start: date, end: date) -> list[ArticleAnalytics]:
        return await self._all(
            ArticleAnalytics.post_id == post_id, ArticleAnalytics.date.between(start, end),
            order_by=[ArticleAnalytics.date],
        )

    async def summary(
        self, start: date, end: date, *, post_id: uuid.UUID | None = None
    ) -> list[PostAnalyticsSummary]:
        """Per-post totals between `start` and `end` (inclusive), most viewed first."""
        a = ArticleAnalytics
        views = sa.func.sum(a.views)
        per_view = sa.func.nullif(views, 0)
        stmt = (
            sa.select(
                a.post_id, sa.func.count(), views, sa.func.sum(a.unique_visitors),
                sa.func.coalesce(sa.func.sum(a.avg_time_on_page_seconds * a.views) / per_view, 0),
                sa.func.coalesce(sa.func.sum(a.bounce_rate * a.views) / per_view, 0),
                sa.func.sum(a.social_shares), sa.func.sum(a.conversion_count),
                sa.func.coalesce(sa.func.sum(a.conversion_count) * 100.0 / per_view, 0),
            )
            .where(a.workspace_id == self.scope.workspace_id, a.date.between(start, end))
            .group_by(a.post_id)
            .order_by(views.desc(), a.post_id)
        )
        if post_id is not None:
            stmt = stmt.where(a.post_id == post_id)
        return [
            PostAnalyticsSummary(
                post_id=r[0], days=int(r[1]), views=int(r[2]), unique_visitors=int(r[3]),
                avg_time_on_page_seconds=round(float(r[4]), 1), bounce_rate=round(float(r[5]), 2),
                social_shares=int(r[6]), conversions=int(r[7]),
                conversion_rate=round(float(r[8]), 2),
            )
            for r in (await self.session.execute(stmt)).all()
        ]


# -- use cases and alerts ------------------------------------------------------------------------


class UseCaseRepository(Repository[UseCase]):
    model = UseCase
    archive_values = {"status": UseCaseStatus.ARCHIVED}

    async def create(self, **values: Any) -> UseCase:
        values.setdefault("slug", slugify(values.get("title") or ""))
        return await super().create(**values)

    async def by_slug(self, slug: str) -> UseCase | None:
        rows = await self._all(UseCase.slug == slug, limit=1)
        return rows[0] if rows else None

    async def by_category(
        self, category: UseCaseCategory, *, published_only: bool = False
    ) -> list[UseCase]:
        where = [UseCase.category == category, UseCase.status != UseCaseStatus.ARCHIVED]
        if published_only:
            where.append(UseCase.status == UseCaseStatus.PUBLISHED)
        return await self._all(*where, order_by=[UseCase.title])

    async def publish(self, use_case_id: uuid.UUID, *, now: datetime | None = None) -> UseCase:
        return await self.update(
            use_case_id, status=UseCaseStatus.PUBLISHED, published_at=now or utcnow()
        )


class AlertBadgeRepository(Repository[AlertBadge]):
    model = AlertBadge
    archive_values = {"status": AlertStatus.DISMISSED}

    def _visible_unread(self, user_id: uuid.UUID, now: datetime) -> list[sa.ColumnElement[bool]]:
        """Unread, unexpired badges addressed to `user_id` or to everyone (user_id NULL)."""
        return [
            AlertBadge.status == AlertStatus.UNREAD,
            sa.or_(AlertBadge.user_id == user_id, AlertBadge.user_id.is_(None)),
            sa.or_(AlertBadge.expires_at.is_(None), AlertBadge.expires_at > now),
        ]

    async def unread_for(
        self, user_id: uuid.UUID, *, now: datetime | None = None, limit: int = 50
    ) -> list[AlertBadge]:
        """What the user has not seen yet, highest priority first, then newest."""
        return await self._all(
            *self._visible_unread(user_id, now or utcnow()),
            order_by=[priority_rank(AlertBadge.priority).desc(), AlertBadge.created_at.desc(),
                      AlertBadge.id],
            limit=limit,
        )

    async def unread_count(self, user_id: uuid.UUID, *, now: datetime | None = None) -> int:
        return await self._count(*self._visible_unread(user_id, now or utcnow()))

    async def mark_read(self, badge_id: uuid.UUID) -> AlertBadge:
        return await self.update(badge_id, status=AlertStatus.READ, read_at=utcnow())

    async def mark_actioned(self, badge_id: uuid.UUID) -> AlertBadge:
        return await self.update(badge_id, status=AlertStatus.ACTIONED, read_at=utcnow())
