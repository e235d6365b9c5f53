"""Marketing: channels, campaigns and their recipients, segments, automation, lead scoring/routing.

Three JSONB columns have a fixed shape and are validated by pydantic on every write:
`campaigns.metrics` (`CampaignMetrics`), `segments.rules` and `lead_routing_rules.conditions`
(`SegmentRules`). A segment rule, a lead-scoring rule and a routing rule all use the same
`Condition` (field, operator, value), which the marketing repository compiles into SQL over
contacts, so "who is in this segment", "what is this lead worth" and "who owns this lead" can
never disagree about what a condition means.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, validates

from store.errors import InvalidArgument
from store.models.base import (
    JSON,
    TenantTable,
    counter_column,
    currency_column,
    enum_column,
    flag_column,
    json_column,
    money_column,
    tenant_fk,
    user_fk,
)


class ChannelType(enum.StrEnum):
    EMAIL = "email"
    SOCIAL = "social"
    ADS = "ads"
    CONTENT = "content"
    SEO = "seo"
    AFFILIATE = "affiliate"


class ChannelStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class CampaignType(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    SOCIAL = "social"
    ADS = "ads"
    CONTENT = "content"


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"


class RecipientStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    CONVERTED = "converted"
    BOUNCED = "bounced"
    UNSUBSCRIBED = "unsubscribed"
    FAILED = "failed"


class TriggerType(enum.StrEnum):
    LEAD_CREATED = "lead_created"
    CONTACT_UPDATED = "contact_updated"
    TAG_ADDED = "tag_added"
    LEAD_SCORE_CHANGED = "lead_score_changed"
    DEAL_CREATED = "deal_created"
    DEAL_STAGE_CHANGED = "deal_stage_changed"
    DEAL_WON = "deal_won"
    DEAL_LOST = "deal_lost"
    EMAIL_OPENED = "email_opened"
    EMAIL_CLICKED = "email_clicked"
    FORM_SUBMITTED = "form_submitted"
    CAMPAIGN_COMPLETED = "campaign_completed"
    INVOICE_OVERDUE = "invoice_overdue"


class ActionType(enum.StrEnum):
    SEND_EMAIL = "send_email"
    SEND_SMS = "send_sms"
    CREATE_TASK = "create_task"
    UPDATE_FIELD = "update_field"
    ADD_TAG = "add_tag"
    REMOVE_TAG = "remove_tag"
    ASSIGN_OWNER = "assign_owner"
    ADD_TO_CAMPAIGN = "add_to_campaign"
    SEND_NOTIFICATION = "send_notification"
    CALL_WEBHOOK = "call_webhook"


class AutomationStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    DRAFT = "draft"
    ARCHIVED = "archived"


class ScoringType(enum.StrEnum):
    DEMOGRAPHIC = "demographic"
    BEHAVIORAL = "behavioral"
    ENGAGEMENT = "engagement"


class ConditionOperator(enum.StrEnum):
    EQ = "eq"
    NEQ = "neq"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    NOT_IN = "not_in"
    IS_SET = "is_set"
    IS_NOT_SET = "is_not_set"
    HAS_TAG = "has_tag"
    WITHIN_LAST_DAYS = "within_last_days"


# -- JSONB shapes ----------------------------------------------------------------------------


class Condition(BaseModel):
    """One test on a contact, e.g. {"field": "lead_score", "operator": "gte", "value": 50}.

    Which fields exist and which operators suit them is checked when the condition is compiled
    to SQL (store.repositories.marketing), so the message can name the field's allowed operators.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str = Field(min_length=1, max_length=200)
    operator: ConditionOperator
    value: Any = None


