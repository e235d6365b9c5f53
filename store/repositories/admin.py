"""Admin / system repositories: feedback, to-do HQ (sprints, epics, tasks), webhooks and their
deliveries, the audit log, integrations with their OAuth tokens, and analytics events.

Rules kept here rather than in callers: a task's `completed_at` follows its status; a webhook's
success/failure counters move with every delivery attempt in the same transaction; the audit
log is append-only; OAuth tokens are accepted only as `store.crypto` envelopes.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert

from store.crypto import key_id_of
from store.errors import CryptoError, InvalidArgument
from store.models.admin import (
    AnalyticsEvent,
    AuditLog,
    FeedbackStatus,
    FeedbackType,
    Integration,
    IntegrationProvider,
    IntegrationStatus,
    OAuthToken,
    PlatformFeedback,
    SprintStatus,
    TaskPriority,
    TaskStatus,
    TodoHqEpic,
    TodoHqSprint,
    TodoHqTask,
    Webhook,
    WebhookDelivery,
)
from store.pagination import Page
from store.repositories.base import Repository, utcnow
from store.repositories.content import AtomicUpdates

# -- feedback ------------------------------------------------------------------------------------


class FeedbackRepository(Repository[PlatformFeedback]):
    model = PlatformFeedback
    archive_values = {"status": FeedbackStatus.CLOSED}

    async def by_status(
        self, status: FeedbackStatus | None = None, *, type: FeedbackType | None = None,
        limit: int = 50, cursor: str | None = None,
    ) -> Page[PlatformFeedback]:
        """Feedback filtered by status and/or type, newest first."""
        where = []
        if status is not None:
            where.append(PlatformFeedback.status == status)
        if type is not None:
            where.append(PlatformFeedback.type == type)
        return await self._page(*where, limit=limit, cursor=cursor)

    async def counts_by_status(self) -> dict[FeedbackStatus, int]:
        stmt = (
            sa.select(PlatformFeedback.status, sa.func.count())
            .where(PlatformFeedback.workspace_id == self.scope.workspace_id)
            .group_by(PlatformFeedback.status)
        )
        found = {row[0]: int(row[1]) for row in (await self.session.execute(stmt)).all()}
        return {status: found.get(status, 0) for status in FeedbackStatus}


# -- to-do HQ ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskProgress:
    """Task counts by status; `percent_done` ignores cancelled tasks."""

    total: int
    todo: int
    in_progress: int
    done: int
    cancelled: int

    @property
    def percent_done(self) -> int:
        counted = self.total - self.cancelled
        return round(100 * self.done / counted) if counted else 0

    @classmethod
    def from_counts(cls, counts: dict[TaskStatus, int]) -> TaskProgress:
        return cls(
            total=sum(counts.values()), todo=counts.get(TaskStatus.TODO, 0),
            in_progress=counts.get(TaskStatus.IN_PROGRESS, 0),
            done=counts.get(TaskStatus.DONE, 0), cancelled=counts.get(TaskStatus.CANCELLED, 0),
        )


PRIORITY_RANK = {TaskPriority.LOW: 1, TaskPriority.MEDIUM: 2, TaskPriority.HIGH: 3,
                 TaskPriority.URGENT: 4}


def task_priority_rank() -> sa.ColumnElement[int]:
    return sa.case({p.value: r for p, r in PRIORITY_RANK.items()}, value=TodoHqTask.priority,
                   else_=0)


class TaskRepository(Repository[TodoHqTask]):
    model = TodoHqTask
    archive_values = {"status": TaskStatus.CANCELLED}

    async def create(self, **values: Any) -> TodoHqTask:
        if values.get("status") == TaskStatus.DONE:
            values.setdefault("completed_at", utcnow())
        return await super().create(**values)

    async def update(self, row_id: uuid.UUID, **values: Any) -> TodoHqTask:
        """Update a task; a status change stamps `completed_at` on done and clears it otherwise."""
        if "status" in values:
            status = TaskStatus(values["status"])
            if status != TaskStatus.DONE:
                values["completed_at"] = None
            elif (await self.get(row_id)).status != TaskStatus.DONE:
                values.setdefault("completed_at", utcnow())
        return await super().update(row_id, **values)

    async def move(self, task_id: uuid.UUID, status: TaskStatus) -> TodoHqTask:
        return await self.update(task_id, status=status)

    async def overdue(self, today: date) -> list[TodoHqTask]:
        """Open tasks due before `today`, most overdue first, then most urgent."""
        return await self._all(
            TodoHqTask.status.in_([s for s in TaskStatus if s.is_open]),
            TodoHqTask.due_date < today,
            order_by=[TodoHqTask.due_date, task_priority_rank().desc(), TodoHqTask.id],
        )

    async def by_sprint(
        self, sprint_id: uuid.UUID, *, status: TaskStatus | None = None
    ) -> list[TodoHqTask]:
        """The sprint's tasks on the board order (sort_order), then most urgent."""
        where = [TodoHqTask.sprint_id == sprint_id]
        if status is not None:
            where.append(TodoHqTask.status == status)
        return await self._all(
            *where, order_by=[TodoHqTask.sort_order, task_priority_rank().desc(), TodoHqTask.id]
        )

    async def by_epic(self, epic_id: uuid.UUID) -> list[TodoHqTask]:
        return await self._all(
            TodoHqTask.epic_id == epic_id, order_by=[TodoHqTask.sort_order, TodoHqTask.id]
        )

    async def for_assignee(self, user_id: uuid.UUID, *, open_only: bool = True) -> list[TodoHqTask]:
        where = [TodoHqTask.assignee_id == user_id]
        if open_only:
            where.append(TodoHqTask.status.in_([s for s in TaskStatus if s.is_open]))
        return await self._all(
            *where, order_by=[TodoHqTask.due_date.asc().nulls_last(), TodoHqTask.id]
        )

    async def progress(self, *where: sa.ColumnElement[bool]) -> TaskProgress:
        """Counts by status of the tasks matching `where` (within this workspace)."""
        stmt = (
            sa.select(TodoHqTask.status, sa.func.count())
            .where(TodoHqTask.workspace_id == self.scope.workspace_id, *where)
            .group_by(TodoHqTask.status)
        )
        rows = (await self.session.execute(stmt)).all()
        return TaskProgress.from_counts({TaskStatus(r[0]): int(r[1]) for r in rows})


