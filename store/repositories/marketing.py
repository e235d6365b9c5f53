"""Marketing repositories, and the compiler from rule conditions to SQL over contacts.

Segments, lead scoring and lead routing all describe contacts with the same `Condition`
(field, operator, value). `ContactConditions` turns those into SQL boolean expressions on
`contacts`, so membership, scores and routing are computed by PostgreSQL over the workspace's
contacts instead of by loading contacts into Python, and a rule means the same thing everywhere.
Every read of contacts starts from `ContactRepository.select()`, so it carries the workspace.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert

from store.errors import Conflict, InvalidArgument, NotFound
from store.models.crm import Contact, ContactStatus
from store.models.marketing import (
    AutomationRule,
    AutomationStatus,
    Campaign,
    CampaignMetrics,
    CampaignRecipient,
    CampaignStatus,
    CampaignType,
    ChannelStatus,
    Condition,
    ConditionOperator,
    LeadRoutingRule,
    LeadScoringRule,
    MarketingChannel,
    RecipientStatus,
    Segment,
    SegmentRules,
    TriggerType,
    normalize_metrics,
    normalize_rules,
    normalize_user_list,
    parse_rules,
)
from store.pagination import Page
from store.repositories.base import Repository, utcnow
from store.repositories.crm import ContactRepository

Op = ConditionOperator
Clause = sa.ColumnElement[bool]

# -- conditions -> SQL -----------------------------------------------------------------------


class FieldKind(enum.StrEnum):
    TEXT = "text"
    STATUS = "status"
    NUMBER = "number"
    TIME = "timestamp"
    TAGS = "tags"
    CUSTOM = "custom field"


CUSTOM_PREFIX = "custom_fields."
CONTACT_FIELDS: dict[str, tuple[FieldKind, Any]] = {
    "status": (FieldKind.STATUS, Contact.status),
    "source": (FieldKind.TEXT, Contact.source),
    "company": (FieldKind.TEXT, Contact.company),
    "job_title": (FieldKind.TEXT, Contact.job_title),
    "email": (FieldKind.TEXT, Contact.email),
    "lead_score": (FieldKind.NUMBER, Contact.lead_score),
    "tags": (FieldKind.TAGS, Contact.tags),
    "created_at": (FieldKind.TIME, Contact.created_at),
    "last_contacted_at": (FieldKind.TIME, Contact.last_contacted_at),
}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class _Term:
    """One condition being compiled: the SQL expression of its field and its raw value."""

    condition: Condition
    kind: FieldKind
    expr: Any

    def fail(self, problem: str) -> InvalidArgument:
        c = self.condition
        return InvalidArgument(f"condition {c.field} {c.operator} {c.value!r}: {problem}")

    def items(self, what: str) -> list[Any]:
        value = self.condition.value
        if not isinstance(value, list) or not value:
            raise self.fail(f"the value must be a non-empty list of {what}")
        return value

    def text(self) -> str:
        return self._text(self.condition.value)

    def texts(self) -> list[str]:
        return [self._text(v) for v in self.items("strings")]

    def number(self) -> float:
        return self._number(self.condition.value)

    def numbers(self) -> list[float]:
        return [self._number(v) for v in self.items("numbers")]

    def _text(self, value: Any) -> str:
        """Lower-cased text (matching is case-insensitive); numbers as JSON writes them."""
        if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
            raise self.fail("the value must be a non-empty string")
        return value.lower() if isinstance(value, str) else json.dumps(value)

    def _number(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail("the value must be a number")
        return float(value)

    def statuses(self) -> list[str]:
        value = self.condition.value
        values = value if isinstance(value, list) else [value]
        allowed = [s.value for s in ContactStatus]
        if not values or any(v not in allowed for v in values):
            raise self.fail(f"status must be one of {allowed}")
        return list(values)

    def moment(self) -> datetime:
        value = self.condition.value
        try:
            parsed = datetime.fromisoformat(str(value)) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise self.fail("the value must be an ISO date or date-time like 2025-01-31")
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def days(self) -> int:
        value = self.condition.value
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail("the value must be a whole number of days above zero")
        return value


def _text_ops(now: datetime) -> dict[Op, Callable[[_Term], Clause]]:
    lower = sa.func.lower
    return {
        Op.EQ: lambda t: lower(t.expr) == t.text(),
        Op.NEQ: lambda t: lower(t.expr).is_distinct_from(t.text()),
        Op.CONTAINS: lambda t: t.expr.ilike(f"%{_escape_like(t.text())}%", escape="\\"),
        Op.STARTS_WITH: lambda t: t.expr.ilike(f"{_escape_like(t.text())}%", escape="\\"),
        Op.IN: lambda t: lower(t.expr).in_(t.texts()),
        Op.NOT_IN: lambda t: sa.or_(t.expr.is_(None), lower(t.expr).not_in(t.texts())),
        Op.IS_SET: lambda t: sa.and_(t.expr.is_not(None), t.expr != ""),
        Op.IS_NOT_SET: lambda t: sa.or_(t.expr.is_(None), t.expr == ""),
    }


def _status_ops(now: datetime) -> dict[Op, Callable[[_Term], Clause]]:
    return {
        Op.EQ: lambda t: t.expr == _one(t, t.statuses()),
        Op.NEQ: lambda t: t.expr != _one(t, t.statuses()),
        Op.IN: lambda t: t.expr.in_(t.statuses()),
        Op.NOT_IN: lambda t: t.expr.not_in(t.statuses()),
    }


def _one(term: _Term, values: list[str]) -> str:
    if isinstance(term.condition.value, list):
        raise term.fail("use 'in' or 'not_in' for a list of values")
    return values[0]


def _number_ops(now: datetime) -> dict[Op, Callable[[_Term], Clause]]:
    return {
        Op.EQ: lambda t: t.expr == t.number(),
        Op.NEQ: lambda t: t.expr != t.number(),
        Op.GT: lambda t: t.expr > t.number(),
        Op.GTE: lambda t: t.expr >= t.number(),
        Op.LT: lambda t: t.expr < t.number(),
        Op.LTE: lambda t: t.expr <= t.number(),
        Op.IN: lambda t: t.expr.in_(t.numbers()),
        Op.NOT_IN: lambda t: t.expr.not_in(t.numbers()),
    }


def _time_ops(now: datetime) -> dict[Op, Callable[[_Term], Clause]]:
    return {
        Op.GT: lambda t: t.expr > t.moment(),
        Op.GTE: lambda t: t.expr >= t.moment(),
        Op.LT: lambda t: t.expr < t.moment(),
        Op.LTE: lambda t: t.expr <= t.moment(),
        Op.WITHIN_LAST_DAYS: lambda t: t.expr >= now - timedelta(days=t.days()),
        Op.IS_SET: lambda t: t.expr.is_not(None),
        Op.IS_NOT_SET: lambda t: t.expr.is_(None),
    }


def _exact_texts(term: _Term) -> list[str]:
    value = term.condition.value
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise term.fail("the value must be a tag or a non-empty list of tags")
    return list(values)


def _tag_ops(now: datetime) -> dict[Op, Callable[[_Term], Clause]]:
    def tags(t: _Term) -> Any:
        return sa.literal(_exact_texts(t), ARRAY(sa.Text))

    return {
        Op.HAS_TAG: lambda t: t.expr.contains(tags(t)),
        Op.IN: lambda t: t.expr.overlap(tags(t)),
        Op.NOT_IN: lambda t: sa.not_(t.expr.overlap(tags(t))),
        Op.IS_SET: lambda t: sa.func.cardinality(t.expr) > 0,
        Op.IS_NOT_SET: lambda t: sa.func.cardinality(t.expr) == 0,
    }


def _custom_compare(term: _Term, op: Callable[[Any, Any], Clause]) -> Clause:
    """Numbers compare numerically (only against JSON numbers), strings as text (ISO dates)."""
    value = term.condition.value
    if isinstance(value, str) and value:
        return op(term.expr.astext, value)
    number = sa.case(
        (sa.func.jsonb_typeof(term.expr) == "number", sa.cast(term.expr.astext, sa.Numeric)),
        else_=None,
    )
    return op(number, term.number())


def _custom_ops(now: datetime) -> dict[Op, Callable[[_Term], Clause]]:
    text_ops = _text_ops(now)
    as_text = {op: _on_text(fn) for op, fn in text_ops.items()}
    return {
        **as_text,
        Op.GT: lambda t: _custom_compare(t, lambda a, b: a > b),
        Op.GTE: lambda t: _custom_compare(t, lambda a, b: a >= b),
        Op.LT: lambda t: _custom_compare(t, lambda a, b: a < b),
        Op.LTE: lambda t: _custom_compare(t, lambda a, b: a <= b),
    }


def _on_text(fn: Callable[[_Term], Clause]) -> Callable[[_Term], Clause]:
    return lambda t: fn(_Term(t.condition, t.kind, t.expr.astext))


OPERATORS: dict[FieldKind, Callable[[datetime], dict[Op, Callable[[_Term], Clause]]]] = {
    FieldKind.TEXT: _text_ops,
    FieldKind.STATUS: _status_ops,
    FieldKind.NUMBER: _number_ops,
    FieldKind.TIME: _time_ops,
    FieldKind.TAGS: _tag_ops,
    FieldKind.CUSTOM: _custom_ops,
}


@dataclass(frozen=True)
class ContactConditions:
    """Compiles conditions to SQL on `contacts`. `now` anchors `within_last_days`."""

    now: datetime = field(default_factory=utcnow)

    def resolve(self, name: str) -> tuple[FieldKind, Any]:
        if name in CONTACT_FIELDS:
            return CONTACT_FIELDS[name]
        key = name.removeprefix(CUSTOM_PREFIX)
        if name.startswith(CUSTOM_PREFIX) and key:
            return FieldKind.CUSTOM, Contact.custom_fields[key]
        known = ", ".join(CONTACT_FIELDS)
        raise InvalidArgument(
            f"unknown contact field {name!r}; use one of: {known}, or custom_fields.<key>"
        )

    def condition(self, condition: Condition) -> Clause:
        kind, expr = self.resolve(condition.field)
        builders = OPERATORS[kind](self.now)
        build = builders.get(condition.operator)
        if build is None:
            allowed = ", ".join(builders)
            raise InvalidArgument(
                f"operator {condition.operator.value!r} does not apply to {condition.field!r} "
                f"(a {kind} field); use one of: {allowed}"
            )
        return build(_Term(condition, kind, expr))

    def rules(self, rules: SegmentRules) -> Clause:
        clauses = [self.condition(c) for c in rules.conditions]
        if not clauses:
            return sa.true()
        return sa.and_(*clauses) if rules.match == "all" else sa.or_(*clauses)


def check_condition(field_name: Any, operator: Any, value: Any) -> None:
    """Raise InvalidArgument unless (field, operator, value) compiles to SQL."""
    rules = parse_rules(
        {"conditions": [{"field": field_name, "operator": operator, "value": value}]},
        "lead scoring rule",
    )
    ContactConditions().rules(rules)


# -- repositories ----------------------------------------------------------------------------


class ChannelRepository(Repository[MarketingChannel]):
    model = MarketingChannel
    archive_values = {"status": ChannelStatus.ARCHIVED}

    async def active(self) -> list[MarketingChannel]:
        return await self._all(
            MarketingChannel.status == ChannelStatus.ACTIVE, order_by=[MarketingChannel.name]
        )

    async def over_budget(self) -> list[MarketingChannel]:
        """Channels with a budget that have spent more than it."""
        return await self._all(
            MarketingChannel.budget_cents > 0,
            MarketingChannel.spent_cents > MarketingChannel.budget_cents,
            order_by=[MarketingChannel.name],
        )


@dataclass(frozen=True)
class SegmentPreview:
    count: int
    sample: list[Contact]


def _rules_checked(values: Mapping[str, Any], column: str, what: str) -> dict[str, Any]:
    """Normalize a rules column and prove every condition compiles (unknown fields fail)."""
    out = dict(values)
    if column in out:
        rules = parse_rules(out[column], what)
        ContactConditions().rules(rules)
        out[column] = normalize_rules(rules, what)
    return out


class SegmentRepository(Repository[Segment]):
    model = Segment
    sortable = frozenset({"created_at", "updated_at", "name", "contact_count"})
    archive_values = {"is_active": False}

    async def create(self, **values: Any) -> Segment:
        return await super().create(**_rules_checked(values, "rules", "segment rules"))

    async def create_many(self, rows: Sequence[Mapping[str, Any]]) -> list[uuid.UUID]:
        return await super().create_many(
            [_rules_checked(r, "rules", "segment rules") for r in rows]
        )

    async def update(self, row_id: uuid.UUID, **values: Any) -> Segment:
        return await super().update(row_id, **_rules_checked(values, "rules", "segment rules"))

    def clause(self, rules: SegmentRules | Mapping[str, Any]) -> Clause:
        parsed = rules if isinstance(rules, SegmentRules) else parse_rules(rules)
        return ContactConditions().rules(parsed)

    async def preview(
        self, rules: SegmentRules | Mapping[str, Any], *, sample_size: int = 10
    ) -> SegmentPreview:
        """How many contacts the rules match, and the highest-scoring few of them."""
        contacts = ContactRepository(self.session, self.scope)
        where = self.clause(rules)
        count = await contacts._count(where)
        sample = await contacts._all(
            where, order_by=[Contact.lead_score.desc(), Contact.id], limit=sample_size
        )
        return SegmentPreview(count=count, sample=sample)

    async def members(
        self, segment_id: uuid.UUID, *, limit: int = 50, cursor: str | None = None
    ) -> Page[Contact]:
        segment = await self.get(segment_id)
        contacts = ContactRepository(self.session, self.scope)
        return await contacts._page(self.clause(segment.rules), limit=limit, cursor=cursor)

    async def member_ids(self, segment_id: uuid.UUID) -> list[uuid.UUID]:
        segment = await self.get(segment_id)
        stmt = (
            ContactRepository(self.session, self.scope).select()
            .with_only_columns(Contact.id).where(self.clause(segment.rules)).order_by(Contact.id)
        )
        return list(await self.session.scalars(stmt))

    async def recalculate(self, segment_id: uuid.UUID) -> Segment:
        """Store the segment's current member count and when it was counted."""
        segment = await self.get(segment_id)
        contacts = ContactRepository(self.session, self.scope)
        count = await contacts._count(self.clause(segment.rules))
        return await self.update(segment_id, contact_count=count, last_calculated_at=utcnow())


