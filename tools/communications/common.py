"""What the communications modules share: argument and row model configs, and the membership
check for tools that name a teammate."""

from __future__ import annotations

import uuid

from pydantic import ConfigDict

from store.repositories.core import WorkspaceMemberRepository
from tools.context import ToolContext
from tools.errors import RetryableToolError

ARGS = ConfigDict(frozen=True, extra="forbid")
ROW = ConfigDict(from_attributes=True)


async def require_member(ctx: ToolContext, member_id: uuid.UUID) -> None:
    """Refuse a user id that is not an active member of this workspace (another workspace's
    member looks exactly like a missing one)."""
    if await WorkspaceMemberRepository(ctx.session, ctx.scope).for_user(member_id) is None:
        raise RetryableToolError(
            f"no active member with id {member_id} in this workspace; list_team_members gives ids"
        )