class SprintRepository(Repository[TodoHqSprint]):
    model = TodoHqSprint
    sortable = frozenset({"created_at", "updated_at", "sort_order"})
    archive_values = {"status": SprintStatus.CANCELLED}

    async def current(self) -> list[TodoHqSprint]:
        """Sprints in progress, earliest start first."""
        return await self._all(
            TodoHqSprint.status == SprintStatus.IN_PROGRESS,
            order_by=[TodoHqSprint.start_date.asc().nulls_last(), TodoHqSprint.id],
        )

    async def progress(self, sprint_id: uuid.UUID) -> TaskProgress:
        await self.get(sprint_id)
        tasks = TaskRepository(self.session, self.scope)
        return await tasks.progress(TodoHqTask.sprint_id == sprint_id)


@dataclass(frozen=True)
class EpicProgress:
    epic: TodoHqEpic
    tasks: TaskProgress

    @property
    def on_target(self) -> bool:
        return self.tasks.percent_done >= self.epic.target_completion_percent


class EpicRepository(Repository[TodoHqEpic]):
    model = TodoHqEpic
    sortable = frozenset({"created_at", "updated_at", "sort_order"})

    async def progress(self, epic_id: uuid.UUID) -> EpicProgress:
        epic = await self.get(epic_id)
        tasks = TaskRepository(self.session, self.scope)
        return EpicProgress(epic, await tasks.progress(TodoHqTask.epic_id == epic_id))


# -- webhooks ------------------------------------------------------------------------------------

ALL_EVENTS = "*"
RESPONSE_BODY_LIMIT = 4000


class WebhookRepository(AtomicUpdates[Webhook]):
    model = Webhook
    archive_values = {"is_active": False}

    async def create(self, **values: Any) -> Webhook:
        """Create a webhook; without a `secret` one is generated (256 random bits, hex)."""
        values.setdefault("secret", secrets.token_hex(32))
        return await super().create(**values)

    async def active_for(self, event: str) -> list[Webhook]:
        """Active webhooks subscribed to `event` (or to every event with "*")."""
        return await self._all(
            Webhook.is_active.is_(True),
            sa.or_(Webhook.events.contains([event]), Webhook.events.contains([ALL_EVENTS])),
            order_by=[Webhook.created_at, Webhook.id],
        )

    async def count_attempt(
        self, webhook_id: uuid.UUID, *, success: bool, at: datetime
    ) -> Webhook:
        counter = Webhook.success_count if success else Webhook.failure_count
        return await self._update_in_place(
            webhook_id, **{counter.key: counter + 1}, last_triggered_at=at
        )

    async def record_delivery(
        self, webhook_id: uuid.UUID, event: str, payload: dict[str, Any], *, success: bool,
        response_status: int | None = None, response_body: str | None = None,
        error: str | None = None, now: datetime | None = None,
    ) -> WebhookDelivery:
        """Store the first attempt of a delivery and count it on the webhook."""
        at = now or utcnow()
        delivery = await WebhookDeliveryRepository(self.session, self.scope).create(
            webhook_id=webhook_id, event=event, payload=payload, success=success,
            response_status=response_status, response_body=_clip(response_body), error=error,
            attempts=1, last_attempt_at=at,
        )
        await self.count_attempt(webhook_id, success=success, at=at)
        return delivery


