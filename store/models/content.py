"""Content / blog / launchpad: posts, categories, tags, topic ideas, sources, analytics.

Slugs are unique per workspace, not globally: two workspaces may each publish `/blog/pricing`.
A post that is `scheduled` must say when, and a `published` post must say since when; the CHECK
constraints keep the publishing job from ever meeting a scheduled post with no time.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import (
    JSON,
    TenantTable,
    counter_column,
    enum_column,
    flag_column,
    json_column,
    tags_column,
    tenant_fk,
    user_fk,
)


class PostStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    SCHEDULED = "scheduled"
    ARCHIVED = "archived"


class ContentType(enum.StrEnum):
    ARTICLE = "article"
    TOOL_SPOTLIGHT = "tool_spotlight"


class TopicStatus(enum.StrEnum):
    SAVED = "saved"
    IN_PROGRESS = "in_progress"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class GeneratedBy(enum.StrEnum):
    AI = "ai"
    USER = "user"


class ContentPriority(enum.StrEnum):
    """Priority of a topic idea or an alert badge; `rank` orders them (higher first)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return {"low": 1, "medium": 2, "high": 3}[self.value]


class CompetitionLevel(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class SourceType(enum.StrEnum):
    NEWS = "news"
    RESEARCH = "research"
    COMPETITOR = "competitor"
    INSPIRATION = "inspiration"
    INDUSTRY = "industry"
    BLOG = "blog"
    OTHER = "other"


class SourceStatus(enum.StrEnum):
    ACTIVE = "active"
    SUGGESTED = "suggested"
    REJECTED = "rejected"
    ARCHIVED = "archived"


class CheckFrequency(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class UseCaseCategory(enum.StrEnum):
    B2B_SAAS = "b2b_saas"
    B2C_APP = "b2c_app"
    AGENCY = "agency"
    ENTERPRISE = "enterprise"
    SMALL_BUSINESS = "small_business"
    ECOMMERCE = "ecommerce"
    OTHER = "other"


class UseCaseStatus(enum.StrEnum):
    DRAFT = "draft"
    COMPLETE = "complete"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class AlertType(enum.StrEnum):
    TREND = "trend"
    OPPORTUNITY = "opportunity"
    WARNING = "warning"
    MILESTONE = "milestone"
    SUGGESTION = "suggestion"


class AlertStatus(enum.StrEnum):
    UNREAD = "unread"
    READ = "read"
    DISMISSED = "dismissed"
    ACTIONED = "actioned"


class BlogCategory(TenantTable):
    __tablename__ = "blog_categories"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "slug"),)
    name: Mapped[str]
    slug: Mapped[str]
    description: Mapped[str | None]
    color: Mapped[str | None]
    sort_order: Mapped[int] = counter_column()
    is_active: Mapped[bool] = flag_column(True)


class BlogTag(TenantTable):
    __tablename__ = "blog_tags"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "slug"),)
    name: Mapped[str]
    slug: Mapped[str]