@dataclass(frozen=True)
class CampaignReport:
    """Funnel counts from the recipients table, and the rates derived from them.

    A recipient's status is the furthest step it reached, so an opened recipient also counts
    as sent and delivered. Rates are None when their denominator is zero.
    """

    campaign_id: uuid.UUID
    recipients: int
    by_status: dict[RecipientStatus, int]
    metrics: CampaignMetrics
    delivery_rate: float | None
    open_rate: float | None
    click_rate: float | None
    click_to_open_rate: float | None
    bounce_rate: float | None
    unsubscribe_rate: float | None
    conversion_rate: float | None


S = RecipientStatus
#: Which recipient statuses count towards each funnel metric.
FUNNEL: dict[str, frozenset[RecipientStatus]] = {
    "sent": frozenset(set(S) - {S.PENDING, S.FAILED}),
    "delivered": frozenset({S.DELIVERED, S.OPENED, S.CLICKED, S.CONVERTED, S.UNSUBSCRIBED}),
    "opened": frozenset({S.OPENED, S.CLICKED, S.CONVERTED}),
    "clicked": frozenset({S.CLICKED, S.CONVERTED}),
    "converted": frozenset({S.CONVERTED}),
    "bounced": frozenset({S.BOUNCED}),
    "unsubscribed": frozenset({S.UNSUBSCRIBED}),
}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def campaign_report(
    campaign_id: uuid.UUID, by_status: dict[RecipientStatus, int]
) -> CampaignReport:
    counts = {name: sum(by_status.get(s, 0) for s in members) for name, members in FUNNEL.items()}
    m = CampaignMetrics(**counts)
    return CampaignReport(
        campaign_id=campaign_id, recipients=sum(by_status.values()), by_status=by_status,
        metrics=m,
        delivery_rate=_rate(m.delivered, m.sent), open_rate=_rate(m.opened, m.delivered),
        click_rate=_rate(m.clicked, m.delivered), click_to_open_rate=_rate(m.clicked, m.opened),
        bounce_rate=_rate(m.bounced, m.sent), unsubscribe_rate=_rate(m.unsubscribed, m.delivered),
        conversion_rate=_rate(m.converted, m.delivered),
    )