def _clip(body: str | None) -> str | None:
    return body[:RESPONSE_BODY_LIMIT] if body is not None else None


class WebhookDeliveryRepository(AtomicUpdates[WebhookDelivery]):
    model = WebhookDelivery

    async def for_webhook(
        self, webhook_id: uuid.UUID, *, limit: int = 20, cursor: str | None = None
    ) -> Page[WebhookDelivery]:
        return await self._page(
            WebhookDelivery.webhook_id == webhook_id, limit=limit, cursor=cursor
        )

    async def retryable(self, *, max_attempts: int) -> list[WebhookDelivery]:
        """Failed deliveries with attempts left, oldest attempt first."""
        return await self._all(
            WebhookDelivery.success.is_(False), WebhookDelivery.attempts < max_attempts,
            order_by=[WebhookDelivery.last_attempt_at.asc().nulls_first(), WebhookDelivery.id],
        )

    async def record_retry(
        self, delivery_id: uuid.UUID, *, success: bool, response_status: int | None = None,
        response_body: str | None = None, error: str | None = None, now: datetime | None = None,
    ) -> WebhookDelivery:
        """Another attempt of an existing delivery; counted on the webhook like the first."""
        at = now or utcnow()
        delivery = await self._update_in_place(
            delivery_id, attempts=WebhookDelivery.attempts + 1, success=success,
            response_status=response_status, response_body=_clip(response_body), error=error,
            last_attempt_at=at,
        )
        await WebhookRepository(self.session, self.scope).count_attempt(
            delivery.webhook_id, success=success, at=at
        )
        return delivery


# -- audit log -----------------------------------------------------------------------------------


