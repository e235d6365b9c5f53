"""Admin tools: product feedback, outgoing webhooks, the audit log, connected integrations and
product analytics.

Webhooks are admin-only both ways: their URLs often embed a receiver's credentials, and their
signing secret never leaves the store (no tool returns it; the admin reads it in settings).
Integrations are listed without their configuration or tokens.

A retried create returns the first row through `tools.audit.replayed`.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl, model_validator

from store.models.admin import (
    AnalyticsEvent,
    AuditLog,
    FeedbackStatus,
    FeedbackType,
    Integration,
    IntegrationProvider,
    IntegrationStatus,
    PlatformFeedback,
    Sentiment,
    Webhook,
)
from store.models.core import MemberRole
from store.repositories.admin import (
    AnalyticsEventRepository,
    AuditLogRepository,
    FeedbackRepository,
    IntegrationRepository,
    WebhookRepository,
)
from store.repositories.core import WorkspaceMemberRepository
from tools.audit import record_change, replayed, snapshot
from tools.context import ToolContext
from tools.errors import RetryableToolError
from tools.registry import Risk, tool

ARGS = ConfigDict(frozen=True, extra="forbid")
EVENT_NAME = r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*)$"


# -- feedback ------------------------------------------------------------------------------------


class SubmitFeedbackArgs(BaseModel):
    model_config = ARGS

    description: str = Field(
        min_length=1, max_length=5000,
        description="What happened or what the user wants, in their words.",
    )
    title: str | None = Field(
        default=None, max_length=200, description="A one-line summary, e.g. 'Export is slow'."
    )
    type: FeedbackType = Field(
        default=FeedbackType.GENERAL,
        description="bug, suggestion, feature_request or general.",
    )
    sentiment: Sentiment | None = Field(
        default=None, description="How the user feels about it, when they said so."
    )
    url: str | None = Field(
        default=None, max_length=500,
        description="The page the feedback is about, e.g. 'https://app.example.com/crm'.",
    )


class FeedbackOut(BaseModel):
    id: uuid.UUID
    type: FeedbackType
    status: FeedbackStatus
    title: str | None
    created_at: datetime


class FeedbackResult(BaseModel):
    feedback: FeedbackOut
    already_submitted: bool = False


def _feedback_out(row: PlatformFeedback) -> FeedbackOut:
    return FeedbackOut(id=row.id, type=row.type, status=row.status, title=row.title,
                       created_at=row.created_at)


@tool(
    risk=Risk.LOW, role=MemberRole.MEMBER, title="Submit feedback: {title}",
    examples=("report a bug: the export button does nothing",
              "tell the product team I'd love a dark mode",
              "send feedback that the new inbox is great"),
)
async def submit_feedback(ctx: ToolContext, args: SubmitFeedbackArgs) -> FeedbackResult:
    """Send the user's feedback about the platform (bug, idea, praise) to the product team.

    Use this for feedback about the product itself, not for customer messages. The feedback is
    stored as `new`; the team triages it.
    """
    feedback = FeedbackRepository(ctx.session, ctx.scope)
    earlier = await ctx.session.scalar(feedback.select().where(
        PlatformFeedback.meta["idempotency_key"].astext == ctx.idempotency_key))
    if earlier is not None:
        return FeedbackResult(feedback=_feedback_out(earlier), already_submitted=True)
    row = await feedback.create(
        user_id=ctx.caller.user_id, description=args.description, title=args.title,
        type=args.type, sentiment=args.sentiment, url=args.url, category=args.type.value,
        meta={"idempotency_key": ctx.idempotency_key, "channel": ctx.caller.channel},
    )
    await record_change(ctx, "create", "platform_feedback", row.id, after=snapshot(
        row, ["type", "title", "description", "sentiment", "url"]))
    return FeedbackResult(feedback=_feedback_out(row))


# -- webhooks ------------------------------------------------------------------------------------


class ListWebhooksArgs(BaseModel):
    model_config = ARGS

    active_only: bool = Field(default=False, description="Only webhooks that are switched on.")
    limit: int = Field(default=20, ge=1, le=50, description="Most webhooks to return (1-50).")


class WebhookOut(BaseModel):
    id: uuid.UUID
    name: str
    url: str
    events: list[str]
    is_active: bool
    last_triggered_at: datetime | None
    success_count: int
    failure_count: int


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]
    total: int


def _webhook_out(row: Webhook) -> WebhookOut:
    return WebhookOut(
        id=row.id, name=row.name, url=row.url, events=list(row.events), is_active=row.is_active,
        last_triggered_at=row.last_triggered_at, success_count=row.success_count,
        failure_count=row.failure_count,
    )


@tool(
    risk=Risk.LOW, role=MemberRole.ADMIN,
    examples=("which webhooks do we have?", "is the warehouse webhook failing?",
              "list active webhooks"),
)
async def list_webhooks(ctx: ToolContext, args: ListWebhooksArgs) -> WebhookList:
    """List the workspace's outgoing webhooks with their events and delivery counts, oldest
    first. Secrets are never shown. Admins only."""
    webhooks = WebhookRepository(ctx.session, ctx.scope)
    filters: dict[str, Any] = {"is_active": True} if args.active_only else {}
    page = await webhooks.list(limit=args.limit, descending=False, **filters)
    return WebhookList(webhooks=[_webhook_out(w) for w in page.items],
                       total=await webhooks.count(**filters))


class CreateWebhookArgs(BaseModel):
    model_config = ARGS

    name: str = Field(
        min_length=1, max_length=100, description="A label, e.g. 'Data warehouse sync'."
    )
    url: HttpUrl = Field(
        description="Public https URL that receives the POSTs, e.g. 'https://hooks.example.com/x'."
    )
    events: list[str] = Field(
        min_length=1, max_length=50,
        description="Event names to send, e.g. ['deal.created', 'invoice.paid']; ['*'] sends all.",
    )

    @model_validator(mode="after")
    def _public_https(self) -> Self:
        if self.url.scheme != "https":
            raise ValueError("webhook URLs must use https")
        if _private_host(self.url.host or ""):
            raise ValueError("webhook URLs must point at a public host, not a private address")
        for event in self.events:
            if not _valid_event(event):
                raise ValueError(f"{event!r} is not an event name like 'deal.created' or '*'")
        return self


def _private_host(host: str) -> bool:
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return not address.is_global


def _valid_event(event: str) -> bool:
    return re.match(EVENT_NAME, event) is not None


class WebhookResult(BaseModel):
    webhook: WebhookOut
    note: str


SECRET_NOTE = ("A signing secret was generated; an admin can copy it from the webhook "
               "settings. It is never shown in chat.")


@tool(
    risk=Risk.HIGH, role=MemberRole.ADMIN, title="Create webhook {name} to {url}",
    examples=("send every new deal to https://hooks.example.com/deals",
              "add a webhook for invoice.paid events to our warehouse endpoint"),
)
async def create_webhook(ctx: ToolContext, args: CreateWebhookArgs) -> WebhookResult:
    """Create an outgoing webhook: the platform will POST the chosen events to the URL, signed
    with a generated HMAC secret. The URL must be public https. Admins only; the secret is never
    returned here."""
    webhooks = WebhookRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "create", "webhook")
    if earlier is not None:
        return WebhookResult(webhook=_webhook_out(await webhooks.get(earlier)),
                             note=SECRET_NOTE)
    row = await webhooks.create(
        name=args.name, url=str(args.url), events=list(dict.fromkeys(args.events)),
        created_by=ctx.caller.user_id,
    )
    await record_change(ctx, "create", "webhook", row.id,
                        after=snapshot(row, ["name", "url", "events", "is_active"]))
    return WebhookResult(webhook=_webhook_out(row), note=SECRET_NOTE)


# -- audit log -----------------------------------------------------------------------------------


class QueryAuditLogArgs(BaseModel):
    model_config = ARGS

    entity_type: str | None = Field(
        default=None, max_length=100,
        description="Kind of record, e.g. 'deal', 'contact', 'blog_post', 'webhook'.",
    )
    entity_id: str | None = Field(
        default=None, max_length=200, description="Id of one record, to see its history."
    )
    action: str | None = Field(
        default=None, max_length=100, description="e.g. 'create', 'update', 'delete', 'send'."
    )
    actor_id: uuid.UUID | None = Field(
        default=None, description="Only changes made by this member (their user id)."
    )
    since: AwareDatetime | None = Field(
        default=None, description="Only changes at or after this time (with timezone)."
    )
    until: AwareDatetime | None = Field(
        default=None,
        description="Only changes before this time; pass the oldest `at` seen to page back.",
    )
    limit: int = Field(default=20, ge=1, le=100, description="Most entries to return (1-100).")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.since and self.until and self.until <= self.since:
            raise ValueError("until must be after since")
        return self


class AuditEntry(BaseModel):
    id: uuid.UUID
    at: datetime
    action: str
    entity_type: str
    entity_id: str | None
    actor_id: uuid.UUID | None
    changes: dict[str, Any]


class AuditLogPage(BaseModel):
    entries: list[AuditEntry]
    has_more: bool


def _audit_filters(args: QueryAuditLogArgs) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    for column, value in ((AuditLog.entity_type, args.entity_type),
                          (AuditLog.entity_id, args.entity_id), (AuditLog.action, args.action),
                          (AuditLog.user_id, args.actor_id)):
        if value is not None:
            where.append(column == value)
    if args.since is not None:
        where.append(AuditLog.created_at >= args.since)
    if args.until is not None:
        where.append(AuditLog.created_at < args.until)
    return where


@tool(
    risk=Risk.LOW,
    examples=("who changed the Acme deal?", "show me everything deleted this week",
              "what did Sam change yesterday?"),
)
async def query_audit_log(ctx: ToolContext, args: QueryAuditLogArgs) -> AuditLogPage:
    """Search the workspace's audit log: who changed what and when, newest first, with each
    change's before/after values. Filter by record, action, member or time range."""
    if args.actor_id is not None:
        members = WorkspaceMemberRepository(ctx.session, ctx.scope)
        if await members.count(user_id=args.actor_id) == 0:
            raise RetryableToolError(f"no member with id {args.actor_id} in this workspace")
    audit = AuditLogRepository(ctx.session, ctx.scope)
    stmt = (audit.select().where(*_audit_filters(args))
            .order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(args.limit + 1))
    rows = list(await ctx.session.scalars(stmt))
    entries = [
        AuditEntry(id=r.id, at=r.created_at, action=r.action, entity_type=r.entity_type,
                   entity_id=r.entity_id, actor_id=r.user_id, changes=dict(r.changes))
        for r in rows[:args.limit]
    ]
    return AuditLogPage(entries=entries, has_more=len(rows) > args.limit)