def _metrics_checked(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "metrics" in out:
        out["metrics"] = normalize_metrics(out["metrics"])
    return out


class CampaignRepository(Repository[Campaign]):
    model = Campaign
    sortable = frozenset({"created_at", "updated_at", "name"})

    async def create_many(self, rows: Sequence[Mapping[str, Any]]) -> list[uuid.UUID]:
        return await super().create_many([_metrics_checked(r) for r in rows])

    async def search(
        self, *, status: CampaignStatus | None = None, channel_id: uuid.UUID | None = None,
        limit: int = 20, cursor: str | None = None,
    ) -> Page[Campaign]:
        where: list[Clause] = []
        if status is not None:
            where.append(Campaign.status == status)
        if channel_id is not None:
            where.append(Campaign.channel_id == channel_id)
        return await self._page(*where, limit=limit, cursor=cursor)

    async def due_to_send(self, now: datetime | None = None) -> list[Campaign]:
        """Scheduled campaigns whose time has come, earliest first (what the scheduler runs)."""
        return await self._all(
            Campaign.status == CampaignStatus.SCHEDULED, Campaign.scheduled_at <= (now or utcnow()),
            order_by=[Campaign.scheduled_at, Campaign.id],
        )

    async def not_ready(self) -> list[Campaign]:
        """Scheduled campaigns that cannot go out as they are: no segment, or an email campaign
        with no subject."""
        no_subject = sa.and_(
            Campaign.type == CampaignType.EMAIL,
            sa.func.coalesce(sa.func.trim(Campaign.subject), "") == "",
        )
        return await self._all(
            Campaign.status == CampaignStatus.SCHEDULED,
            sa.or_(Campaign.segment_id.is_(None), no_subject),
            order_by=[Campaign.scheduled_at, Campaign.id],
        )

    async def schedule(self, campaign_id: uuid.UUID, at: datetime) -> Campaign:
        """Schedule a draft or paused campaign; it must have a segment (and an email a subject)."""
        campaign = await self.get(campaign_id)
        if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.PAUSED):
            raise Conflict(f"campaign {campaign.name!r} is {campaign.status}; cannot schedule it")
        if campaign.segment_id is None:
            raise InvalidArgument(f"campaign {campaign.name!r} has no segment to send to")
        if campaign.type == CampaignType.EMAIL and not (campaign.subject or "").strip():
            raise InvalidArgument(f"email campaign {campaign.name!r} has no subject")
        return await self.update(campaign_id, status=CampaignStatus.SCHEDULED, scheduled_at=at)

    async def campaign_metrics(self, campaign_id: uuid.UUID) -> CampaignReport:
        await self.get(campaign_id)
        recipients = CampaignRecipientRepository(self.session, self.scope)
        return campaign_report(campaign_id, await recipients.status_counts(campaign_id))

    async def refresh_metrics(self, campaign_id: uuid.UUID) -> Campaign:
        """Store the recipients' funnel counts in `campaigns.metrics`."""
        report = await self.campaign_metrics(campaign_id)
        return await self.update(campaign_id, metrics=report.metrics.model_dump())

    async def median_open_rate(self) -> float | None:
        """Median of opened/delivered over completed campaigns that delivered anything."""
        delivered = sa.cast(Campaign.metrics["delivered"].astext, sa.Float)
        opened = sa.cast(Campaign.metrics["opened"].astext, sa.Float)
        stmt = self.select().with_only_columns(
            sa.func.percentile_cont(0.5).within_group(opened / delivered)
        ).where(Campaign.status == CampaignStatus.COMPLETED, delivered > 0)
        median = await self.session.scalar(stmt)
        return None if median is None else round(float(median), 4)

    async def materialize_recipients(self, campaign_id: uuid.UUID) -> int:
        """Add every current member of the campaign's segment as a pending recipient.

        Contacts already on the list are left as they are, so running it again before sending
        only adds contacts that joined the segment since. Returns how many were added.
        """
        campaign = await self.get(campaign_id)
        if campaign.status == CampaignStatus.COMPLETED:
            raise Conflict(f"campaign {campaign.name!r} is completed")
        if campaign.segment_id is None:
            raise InvalidArgument(f"campaign {campaign.name!r} has no segment")
        segments = SegmentRepository(self.session, self.scope)
        segment = await segments.get(campaign.segment_id)
        members = (
            ContactRepository(self.session, self.scope).select()
            .with_only_columns(
                sa.literal(self.scope.workspace_id, sa.Uuid), sa.literal(campaign_id, sa.Uuid),
                Contact.id,
            )
            .where(segments.clause(segment.rules))
        )
        stmt = (
            insert(CampaignRecipient)
            # Server-side defaults (gen_random_uuid(), 'pending'), not one Python id for all rows.
            .from_select(["workspace_id", "campaign_id", "contact_id"], members,
                         include_defaults=False)
            .on_conflict_do_nothing(index_elements=["workspace_id", "campaign_id", "contact_id"])
            .returning(CampaignRecipient.id)
        )
        return len((await self.session.execute(stmt)).all())


