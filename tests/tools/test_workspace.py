"""Workspace tools against the real database: overview, team, invitations, roles, removal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import tools.workspace  # registers the workspace tools
from store.models.admin import TaskStatus
from store.models.core import MemberRole
from store.models.crm import ContactStatus, CustomerStatus, DealStage, ProjectStatus
from store.models.neptune import OutboundMessage, OutboundStatus
from store.repositories.admin import TaskRepository
from store.repositories.core import WorkspaceMemberRepository
from store.repositories.crm import (
    ContactRepository,
    CustomerRepository,
    DealRepository,
    ProjectRepository,
)
from store.repositories.neptune import OutboundMessageRepository
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, WorkspaceFixture
from tests.tools.helpers import CallTool, Sessions, add_member, audits
from tools.errors import RetryableToolError, ToolFailed


async def memberships(sessions: Sessions, ws: WorkspaceFixture) -> dict[uuid.UUID, Any]:
    async with scoped_session(sessions, ws.scope) as s:
        rows = (await WorkspaceMemberRepository(s, ws.scope).list(limit=200)).items
    return {m.user_id: (m.role, m.is_active, m.invited_by) for m in rows}


async def outbox(sessions: Sessions, ws: WorkspaceFixture) -> list[OutboundMessage]:
    async with scoped_session(sessions, ws.scope) as s:
        return (await OutboundMessageRepository(s, ws.scope).list(limit=50)).items


# -- overview and team -----------------------------------------------------------------------


async def seed_overview(sessions: Sessions, ws: WorkspaceFixture) -> None:
    today = tools.workspace.today()
    async with scoped_session(sessions, ws.scope) as s:
        await ContactRepository(s, ws.scope).create_many([
            {"first_name": "Ada", "status": ContactStatus.LEAD},
            {"first_name": "Bob", "status": ContactStatus.CUSTOMER},
        ])
        await DealRepository(s, ws.scope).create_many([
            {"name": "Open A", "value_cents": 100_000, "stage": DealStage.PROPOSAL},
            {"name": "Open B", "value_cents": 50_050, "stage": DealStage.DISCOVERY},
            {"name": "Won", "value_cents": 999_900, "stage": DealStage.CLOSED_WON},
            {"name": "Euro", "value_cents": 70_000, "currency": "EUR"},
        ])
        await CustomerRepository(s, ws.scope).create_many([
            {"name": "Acme"}, {"name": "Gone", "status": CustomerStatus.CHURNED}])
        await ProjectRepository(s, ws.scope).create_many([
            {"name": "Rollout", "status": ProjectStatus.IN_PROGRESS},
            {"name": "Old", "status": ProjectStatus.COMPLETED}])
        await TaskRepository(s, ws.scope).create_many([
            {"title": "late", "due_date": today - timedelta(days=2)},
            {"title": "soon", "due_date": today + timedelta(days=2),
             "status": TaskStatus.IN_PROGRESS},
            {"title": "old done", "due_date": today - timedelta(days=9),
             "status": TaskStatus.DONE, "completed_at": datetime.now(UTC)},
        ])


async def test_overview_counts_this_workspace_only(
    call_tool: CallTool, make_workspace: MakeWorkspace, sessions: Sessions
) -> None:
    ws, other = await make_workspace(name="Acme Robotics"), await make_workspace()
    await seed_overview(sessions, ws)
    await seed_overview(sessions, other)
    await add_member(sessions, ws, "Vic", MemberRole.VIEWER)
    await add_member(sessions, ws, "Gone", MemberRole.MEMBER, active=False)
    result = await call_tool(ws, "get_workspace_overview", {}, role=MemberRole.VIEWER)
    assert (result.name, result.currency, result.your_role) == (
        "Acme Robotics", "USD", MemberRole.VIEWER)
    assert result.members_by_role == {"owner": 1, "admin": 0, "member": 0, "viewer": 1}
    assert (result.contacts, result.leads) == (2, 1)
    assert (result.open_deals, str(result.open_pipeline_value)) == (2, "1500.50")
    assert (result.active_customers, result.active_projects) == (1, 1)
    assert (result.open_tasks, result.overdue_tasks) == (2, 1)


async def test_overview_refuses_arguments(
    call_tool: CallTool, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    with pytest.raises(RetryableToolError, match="workspace_id"):
        await call_tool(ws, "get_workspace_overview", {"workspace_id": str(uuid.uuid4())})


async def test_list_team_members_filters_and_limits(
    call_tool: CallTool, make_workspace: MakeWorkspace, sessions: Sessions
) -> None:
    ws = await make_workspace()
    lee = await add_member(sessions, ws, "Lee", MemberRole.MEMBER)
    await add_member(sessions, ws, "Sam", MemberRole.ADMIN)
    await add_member(sessions, ws, "Leona", MemberRole.VIEWER, active=False)
    everyone = await call_tool(ws, "list_team_members", {}, role=MemberRole.VIEWER)
    assert everyone.total == 3
    assert [m.role for m in everyone.members] == [
        MemberRole.OWNER, MemberRole.ADMIN, MemberRole.MEMBER]
    found = await call_tool(ws, "list_team_members", {"query": "lee"})
    assert [(m.user_id, m.name) for m in found.members] == [(lee, "Lee Tester")]
    admins = await call_tool(ws, "list_team_members", {"role": "admin"})
    assert [m.name for m in admins.members] == ["Sam Tester"]
    one = await call_tool(ws, "list_team_members", {"limit": 1})
    assert (len(one.members), one.total) == (1, 3)
    for bad in ({"limit": 0}, {"role": "boss"}, {"query": "x" * 201}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "list_team_members", bad)


# -- invite_member ---------------------------------------------------------------------------


async def test_invite_creates_membership_email_and_audit(
    call_tool: CallTool, make_workspace: MakeWorkspace, sessions: Sessions
) -> None:
    ws = await make_workspace(name="Acme Robotics")
    result = await call_tool(ws, "invite_member", {
        "email": "New.Person@Example.com", "role": "viewer", "first_name": "Nia",
        "message": "Welcome aboard!"}, role=MemberRole.ADMIN)
    assert (result.member.email, result.member.role, result.rejoined) == (
        "new.person@example.com", MemberRole.VIEWER, False)
    assert (await memberships(sessions, ws))[result.member.user_id] == (
        MemberRole.VIEWER, True, ws.user_id)
    [mail] = await outbox(sessions, ws)
    assert (mail.id, mail.recipient, mail.status) == (
        result.invitation_id, "new.person@example.com", OutboundStatus.QUEUED)
    assert "Acme Robotics" in (mail.subject or "") and "Welcome aboard!" in mail.body
    assert mail.related_id is not None
    [audit] = await audits(sessions, ws)
    assert (audit.action, audit.entity_type, audit.entity_id) == (
        "invite", "workspace_member", str(mail.related_id))
    assert audit.changes["role"] == {"before": None, "after": "viewer"}


async def test_invite_retried_with_same_key_happens_once(
    call_tool: CallTool, make_workspace: MakeWorkspace, sessions: Sessions
) -> None:
    ws = await make_workspace()
    args = {"email": "once@example.com"}
    first = await call_tool(ws, "invite_member", args, key="turn-1:call-1")
    again = await call_tool(ws, "invite_member", args, key="turn-1:call-1")
    assert again == first
    assert len(await outbox(sessions, ws)) == 1 and len(await audits(sessions, ws)) == 1
    with pytest.raises(ToolFailed, match="already a member"):
        await call_tool(ws, "invite_member", args, key="turn-2:call-1")


async def test_invite_links_an_existing_user_and_readmits_former_members(
    call_tool: CallTool, make_workspace: MakeWorkspace, sessions: Sessions
) -> None:
    ws, other = await make_workspace(), await make_workspace()
    known = await add_member(sessions, other, "Known", MemberRole.MEMBER,
                             email="known@example.com")
    gone = await add_member(sessions, ws, "Gone", MemberRole.ADMIN, active=False,
                            email="gone@example.com")
    linked = await call_tool(ws, "invite_member", {"email": "KNOWN@example.com",
                                                   "first_name": "Renamed"})
    assert (linked.member.user_id, linked.member.name) == (known, "Known Tester")
    back = await call_tool(ws, "invite_member", {"email": "gone@example.com"})
    assert (back.member.user_id, back.rejoined) == (gone, True)
    assert (await memberships(sessions, ws))[gone] == (MemberRole.MEMBER, True, ws.user_id)
    audit = (await audits(sessions, ws))[-1]
    assert audit.changes["is_active"] == {"before": False, "after": True}
    assert (await memberships(sessions, other))[known][0] == MemberRole.MEMBER


async def test_invite_refuses_bad_arguments_and_changes_nothing(
    call_tool: CallTool, make_workspace: MakeWorkspace, sessions: Sessions
) -> None:
    ws = await make_workspace()
    for bad in ({"email": "not-an-email"}, {"email": "a@b.co", "role": "owner"},
                {"email": "a@b.co", "role": "boss"}, {}, {"email": "a@b.co", "user_id": "x"}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "invite_member", bad)
    assert len(await memberships(sessions, ws)) == 1
    assert await outbox(sessions, ws) == [] and await audits(sessions, ws) == []


@pytest.mark.parametrize(("role", "flags"), [
    (MemberRole.VIEWER, None), (MemberRole.MEMBER, None), (MemberRole.MEMBER, {"members": True}),
    (MemberRole.ADMIN, {"members": False}),
])
async def test_invite_needs_admin_with_members_permission(
    call_tool: CallTool, make_workspace: MakeWorkspace, sessions: Sessions,
    role: MemberRole, flags: dict[str, bool] | None,
) -> None:
    ws = await make_workspace()
    with pytest.raises(ToolFailed):
        await call_tool(ws, "invite_member", {"email": "x@example.com"}, role=role, flags=flags)
    assert await outbox(sessions, ws) == []


# -- change_member_role / remove_member --------------------------------------------------------


async def test_change_member_role_and_remove_member(
    call_tool: CallTool, make_workspace: MakeWorkspace, sessions: Sessions
) -> None:
    ws = await make_workspace()
    lee = await add_member(sessions, ws, "Lee", MemberRole.MEMBER)
    changed = await call_tool(ws, "change_member_role",
                              {"member_user_id": str(lee), "role": "admin"},
                              role=MemberRole.ADMIN)
    assert changed.member.role == MemberRole.ADMIN
    assert (await memberships(sessions, ws))[lee][0] == MemberRole.ADMIN
    removed = await call_tool(ws, "remove_member", {"member_user_id": str(lee)})
    assert removed.member.user_id == lee
    assert (await memberships(sessions, ws))[lee][1] is False
    team = await call_tool(ws, "list_team_members", {})
    assert lee not in {m.user_id for m in team.members}
    actions = [(a.action, a.changes) for a in await audits(sessions, ws)]
    assert actions == [
        ("role_change", {"role": {"before": "member", "after": "admin"}}),
        ("remove", {"is_active": {"before": True, "after": False}}),
    ]
    with pytest.raises(RetryableToolError, match="team member"):
        await call_tool(ws, "change_member_role", {"member_user_id": str(lee), "role": "viewer"})


async def test_member_tools_refuse_owners_self_strangers_and_non_admins(
    call_tool: CallTool, make_workspace: MakeWorkspace, sessions: Sessions
) -> None:
    ws, other = await make_workspace(), await make_workspace()
    owner2 = await add_member(sessions, ws, "Olga", MemberRole.OWNER)
    lee = await add_member(sessions, ws, "Lee", MemberRole.MEMBER)
    stranger = await add_member(sessions, other, "Stan", MemberRole.MEMBER)
    with pytest.raises(ToolFailed, match="owner"):
        await call_tool(ws, "remove_member", {"member_user_id": str(owner2)})
    with pytest.raises(ToolFailed, match="your own"):
        await call_tool(ws, "change_member_role",
                        {"member_user_id": str(ws.user_id), "role": "viewer"})
    for name, extra in (("remove_member", {}), ("change_member_role", {"role": "admin"})):
        with pytest.raises(RetryableToolError, match="no team member"):
            await call_tool(ws, name, {"member_user_id": str(stranger), **extra})
        with pytest.raises(ToolFailed, match="admin"):
            await call_tool(ws, name, {"member_user_id": str(lee), **extra},
                            role=MemberRole.MEMBER)
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "change_member_role", {"member_user_id": str(lee), "role": "owner"})
    assert (await memberships(sessions, ws))[lee] == (MemberRole.MEMBER, True, None)
    assert (await memberships(sessions, other))[stranger] == (MemberRole.MEMBER, True, None)
    assert await audits(sessions, ws) == [] and await audits(sessions, other) == []
