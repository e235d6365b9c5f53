"""Creator studio demo data: items of several kinds, two collections, share links, and a small
global template catalogue (added once, shared by every workspace)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from store.demo.content import insert_rows
from store.demo.context import DemoContext
from store.models.creator import CreatorItemStatus, CreatorItemType, SharePermission
from store.repositories.creator import (
    CreatorCollectionRepository,
    CreatorItemRepository,
    CreatorTemplateCatalog,
    SharedDocumentRepository,
)

ITEMS = [
    ("Q2 launch announcement", CreatorItemType.DOCUMENT),
    ("Launch webinar slides", CreatorItemType.PRESENTATION),
    ("LinkedIn teaser: grid builder", CreatorItemType.SOCIAL_POST),
    ("May customer newsletter", CreatorItemType.NEWSLETTER),
    ("Follow-up email after demo", CreatorItemType.EMAIL),
    ("Product hero banner", CreatorItemType.IMAGE),
    ("60-second explainer script", CreatorItemType.VIDEO_SCRIPT),
    ("X thread: five automation tips", CreatorItemType.SOCIAL_POST),
    ("Case study one-pager", CreatorItemType.DOCUMENT),
    ("Partner program overview", CreatorItemType.PRESENTATION),
]
TEMPLATES = [
    ("Product launch post", "Announce a release with problem, solution and call to action.",
     "announcements", CreatorItemType.DOCUMENT),
    ("Monthly newsletter", "Highlights, one story, one tip, one link.", "newsletters",
     CreatorItemType.NEWSLETTER),
    ("Pitch deck (10 slides)", "The classic investor/customer narrative.", "presentations",
     CreatorItemType.PRESENTATION),
]


def _item(ctx: DemoContext, title: str, kind: CreatorItemType) -> dict[str, Any]:
    published = ctx.rng.random() < 0.6
    return {
        "title": title, "type": kind, "created_by": ctx.user(),
        "status": CreatorItemStatus.PUBLISHED if published else CreatorItemStatus.DRAFT,
        "is_public": published and ctx.rng.random() < 0.5,
        "content": {"blocks": [{"type": "heading", "text": title},
                               {"type": "paragraph",
                                "text": f"Draft by the {ctx.company_name} team."}]},
        "settings": {"style": ctx.rng.choice(["minimal", "bold", "playful"]),
                     "permissions": {"comment": True}},
        "view_count": ctx.rng.randint(0, 400) if published else 0,
    }


async def seed(ctx: DemoContext) -> None:
    await _catalogue(ctx)
    item_ids = await insert_rows(
        ctx, CreatorItemRepository, [_item(ctx, t, k) for t, k in ITEMS[:ctx.count(10)]]
    )
    collections = CreatorCollectionRepository(ctx.session, ctx.scope)
    for name, members in (("Q2 launch kit", item_ids[:4]), ("Social snippets", item_ids[2::5])):
        collection = await collections.create(
            name=name, description=f"{name} for {ctx.company_name}.", created_by=ctx.user()
        )
        ctx.remember("creator_collections", [collection.id])
        for item_id in members:
            await collections.add_item(collection.id, item_id)
    shares = SharedDocumentRepository(ctx.session, ctx.scope)
    protected = await shares.share(
        item_ids[0], password="launch-preview", expires_at=ctx.now + timedelta(days=30),
        created_by=ctx.user(),
    )
    open_link = await shares.share(
        item_ids[1], permission=SharePermission.COMMENT, created_by=ctx.user()
    )
    ctx.remember("shared_documents", [protected.id, open_link.id])


async def _catalogue(ctx: DemoContext) -> None:
    """Add the demo templates to the global catalogue unless a previous workspace did."""
    catalog = CreatorTemplateCatalog(ctx.session)
    existing = {t.name for t in await catalog.list()}
    for name, description, category, kind in TEMPLATES:
        if name not in existing:
            await catalog.create(
                name=name, description=description, category=category, item_type=kind,
                content={"blocks": [{"type": "heading", "text": name}]},
            )