#: The timestamp a recipient status stamps (the first time it is reached).
STATUS_TIMES = {
    S.SENT: ("sent_at",),
    S.DELIVERED: ("sent_at", "delivered_at"),
    S.OPENED: ("sent_at", "delivered_at", "opened_at"),
    S.CLICKED: ("sent_at", "delivered_at", "opened_at", "clicked_at"),
    S.CONVERTED: ("sent_at", "delivered_at", "opened_at", "clicked_at"),
    S.BOUNCED: ("sent_at",),
}


class CampaignRecipientRepository(Repository[CampaignRecipient]):
    model = CampaignRecipient

    async def for_campaign(
        self, campaign_id: uuid.UUID, *, status: RecipientStatus | None = None,
        limit: int = 50, cursor: str | None = None,
    ) -> Page[CampaignRecipient]:
        where = [CampaignRecipient.campaign_id == campaign_id]
        if status is not None:
            where.append(CampaignRecipient.status == status)
        return await self._page(*where, limit=limit, cursor=cursor)

    async def status_counts(self, campaign_id: uuid.UUID) -> dict[RecipientStatus, int]:
        stmt = (
            self.select()
            .with_only_columns(CampaignRecipient.status, sa.func.count())
            .where(CampaignRecipient.campaign_id == campaign_id)
            .group_by(CampaignRecipient.status)
        )
        return {RecipientStatus(s): int(n) for s, n in (await self.session.execute(stmt)).all()}

    async def set_status(
        self, recipient_id: uuid.UUID, status: RecipientStatus, *, at: datetime | None = None,
        error_message: str | None = None,
    ) -> CampaignRecipient:
        """Record a delivery event; it stamps the step's time (and earlier unset steps')."""
        recipient = await self.get(recipient_id)
        when = at or utcnow()
        values: dict[str, Any] = {"status": status}
        for column in STATUS_TIMES.get(status, ()):
            if getattr(recipient, column) is None:
                values[column] = when
        if error_message is not None:
            values["error_message"] = error_message
        return await self.update(recipient_id, **values)


