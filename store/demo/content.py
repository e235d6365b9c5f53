"""Content demo data: a small blog (categories, tags, posts in every status), topic ideas,
content sources, 30 days of analytics for the published posts, a use case and alert badges."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from store.demo.context import DemoContext
from store.models.content import (
    AlertStatus,
    AlertType,
    CheckFrequency,
    CompetitionLevel,
    ContentPriority,
    ContentType,
    GeneratedBy,
    PostStatus,
    SourceStatus,
    SourceType,
    TopicStatus,
    UseCaseCategory,
    UseCaseStatus,
)
from store.repositories.base import Repository
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

CATEGORIES = [
    ("Product updates", "What shipped and why it matters."),
    ("Guides", "Step-by-step how-tos for getting more done."),
    ("Customer stories", "How teams use the platform in the real world."),
    ("AI & automation", "Agents, workflows and the assistant, explained."),
]
TAGS = ["crm", "automation", "ai-agents", "sales", "marketing", "onboarding", "productivity",
        "integrations"]
# (title, category index, content type); the first dozen posts of the demo blog.
POSTS = [
    ("Five workflows every sales team should automate", 1, ContentType.ARTICLE),
    ("Introducing the visual grid builder", 0, ContentType.ARTICLE),
    ("How a 12-person agency doubled its pipeline", 2, ContentType.ARTICLE),
    ("Tool spotlight: the lead enrichment agent", 3, ContentType.TOOL_SPOTLIGHT),
    ("Writing prompts your AI agents actually follow", 3, ContentType.ARTICLE),
    ("Getting started: importing your contacts", 1, ContentType.ARTICLE),
    ("Release notes: smarter campaign scheduling", 0, ContentType.ARTICLE),
    ("Tool spotlight: the meeting notes summariser", 3, ContentType.TOOL_SPOTLIGHT),
    ("From spreadsheet chaos to one pipeline", 2, ContentType.ARTICLE),
    ("A practical guide to lead scoring", 1, ContentType.ARTICLE),
    ("What we learned running 1,000 agent workflows", 3, ContentType.ARTICLE),
    ("Our spring roadmap", 0, ContentType.ARTICLE),
]
# Index -> status; the rest are published. Small demos keep the first two (published, draft).
STATUS_BY_INDEX = {1: PostStatus.DRAFT, 7: PostStatus.DRAFT, 10: PostStatus.SCHEDULED,
                   11: PostStatus.ARCHIVED}
PARAGRAPH = ("Teams waste hours every week on work a good system can do for them. In this post we "
             "walk through the reasoning, the setup and the results, with examples you can copy.")


async def insert_rows(
    ctx: DemoContext, repository: type[Repository[Any]], rows: list[dict[str, Any]]
) -> list[uuid.UUID]:
    """Bulk-insert through `repository` and remember the new ids under its table name."""
    repo = repository(ctx.session, ctx.scope)
    return ctx.remember(repo.model.__tablename__, await repo.create_many(rows))


async def seed(ctx: DemoContext) -> None:
    category_ids, tag_ids = await _taxonomy(ctx)
    post_ids, published = await _posts(ctx, category_ids)
    await _post_tags(ctx, post_ids, tag_ids)
    await _topic_ideas(ctx, published)
    await _sources(ctx)
    await _analytics(ctx, published)
    await _use_case(ctx)
    await _alerts(ctx)


async def _taxonomy(ctx: DemoContext) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    categories = [{"name": name, "slug": slugify(name), "description": text, "sort_order": i}
                  for i, (name, text) in enumerate(CATEGORIES)]
    tags = [{"name": name, "slug": slugify(name)} for name in TAGS]
    return (
        await insert_rows(ctx, BlogCategoryRepository, categories),
        await insert_rows(ctx, BlogTagRepository, tags),
    )


def _post(ctx: DemoContext, i: int, category_ids: list[uuid.UUID]) -> dict[str, Any]:
    title, category, kind = POSTS[i]
    status = STATUS_BY_INDEX.get(i, PostStatus.PUBLISHED)
    published_at = ctx.days_ago(5, 120) if status in (PostStatus.PUBLISHED,
                                                      PostStatus.ARCHIVED) else None
    words = ctx.rng.randint(700, 2400)
    return {
        "title": title, "slug": slugify(title), "category_id": category_ids[category],
        "author_id": ctx.user(), "content_type": kind, "status": status,
        "excerpt": f"{title}: a {words // 230}-minute read from the {ctx.company_name} team.",
        "content": "\n\n".join([PARAGRAPH] * ctx.rng.randint(3, 6)),
        "published_at": published_at,
        "scheduled_at": ctx.now + timedelta(days=4, hours=9) if status == PostStatus.SCHEDULED
        else None,
        "reading_time_minutes": max(1, words // 230),
        "featured_image_url": f"https://images.example.com/blog/{slugify(title)}.jpg",
        "seo_title": title[:60], "seo_description": f"{title} — {ctx.company_name} blog.",
        "seo_keywords": ctx.rng.sample(TAGS, k=2),
        "view_count": ctx.rng.randint(200, 9000) if published_at else 0,
        "like_count": ctx.rng.randint(0, 150) if published_at else 0,
        "comment_count": ctx.rng.randint(0, 30) if published_at else 0,
        "is_featured": i in (0, 2), "is_hero_post": i == 0,
        "created_at": (published_at or ctx.now) - timedelta(days=ctx.rng.randint(1, 10)),
    }


async def _posts(
    ctx: DemoContext, category_ids: list[uuid.UUID]
) -> tuple[list[uuid.UUID], list[tuple[uuid.UUID, dict[str, Any]]]]:
    rows = [_post(ctx, i, category_ids) for i in range(min(len(POSTS), ctx.count(12)))]
    ids = await insert_rows(ctx, BlogPostRepository, rows)
    published = [(pid, row) for pid, row in zip(ids, rows, strict=True)
                 if row["status"] == PostStatus.PUBLISHED]
    return ids, published


async def _post_tags(ctx: DemoContext, post_ids: list[uuid.UUID], tag_ids: list[uuid.UUID]) -> None:
    links = [{"post_id": post_id, "tag_id": tag_id}
             for post_id in post_ids for tag_id in ctx.rng.sample(tag_ids, k=ctx.rng.randint(1, 3))]
    await insert_rows(ctx, BlogPostTagRepository, links)


TOPICS = [
    ("Cold email benchmarks for 2025", "Data from 40k sends", "Sales leaders"),
    ("When not to automate", "Contrarian take on automation limits", "Operations managers"),
    ("AI agents for customer support", "Hands-on setup guide", "Support teams"),
    ("The real cost of a lost lead", "Finance-style breakdown", "Founders"),
    ("Building a content calendar with grids", "Template walkthrough", "Marketers"),
    ("CRM hygiene in 15 minutes a week", "Checklist", "Account executives"),
    ("Voice assistants in the sales stack", "Trend piece", "Sales ops"),
    ("Onboarding emails that convert", "Teardown of 10 sequences", "Growth marketers"),
]


async def _topic_ideas(ctx: DemoContext, published: list[tuple[uuid.UUID, dict[str, Any]]]) -> None:
    rows = []
    for i, (title, angle, audience) in enumerate(TOPICS[:ctx.count(8)]):
        status = [TopicStatus.SAVED, TopicStatus.IN_PROGRESS, TopicStatus.PUBLISHED,
                  TopicStatus.SAVED][i % 4]
        post_id = None
        if status == TopicStatus.PUBLISHED:
            post_id = published[i % len(published)][0] if published else None
            status = status if post_id else TopicStatus.SAVED
        rows.append({
            "title": title, "angle": angle, "target_audience": audience, "user_id": ctx.user(),
            "description": f"{title} — {angle.lower()} for {audience.lower()}.",
            "status": status,
            "generated_by": ctx.rng.choice(list(GeneratedBy)),
            "priority": ctx.rng.choice(list(ContentPriority)),
            "search_volume": ctx.rng.randrange(100, 20_000, 10),
            "competition_level": ctx.rng.choice(list(CompetitionLevel)),
            "outline": {"sections": ["Hook", "The problem", "What works", "How to start"]},
            "sources": [{"title": "Industry survey", "url": "https://example.com/survey"}],
            "source_data": {"keyword": slugify(title).replace("-", " ")},
            "published_post_id": post_id, "created_at": ctx.days_ago(1, 60),
        })
    await insert_rows(ctx, TopicIdeaRepository, rows)


SOURCES = [
    ("TechCrunch — SaaS", "https://techcrunch.com/category/enterprise/", SourceType.NEWS),
    ("Harvard Business Review — Sales", "https://hbr.org/topic/sales", SourceType.RESEARCH),
    ("Competitor blog: PipeCo", "https://pipeco.example.com/blog", SourceType.COMPETITOR),
    ("Dribbble — dashboards", "https://dribbble.com/tags/dashboard", SourceType.INSPIRATION),
    ("Gartner CRM research", "https://www.gartner.com/en/sales", SourceType.INDUSTRY),
    ("Indie Hackers", "https://www.indiehackers.com", SourceType.BLOG),
]


async def _sources(ctx: DemoContext) -> None:
    statuses = [SourceStatus.ACTIVE, SourceStatus.ACTIVE, SourceStatus.SUGGESTED,
                SourceStatus.ACTIVE, SourceStatus.REJECTED, SourceStatus.SUGGESTED]
    rows = [{
        "name": name, "url": url, "type": kind, "status": statuses[i], "added_by": ctx.user(),
        "description": f"{kind.value.title()} source for the content team.",
        "frequency": ctx.rng.choice(list(CheckFrequency)),
        "last_checked_at": ctx.days_ago(0, 20) if statuses[i] == SourceStatus.ACTIVE else None,
        "articles_found": ctx.rng.randint(0, 60),
        "relevance_score": ctx.rng.randint(40, 98), "quality_score": ctx.rng.randint(50, 95),
        "ai_analysis": {"summary": "Covers topics our audience searches for."},
    } for i, (name, url, kind) in enumerate(SOURCES[:ctx.count(6)])]
    await insert_rows(ctx, ContentSourceRepository, rows)


def _day(ctx: DemoContext, post_id: uuid.UUID, day_index: int, base: int) -> dict[str, Any]:
    views = max(0, int(base * (0.6 + ctx.rng.random()) * (1 + day_index / 60)))
    unique = int(views * ctx.rng.uniform(0.6, 0.9))
    conversions = int(views * ctx.rng.uniform(0.0, 0.04))
    return {
        "post_id": post_id, "date": (ctx.now - timedelta(days=30 - day_index)).date(),
        "views": views, "unique_visitors": unique,
        "avg_time_on_page_seconds": ctx.rng.randint(45, 420),
        "bounce_rate": round(ctx.rng.uniform(25, 75), 1),
        "scroll_depth": round(ctx.rng.uniform(30, 90), 1),
        "social_shares": ctx.rng.randint(0, max(1, views // 40)),
        "traffic_sources": {"search": 55, "social": 20, "direct": 15, "referral": 10},
        "device_breakdown": {"desktop": 62, "mobile": 34, "tablet": 4},
        "conversion_count": conversions,
        "conversion_rate": round(100 * conversions / views, 2) if views else 0.0,
    }


async def _analytics(ctx: DemoContext, published: list[tuple[uuid.UUID, dict[str, Any]]]) -> None:
    """One row per published post per day for the last 30 days (or since publication)."""
    rows: list[dict[str, Any]] = []
    for post_id, post in published:
        base = ctx.rng.randint(20, 300)
        first_day = max(0, 30 - (ctx.now - post["published_at"]).days)
        rows.extend(_day(ctx, post_id, d, base) for d in range(first_day, 30))
    await insert_rows(ctx, ArticleAnalyticsRepository, rows)


async def _use_case(ctx: DemoContext) -> None:
    title = "Automating inbound lead follow-up for a B2B SaaS team"
    row = {
        "title": title, "slug": slugify(title), "created_by": ctx.user(),
        "description": "Respond to every inbound lead within five minutes, day or night.",
        "category": UseCaseCategory.B2B_SAAS, "status": UseCaseStatus.PUBLISHED,
        "persona": {"role": "Head of Sales", "company_size": "20-50", "pain": "slow follow-up"},
        "problem_statement": "Leads waited a day for a first reply and went cold.",
        "solution_overview": "An agent qualifies each lead, books a call and updates the CRM.",
        "features": [{"name": "Lead qualification"}, {"name": "Calendar booking"}],
        "implementation_steps": [{"step": 1, "title": "Connect the inbox"},
                                 {"step": 2, "title": "Enable the qualification agent"},
                                 {"step": 3, "title": "Review the first week"}],
        "expected_outcomes": [{"metric": "first response time", "target": "< 5 minutes"}],
        "metrics": {"response_time_minutes": 4, "meetings_booked_per_week": 18},
        "related_agent_ids": ctx.ids.get("agents", [])[:2],
        "testimonial": {"quote": "We stopped losing leads overnight.", "author": "VP Sales"},
        "published_at": ctx.days_ago(10, 40),
    }
    await insert_rows(ctx, UseCaseRepository, [row])


ALERTS = [
    (AlertType.TREND, "Search interest in 'AI agents' is up 40% this month", ContentPriority.HIGH),
    (AlertType.MILESTONE, "Your blog passed 10,000 views", ContentPriority.MEDIUM),
    (AlertType.OPPORTUNITY, "A saved topic has low competition and rising volume",
     ContentPriority.HIGH),
    (AlertType.WARNING, "Two active sources have not been checked in 3 weeks", ContentPriority.LOW),
    (AlertType.SUGGESTION, "Refresh 'A practical guide to lead scoring'", ContentPriority.MEDIUM),
]


async def _alerts(ctx: DemoContext) -> None:
    rows = [{
        "type": kind, "title": title, "priority": priority,
        "user_id": None if i % 2 else ctx.user(),
        "status": AlertStatus.READ if i == 1 else AlertStatus.UNREAD,
        "message": title + ".", "data": {"source": "content_insights"},
        "actions": [{"label": "Open", "action": "open"}],
        "expires_at": ctx.now + timedelta(days=14), "created_at": ctx.days_ago(0, 7),
    } for i, (kind, title, priority) in enumerate(ALERTS[:ctx.count(5)])]
    await insert_rows(ctx, AlertBadgeRepository, rows)