# -- integrations --------------------------------------------------------------------------------


class ListIntegrationsArgs(BaseModel):
    model_config = ARGS

    provider: IntegrationProvider | None = Field(
        default=None, description="Only this provider, e.g. 'slack' or 'google'."
    )
    status: IntegrationStatus | None = Field(
        default=None, description="Only integrations in this state, e.g. 'error'."
    )
    limit: int = Field(default=20, ge=1, le=50, description="Most integrations to return (1-50).")


class IntegrationOut(BaseModel):
    id: uuid.UUID
    provider: IntegrationProvider
    name: str | None
    account_id: str | None
    status: IntegrationStatus
    scopes: list[str]
    last_sync_at: datetime | None
    error_message: str | None


class IntegrationList(BaseModel):
    integrations: list[IntegrationOut]
    total: int


def _integration_out(row: Integration) -> IntegrationOut:
    return IntegrationOut(
        id=row.id, provider=row.provider, name=row.name, account_id=row.account_id,
        status=row.status, scopes=list(row.scopes), last_sync_at=row.last_sync_at,
        error_message=row.error_message,
    )


@tool(
    risk=Risk.LOW,
    examples=("which apps are connected?", "is Slack connected?", "any integrations with errors?"),
)
async def list_integrations(ctx: ToolContext, args: ListIntegrationsArgs) -> IntegrationList:
    """List connected third-party accounts (Slack, Google, Salesforce ...) with their status,
    last sync and last error. Tokens and settings are never shown."""
    integrations = IntegrationRepository(ctx.session, ctx.scope)
    filters = {k: v for k, v in (("provider", args.provider), ("status", args.status))
               if v is not None}
    page = await integrations.list(limit=args.limit, descending=False, **filters)
    return IntegrationList(integrations=[_integration_out(i) for i in page.items],
                           total=await integrations.count(**filters))