class AutomationRuleRepository(Repository[AutomationRule]):
    model = AutomationRule
    archive_values = {"status": AutomationStatus.ARCHIVED}

    async def active_for_trigger(self, trigger: TriggerType) -> list[AutomationRule]:
        return await self._all(
            AutomationRule.trigger_type == trigger,
            AutomationRule.status == AutomationStatus.ACTIVE,
            order_by=[AutomationRule.created_at, AutomationRule.id],
        )

    async def record_execution(self, rule_id: uuid.UUID) -> AutomationRule:
        """Count one run of the rule (atomically, so concurrent runs are all counted)."""
        stmt = (
            sa.update(AutomationRule)
            .where(AutomationRule.workspace_id == self.scope.workspace_id,
                   AutomationRule.id == rule_id)
            .values(execution_count=AutomationRule.execution_count + 1,
                    last_executed_at=utcnow(), updated_at=sa.func.now())
            .returning(AutomationRule)
            .execution_options(populate_existing=True)
        )
        rule = await self.session.scalar(stmt)
        if rule is None:
            raise NotFound(self.entity, rule_id)
        return rule


def _scoring_checked(values: Mapping[str, Any]) -> dict[str, Any]:
    if {"field", "operator", "value"} & values.keys():
        check_condition(values.get("field", ""), values.get("operator"), values.get("value"))
    return dict(values)