class BlogPost(TenantTable):
    __tablename__ = "blog_posts"
    __table_args__ = (
        tenant_fk("blog_categories", "category_id"),
        sa.UniqueConstraint("workspace_id", "slug"),
        sa.Index(None, "workspace_id", "status", "published_at"),
        sa.Index(None, "workspace_id", "status", "scheduled_at"),
        sa.Index(None, "workspace_id", "category_id"),
        sa.CheckConstraint(
            "status <> 'scheduled' OR scheduled_at IS NOT NULL", name="scheduled_has_time"
        ),
        sa.CheckConstraint(
            "status <> 'published' OR published_at IS NOT NULL", name="published_has_time"
        ),
        sa.CheckConstraint(
            "reading_time_minutes IS NULL OR reading_time_minutes >= 0",
            name="reading_time_not_negative",
        ),
    )
    category_id: Mapped[uuid.UUID | None]
    author_id: Mapped[uuid.UUID | None] = user_fk()
    title: Mapped[str]
    slug: Mapped[str]
    excerpt: Mapped[str | None]
    content: Mapped[str] = mapped_column(default="", server_default="")
    content_type: Mapped[ContentType] = enum_column(ContentType, default=ContentType.ARTICLE)
    status: Mapped[PostStatus] = enum_column(PostStatus, default=PostStatus.DRAFT)
    published_at: Mapped[datetime | None]
    scheduled_at: Mapped[datetime | None]
    featured_image_url: Mapped[str | None]
    reading_time_minutes: Mapped[int | None]
    seo_title: Mapped[str | None]
    seo_description: Mapped[str | None]
    seo_keywords: Mapped[list[str]] = tags_column()
    view_count: Mapped[int] = counter_column()
    like_count: Mapped[int] = counter_column()
    comment_count: Mapped[int] = counter_column()
    is_featured: Mapped[bool] = flag_column(False)
    is_hero_post: Mapped[bool] = flag_column(False)


class BlogPostTag(TenantTable):
    """Post <-> tag link; it disappears with either side."""

    __tablename__ = "blog_post_tags"
    __table_args__ = (
        tenant_fk("blog_posts", "post_id", ondelete="CASCADE"),
        tenant_fk("blog_tags", "tag_id", ondelete="CASCADE"),
        sa.UniqueConstraint("workspace_id", "post_id", "tag_id"),
        sa.Index(None, "workspace_id", "tag_id"),
    )
    post_id: Mapped[uuid.UUID]
    tag_id: Mapped[uuid.UUID]


class TopicIdea(TenantTable):
    __tablename__ = "topic_ideas"
    __table_args__ = (
        tenant_fk("blog_posts", "published_post_id"),
        sa.Index(None, "workspace_id", "status"),
        sa.CheckConstraint(
            "search_volume IS NULL OR search_volume >= 0", name="search_volume_not_negative"
        ),
    )
    user_id: Mapped[uuid.UUID | None] = user_fk()
    title: Mapped[str]
    description: Mapped[str | None]
    angle: Mapped[str | None]
    target_audience: Mapped[str | None]
    status: Mapped[TopicStatus] = enum_column(TopicStatus, default=TopicStatus.SAVED)
    generated_by: Mapped[GeneratedBy] = enum_column(GeneratedBy, default=GeneratedBy.USER)
    source_data: Mapped[JSON] = json_column()
    search_volume: Mapped[int | None]
    competition_level: Mapped[CompetitionLevel | None] = enum_column(
        CompetitionLevel, nullable=True
    )
    priority: Mapped[ContentPriority] = enum_column(ContentPriority, default=ContentPriority.MEDIUM)
    layout_template: Mapped[str | None]
    outline: Mapped[JSON] = json_column()
    sources: Mapped[list[JSON]] = json_column(default="[]")
    working_draft: Mapped[JSON] = json_column()
    published_post_id: Mapped[uuid.UUID | None]


class ContentSource(TenantTable):
    __tablename__ = "content_sources"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "url"),
        sa.Index(None, "workspace_id", "status", "type"),
        sa.CheckConstraint(
            "relevance_score IS NULL OR relevance_score BETWEEN 0 AND 100", name="relevance_percent"
        ),
        sa.CheckConstraint(
            "quality_score IS NULL OR quality_score BETWEEN 0 AND 100", name="quality_percent"
        ),
    )
    added_by: Mapped[uuid.UUID | None] = user_fk()
    name: Mapped[str]
    url: Mapped[str]
    type: Mapped[SourceType] = enum_column(SourceType, default=SourceType.OTHER)
    status: Mapped[SourceStatus] = enum_column(SourceStatus, default=SourceStatus.ACTIVE)
    description: Mapped[str | None]
    frequency: Mapped[CheckFrequency] = enum_column(CheckFrequency, default=CheckFrequency.WEEKLY)
    ai_analysis: Mapped[JSON] = json_column()
    last_checked_at: Mapped[datetime | None]
    articles_found: Mapped[int] = counter_column()
    relevance_score: Mapped[int | None]
    quality_score: Mapped[int | None]


