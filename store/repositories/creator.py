"""Creator studio repositories: items, collections (with their item links), the global template
catalogue, and share links.

A collection's `item_count` is recomputed from the link rows in the same statement that changes
them, so it cannot drift, even when an item is deleted out from under a collection.

Share-link passwords are hashed with scrypt and a random salt; hashing runs in a worker thread
because scrypt is deliberately slow and would otherwise stall the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from store.errors import InvalidArgument, NotFound
from store.models.creator import (
    CreatorCollection,
    CreatorCollectionItem,
    CreatorItem,
    CreatorItemStatus,
    CreatorItemType,
    CreatorTemplate,
    SharedDocument,
    SharePermission,
)
from store.pagination import Page
from store.repositories.base import Repository, utcnow
from store.repositories.content import AtomicUpdates
from store.repositories.crm import ilike_any

# -- share-link passwords ------------------------------------------------------------------------

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_BYTES = 32
SALT_BYTES = 16
MIN_PASSWORD_LENGTH = 4


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_share_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash`: the cost parameters travel with the hash so they can change."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidArgument(f"a share password needs at least {MIN_PASSWORD_LENGTH} characters")
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_BYTES
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_share_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored`; a malformed hash never matches."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
            dklen=len(_unb64(expected)),
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest, _unb64(expected))


def new_share_token() -> str:
    """192 random bits, URL-safe: unguessable, and unique across workspaces by constraint."""
    return secrets.token_urlsafe(24)


# -- items and collections -----------------------------------------------------------------------


class CreatorItemRepository(AtomicUpdates[CreatorItem]):
    model = CreatorItem
    sortable = frozenset({"created_at", "updated_at", "view_count", "share_count"})

    async def search(
        self, text: str = "", *, type: CreatorItemType | None = None,
        status: CreatorItemStatus | None = None, limit: int = 20, cursor: str | None = None,
    ) -> Page[CreatorItem]:
        where = [ilike_any(word, CreatorItem.title) for word in text.split()]
        if type is not None:
            where.append(CreatorItem.type == type)
        if status is not None:
            where.append(CreatorItem.status == status)
        return await self._page(*where, limit=limit, cursor=cursor)

    async def from_template(
        self, catalog: CreatorTemplateCatalog, template_id: uuid.UUID, *, title: str | None = None,
        created_by: uuid.UUID | None = None,
    ) -> CreatorItem:
        """A new draft item with the template's content; counts one use of the template."""
        template = await catalog.record_use(template_id)
        return await self.create(
            title=title or template.name, type=template.item_type, content=dict(template.content),
            created_by=created_by, settings={"template_id": str(template.id)},
        )

    async def publish(self, item_id: uuid.UUID) -> CreatorItem:
        return await self.update(item_id, status=CreatorItemStatus.PUBLISHED)

    async def record_view(self, item_id: uuid.UUID) -> CreatorItem:
        return await self._update_in_place(item_id, view_count=CreatorItem.view_count + 1)

    async def record_share(self, item_id: uuid.UUID) -> CreatorItem:
        return await self._update_in_place(item_id, share_count=CreatorItem.share_count + 1)

    async def delete(self, row_id: uuid.UUID) -> None:
        """Delete the item; the collections that held it get their counts recomputed."""
        collections = CreatorCollectionRepository(self.session, self.scope)
        holding = await collections.holding(row_id)
        await super().delete(row_id)
        for collection in holding:
            await collections.recount(collection.id)


