"""Creator studio repositories against the real database: items, collections, templates and
share links (with scrypt-hashed passwords)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.demo import creator as creator_demo
from store.errors import InvalidArgument, NotFound
from store.models.creator import (
    CreatorItemStatus,
    CreatorItemType,
    CreatorTemplate,
    SharedDocument,
    SharePermission,
)
from store.repositories.creator import (
    CreatorCollectionRepository,
    CreatorItemRepository,
    CreatorTemplateCatalog,
    SharedDocumentRepository,
    hash_share_password,
    verify_share_password,
)
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, demo_context

Sessions = async_sessionmaker[AsyncSession]


def test_password_hash_is_salted_scrypt_and_verifies() -> None:
    first, second = hash_share_password("open sesame"), hash_share_password("open sesame")
    assert first.startswith("scrypt$16384$8$1$") and "open sesame" not in first
    assert first != second  # a fresh salt every time
    assert verify_share_password("open sesame", first)
    assert verify_share_password("open sesame", second)
    assert not verify_share_password("open sesam", first)
    assert not verify_share_password("open sesame", "plain-text")
    assert not verify_share_password("open sesame", first.replace("scrypt", "bcrypt"))
    with pytest.raises(InvalidArgument):
        hash_share_password("abc")


async def test_items_crud_search_and_paging(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        items = CreatorItemRepository(s, ws.scope)
        deck = await items.create(title="Launch deck", type=CreatorItemType.PRESENTATION,
                                  created_by=ws.user_id, content={"slides": 3})
        for i in range(4):
            await items.create(title=f"Post {i}", type=CreatorItemType.SOCIAL_POST)
        assert (await items.get(deck.id)).content == {"slides": 3}
        assert [i.id for i in (await items.search("LAUNCH")).items] == [deck.id]
        social = await items.search(type=CreatorItemType.SOCIAL_POST, limit=3)
        assert len(social.items) == 3 and social.next_cursor
        rest = await items.search(type=CreatorItemType.SOCIAL_POST, cursor=social.next_cursor)
        assert len(rest.items) == 1
        assert (await items.publish(deck.id)).status == CreatorItemStatus.PUBLISHED
        published = await items.search(status=CreatorItemStatus.PUBLISHED)
        assert [i.id for i in published.items] == [deck.id]
        await items.record_view(deck.id)
        assert (await items.record_view(deck.id)).view_count == 2
        assert (await items.update(deck.id, is_public=True)).is_public is True
        page = await items.list(type=CreatorItemType.SOCIAL_POST, limit=10)
        assert len(page.items) == 4
        with pytest.raises(InvalidArgument):
            await items.archive(deck.id)  # items are deleted, not archived
        await items.delete(deck.id)
        with pytest.raises(NotFound):
            await items.get(deck.id)


async def test_collections_keep_counts_right(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        items = CreatorItemRepository(s, ws.scope)
        collections = CreatorCollectionRepository(s, ws.scope)
        a, b, c = [await items.create(title=t) for t in ("A", "B", "C")]
        kit = await collections.create(name="Kit")
        other = await collections.create(name="Other")
        await collections.add_item(kit.id, b.id)
        await collections.add_item(kit.id, a.id)
        kit = await collections.add_item(kit.id, a.id)  # already there: no-op
        assert kit.item_count == 2
        assert [i.id for i in await collections.items(kit.id)] == [b.id, a.id]
        await collections.add_item(other.id, a.id)
        assert [x.id for x in await collections.holding(a.id)] == [kit.id, other.id]
        kit = await collections.remove_item(kit.id, b.id)
        assert kit.item_count == 1
        assert (await collections.remove_item(kit.id, c.id)).item_count == 1  # was not in it
        await items.delete(a.id)
        assert (await collections.get(kit.id)).item_count == 0
        assert (await collections.get(other.id)).item_count == 0
        with pytest.raises(NotFound, match="creator item"):
            await collections.add_item(kit.id, uuid.uuid4())
        with pytest.raises(NotFound, match="creator collection"):
            await collections.add_item(uuid.uuid4(), c.id)
        await collections.delete(other.id)
        assert await collections.count() == 1


async def test_templates_catalogue_and_instantiation(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    category = f"cat-{ws.slug}"
    async with scoped_session(sessions, ws.scope) as s:
        catalog = CreatorTemplateCatalog(s)
        memo = await catalog.create(name="Memo", category=category, content={"blocks": [1]},
                                    item_type=CreatorItemType.DOCUMENT)
        hidden = await catalog.create(name="Hidden", category=category, is_public=False)
        assert [t.id for t in await catalog.list(category=category)] == [memo.id]
        assert [t.id for t in await catalog.list("MEM", category=category, limit=1)] == [memo.id]
        assert await catalog.list("memo other", category=category) == []
        with pytest.raises(NotFound):
            await catalog.get(hidden.id)
        item = await CreatorItemRepository(s, ws.scope).from_template(
            catalog, memo.id, created_by=ws.user_id
        )
        assert item.title == "Memo" and item.content == {"blocks": [1]}
        assert item.settings == {"template_id": str(memo.id)}
        assert (await catalog.get(memo.id)).usage_count == 1
    other = await make_workspace()
    async with scoped_session(sessions, other.scope) as s:  # global: every workspace sees it
        assert [t.id for t in await CreatorTemplateCatalog(s).list(category=category)] == [memo.id]
        await s.execute(sa.delete(CreatorTemplate).where(CreatorTemplate.category == category))


async def test_shared_documents(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    now = datetime.now(UTC)
    async with scoped_session(sessions, ws.scope) as s:
        item = await CreatorItemRepository(s, ws.scope).create(title="Brief")
        shares = SharedDocumentRepository(s, ws.scope)
        locked = await shares.share(item.id, password="hunter22", created_by=ws.user_id,
                                    expires_at=now + timedelta(days=1))
        open_link = await shares.share(item.id, permission=SharePermission.COMMENT)
        assert locked.share_token != open_link.share_token and len(locked.share_token) >= 32
        assert locked.password_hash and "hunter22" not in locked.password_hash
        assert (await CreatorItemRepository(s, ws.scope).get(item.id)).share_count == 2
        found = await shares.resolve(locked.share_token, now=now)
        assert found.id == locked.id
        assert await shares.verify_password(found, "hunter22")
        assert not await shares.verify_password(found, "hunter2")
        assert not await shares.verify_password(found, None)
        assert await shares.verify_password(open_link, None)
        with pytest.raises(NotFound):
            await shares.resolve(locked.share_token, now=now + timedelta(days=2))
        with pytest.raises(NotFound):
            await shares.resolve("no-such-token")
        viewed = await shares.record_view(locked.id)
        assert viewed.view_count == 1 and viewed.last_viewed_at is not None
        changed = await shares.set_password(locked.id, "correct horse")
        assert await shares.verify_password(changed, "correct horse")
        assert (await shares.set_password(locked.id, None)).password_hash is None
        assert {d.id for d in await shares.for_item(item.id)} == {locked.id, open_link.id}
        await shares.archive(open_link.id)
        with pytest.raises(NotFound):
            await shares.resolve(open_link.share_token)
        stored = await s.scalar(sa.select(sa.func.count()).select_from(SharedDocument).where(
            SharedDocument.workspace_id == ws.workspace_id))
        assert stored == 2


async def test_other_workspace_ids_and_tokens_are_not_found(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    a, b = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, b.scope) as s:
        theirs = await CreatorItemRepository(s, b.scope).create(title="Theirs")
        their_collection = await CreatorCollectionRepository(s, b.scope).create(name="Theirs")
        link = await SharedDocumentRepository(s, b.scope).share(theirs.id)
    async with scoped_session(sessions, a.scope) as s:
        items = CreatorItemRepository(s, a.scope)
        collections = CreatorCollectionRepository(s, a.scope)
        shares = SharedDocumentRepository(s, a.scope)
        mine = await collections.create(name="Mine")
        with pytest.raises(NotFound):
            await items.get(theirs.id)
        with pytest.raises(NotFound):
            await items.record_view(theirs.id)
        with pytest.raises(NotFound):
            await collections.add_item(mine.id, theirs.id)
        with pytest.raises(NotFound):
            await collections.items(their_collection.id)
        with pytest.raises(NotFound):
            await shares.resolve(link.share_token)
        with pytest.raises(NotFound, match="creator item"):
            async with s.begin_nested():
                await shares.share(theirs.id)


async def test_demo_seed(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        ctx = demo_context(s, ws, seed=5)
        await creator_demo.seed(ctx)
        assert len(ctx.ids["creator_items"]) == 2
        assert len(ctx.ids["creator_collections"]) == 2
        assert len(ctx.ids["shared_documents"]) == 2
        collections = CreatorCollectionRepository(s, ws.scope)
        kit = await collections.get(ctx.ids["creator_collections"][0])
        assert kit.item_count == len(await collections.items(kit.id)) == 2
        shares = SharedDocumentRepository(s, ws.scope)
        protected = await shares.get(ctx.ids["shared_documents"][0])
        assert await shares.verify_password(protected, "launch-preview")
        assert len(await CreatorTemplateCatalog(s).list()) >= 3
