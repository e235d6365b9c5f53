"""CRM repositories against the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.errors import InvalidArgument, NotFound
from store.models.crm import ContactStatus, DealStage, InteractionType, ProjectStatus
from store.repositories.crm import (
    ContactRepository,
    CustomerRepository,
    DealRepository,
    InteractionRepository,
    ProjectRepository,
    ProspectRepository,
)
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace

Sessions = async_sessionmaker[AsyncSession]


async def test_contact_crud_search_and_paging(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        repo = ContactRepository(s, ws.scope)
        ada = await repo.create(
            first_name="Ada",
            last_name="Lovelace",
            email="ada@analytical.io",
            company="Analytical Engines",
            phone="+44 20 7946 0001",
        )
        for i in range(5):
            await repo.create(first_name=f"Bob{i}", last_name="Builder", email=f"bob{i}@x.io")
        assert (await repo.get(ada.id)).email == "ada@analytical.io"
        found = await repo.search("ada lovelace")
        assert [c.id for c in found.items] == [ada.id]
        assert (await repo.by_email("ADA@analytical.io")) is not None
        assert (await repo.by_phone("442079460001")) is not None
        first = await repo.list(limit=4)
        assert len(first.items) == 4 and first.next_cursor
        second = await repo.list(limit=4, cursor=first.next_cursor)
        assert len(second.items) == 2 and second.next_cursor is None
        assert not {c.id for c in first.items} & {c.id for c in second.items}
        updated = await repo.update(ada.id, status=ContactStatus.ACTIVE, tags=["vip"])
        assert updated.status == ContactStatus.ACTIVE
        assert [c.id for c in (await repo.search(tag="vip")).items] == [ada.id]
        archived = await repo.archive(ada.id)
        assert archived.status == ContactStatus.INACTIVE
        await repo.delete(ada.id)
        with pytest.raises(NotFound):
            await repo.get(ada.id)
        assert await repo.count() == 5


async def test_repository_rejects_bad_fields_and_cursor(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        repo = ContactRepository(s, ws.scope)
        with pytest.raises(InvalidArgument, match="workspace_id"):
            await repo.create(workspace_id=ws.workspace_id, first_name="X")
        with pytest.raises(InvalidArgument, match="no field"):
            await repo.list(nonsense=1)
        with pytest.raises(InvalidArgument, match="cursor"):
            await repo.list(cursor="not-a-cursor")
        with pytest.raises(InvalidArgument, match="sort"):
            await repo.list(sort="email")


async def test_deal_pipeline_closing_and_stage_moves(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    today = datetime.now(UTC).date()
    async with scoped_session(sessions, ws.scope) as s:
        deals = DealRepository(s, ws.scope)
        contact = await ContactRepository(s, ws.scope).create(first_name="Cy")
        soon = await deals.create(
            name="Soon",
            value_cents=1_200_000,
            probability=50,
            stage=DealStage.PROPOSAL,
            contact_id=contact.id,
            expected_close_date=today + timedelta(days=5),
        )
        await deals.create(
            name="Later",
            value_cents=500_000,
            probability=10,
            expected_close_date=today + timedelta(days=60),
        )
        late = await deals.create(
            name="Late",
            value_cents=100_000,
            stage=DealStage.NEGOTIATION,
            expected_close_date=today - timedelta(days=3),
        )
        summary = {row.stage: row for row in await deals.pipeline_summary()}
        assert list(summary) == list(DealStage)
        assert summary[DealStage.PROPOSAL].value_cents == 1_200_000
        assert summary[DealStage.PROPOSAL].weighted_cents == 600_000
        assert summary[DealStage.CLOSED_WON].count == 0
        assert [d.id for d in await deals.closing_within(30)] == [soon.id]
        assert [d.id for d in await deals.past_expected_close()] == [late.id]
        won = await deals.update(soon.id, stage=DealStage.CLOSED_WON)
        assert won.actual_close_date == today and won.probability == 100
        assert [d.id for d in (await deals.search(contact_id=contact.id)).items] == [soon.id]
        assert (await deals.search(open_only=True)).items.__len__() == 2
        stalled = await deals.stalled(stages=[DealStage.NEGOTIATION], idle_days=-1)
        assert [d.id for d in stalled] == [late.id]


async def test_deal_refuses_contact_of_another_workspace(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    a, b = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, b.scope) as s:
        foreign = await ContactRepository(s, b.scope).create(first_name="Other")
    with pytest.raises(NotFound, match="contact"):
        async with scoped_session(sessions, a.scope) as s:
            await DealRepository(s, a.scope).create(name="Sneaky", contact_id=foreign.id)


async def test_interactions_customers_projects_prospects(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        contact = await ContactRepository(s, ws.scope).create(first_name="Di")
        interactions = InteractionRepository(s, ws.scope)
        for kind in (InteractionType.CALL, InteractionType.EMAIL):
            await interactions.create(contact_id=contact.id, type=kind, subject=kind.value)
        timeline = await interactions.timeline(contact.id)
        assert {i.type for i in timeline.items} == {InteractionType.CALL, InteractionType.EMAIL}
        customers = CustomerRepository(s, ws.scope)
        acme = await customers.create(name="Acme", email="ap@acme.io")
        assert [c.id for c in (await customers.search("acm")).items] == [acme.id]
        projects = ProjectRepository(s, ws.scope)
        project = await projects.create(name="Rollout", customer_id=acme.id)
        assert [p.id for p in await projects.for_customer(acme.id)] == [project.id]
        assert (await projects.archive(project.id)).status == ProjectStatus.CANCELLED
        prospects = ProspectRepository(s, ws.scope)
        p = await prospects.create(name="Lead", contact_id=contact.id)
        assert [x.id for x in await prospects.by_stage(p.stage)] == [p.id]


async def test_bad_enum_value_is_invalid_argument(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    with pytest.raises(InvalidArgument, match="invalid deal"):
        async with scoped_session(sessions, ws.scope) as s:
            await DealRepository(s, ws.scope).create(name="X", stage="not-a-stage")
    with pytest.raises(InvalidArgument, match="invalid deal"):
        async with scoped_session(sessions, ws.scope) as s:
            await DealRepository(s, ws.scope).create_many([{"name": "X", "stage": "nope"}])


async def test_a_refused_write_leaves_the_transaction_usable(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        contacts = ContactRepository(s, ws.scope)
        kept = await contacts.create(first_name="Kept")
        with pytest.raises(NotFound, match="contact"):
            await DealRepository(s, ws.scope).create(name="Orphan", contact_id=kept.workspace_id)
        with pytest.raises(InvalidArgument):
            await DealRepository(s, ws.scope).create(name="Negative", value_cents=-1)
        await contacts.update(kept.id, last_name="Still here")
    async with scoped_session(sessions, ws.scope) as s:
        assert (await ContactRepository(s, ws.scope).get(kept.id)).last_name == "Still here"
        assert await DealRepository(s, ws.scope).count() == 0


async def test_members_and_roles(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    from store.models.core import MemberRole
    from store.repositories.core import WorkspaceMemberRepository

    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        members = WorkspaceMemberRepository(s, ws.scope)
        mine = await members.for_user(ws.user_id)
        assert mine is not None and mine.role == MemberRole.OWNER
        assert [user.id for _, user in await members.active()] == [ws.user_id]
        assert (await members.workspace()).slug == ws.slug
        await members.archive(mine.id)
        assert await members.for_user(ws.user_id) is None