class LeadScoringRuleRepository(Repository[LeadScoringRule]):
    model = LeadScoringRule
    sortable = frozenset({"created_at", "updated_at", "priority"})
    archive_values = {"is_active": False}

    async def create(self, **values: Any) -> LeadScoringRule:
        return await super().create(**_scoring_checked(values))

    async def create_many(self, rows: Sequence[Mapping[str, Any]]) -> list[uuid.UUID]:
        return await super().create_many([_scoring_checked(r) for r in rows])

    async def update(self, row_id: uuid.UUID, **values: Any) -> LeadScoringRule:
        if {"field", "operator", "value"} & values.keys():
            rule = await self.get(row_id)
            merged = {"field": rule.field, "operator": rule.operator, "value": rule.value, **values}
            _scoring_checked(merged)
        return await super().update(row_id, **values)

    async def active(self) -> list[LeadScoringRule]:
        return await self._all(
            LeadScoringRule.is_active.is_(True),
            order_by=[LeadScoringRule.priority.desc(), LeadScoringRule.id],
        )

    def score_expression(self, rules: Sequence[LeadScoringRule]) -> sa.ColumnElement[int]:
        """SUM of each rule's points where its condition holds, floored at zero."""
        compiler = ContactConditions()
        terms = [sa.case((compiler.condition(r.condition()), r.points), else_=0) for r in rules]
        total: sa.ColumnElement[int] = sa.literal(0)
        for term in terms:
            total = total + term
        return sa.func.greatest(total, 0)

    async def recompute_lead_scores(self) -> int:
        """Set every contact's lead score from the active rules in one UPDATE; returns how many
        contacts' scores changed. With no active rules every score becomes 0."""
        score = self.score_expression(await self.active())
        stmt = (
            sa.update(Contact)
            .where(Contact.workspace_id == self.scope.workspace_id,
                   Contact.lead_score.is_distinct_from(score))
            .values(lead_score=score, updated_at=sa.func.now())
            .returning(Contact.id)
            .execution_options(synchronize_session="fetch")
        )
        return len((await self.session.execute(stmt)).all())