class SegmentRules(BaseModel):
    """All (or any) of the conditions must hold. No conditions means every contact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    match: Literal["all", "any"] = "all"
    conditions: list[Condition] = Field(default_factory=list, max_length=50)


class CampaignMetrics(BaseModel):
    """Funnel counts of a campaign, as the provider or the recipients table reports them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sent: int = Field(default=0, ge=0)
    delivered: int = Field(default=0, ge=0)
    opened: int = Field(default=0, ge=0)
    clicked: int = Field(default=0, ge=0)
    bounced: int = Field(default=0, ge=0)
    unsubscribed: int = Field(default=0, ge=0)
    converted: int = Field(default=0, ge=0)


_ROUND_ROBIN = TypeAdapter(list[uuid.UUID])


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in error.errors()
    )


def parse_rules(raw: Any, what: str = "segment rules") -> SegmentRules:
    """Validate a rules document; a bad one is an InvalidArgument naming the bad part."""
    try:
        return SegmentRules.model_validate(raw)
    except ValidationError as error:
        raise InvalidArgument(f"invalid {what}: {_describe(error)}") from error


def normalize_rules(raw: Any, what: str = "segment rules") -> JSON:
    return parse_rules(raw, what).model_dump(mode="json")


def normalize_metrics(raw: Any) -> JSON:
    try:
        return CampaignMetrics.model_validate(raw).model_dump(mode="json")
    except ValidationError as error:
        raise InvalidArgument(f"invalid campaign metrics: {_describe(error)}") from error


def normalize_user_list(raw: Any) -> list[str]:
    try:
        return [str(u) for u in _ROUND_ROBIN.validate_python(raw)]
    except ValidationError as error:
        raise InvalidArgument(f"invalid round-robin users: {_describe(error)}") from error


# -- tables ----------------------------------------------------------------------------------


class MarketingChannel(TenantTable):
    """A channel the workspace markets through. `config` holds settings, never secrets:
    provider credentials belong in workspace_api_keys, which are encrypted."""

    __tablename__ = "marketing_channels"
    __table_args__ = (sa.Index(None, "workspace_id", "status"),)
    name: Mapped[str]
    type: Mapped[ChannelType] = enum_column(ChannelType)
    status: Mapped[ChannelStatus] = enum_column(ChannelStatus, default=ChannelStatus.ACTIVE)
    config: Mapped[JSON] = json_column()
    budget_cents: Mapped[int] = money_column()
    spent_cents: Mapped[int] = money_column()
    currency: Mapped[str] = currency_column()
    metrics: Mapped[JSON] = json_column()


class Campaign(TenantTable):
    __tablename__ = "campaigns"
    __table_args__ = (
        tenant_fk("marketing_channels", "channel_id"),
        tenant_fk("segments", "segment_id"),
        sa.Index(None, "workspace_id", "status", "scheduled_at"),
        sa.Index(None, "workspace_id", "segment_id"),
    )
    channel_id: Mapped[uuid.UUID | None]
    segment_id: Mapped[uuid.UUID | None]
    name: Mapped[str]
    type: Mapped[CampaignType] = enum_column(CampaignType, default=CampaignType.EMAIL)
    subject: Mapped[str | None]
    content: Mapped[JSON] = json_column()
    status: Mapped[CampaignStatus] = enum_column(CampaignStatus, default=CampaignStatus.DRAFT)
    scheduled_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    budget_cents: Mapped[int] = money_column()
    spent_cents: Mapped[int] = money_column()
    currency: Mapped[str] = currency_column()
    metrics: Mapped[JSON] = json_column()
    created_by: Mapped[uuid.UUID | None] = user_fk()

    @validates("metrics")
    def _validate_metrics(self, _key: str, value: Any) -> JSON:
        return normalize_metrics(value)

    def funnel(self) -> CampaignMetrics:
        return CampaignMetrics.model_validate(self.metrics)