class ArticleAnalytics(TenantTable):
    """One post's numbers for one day. Rates are percentages (0-100), times are seconds."""

    __tablename__ = "article_analytics"
    __table_args__ = (
        tenant_fk("blog_posts", "post_id", ondelete="CASCADE"),
        sa.UniqueConstraint("workspace_id", "post_id", "date"),
        sa.Index(None, "workspace_id", "date"),
        sa.CheckConstraint("views >= 0 AND unique_visitors >= 0", name="views_not_negative"),
        sa.CheckConstraint("bounce_rate BETWEEN 0 AND 100", name="bounce_rate_percent"),
        sa.CheckConstraint("scroll_depth BETWEEN 0 AND 100", name="scroll_depth_percent"),
        sa.CheckConstraint("conversion_rate BETWEEN 0 AND 100", name="conversion_rate_percent"),
    )
    post_id: Mapped[uuid.UUID]
    date: Mapped[dt.date]
    views: Mapped[int] = counter_column()
    unique_visitors: Mapped[int] = counter_column()
    avg_time_on_page_seconds: Mapped[int] = counter_column()
    bounce_rate: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default="0")
    scroll_depth: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default="0")
    social_shares: Mapped[int] = counter_column()
    traffic_sources: Mapped[JSON] = json_column()
    device_breakdown: Mapped[JSON] = json_column()
    conversion_count: Mapped[int] = counter_column()
    conversion_rate: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default="0")


class UseCase(TenantTable):
    __tablename__ = "use_cases"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "slug"),
        sa.Index(None, "workspace_id", "status", "category"),
    )
    created_by: Mapped[uuid.UUID | None] = user_fk()
    title: Mapped[str]
    slug: Mapped[str]
    description: Mapped[str | None]
    category: Mapped[UseCaseCategory] = enum_column(UseCaseCategory, default=UseCaseCategory.OTHER)
    status: Mapped[UseCaseStatus] = enum_column(UseCaseStatus, default=UseCaseStatus.DRAFT)
    persona: Mapped[JSON] = json_column()
    problem_statement: Mapped[str | None]
    solution_overview: Mapped[str | None]
    features: Mapped[list[JSON]] = json_column(default="[]")
    implementation_steps: Mapped[list[JSON]] = json_column(default="[]")
    expected_outcomes: Mapped[list[JSON]] = json_column(default="[]")
    metrics: Mapped[JSON] = json_column()
    # Plain id lists, not foreign keys: a use case outlives the agents/workflows it mentions.
    related_agent_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(sa.Uuid), default=list, server_default=sa.text("'{}'::uuid[]")
    )
    related_workflow_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(sa.Uuid), default=list, server_default=sa.text("'{}'::uuid[]")
    )
    testimonial: Mapped[JSON] = json_column()
    published_at: Mapped[datetime | None]


class AlertBadge(TenantTable):
    """A nudge shown in the content hub; `user_id` NULL means every member sees it."""

    __tablename__ = "alert_badges"
    __table_args__ = (sa.Index(None, "workspace_id", "user_id", "status"),)
    user_id: Mapped[uuid.UUID | None] = user_fk(ondelete="CASCADE")
    type: Mapped[AlertType] = enum_column(AlertType)
    status: Mapped[AlertStatus] = enum_column(AlertStatus, default=AlertStatus.UNREAD)
    title: Mapped[str]
    message: Mapped[str | None]
    data: Mapped[JSON] = json_column()
    actions: Mapped[list[JSON]] = json_column(default="[]")
    priority: Mapped[ContentPriority] = enum_column(ContentPriority, default=ContentPriority.MEDIUM)
    expires_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
