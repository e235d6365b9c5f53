"""Workspace access keys: `nep_<key id>_<secret>`, shown once, stored as a SHA-256 of the secret.

A key acts as the member who owns it, with that member's current role, and only within its
scopes. The key id in the token finds the workspace (`neptune_access_key_workspace`, the one
look-up that runs before a workspace is known); the secret is then compared in constant time.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.errors import InvalidArgument, NotFound
from store.models.neptune import AccessKey
from store.repositories.base import utcnow
from store.repositories.neptune import AccessKeyRepository
from store.tenancy import WorkspaceScope, scoped_session

PREFIX = "nep_"
_SHAPE = re.compile(r"^nep_([0-9a-f]{32})_([A-Za-z0-9_-]{20,128})$")


class KeyScope(enum.StrEnum):
    CHAT = "chat"
    READ = "read"
    ADMIN = "admin"


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `token` is shown once and never again."""

    row: AccessKey
    token: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(token: str) -> tuple[uuid.UUID, str] | None:
    match = _SHAPE.match(token)
    return (uuid.UUID(match.group(1)), match.group(2)) if match else None


def looks_like_key(token: str) -> bool:
    return token.startswith(PREFIX)


class AccessKeys:
    def __init__(self, session: AsyncSession, scope: WorkspaceScope) -> None:
        self.repo = AccessKeyRepository(session, scope)

    async def create(self, user_id: uuid.UUID, name: str, scopes: Iterable[str], *,
                     created_by: uuid.UUID | None = None,
                     expires_at: datetime | None = None) -> IssuedKey:
        chosen = sorted({KeyScope(s).value for s in scopes})
        if not chosen:
            raise InvalidArgument("an access key needs at least one scope (chat, read, admin)")
        name = name.strip()
        if not name:
            raise InvalidArgument("an access key needs a name")
        secret = secrets.token_urlsafe(32)
        row = await self.repo.create(user_id=user_id, name=name[:200], scopes=chosen,
                                     secret_hash=_digest(secret), last_four=secret[-4:],
                                     created_by=created_by, expires_at=expires_at)
        await self.repo.session.flush()
        return IssuedKey(row, f"{PREFIX}{row.id.hex}_{secret}")

    async def list(self, *, include_revoked: bool = False) -> list[AccessKey]:
        filters = [] if include_revoked else [AccessKey.revoked_at.is_(None)]
        return await self.repo._all(*filters, order_by=[AccessKey.created_at.desc()], limit=500)

    async def revoke(self, key_id: uuid.UUID) -> AccessKey:
        row = await self.repo.find(key_id)
        if row is None:
            raise NotFound("access key", key_id)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return row


async def authenticate(sessions: async_sessionmaker[AsyncSession],
                       token: str) -> AccessKey | None:
    """The live key this token names, its last use stamped; None for anything else."""
    parsed = parse(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    async with sessions() as session, session.begin():
        workspace_id = await session.scalar(
            sa.select(sa.func.neptune_access_key_workspace(key_id)))
    if workspace_id is None:
        return None
    scope = WorkspaceScope(workspace_id)
    async with scoped_session(sessions, scope) as session:
        row = await AccessKeyRepository(session, scope).find(key_id)
        now = utcnow()
        if (row is None or row.revoked_at is not None
                or (row.expires_at is not None and row.expires_at <= now)
                or not hmac.compare_digest(row.secret_hash, _digest(secret))):
            return None
        row.last_used_at = now
        return row