class CreatorCollectionRepository(Repository[CreatorCollection]):
    model = CreatorCollection
    sortable = frozenset({"created_at", "updated_at", "name", "item_count"})

    def _links(self, collection_id: uuid.UUID) -> list[sa.ColumnElement[bool]]:
        return [
            CreatorCollectionItem.workspace_id == self.scope.workspace_id,
            CreatorCollectionItem.collection_id == collection_id,
        ]

    async def add_item(self, collection_id: uuid.UUID, item_id: uuid.UUID) -> CreatorCollection:
        """Append the item to the collection (no-op if it is already there)."""
        await self.get(collection_id)
        await CreatorItemRepository(self.session, self.scope).get(item_id)
        next_order = sa.select(
            sa.func.coalesce(sa.func.max(CreatorCollectionItem.sort_order) + 1, 0)
        ).where(*self._links(collection_id)).scalar_subquery()
        stmt = (
            pg_insert(CreatorCollectionItem)
            .values(
                workspace_id=self.scope.workspace_id, collection_id=collection_id,
                item_id=item_id, sort_order=next_order,
            )
            .on_conflict_do_nothing(index_elements=["workspace_id", "collection_id", "item_id"])
        )
        await self.session.execute(stmt)
        return await self.recount(collection_id)

    async def remove_item(self, collection_id: uuid.UUID, item_id: uuid.UUID) -> CreatorCollection:
        await self.get(collection_id)
        await self.session.execute(
            sa.delete(CreatorCollectionItem).where(
                *self._links(collection_id), CreatorCollectionItem.item_id == item_id
            )
        )
        return await self.recount(collection_id)

    async def recount(self, collection_id: uuid.UUID) -> CreatorCollection:
        """Set `item_count` from the link rows (one statement, so concurrent changes agree)."""
        count = (
            sa.select(sa.func.count()).select_from(CreatorCollectionItem)
            .where(*self._links(collection_id)).scalar_subquery()
        )
        stmt = (
            sa.update(CreatorCollection)
            .where(CreatorCollection.workspace_id == self.scope.workspace_id,
                   CreatorCollection.id == collection_id)
            .values(item_count=count, updated_at=sa.func.now())
            .returning(CreatorCollection)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        row = await self.session.scalar(stmt)
        if row is None:
            raise NotFound(self.entity, collection_id)
        return row

    async def items(self, collection_id: uuid.UUID) -> list[CreatorItem]:
        """The collection's items in the order they were added."""
        await self.get(collection_id)
        stmt = (
            sa.select(CreatorItem)
            .join(CreatorCollectionItem, sa.and_(
                CreatorCollectionItem.workspace_id == CreatorItem.workspace_id,
                CreatorCollectionItem.item_id == CreatorItem.id,
            ))
            .where(CreatorItem.workspace_id == self.scope.workspace_id,
                   *self._links(collection_id))
            .order_by(CreatorCollectionItem.sort_order, CreatorItem.id)
        )
        return list(await self.session.scalars(stmt))

    async def holding(self, item_id: uuid.UUID) -> list[CreatorCollection]:
        """Collections that contain the item."""
        ids = sa.select(CreatorCollectionItem.collection_id).where(
            CreatorCollectionItem.workspace_id == self.scope.workspace_id,
            CreatorCollectionItem.item_id == item_id,
        )
        return await self._all(CreatorCollection.id.in_(ids), order_by=[CreatorCollection.name])


# -- global templates ----------------------------------------------------------------------------


class CreatorTemplateCatalog:
    """The published template catalogue, shared by every workspace (no workspace filter)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, template_id: uuid.UUID) -> CreatorTemplate:
        row = await self.session.get(CreatorTemplate, template_id)
        if row is None or not row.is_public:
            raise NotFound("creator template", template_id)
        return row

    async def list(
        self, text: str = "", *, category: str | None = None, limit: int | None = None
    ) -> list[CreatorTemplate]:
        """Public templates whose name holds every word of `text`, most used first."""
        stmt = sa.select(CreatorTemplate).where(
            CreatorTemplate.is_public.is_(True),
            *(ilike_any(word, CreatorTemplate.name) for word in text.split()),
        )
        if category is not None:
            stmt = stmt.where(CreatorTemplate.category == category)
        stmt = stmt.order_by(CreatorTemplate.usage_count.desc(), CreatorTemplate.name,
                             CreatorTemplate.id).limit(limit)
        return list(await self.session.scalars(stmt))

    async def create(self, **values: Any) -> CreatorTemplate:
        row = CreatorTemplate(**values)
        self.session.add(row)
        await self.session.flush()
        return row

    async def record_use(self, template_id: uuid.UUID) -> CreatorTemplate:
        await self.get(template_id)
        stmt = (
            sa.update(CreatorTemplate).where(CreatorTemplate.id == template_id)
            .values(usage_count=CreatorTemplate.usage_count + 1)
            .returning(CreatorTemplate)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        row = await self.session.scalar(stmt)
        assert row is not None  # get() above found it inside this transaction
        return row


# -- share links ---------------------------------------------------------------------------------


class SharedDocumentRepository(AtomicUpdates[SharedDocument]):
    model = SharedDocument
    archive_values = {"is_active": False}

    async def share(
        self, item_id: uuid.UUID, *, permission: SharePermission = SharePermission.VIEW,
        password: str | None = None, expires_at: datetime | None = None,
        created_by: uuid.UUID | None = None,
    ) -> SharedDocument:
        """A new share link with a fresh token; counts a share on the item."""
        password_hash = await asyncio.to_thread(hash_share_password, password) if password else None
        document = await self.create(
            creator_item_id=item_id, permission=permission, password_hash=password_hash,
            expires_at=expires_at, created_by=created_by, share_token=new_share_token(),
        )
        await CreatorItemRepository(self.session, self.scope).record_share(item_id)
        return document

    async def resolve(self, token: str, *, now: datetime | None = None) -> SharedDocument:
        """The active, unexpired link with this token in this workspace, else NotFound."""
        moment = now or utcnow()
        rows = await self._all(
            SharedDocument.share_token == token, SharedDocument.is_active.is_(True),
            sa.or_(SharedDocument.expires_at.is_(None), SharedDocument.expires_at > moment),
            limit=1,
        )
        if not rows:
            raise NotFound("shared document", f"{token[:4]}…")
        return rows[0]

    async def verify_password(self, document: SharedDocument, password: str | None) -> bool:
        """True when the link has no password or `password` matches it."""
        if document.password_hash is None:
            return True
        if not password:
            return False
        return await asyncio.to_thread(verify_share_password, password, document.password_hash)

    async def set_password(self, document_id: uuid.UUID, password: str | None) -> SharedDocument:
        """Set, change, or (with None) remove the link's password."""
        password_hash = await asyncio.to_thread(hash_share_password, password) if password else None
        return await self.update(document_id, password_hash=password_hash)

    async def record_view(self, document_id: uuid.UUID) -> SharedDocument:
        return await self._update_in_place(
            document_id, view_count=SharedDocument.view_count + 1, last_viewed_at=utcnow()
        )

    async def for_item(self, item_id: uuid.UUID) -> list[SharedDocument]:
        return await self._all(
            SharedDocument.creator_item_id == item_id,
            order_by=[SharedDocument.created_at, SharedDocument.id],
        )


class CollectionItemRepository(Repository[CreatorCollectionItem]):
    """Raw collection links; CreatorCollectionRepository.add_item/remove_item keep counts right."""

    model = CreatorCollectionItem