@dataclass(frozen=True)
class RoutingDecision:
    rule_id: uuid.UUID
    rule_name: str
    user_id: uuid.UUID | None


def _routing_checked(values: Mapping[str, Any]) -> dict[str, Any]:
    out = _rules_checked(values, "conditions", "routing conditions")
    if "round_robin_users" in out:
        out["round_robin_users"] = normalize_user_list(out["round_robin_users"])
    return out


class LeadRoutingRuleRepository(Repository[LeadRoutingRule]):
    model = LeadRoutingRule
    sortable = frozenset({"created_at", "updated_at", "priority"})
    archive_values = {"is_active": False}

    async def create(self, **values: Any) -> LeadRoutingRule:
        return await super().create(**_routing_checked(values))

    async def create_many(self, rows: Sequence[Mapping[str, Any]]) -> list[uuid.UUID]:
        return await super().create_many([_routing_checked(row) for row in rows])

    async def update(self, row_id: uuid.UUID, **values: Any) -> LeadRoutingRule:
        return await super().update(row_id, **_routing_checked(values))

    async def active(self) -> list[LeadRoutingRule]:
        return await self._all(
            LeadRoutingRule.is_active.is_(True),
            order_by=[LeadRoutingRule.priority.desc(), LeadRoutingRule.created_at,
                      LeadRoutingRule.id],
        )

    async def route(self, contact: Contact) -> RoutingDecision | None:
        """The owner for `contact` from the first matching active rule (None if none match).

        Round-robin rules advance their position, so the call has an effect: use it when the
        contact is really being assigned.
        """
        rules = await self.active()
        if not rules:
            return None
        compiler = ContactConditions()
        first_match = sa.case(
            *((compiler.rules(r.parsed_conditions()), i) for i, r in enumerate(rules)), else_=None
        )
        stmt = (
            ContactRepository(self.session, self.scope).select()
            .with_only_columns(first_match).where(Contact.id == contact.id)
        )
        index = await self.session.scalar(stmt)
        if index is None:
            return None
        rule = rules[index]
        return RoutingDecision(rule.id, rule.name, await self._owner(rule))

    async def _owner(self, rule: LeadRoutingRule) -> uuid.UUID | None:
        if not (rule.round_robin and rule.round_robin_users):
            return rule.assign_to
        stmt = (
            sa.update(LeadRoutingRule)
            .where(LeadRoutingRule.workspace_id == self.scope.workspace_id,
                   LeadRoutingRule.id == rule.id)
            .values(round_robin_position=LeadRoutingRule.round_robin_position + 1)
            .returning(LeadRoutingRule.round_robin_position)
            .execution_options(synchronize_session="fetch")
        )
        position = int(await self.session.scalar(stmt) or 1) - 1
        users = rule.round_robin_users
        return uuid.UUID(str(users[position % len(users)]))

