"""Channel deliveries and user links (see `store.models.channels`).

Every state change of a delivery is one conditional statement, so two replicas receiving the
same retry, or two workers seeing the same due row, agree on who acts: `record` inserts or finds
(reviving a failed row), `claim` moves a due row to `running` for one claimant only.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from store.models.base import JSON
from store.models.channels import (
    ChannelDelivery,
    ChannelUserLink,
    DeliveryChannel,
    DeliveryStatus,
    LinkProvider,
)
from store.repositories.ai import ScopedRepository, execute_translated
from store.repositories.base import utcnow

_P, _R = DeliveryStatus.PENDING, DeliveryStatus.RUNNING
_F, _D = DeliveryStatus.FAILED, DeliveryStatus.DONE


class DeliveryRepository(ScopedRepository[ChannelDelivery]):
    model = ChannelDelivery

    async def record(
        self, channel: DeliveryChannel, key: str, payload: JSON | None = None,
    ) -> tuple[ChannelDelivery, bool]:
        """The delivery for `key`, and whether there is work to do for this arrival.

        New: inserted pending (True). Seen and waiting (pending, or failed for good): made due
        at once, a failed one with fresh attempts (True) — a provider's retry never gets
        dropped. Seen and running or done: untouched (False) — it is never processed twice.
        """
        values = {"workspace_id": self.scope.workspace_id, "id": uuid.uuid4(),
                  "channel": channel, "key": key, "payload": payload or {}}
        stmt = pg_insert(ChannelDelivery).values(values).on_conflict_do_nothing(
            index_elements=["workspace_id", "channel", "key"]).returning(ChannelDelivery.id)
        inserted = (await execute_translated(self, stmt, values)).scalar_one_or_none()
        row = await self.by_key(channel, key)
        assert row is not None  # inserted now, or by the arrival we conflicted with
        if inserted is not None:
            return row, True
        revived = await self._transition(row.id, [ChannelDelivery.status.in_([_P, _F])],
                                         status=_P, retry_at=None, error=None,
                                         attempts=sa.case((ChannelDelivery.status == _F, 0),
                                                          else_=ChannelDelivery.attempts))
        return (revived or row), revived is not None

    async def by_key(self, channel: DeliveryChannel, key: str) -> ChannelDelivery | None:
        return await self._first(ChannelDelivery.channel == channel, ChannelDelivery.key == key)

    async def claim(self, delivery_id: uuid.UUID, *, lease: timedelta,
                    now: datetime | None = None) -> ChannelDelivery | None:
        """Take a due delivery (pending and past its retry time, or running past its lease);
        None when it is not due or someone else took it."""
        at = now or utcnow()
        due = sa.or_(
            sa.and_(ChannelDelivery.status == _P,
                    sa.or_(ChannelDelivery.retry_at.is_(None), ChannelDelivery.retry_at <= at)),
            sa.and_(ChannelDelivery.status == _R, ChannelDelivery.lease_until < sa.func.now()),
        )
        return await self._transition(delivery_id, [due], status=_R, lease_until=at + lease,
                                      attempts=ChannelDelivery.attempts + 1)

    async def finish(self, delivery_id: uuid.UUID, result: JSON | None = None) -> None:
        await self._transition(delivery_id, [], status=_D, lease_until=None, error=None,
                               **({"result": result} if result is not None else {}))

    async def fail(self, delivery_id: uuid.UUID, error: str, *, retry_in: timedelta | None,
                   now: datetime | None = None) -> None:
        """Back to pending, due again after `retry_in`; or failed for good (`retry_in` None)."""
        if retry_in is None:
            await self._transition(delivery_id, [], status=_F, lease_until=None, error=error)
            return
        await self._transition(delivery_id, [], status=_P, lease_until=None, error=error,
                               retry_at=(now or utcnow()) + retry_in)

    async def save_result(self, delivery_id: uuid.UUID, result: JSON) -> None:
        """Keep progress (what was already answered) without changing the status."""
        await self._transition(delivery_id, [], result=result)

    async def _transition(self, delivery_id: uuid.UUID, where: list[sa.ColumnElement[bool]],
                          **values: Any) -> ChannelDelivery | None:
        stmt = (
            sa.update(ChannelDelivery)
            .where(ChannelDelivery.workspace_id == self.scope.workspace_id,
                   ChannelDelivery.id == delivery_id, *where)
            .values(**values, updated_at=sa.func.now())
            .returning(ChannelDelivery)
        )
        result = await execute_translated(self, stmt, values)
        row: ChannelDelivery | None = result.scalar_one_or_none()
        return row


class UserLinkRepository(ScopedRepository[ChannelUserLink]):
    model = ChannelUserLink

    async def user_for(self, provider: LinkProvider, external_id: str) -> uuid.UUID | None:
        row = await self._first(ChannelUserLink.provider == provider,
                                ChannelUserLink.external_id == external_id)
        return row.user_id if row else None

    async def link(self, provider: LinkProvider, external_id: str, user_id: uuid.UUID,
                   *, created_by: uuid.UUID | None = None) -> ChannelUserLink:
        """Point `external_id` at `user_id` (replacing an earlier link of the same id)."""
        values = {"workspace_id": self.scope.workspace_id, "id": uuid.uuid4(),
                  "provider": provider, "external_id": external_id, "user_id": user_id,
                  "created_by": created_by}
        stmt = pg_insert(ChannelUserLink).values(values).on_conflict_do_update(
            index_elements=["workspace_id", "provider", "external_id"],
            set_={"user_id": user_id, "created_by": created_by, "updated_at": sa.func.now()},
        ).returning(ChannelUserLink)
        row: ChannelUserLink = (await execute_translated(self, stmt, values)).scalar_one()
        return row

    async def all_links(self) -> list[ChannelUserLink]:
        return await self._all(order_by=[ChannelUserLink.provider, ChannelUserLink.external_id])

    async def unlink(self, provider: LinkProvider, external_id: str) -> bool:
        """Remove the link; False when there was none."""
        row = await self._first(ChannelUserLink.provider == provider,
                                ChannelUserLink.external_id == external_id)
        if row is None:
            return False
        await self.delete(row.id)
        return True
