"""CRM repositories: contacts, deals, interactions, prospects, customers, projects."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from store.models.crm import (
    Contact,
    ContactStatus,
    CrmInteraction,
    Customer,
    CustomerStatus,
    Deal,
    DealStage,
    Project,
    ProjectStatus,
    Prospect,
    ProspectStage,
)
from store.pagination import Page
from store.repositories.base import Repository, utcnow

OPEN_STAGES = [s for s in DealStage if s.is_open]


def ilike_any(text: str, *columns: Any) -> sa.ColumnElement[bool]:
    """Case-insensitive substring match on any of `columns` (LIKE wildcards escaped)."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return sa.or_(*(c.ilike(pattern, escape="\\") for c in columns))


class ContactRepository(Repository[Contact]):
    model = Contact
    sortable = frozenset({"created_at", "updated_at", "lead_score"})
    archive_values = {"status": ContactStatus.INACTIVE}

    async def search(
        self,
        text: str = "",
        *,
        status: ContactStatus | None = None,
        tag: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> Page[Contact]:
        """Contacts whose name, email, company or phone contains `text`."""
        where = []
        if text.strip():
            for word in text.split():
                where.append(
                    ilike_any(
                        word,
                        Contact.first_name,
                        Contact.last_name,
                        Contact.email,
                        Contact.company,
                        Contact.phone,
                    )
                )
        if status is not None:
            where.append(Contact.status == status)
        if tag is not None:
            where.append(Contact.tags.contains([tag]))
        return await self._page(*where, limit=limit, cursor=cursor)

    async def by_email(self, email: str) -> Contact | None:
        rows = await self._all(sa.func.lower(Contact.email) == email.lower(), limit=1)
        return rows[0] if rows else None

    async def by_phone(self, phone: str) -> Contact | None:
        digits = "".join(ch for ch in phone if ch.isdigit())
        if not digits:
            return None
        normalized = sa.func.regexp_replace(Contact.phone, "[^0-9]", "", "g")
        rows = await self._all(normalized == digits, limit=1)
        return rows[0] if rows else None

    async def touch(self, contact_id: uuid.UUID) -> None:
        await self.update(contact_id, last_contacted_at=utcnow())


@dataclass(frozen=True)
class StageSummary:
    stage: DealStage
    count: int
    value_cents: int
    weighted_cents: int


class DealRepository(Repository[Deal]):
    model = Deal
    sortable = frozenset({"created_at", "updated_at", "value_cents", "stage_changed_at"})

    async def search(
        self,
        text: str = "",
        *,
        stage: DealStage | None = None,
        open_only: bool = False,
        contact_id: uuid.UUID | None = None,
        owner_id: uuid.UUID | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> Page[Deal]:
        where: list[sa.ColumnElement[bool]] = []
        if text.strip():
            where.append(ilike_any(text.strip(), Deal.name, Deal.notes))
        if stage is not None:
            where.append(Deal.stage == stage)
        if open_only:
            where.append(Deal.stage.in_(OPEN_STAGES))
        if contact_id is not None:
            where.append(Deal.contact_id == contact_id)
        if owner_id is not None:
            where.append(Deal.owner_id == owner_id)
        return await self._page(*where, limit=limit, cursor=cursor)

    async def update(self, row_id: uuid.UUID, **values: Any) -> Deal:
        """Update a deal; moving stage stamps `stage_changed_at` and closes won/lost deals."""
        if "stage" in values:
            current = await self.get(row_id)
            stage = DealStage(values["stage"])
            if stage != current.stage:
                values.setdefault("stage_changed_at", utcnow())
                if not stage.is_open:
                    values.setdefault("actual_close_date", utcnow().date())
                    values.setdefault("probability", 100 if stage == DealStage.CLOSED_WON else 0)
        return await super().update(row_id, **values)

    async def pipeline_summary(self, currency: str | None = None) -> list[StageSummary]:
        """Count, total and probability-weighted value per stage, in pipeline order."""
        stmt = (
            sa.select(
                Deal.stage,
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(Deal.value_cents), 0),
                sa.func.coalesce(sa.func.sum(Deal.value_cents * Deal.probability / 100), 0),
            )
            .where(Deal.workspace_id == self.scope.workspace_id)
            .group_by(Deal.stage)
        )
        if currency is not None:
            stmt = stmt.where(Deal.currency == currency)
        found = {row[0]: row for row in (await self.session.execute(stmt)).all()}
        return [
            StageSummary(stage, int(found[stage][1]), int(found[stage][2]), int(found[stage][3]))
            if stage in found
            else StageSummary(stage, 0, 0, 0)
            for stage in DealStage
        ]

    async def closing_within(self, days: int, *, today: date | None = None) -> list[Deal]:
        """Open deals expected to close between today and `days` from now, soonest first."""
        start = today or utcnow().date()
        return await self._all(
            Deal.stage.in_(OPEN_STAGES),
            Deal.expected_close_date.between(start, start + timedelta(days=days)),
            order_by=[Deal.expected_close_date, Deal.id],
        )

    async def past_expected_close(self, *, today: date | None = None) -> list[Deal]:
        start = today or utcnow().date()
        return await self._all(
            Deal.stage.in_(OPEN_STAGES),
            Deal.expected_close_date < start,
            order_by=[Deal.expected_close_date, Deal.id],
        )

    async def stalled(self, *, stages: list[DealStage], idle_days: int) -> list[Deal]:
        """Deals sitting in one of `stages` with no stage change for `idle_days`."""
        cutoff = utcnow() - timedelta(days=idle_days)
        return await self._all(
            Deal.stage.in_(stages),
            Deal.stage_changed_at < cutoff,
            order_by=[Deal.stage_changed_at, Deal.id],
        )


class InteractionRepository(Repository[CrmInteraction]):
    model = CrmInteraction

    async def timeline(
        self, contact_id: uuid.UUID, *, limit: int = 20, cursor: str | None = None
    ) -> Page[CrmInteraction]:
        return await self._page(CrmInteraction.contact_id == contact_id, limit=limit, cursor=cursor)


class ProspectRepository(Repository[Prospect]):
    model = Prospect
    archive_values = {"stage": ProspectStage.LOST}

    async def by_stage(self, stage: ProspectStage) -> list[Prospect]:
        return await self._all(Prospect.stage == stage, order_by=[Prospect.created_at])


class CustomerRepository(Repository[Customer]):
    model = Customer
    sortable = frozenset({"created_at", "updated_at", "name", "lifetime_value_cents"})
    archive_values = {"status": CustomerStatus.INACTIVE}

    async def search(
        self, text: str = "", *, limit: int = 20, cursor: str | None = None
    ) -> Page[Customer]:
        where = (
            [ilike_any(text.strip(), Customer.name, Customer.email, Customer.company)]
            if text.strip()
            else []
        )
        return await self._page(*where, limit=limit, cursor=cursor, sort="name", descending=False)


class ProjectRepository(Repository[Project]):
    model = Project
    archive_values = {"status": ProjectStatus.CANCELLED}

    async def for_customer(self, customer_id: uuid.UUID) -> list[Project]:
        return await self._all(Project.customer_id == customer_id, order_by=[Project.created_at])