# -- product analytics ---------------------------------------------------------------------------


class AnalyticsSummaryArgs(BaseModel):
    model_config = ARGS

    days: int = Field(default=30, ge=1, le=365, description="Period: the last N days (1-365).")
    top: int = Field(default=10, ge=1, le=50, description="How many top events to list (1-50).")


class EventCount(BaseModel):
    event: str
    count: int


class AnalyticsSummary(BaseModel):
    start: datetime
    end: datetime
    total_events: int
    active_users: int
    sessions: int
    top_events: list[EventCount]


async def _distinct_counts(
    ctx: ToolContext, start: datetime, end: datetime
) -> tuple[int, int]:
    """(distinct users, distinct sessions) with events in [start, end)."""
    e = AnalyticsEvent
    stmt = sa.select(
        sa.func.count(sa.distinct(e.user_id)), sa.func.count(sa.distinct(e.session_id))
    ).where(e.workspace_id == ctx.scope.workspace_id, e.occurred_at >= start, e.occurred_at < end)
    users, sessions = (await ctx.session.execute(stmt)).one()
    return int(users), int(sessions)


@tool(
    risk=Risk.LOW,
    examples=("how much is the app being used?", "product usage over the last week",
              "what are people doing most in the app this month?"),
)
async def get_analytics_summary(ctx: ToolContext, args: AnalyticsSummaryArgs) -> AnalyticsSummary:
    """Summarise product usage over the last N days: total events, active users, sessions and
    the most frequent events (page views, chats opened, exports ...). For blog traffic use
    get_article_analytics."""
    end = datetime.now(UTC)
    start = end - timedelta(days=args.days)
    counts = await AnalyticsEventRepository(ctx.session, ctx.scope).counts(start, end)
    users, sessions = await _distinct_counts(ctx, start, end)
    return AnalyticsSummary(
        start=start, end=end, total_events=sum(counts.values()), active_users=users,
        sessions=sessions,
        top_events=[EventCount(event=k, count=v) for k, v in list(counts.items())[:args.top]],
    )
