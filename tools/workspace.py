"""Workspace tools: what the workspace holds at a glance, who is in the team, and membership.

Membership is a `workspace_members` row. Inviting someone finds (or creates) the global user by
email, grants the membership at once (sign-in with that email then lands in the workspace), and
hands an invitation email to the outbox; the outbox row carries the call's idempotency key, so
a retried invite finds its first effect instead of inviting twice.

The small helpers at the top (`require_member`, `user_names`, `workspace_currency`, `count_rows`)
are shared by the other domain tools that refer to people (deal owners, task assignees).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from store.errors import Conflict, NotFound
from store.models.admin import TaskStatus, TodoHqTask
from store.models.core import MemberRole, SubscriptionTier, User, WorkspaceMember
from store.models.crm import ContactStatus, CustomerStatus, ProjectStatus
from store.models.neptune import OutboundChannel, OutboundMessage
from store.repositories.admin import TaskRepository
from store.repositories.core import WorkspaceMemberRepository
from store.repositories.crm import (
    ContactRepository,
    CustomerRepository,
    DealRepository,
    ProjectRepository,
)
from store.repositories.neptune import OutboundMessageRepository
from tools import insights, memory  # noqa: F401 - registers their tools in this domain
from tools.audit import record_change, snapshot
from tools.context import ToolContext
from tools.errors import RetryableToolError, ToolFailed
from tools.registry import Risk, tool

DEFAULT_CURRENCY = "USD"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
MEMBER_FIELDS = ("user_id", "role", "is_active", "invited_by")
MEMBER_ENTITY = "workspace_member"
OPEN_TASK_STATUSES = [s for s in TaskStatus if s.is_open]


# -- helpers shared with the other domains ------------------------------------------------------


def today() -> date:
    """Today's date in UTC: the reference for "overdue" and "closing soon"."""
    return datetime.now(UTC).date()


async def count_rows(ctx: ToolContext, stmt: sa.Select[Any]) -> int:
    """How many rows a (workspace-scoped) select returns, without loading them."""
    total = await ctx.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    return int(total or 0)


async def require_member(
    ctx: ToolContext, user_id: uuid.UUID, *, former_ok: bool = False
) -> uuid.UUID:
    """The id, when it names an active member of this workspace; otherwise not-found.

    Users are a global table, so a foreign key alone would accept someone from another
    workspace as a deal owner or task assignee; this check keeps people inside the tenant.
    `former_ok` also accepts people who left (a filter may still look for their records).
    """
    repo = WorkspaceMemberRepository(ctx.session, ctx.scope)
    where = [WorkspaceMember.user_id == user_id]
    if not former_ok:
        where.append(WorkspaceMember.is_active.is_(True))
    if await ctx.session.scalar(repo.select().where(*where).limit(1)) is None:
        raise NotFound("team member", user_id)
    return user_id


async def require_active_member(ctx: ToolContext, user_id: uuid.UUID) -> None:
    """Like `require_member`, but as the retry advice a model acts on: the id must name an
    active member, and `list_team_members` gives the ids."""
    if await WorkspaceMemberRepository(ctx.session, ctx.scope).for_user(user_id) is None:
        raise RetryableToolError(
            f"no active member with id {user_id} in this workspace; list_team_members gives ids"
        )