class CampaignRecipient(TenantTable):
    __tablename__ = "campaign_recipients"
    __table_args__ = (
        tenant_fk("campaigns", "campaign_id", ondelete="CASCADE"),
        tenant_fk("contacts", "contact_id", ondelete="CASCADE"),
        sa.UniqueConstraint("workspace_id", "campaign_id", "contact_id"),
        sa.Index(None, "workspace_id", "contact_id"),
    )
    campaign_id: Mapped[uuid.UUID]
    contact_id: Mapped[uuid.UUID]
    status: Mapped[RecipientStatus] = enum_column(RecipientStatus, default=RecipientStatus.PENDING)
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    clicked_at: Mapped[datetime | None]
    error_message: Mapped[str | None]


class Segment(TenantTable):
    __tablename__ = "segments"
    __table_args__ = (sa.Index(None, "workspace_id", "is_active"),)
    name: Mapped[str]
    description: Mapped[str | None]
    #: A SegmentRules document; the empty default means "match all", i.e. every contact.
    rules: Mapped[JSON] = json_column()
    contact_count: Mapped[int] = counter_column()
    last_calculated_at: Mapped[datetime | None]
    is_active: Mapped[bool] = flag_column(True)

    @validates("rules")
    def _validate_rules(self, _key: str, value: Any) -> JSON:
        return normalize_rules(value)

    def parsed_rules(self) -> SegmentRules:
        return SegmentRules.model_validate(self.rules)


class AutomationRule(TenantTable):
    __tablename__ = "automation_rules"
    __table_args__ = (sa.Index(None, "workspace_id", "trigger_type", "status"),)
    name: Mapped[str]
    description: Mapped[str | None]
    trigger_type: Mapped[TriggerType] = enum_column(TriggerType)
    trigger_config: Mapped[JSON] = json_column()
    action_type: Mapped[ActionType] = enum_column(ActionType)
    action_config: Mapped[JSON] = json_column()
    status: Mapped[AutomationStatus] = enum_column(AutomationStatus, default=AutomationStatus.DRAFT)
    execution_count: Mapped[int] = counter_column()
    last_executed_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None] = user_fk()


class LeadScoringRule(TenantTable):
    """Adds `points` (negative to subtract) to a contact's lead score when the condition holds."""

    __tablename__ = "lead_scoring_rules"
    __table_args__ = (sa.Index(None, "workspace_id", "is_active"),)
    name: Mapped[str]
    field: Mapped[str]
    operator: Mapped[ConditionOperator] = enum_column(ConditionOperator)
    value: Mapped[Any] = mapped_column(JSONB, nullable=True)
    points: Mapped[int]
    type: Mapped[ScoringType] = enum_column(ScoringType, default=ScoringType.DEMOGRAPHIC)
    is_active: Mapped[bool] = flag_column(True)
    priority: Mapped[int] = counter_column()

    def condition(self) -> Condition:
        return Condition(field=self.field, operator=self.operator, value=self.value)


class LeadRoutingRule(TenantTable):
    """Routes a matching contact to `assign_to`, or in turn to each of `round_robin_users`.

    Rules are tried by descending `priority`; the first whose conditions hold wins.
    `round_robin_position` counts assignments made, so the next owner is users[position % n].
    """

    __tablename__ = "lead_routing_rules"
    __table_args__ = (sa.Index(None, "workspace_id", "is_active", "priority"),)
    name: Mapped[str]
    conditions: Mapped[JSON] = json_column()  # SegmentRules; empty matches every contact
    assign_to: Mapped[uuid.UUID | None] = user_fk()
    round_robin: Mapped[bool] = flag_column(False)
    round_robin_users: Mapped[list[Any]] = json_column(default="[]")
    round_robin_position: Mapped[int] = counter_column()
    is_active: Mapped[bool] = flag_column(True)
    priority: Mapped[int] = counter_column()

    @validates("conditions")
    def _validate_conditions(self, _key: str, value: Any) -> JSON:
        return normalize_rules(value, "routing conditions")

    @validates("round_robin_users")
    def _validate_users(self, _key: str, value: Any) -> list[str]:
        return normalize_user_list(value)

    def parsed_conditions(self) -> SegmentRules:
        return SegmentRules.model_validate(self.conditions)
