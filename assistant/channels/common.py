"""What every channel adapter shares: finding the workspace and the member behind a delivery,
reading a finished turn, and splitting long text for media with a size limit.

The workspace always comes from something the provider signed (the Slack team, the number that
was called), looked up through SECURITY DEFINER functions that return ids only; the member comes
from an explicit link or a verified email address, and their role and permissions from their
active `workspace_members` row, exactly as for a token. Nothing here trusts a query parameter.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant import events as ev
from assistant.runtime import Turn
from store.models.channels import LinkProvider
from store.models.core import MemberRole, User, Workspace, WorkspaceMember
from store.repositories.channels import UserLinkRepository
from store.tenancy import WorkspaceScope, scoped_session
from tools.context import Caller

Sessions = async_sessionmaker[AsyncSession]


async def slack_workspace(sessions: Sessions, team_id: str) -> uuid.UUID | None:
    """The workspace connected to this Slack team; None when none is, or more than one is
    (an ambiguous team must not guess)."""
    async with sessions() as session:
        rows = list(await session.scalars(sa.select(sa.func.neptune_slack_workspaces(team_id))))
    return uuid.UUID(str(rows[0])) if len(rows) == 1 else None


async def phone_workspace(sessions: Sessions, number: str) -> uuid.UUID | None:
    """The workspace whose active number this is (numbers are unique across workspaces)."""
    async with sessions() as session:
        found = await session.scalar(sa.select(sa.func.neptune_phone_workspace(number)))
    return uuid.UUID(str(found)) if found is not None else None


async def member_caller(session: AsyncSession, workspace_id: uuid.UUID, channel: str, *,
                        user_id: uuid.UUID | None = None,
                        email: str | None = None) -> Caller | None:
    """The active member with this id (or this email address) as a Caller on `channel`."""
    query = (sa.select(WorkspaceMember.role, WorkspaceMember.permissions, User.id)
             .join(User, User.id == WorkspaceMember.user_id)
             .join(Workspace, Workspace.id == WorkspaceMember.workspace_id)
             .where(WorkspaceMember.workspace_id == workspace_id,
                    WorkspaceMember.is_active.is_(True), Workspace.is_active.is_(True))
             .order_by(WorkspaceMember.joined_at).limit(1))
    if user_id is not None:
        query = query.where(User.id == user_id)
    elif email:
        query = query.where(sa.func.lower(User.email) == email.strip().lower())
    else:
        return None
    row = (await session.execute(query)).first()
    if row is None:
        return None
    role, flags, found = row
    return Caller.for_member(workspace_id, found, MemberRole(role), flags, channel)


async def linked_caller(sessions: Sessions, workspace_id: uuid.UUID, provider: LinkProvider,
                        external_id: str, channel: str) -> Caller | None:
    """The member an explicit link names, if they are still an active member."""
    scope = WorkspaceScope(workspace_id)
    async with scoped_session(sessions, scope) as session:
        user_id = await UserLinkRepository(session, scope).user_for(provider, external_id)
        if user_id is None:
            return None
        return await member_caller(session, workspace_id, channel, user_id=user_id)


async def caller_by_email(sessions: Sessions, workspace_id: uuid.UUID, email: str,
                          channel: str) -> Caller | None:
    async with scoped_session(sessions, WorkspaceScope(workspace_id)) as session:
        return await member_caller(session, workspace_id, channel, email=email)


@dataclass
class Answer:
    """What a finished turn said, for channels that answer once rather than stream."""

    texts: dict[uuid.UUID, str] = field(default_factory=dict)
    approvals: list[ev.ApprovalRequired] = field(default_factory=list)
    error: str | None = None
    status: str = "complete"

    def take(self, event: ev.Event) -> None:
        """Fold one event in: the latest text per message wins (a restart discards)."""
        if isinstance(event, ev.TextDelta):
            self.texts[event.message_id] = self.texts.get(event.message_id, "") + event.text
        elif isinstance(event, ev.TurnRestarted):
            self.texts[event.message_id] = ""
        elif isinstance(event, ev.MessageCompleted):
            self.texts[event.message_id] = event.content
        elif isinstance(event, ev.ApprovalRequired):
            self.approvals.append(event)
        elif isinstance(event, ev.Error):
            self.error = event.message
        elif isinstance(event, ev.TurnCompleted):
            self.status = event.status

    @property
    def text(self) -> str:
        return "\n\n".join(t.strip() for t in self.texts.values() if t.strip())


async def answer_of(turn: Turn) -> Answer:
    """Read the turn to its end (this is its only reader)."""
    answer = Answer()
    async with turn:
        async for event in turn:
            answer.take(event)
        await turn.wait()
    return answer


_BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"(?<=[.!?])\s+"),
           re.compile(r"\s+"))


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at a paragraph, line, sentence or word
    boundary when there is one in the second half of the piece."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut_at(rest, limit)
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def _cut_at(text: str, limit: int) -> int:
    window = text[:limit + 1]
    for pattern in _BREAKS:
        ends = [m.start() for m in pattern.finditer(window) if m.start() >= limit // 2]
        if ends:
            return ends[-1]
    return limit