async def user_names(ctx: ToolContext, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """Display names of the given users who are members of this workspace."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    stmt = (
        WorkspaceMemberRepository(ctx.session, ctx.scope).select()
        .add_columns(User)
        .join(User, User.id == WorkspaceMember.user_id)
        .where(WorkspaceMember.user_id.in_(wanted))
    )
    rows = (await ctx.session.execute(stmt)).all()
    return {user.id: display_name(user) for _, user in rows}


def display_name(user: User) -> str:
    return " ".join(p for p in (user.first_name, user.last_name) if p) or user.email


async def workspace_currency(ctx: ToolContext) -> str:
    """The workspace's currency (`settings.currency`), USD when none is set."""
    workspace = await WorkspaceMemberRepository(ctx.session, ctx.scope).workspace()
    value = (workspace.settings or {}).get("currency")
    return value.upper() if isinstance(value, str) and len(value) == 3 else DEFAULT_CURRENCY


def to_cents(amount: Decimal) -> int:
    """Major units to integer cents (arguments are validated to two decimals)."""
    return int((amount * 100).to_integral_value(rounding=ROUND_HALF_UP))


def major_units(cents: int) -> Decimal:
    """Integer cents as a Decimal amount in major units (12345 -> 123.45)."""
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


# -- output models ----------------------------------------------------------------------------


class MemberOut(BaseModel):
    """One member of the team. `user_id` is what owner/assignee arguments take."""

    user_id: uuid.UUID
    name: str
    email: str
    role: MemberRole
    joined_at: datetime | None = None


def member_out(member: WorkspaceMember, user: User) -> MemberOut:
    return MemberOut(
        user_id=user.id, name=display_name(user), email=user.email, role=member.role,
        joined_at=member.joined_at,
    )


# -- get_workspace_overview ------------------------------------------------------------------


class OverviewArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OverviewResult(BaseModel):
    name: str
    slug: str
    plan: SubscriptionTier
    currency: str
    your_role: MemberRole
    members_by_role: dict[str, int]
    contacts: int
    leads: int
    open_deals: int
    open_pipeline_value: Decimal = Field(description="Open deals in `currency`, major units.")
    active_customers: int
    active_projects: int
    open_tasks: int
    overdue_tasks: int


async def _member_counts(ctx: ToolContext) -> dict[str, int]:
    members = await WorkspaceMemberRepository(ctx.session, ctx.scope).active()
    counts = {role.value: 0 for role in MemberRole}
    for member, _ in members:
        counts[member.role.value] += 1
    return counts


async def _task_counts(ctx: ToolContext) -> tuple[int, int]:
    tasks = TaskRepository(ctx.session, ctx.scope)
    open_rows = tasks.select().where(TodoHqTask.status.in_(OPEN_TASK_STATUSES))
    overdue = open_rows.where(TodoHqTask.due_date < today())
    return await count_rows(ctx, open_rows), await count_rows(ctx, overdue)


@tool(risk=Risk.LOW, examples=(
    "give me an overview of the workspace", "how are we doing?", "what plan are we on?",
))
async def get_workspace_overview(ctx: ToolContext, args: OverviewArgs) -> OverviewResult:
    """Summarise the workspace: name, plan, currency, your role, team size by role, and headline
    counts (contacts and leads, open deals with their total value in the workspace currency,
    active customers and projects, open and overdue tasks). Use it for "how are we doing" or to
    orient yourself; use the domain search tools for details."""
    session, scope = ctx.session, ctx.scope
    workspace = await WorkspaceMemberRepository(session, scope).workspace()
    currency = await workspace_currency(ctx)
    stages = await DealRepository(session, scope).pipeline_summary(currency)
    contacts = ContactRepository(session, scope)
    open_tasks, overdue_tasks = await _task_counts(ctx)
    return OverviewResult(
        name=workspace.name, slug=workspace.slug, plan=workspace.subscription_tier,
        currency=currency, your_role=ctx.caller.role, members_by_role=await _member_counts(ctx),
        contacts=await contacts.count(), leads=await contacts.count(status=ContactStatus.LEAD),
        open_deals=sum(s.count for s in stages if s.stage.is_open),
        open_pipeline_value=major_units(sum(s.value_cents for s in stages if s.stage.is_open)),
        active_customers=await CustomerRepository(session, scope).count(
            status=CustomerStatus.ACTIVE),
        active_projects=await ProjectRepository(session, scope).count(
            status=[ProjectStatus.PLANNING, ProjectStatus.IN_PROGRESS]),
        open_tasks=open_tasks, overdue_tasks=overdue_tasks,
    )


# -- list_team_members ------------------------------------------------------------------------


class ListMembersArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str = Field(
        default="", max_length=200,
        description="Text to find in a member's name or email, e.g. 'dana'; empty for everyone.",
    )
    role: MemberRole | None = Field(default=None, description="Only members with this role.")
    limit: int = Field(default=50, ge=1, le=100, description="Most members to return (1-100).")


class MembersResult(BaseModel):
    members: list[MemberOut]
    total: int = Field(description="Members matching the filters, before `limit`.")


def _matches(query: str, user: User) -> bool:
    haystack = f"{display_name(user)} {user.email}".lower()
    return all(word in haystack for word in query.lower().split())


@tool(risk=Risk.LOW, examples=(
    "who is on the team?", "list the admins", "what's Lee's user id?",
))
async def list_team_members(ctx: ToolContext, args: ListMembersArgs) -> MembersResult:
    """List the workspace's active members (owners first), with the `user_id` that owner,
    assignee and manager arguments of other tools expect. Filter by name/email text or role."""
    rows = await WorkspaceMemberRepository(ctx.session, ctx.scope).active()
    found = [
        member_out(member, user) for member, user in rows
        if (args.role is None or member.role == args.role) and _matches(args.query, user)
    ]
    return MembersResult(members=found[: args.limit], total=len(found))


# -- invite_member ---------------------------------------------------------------------------

# Owners are never granted by the assistant: ownership is handed over in the platform itself.
GrantableRole = Literal[MemberRole.ADMIN, MemberRole.MEMBER, MemberRole.VIEWER]


class InviteArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    email: str = Field(
        max_length=254, pattern=EMAIL_PATTERN,
        description="Email address to invite, e.g. 'lee@acme.com'.",
    )
    role: GrantableRole = Field(
        default=MemberRole.MEMBER, description="Role to grant: admin, member or viewer."
    )
    first_name: str | None = Field(
        default=None, max_length=100, description="Their first name, if known."
    )
    last_name: str | None = Field(
        default=None, max_length=100, description="Their last name, if known."
    )
    message: str | None = Field(
        default=None, max_length=2000, description="A personal note added to the invitation."
    )


class InviteResult(BaseModel):
    member: MemberOut
    invitation_id: uuid.UUID = Field(description="The queued invitation email.")
    rejoined: bool = Field(description="True when a former member was re-admitted.")


async def _find_user(ctx: ToolContext, email: str) -> User | None:
    stmt = (sa.select(User).where(sa.func.lower(User.email) == email.lower())
            .order_by(User.created_at, User.id).limit(1))
    user: User | None = await ctx.session.scalar(stmt)
    return user


async def _user_for_invite(ctx: ToolContext, args: InviteArgs) -> User:
    """The existing user with this email, or a new one with the names the inviter gave."""
    user = await _find_user(ctx, args.email)
    if user is None:
        user = User(email=args.email.lower(), first_name=args.first_name,
                    last_name=args.last_name)
        ctx.session.add(user)
        await ctx.session.flush()
    return user


async def _membership(ctx: ToolContext, user_id: uuid.UUID) -> WorkspaceMember | None:
    repo = WorkspaceMemberRepository(ctx.session, ctx.scope)
    row: WorkspaceMember | None = await ctx.session.scalar(
        repo.select().where(WorkspaceMember.user_id == user_id)
    )
    return row


async def _earlier_invite(ctx: ToolContext) -> InviteResult | None:
    """The result of this very call if a retry already made it (same idempotency key)."""
    outbox = OutboundMessageRepository(ctx.session, ctx.scope)
    message = await ctx.session.scalar(outbox.select().where(
        OutboundMessage.idempotency_key == ctx.idempotency_key,
        OutboundMessage.related_type == MEMBER_ENTITY,
    ))
    if message is None or message.related_id is None:
        return None
    member = await WorkspaceMemberRepository(ctx.session, ctx.scope).get(message.related_id)
    user = await ctx.session.get(User, member.user_id)
    if user is None:
        raise NotFound("user", member.user_id)
    return InviteResult(member=member_out(member, user), invitation_id=message.id,
                        rejoined=bool(message.meta.get("rejoined")))


async def _grant(
    ctx: ToolContext, user: User, role: MemberRole
) -> tuple[WorkspaceMember, dict[str, Any] | None]:
    """Create the membership, or re-activate a former one; returns it and its prior state."""
    repo = WorkspaceMemberRepository(ctx.session, ctx.scope)
    existing = await _membership(ctx, user.id)
    if existing is None:
        member = await repo.create(user_id=user.id, role=role, invited_by=ctx.caller.user_id)
        await ctx.session.refresh(member, ["joined_at"])
        return member, None
    if existing.is_active:
        raise Conflict(f"{user.email} is already a member of this workspace ({existing.role})")
    before = snapshot(existing, MEMBER_FIELDS)
    member = await repo.update(existing.id, role=role, is_active=True,
                               invited_by=ctx.caller.user_id, joined_at=datetime.now(UTC))
    return member, before


def _invitation_text(workspace: str, inviter: str, role: MemberRole, note: str | None) -> str:
    lines = [f"{inviter} invited you to join {workspace} as {role.value}.",
             "Sign in with this email address to get started."]
    if note:
        lines.insert(1, f"\n{note}\n")
    return "\n".join(lines)


async def _send_invitation(
    ctx: ToolContext, member: WorkspaceMember, user: User, args: InviteArgs, rejoined: bool
) -> OutboundMessage:
    workspace = await WorkspaceMemberRepository(ctx.session, ctx.scope).workspace()
    inviter = (await user_names(ctx, [ctx.caller.user_id])).get(ctx.caller.user_id, "A teammate")
    return await OutboundMessageRepository(ctx.session, ctx.scope).enqueue(
        OutboundChannel.EMAIL, user.email,
        _invitation_text(workspace.name, inviter, args.role, args.message),
        subject=f"You're invited to {workspace.name}", related_type=MEMBER_ENTITY,
        related_id=member.id, idempotency_key=ctx.idempotency_key, meta={"rejoined": rejoined},
    )


@tool(
    risk=Risk.HIGH, role=MemberRole.ADMIN, permission="members", title="Invite {email}",
    examples=("invite lee@acme.com to the workspace", "add sam@acme.com as an admin",
              "give our accountant viewer access: ana@books.io"),
)
async def invite_member(ctx: ToolContext, args: InviteArgs) -> InviteResult:
    """Invite someone to the workspace by email with a role (admin, member or viewer). Access is
    granted at once and an invitation email is queued for delivery. Fails if they are already
    a member; a former member is re-admitted. Needs the admin role and members permission."""
    earlier = await _earlier_invite(ctx)
    if earlier is not None:
        return earlier
    user = await _user_for_invite(ctx, args)
    member, before = await _grant(ctx, user, args.role)
    message = await _send_invitation(ctx, member, user, args, rejoined=before is not None)
    await record_change(ctx, "invite", MEMBER_ENTITY, member.id, before=before,
                        after=snapshot(member, MEMBER_FIELDS))
    return InviteResult(member=member_out(member, user), invitation_id=message.id,
                        rejoined=before is not None)


# -- change_member_role / remove_member ------------------------------------------------------


class ChangeRoleArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    member_user_id: uuid.UUID = Field(
        description="The member's user_id, as list_team_members returns it."
    )
    role: GrantableRole = Field(description="New role: admin, member or viewer.")


class MemberResult(BaseModel):
    member: MemberOut


async def _changeable_member(
    ctx: ToolContext, user_id: uuid.UUID
) -> tuple[WorkspaceMember, User]:
    """An active member other than the caller and not an owner (ownership moves elsewhere)."""
    member = await WorkspaceMemberRepository(ctx.session, ctx.scope).for_user(user_id)
    user = await ctx.session.get(User, user_id) if member is not None else None
    if member is None or user is None:
        raise NotFound("team member", user_id)
    if user_id == ctx.caller.user_id:
        raise ToolFailed("you cannot change your own membership; ask another admin")
    if member.role == MemberRole.OWNER:
        raise ToolFailed("an owner's membership cannot be changed by the assistant")
    return member, user


@tool(
    risk=Risk.HIGH, role=MemberRole.ADMIN, permission="members",
    title="Make member {member_user_id} a {role}",
    examples=("make Lee an admin", "downgrade Vic to viewer"),
)
async def change_member_role(ctx: ToolContext, args: ChangeRoleArgs) -> MemberResult:
    """Change a member's role to admin, member or viewer. Owners and your own role cannot be
    changed here. Needs the admin role and members permission."""
    member, user = await _changeable_member(ctx, args.member_user_id)
    before = snapshot(member, MEMBER_FIELDS)
    member = await WorkspaceMemberRepository(ctx.session, ctx.scope).update(
        member.id, role=args.role)
    await record_change(ctx, "role_change", MEMBER_ENTITY, member.id, before=before,
                        after=snapshot(member, MEMBER_FIELDS))
    return MemberResult(member=member_out(member, user))


class RemoveMemberArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    member_user_id: uuid.UUID = Field(
        description="The member's user_id, as list_team_members returns it."
    )


@tool(
    risk=Risk.HIGH, role=MemberRole.ADMIN, permission="members",
    title="Remove member {member_user_id}",
    examples=("remove Vic from the workspace", "Lee left the company, take away their access"),
)
async def remove_member(ctx: ToolContext, args: RemoveMemberArgs) -> MemberResult:
    """Remove a member's access to the workspace (the membership is deactivated; their records
    stay). Owners and you yourself cannot be removed here. Needs admin and members permission."""
    member, user = await _changeable_member(ctx, args.member_user_id)
    before = snapshot(member, MEMBER_FIELDS)
    member = await WorkspaceMemberRepository(ctx.session, ctx.scope).archive(member.id)
    await record_change(ctx, "remove", MEMBER_ENTITY, member.id, before=before,
                        after=snapshot(member, MEMBER_FIELDS))
    return MemberResult(member=member_out(member, user))
