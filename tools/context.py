"""Who is acting, and for which workspace: what every tool call receives besides its arguments.

A `Caller` is built by a channel from an authenticated identity and the caller's
`workspace_members` row: the role and permissions come from that row, never from a request body
or from the model. A `ToolContext` adds the call's own database session (bound to the caller's
workspace, one per call, never shared between concurrent calls) and the idempotency key that
makes a retried or resumed call find its earlier effect instead of repeating it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from store.models.core import MemberRole
from store.tenancy import WorkspaceScope

ROLE_RANK = {MemberRole.VIEWER: 0, MemberRole.MEMBER: 1, MemberRole.ADMIN: 2, MemberRole.OWNER: 3}

# Permission areas of `workspace_members.permissions` (schema map: agents, packs, billing,
# members). A flag set in the row wins; an absent flag falls back to the role's default.
PERMISSION_AREAS = ("agents", "packs", "billing", "members")
_DEFAULT_GRANTS = {
    MemberRole.OWNER: frozenset(PERMISSION_AREAS),
    MemberRole.ADMIN: frozenset(PERMISSION_AREAS),
    MemberRole.MEMBER: frozenset({"agents", "packs"}),
    MemberRole.VIEWER: frozenset(),
}


def effective_permissions(role: MemberRole, flags: Mapping[str, Any] | None) -> frozenset[str]:
    """The areas a member may act in: the role's defaults, then the row's explicit flags."""
    granted = set(_DEFAULT_GRANTS[role])
    for area, value in (flags or {}).items():
        if value is True:
            granted.add(area)
        elif value is False:
            granted.discard(area)
    return frozenset(granted)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated member of one workspace, on one channel."""

    workspace_id: uuid.UUID
    user_id: uuid.UUID
    role: MemberRole
    permissions: frozenset[str] = frozenset()
    channel: str = "web"

    @classmethod
    def for_member(
        cls, workspace_id: uuid.UUID, user_id: uuid.UUID, role: MemberRole,
        flags: Mapping[str, Any] | None = None, channel: str = "web",
    ) -> Caller:
        return cls(workspace_id, user_id, role, effective_permissions(role, flags), channel)

    @property
    def scope(self) -> WorkspaceScope:
        return WorkspaceScope(self.workspace_id)

    def at_least(self, role: MemberRole) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    def may(self, permission: str | None) -> bool:
        return permission is None or permission in self.permissions


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Everything a tool may use besides its arguments. `services` carries implementations of
    the small protocols tools declare for work that lives above them (a model call for a grid's
    `ai` node, an agent run); `assistant/` provides them."""

    caller: Caller
    session: AsyncSession
    idempotency_key: str
    conversation_id: uuid.UUID | None = None
    services: Mapping[str, Any] = field(default_factory=dict)

    @property
    def scope(self) -> WorkspaceScope:
        return self.caller.scope
