"""Operator tasks that span workspaces: counts for `neptune status`, master-key rotation."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from store.crypto import Keyring
from store.models import tenant_tables
from store.tenancy import WorkspaceScope, scoped_session

# (table, envelope column, purpose) for every secret column sealed with the keyring.
SEALED_COLUMNS = (
    ("workspace_api_keys", "encrypted_key", "provider:{provider}"),
    ("oauth_tokens", "access_token_encrypted", "oauth:access"),
    ("oauth_tokens", "refresh_token_encrypted", "oauth:refresh"),
)


async def workspace_counts(
    sessions: async_sessionmaker[AsyncSession], workspace_id: uuid.UUID
) -> dict[str, int]:
    """Rows per table for one workspace, read as the service role (RLS applies)."""
    counts: dict[str, int] = {}
    async with scoped_session(sessions, WorkspaceScope(workspace_id)) as session:
        counts["workspaces"] = int(
            await session.scalar(sa.text("SELECT count(*) FROM workspaces")) or 0
        )
        for table in tenant_tables():
            stmt = sa.select(sa.func.count()).select_from(table)
            counts[table.name] = int(await session.scalar(stmt) or 0)
    return counts


async def rotate_secrets(
    owner_engine: AsyncEngine, keyring: Keyring, *, workspace_id: uuid.UUID | None = None
) -> int:
    """Re-encrypt every sealed secret not yet under the newest key; returns how many changed.

    Runs as the owner role, which may read across workspaces; each secret is still bound to
    its own workspace by the associated data. `workspace_id` limits it to one workspace.
    A secret sealed with a key the keyring lacks fails the whole rotation (CryptoError).
    """
    only = "AND workspace_id = :ws" if workspace_id is not None else ""
    changed = 0
    async with owner_engine.begin() as conn:
        for table, column, purpose in SEALED_COLUMNS:
            extra = ", provider" if "{provider}" in purpose else ""
            rows = (
                await conn.execute(
                    sa.text(
                        f"SELECT workspace_id, id, {column}{extra} FROM {table} "
                        f"WHERE {column} IS NOT NULL {only} FOR UPDATE"
                    ),
                    {"ws": workspace_id} if workspace_id is not None else {},
                )
            ).all()
            for row in rows:
                bound_purpose = purpose.format(provider=row[3]) if extra else purpose
                sealed = keyring.rotate(bytes(row[2]), row[0], bound_purpose)
                if sealed == bytes(row[2]):
                    continue
                await conn.execute(
                    sa.text(
                        f"UPDATE {table} SET {column} = :v, key_id = :k "
                        "WHERE workspace_id = :w AND id = :i"
                    ),
                    {"v": sealed, "k": keyring.current, "w": row[0], "i": row[1]},
                )
                changed += 1
    return changed