class AuditLogRepository(Repository[AuditLog]):
    """Append-only: rows are written once and never changed or removed by the service."""

    model = AuditLog

    async def append(
        self, action: str, entity_type: str, entity_id: uuid.UUID | str | None = None, *,
        user_id: uuid.UUID | None = None, changes: dict[str, Any] | None = None,
        ip_address: str | None = None, user_agent: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> AuditLog:
        return await self.create(
            action=action, entity_type=entity_type,
            entity_id=str(entity_id) if entity_id is not None else None,
            user_id=user_id, changes=changes or {}, ip_address=ip_address,
            user_agent=user_agent, meta=meta or {},
        )

    async def for_entity(
        self, entity_type: str, entity_id: uuid.UUID | str, *, limit: int = 50,
        cursor: str | None = None,
    ) -> Page[AuditLog]:
        """The entity's history, newest first."""
        return await self._page(
            AuditLog.entity_type == entity_type, AuditLog.entity_id == str(entity_id),
            limit=limit, cursor=cursor,
        )

    async def by_user(
        self, user_id: uuid.UUID, *, limit: int = 50, cursor: str | None = None
    ) -> Page[AuditLog]:
        return await self._page(AuditLog.user_id == user_id, limit=limit, cursor=cursor)

    async def update(self, row_id: uuid.UUID, **values: Any) -> AuditLog:
        await self.get(row_id)  # another workspace's id is NotFound, like a missing one
        raise InvalidArgument("the audit log is append-only")

    async def delete(self, row_id: uuid.UUID) -> None:
        await self.get(row_id)
        raise InvalidArgument("the audit log is append-only")


# -- integrations --------------------------------------------------------------------------------


class IntegrationRepository(AtomicUpdates[Integration]):
    model = Integration
    archive_values = {"status": IntegrationStatus.INACTIVE}

    async def by_provider(self, provider: IntegrationProvider) -> list[Integration]:
        return await self._all(
            Integration.provider == provider, order_by=[Integration.created_at, Integration.id]
        )

    async def find_account(
        self, provider: IntegrationProvider, account_id: str
    ) -> Integration | None:
        """The integration for the provider's account (e.g. a Slack team id) in this workspace."""
        rows = await self._all(
            Integration.provider == provider, Integration.account_id == account_id, limit=1
        )
        return rows[0] if rows else None

    async def mark_synced(
        self, integration_id: uuid.UUID, *, now: datetime | None = None
    ) -> Integration:
        return await self.update(
            integration_id, status=IntegrationStatus.ACTIVE, last_sync_at=now or utcnow(),
            error_message=None, retry_count=0,
        )

    async def mark_error(self, integration_id: uuid.UUID, message: str) -> Integration:
        """Record a failed sync: status error, the message, one more retry counted."""
        return await self._update_in_place(
            integration_id, status=IntegrationStatus.ERROR, error_message=message,
            retry_count=Integration.retry_count + 1,
        )


def _envelope_key_id(name: str, value: bytes) -> str:
    """The key id of a `store.crypto` envelope; anything else (plaintext) is refused."""
    try:
        if not isinstance(value, bytes):
            raise CryptoError("not bytes")
        return key_id_of(value)
    except CryptoError:
        raise InvalidArgument(
            f"{name} must be encrypted with store.crypto before it is stored"
        ) from None


class OAuthTokenRepository(Repository[OAuthToken]):
    model = OAuthToken

    async def store(
        self, integration_id: uuid.UUID, *, access_token_encrypted: bytes,
        refresh_token_encrypted: bytes | None = None, expires_at: datetime | None = None,
        scopes: Sequence[str] = (), token_type: str = "Bearer",
    ) -> OAuthToken:
        """Insert or replace the integration's token pair (one row per integration).

        `key_id` is read from the access token's envelope, so it always names the key to use.
        """
        key_id = _envelope_key_id("access_token_encrypted", access_token_encrypted)
        if refresh_token_encrypted is not None:
            _envelope_key_id("refresh_token_encrypted", refresh_token_encrypted)
        values = {
            "access_token_encrypted": access_token_encrypted, "key_id": key_id,
            "refresh_token_encrypted": refresh_token_encrypted, "expires_at": expires_at,
            "scopes": list(scopes), "token_type": token_type,
        }
        stmt = (
            pg_insert(OAuthToken)
            .values(workspace_id=self.scope.workspace_id, integration_id=integration_id, **values)
            .on_conflict_do_update(
                index_elements=["workspace_id", "integration_id"],
                set_={**values, "updated_at": sa.func.now()},
            )
            .returning(OAuthToken)
            .execution_options(populate_existing=True)
        )
        try:
            row = await self.session.scalar(stmt)
        except sa_exc.DBAPIError as error:
            raise self._translate(error, {"integration_id": integration_id}) from error
        assert row is not None  # INSERT .. ON CONFLICT DO UPDATE always returns the row
        return row

    async def for_integration(self, integration_id: uuid.UUID) -> OAuthToken | None:
        rows = await self._all(OAuthToken.integration_id == integration_id, limit=1)
        return rows[0] if rows else None

    async def expiring_before(self, moment: datetime) -> list[OAuthToken]:
        """Tokens that expire before `moment` and can be refreshed (they have a refresh token)."""
        return await self._all(
            OAuthToken.expires_at < moment, OAuthToken.refresh_token_encrypted.is_not(None),
            order_by=[OAuthToken.expires_at, OAuthToken.id],
        )


# -- analytics events ----------------------------------------------------------------------------


class AnalyticsEventRepository(Repository[AnalyticsEvent]):
    model = AnalyticsEvent
    sortable = frozenset({"created_at", "occurred_at"})

    async def track(self, event: str, **values: Any) -> AnalyticsEvent:
        return await self.create(event=event, **values)

    async def counts(
        self, start: datetime, end: datetime, *, event: str | None = None
    ) -> dict[str, int]:
        """Events per name with `start <= occurred_at < end`, most frequent first."""
        stmt = (
            sa.select(AnalyticsEvent.event, sa.func.count())
            .where(AnalyticsEvent.workspace_id == self.scope.workspace_id,
                   AnalyticsEvent.occurred_at >= start, AnalyticsEvent.occurred_at < end)
            .group_by(AnalyticsEvent.event)
            .order_by(sa.func.count().desc(), AnalyticsEvent.event)
        )
        if event is not None:
            stmt = stmt.where(AnalyticsEvent.event == event)
        return {row[0]: int(row[1]) for row in (await self.session.execute(stmt)).all()}

    async def for_session(self, session_id: str) -> list[AnalyticsEvent]:
        return await self._all(
            AnalyticsEvent.session_id == session_id,
            order_by=[AnalyticsEvent.occurred_at, AnalyticsEvent.id],
        )
