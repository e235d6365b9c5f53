"""Core repositories: the workspace's members and its sealed provider keys."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from store.errors import NotFound
from store.models.core import MemberRole, User, Workspace, WorkspaceApiKey, WorkspaceMember
from store.repositories.base import Repository


class WorkspaceMemberRepository(Repository[WorkspaceMember]):
    model = WorkspaceMember
    archive_values = {"is_active": False}

    async def for_user(self, user_id: uuid.UUID) -> WorkspaceMember | None:
        """The user's active membership here, or None (the basis of every role check)."""
        rows = await self._all(
            WorkspaceMember.user_id == user_id, WorkspaceMember.is_active.is_(True), limit=1
        )
        return rows[0] if rows else None

    async def active(self) -> list[tuple[WorkspaceMember, User]]:
        """Active members with their user rows, owners first."""
        order = sa.case({r.value: i for i, r in enumerate(MemberRole)}, value=WorkspaceMember.role)
        stmt = (
            self.select()
            .add_columns(User)
            .join(User, User.id == WorkspaceMember.user_id)
            .where(WorkspaceMember.is_active.is_(True))
            .order_by(order, User.email)
        )
        return [(member, user) for member, user in (await self.session.execute(stmt)).all()]

    async def workspace(self) -> Workspace:
        row = await self.session.get(Workspace, self.scope.workspace_id)
        if row is None:
            raise NotFound("workspace", self.scope.workspace_id)
        return row


class ProviderKeyRepository(Repository[WorkspaceApiKey]):
    """Rows of sealed provider keys; use store.provider_keys.ProviderKeys to read or write them."""

    model = WorkspaceApiKey
