"""Argument and result models of the marketing tools.

Segments, lead scoring and lead routing describe contacts with one condition language
(`ConditionIn`: field, operator, value) that the store compiles to SQL; its field and operator
descriptions are the model's only guide to it, so they list what exists. Budgets are `Decimal`
major units, stored as cents.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from store.models.crm import Contact, ContactStatus
from store.models.marketing import (
    ActionType,
    AutomationRule,
    AutomationStatus,
    Campaign,
    CampaignMetrics,
    CampaignStatus,
    CampaignType,
    ConditionOperator,
    LeadRoutingRule,
    LeadScoringRule,
    ScoringType,
    Segment,
    TriggerType,
)
from store.repositories.marketing import CampaignReport
from tools.workspace import major_units

FROZEN = ConfigDict(frozen=True, extra="forbid")
Amount = Annotated[Decimal, Field(max_digits=14, decimal_places=2)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
URL_PATTERN = r"^https?://\S+$"
ConditionValue = str | int | float | list[str] | list[int | float] | None
ConfigValue = str | int | float | bool | None
Config = Annotated[dict[str, ConfigValue], Field(max_length=20)]

FIELD_HELP = (
    "Contact field: status, source, company, job_title, email, lead_score, tags, created_at, "
    "last_contacted_at, or custom_fields.<key>."
)
OPERATOR_HELP = (
    "eq/neq; contains/starts_with (text); gt/gte/lt/lte (numbers, dates); in/not_in (a list); "
    "is_set/is_not_set; has_tag (tags); within_last_days (dates). Text matches ignore case."
)
VALUE_HELP = (
    "What to compare with: text, a number, an ISO date, a list for in/not_in, a tag (or list) "
    "for has_tag, a number of days for within_last_days; omit for is_set/is_not_set. Status is "
    "one of lead, active, inactive, customer, churned."
)


# -- conditions ------------------------------------------------------------------------------


class ConditionIn(BaseModel):
    model_config = FROZEN

    field: str = Field(min_length=1, max_length=200, description=FIELD_HELP)
    operator: ConditionOperator = Field(description=OPERATOR_HELP)
    value: ConditionValue = Field(default=None, description=VALUE_HELP)


class RulesIn(BaseModel):
    model_config = FROZEN

    match: Literal["all", "any"] = Field(
        default="all", description="all: every condition must hold; any: at least one."
    )
    conditions: list[ConditionIn] = Field(
        default_factory=list, max_length=50,
        description="Conditions on contacts; an empty list matches every contact.",
    )

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# -- campaigns -------------------------------------------------------------------------------


class CampaignContentIn(BaseModel):
    """The parts of a campaign's content the create and update tools share."""

    model_config = FROZEN

    subject: str | None = Field(
        default=None, max_length=200, description="Email subject line (needed to schedule email)."
    )
    headline: str | None = Field(default=None, max_length=200, description="Headline on top.")
    body: str | None = Field(
        default=None, max_length=20_000, description="The message text (plain text or Markdown)."
    )
    cta_url: str | None = Field(
        default=None, max_length=2000, pattern=URL_PATTERN,
        description="Where the call-to-action button links.",
    )
    segment_id: uuid.UUID | None = Field(
        default=None, description="Audience segment (from list_segments); needed to schedule."
    )
    channel_id: uuid.UUID | None = Field(
        default=None, description="Marketing channel to send through, if the workspace has one."
    )
    budget: Amount | None = Field(
        default=None, ge=0, description="Budget in major units, e.g. 500.00."
    )


class CreateCampaignArgs(CampaignContentIn):
    name: str = Field(min_length=1, max_length=200, description="Campaign name.")
    type: CampaignType = Field(default=CampaignType.EMAIL, description="Kind of campaign.")
    currency: Currency = Field(default="USD", description="Currency of the budget.")


class UpdateCampaignArgs(CampaignContentIn):
    campaign_id: uuid.UUID = Field(description="The draft or paused campaign to change.")
    name: str | None = Field(default=None, min_length=1, max_length=200, description="New name.")


class CampaignRef(BaseModel):
    model_config = FROZEN

    campaign_id: uuid.UUID = Field(description="The campaign's id (from list_campaigns).")


class ListCampaignsArgs(BaseModel):
    model_config = FROZEN

    status: CampaignStatus | None = Field(default=None, description="Only this status.")
    limit: int = Field(default=20, ge=1, le=100, description="How many, newest first.")


class ScheduleCampaignArgs(BaseModel):
    model_config = FROZEN

    campaign_id: uuid.UUID = Field(description="The draft or paused campaign to schedule.")
    send_at: AwareDatetime = Field(
        description="When to send, in the future, with a UTC offset: 2025-03-04T09:00:00-05:00."
    )


# -- segments --------------------------------------------------------------------------------


class CreateSegmentArgs(BaseModel):
    model_config = FROZEN

    name: str = Field(min_length=1, max_length=200, description="Segment name, e.g. 'Hot leads'.")
    description: str | None = Field(default=None, max_length=1000, description="Who it is for.")
    rules: RulesIn = Field(description="Which contacts belong to the segment.")


class ListSegmentsArgs(BaseModel):
    model_config = FROZEN

    include_inactive: bool = Field(default=False, description="Also list archived segments.")
    limit: int = Field(default=50, ge=1, le=100, description="How many, by name.")


class PreviewSegmentArgs(BaseModel):
    model_config = FROZEN

    segment_id: uuid.UUID | None = Field(
        default=None, description="An existing segment to preview."
    )
    rules: RulesIn | None = Field(
        default=None, description="Or rules to try before creating a segment."
    )
    sample_size: int = Field(default=5, ge=1, le=20, description="How many contacts to show.")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.segment_id is None) == (self.rules is None):
            raise ValueError("give exactly one of segment_id or rules")
        return self


# -- automation, scoring, routing ------------------------------------------------------------


class CreateAutomationArgs(BaseModel):
    model_config = FROZEN

    name: str = Field(min_length=1, max_length=200, description="Rule name.")
    description: str | None = Field(default=None, max_length=1000, description="What it is for.")
    trigger: TriggerType = Field(description="The event that starts the rule.")
    trigger_config: Config = Field(
        default_factory=dict,
        description="Narrows the trigger, e.g. {'stage': 'negotiation'} for deal_stage_changed.",
    )
    action: ActionType = Field(description="What the rule does.")
    action_config: Config = Field(
        default_factory=dict,
        description="Settings of the action: send_email {template, or subject and body}, "
        "send_sms {body}, create_task {title, due_in_days}, update_field {field, value}, "
        "add_tag/remove_tag {tag}, add_to_campaign {campaign_id}, call_webhook {url}, "
        "send_notification {channel}.",
    )
    activate: bool = Field(default=True, description="False saves it as a draft that never runs.")


class ListAutomationsArgs(BaseModel):
    model_config = FROZEN

    status: AutomationStatus | None = Field(default=None, description="Only this status.")
    trigger: TriggerType | None = Field(default=None, description="Only this trigger.")
    limit: int = Field(default=50, ge=1, le=100, description="How many, newest first.")


class SetAutomationStatusArgs(BaseModel):
    model_config = FROZEN

    rule_id: uuid.UUID = Field(description="The automation rule (from list_automation_rules).")
    status: AutomationStatus = Field(
        description="active runs it, paused stops it, draft shelves it, archived retires it."
    )


class CreateScoringRuleArgs(BaseModel):
    model_config = FROZEN

    name: str = Field(min_length=1, max_length=200, description="Rule name, e.g. 'Executive'.")
    field: str = Field(min_length=1, max_length=200, description=FIELD_HELP)
    operator: ConditionOperator = Field(description=OPERATOR_HELP)
    value: ConditionValue = Field(default=None, description=VALUE_HELP)
    points: int = Field(
        ge=-100, le=100, description="Points added when the condition holds; negative subtracts."
    )
    type: ScoringType = Field(default=ScoringType.DEMOGRAPHIC, description="Kind of signal.")
    priority: int = Field(default=0, ge=0, le=1000, description="Higher is listed first.")
    activate: bool = Field(default=True, description="False saves it inactive.")

    @model_validator(mode="after")
    def _scores(self) -> Self:
        if self.points == 0:
            raise ValueError("points must not be 0")
        return self


class ListRulesArgs(BaseModel):
    model_config = FROZEN

    include_inactive: bool = Field(default=False, description="Also list inactive rules.")
    limit: int = Field(default=50, ge=1, le=100, description="How many, highest priority first.")


class RecomputeScoresArgs(BaseModel):
    model_config = FROZEN


class CreateRoutingRuleArgs(BaseModel):
    model_config = FROZEN

    name: str = Field(min_length=1, max_length=200, description="Rule name.")
    conditions: RulesIn = Field(
        default_factory=RulesIn, description="Which contacts the rule routes; empty: all of them."
    )
    assign_to: uuid.UUID | None = Field(
        default=None, description="Team member who gets every match (from list_team_members)."
    )
    round_robin_members: list[uuid.UUID] = Field(
        default_factory=list, max_length=50,
        description="Or two or more team members who get matches in turn.",
    )
    priority: int = Field(
        default=0, ge=0, le=1000, description="Rules are tried highest first; the first match wins."
    )
    activate: bool = Field(default=True, description="False saves it inactive.")

    @model_validator(mode="after")
    def _one_owner(self) -> Self:
        if (self.assign_to is None) == (not self.round_robin_members):
            raise ValueError("give exactly one of assign_to or round_robin_members")
        members = self.round_robin_members
        if members and (len(members) < 2 or len(set(members)) != len(members)):
            raise ValueError("round_robin_members needs two or more different members")
        return self


# -- results ---------------------------------------------------------------------------------


class CampaignOut(BaseModel):
    id: uuid.UUID
    name: str
    type: CampaignType
    status: CampaignStatus
    subject: str | None
    segment_id: uuid.UUID | None
    channel_id: uuid.UUID | None
    scheduled_at: datetime | None
    sent_at: datetime | None
    completed_at: datetime | None
    budget: Decimal
    spent: Decimal
    currency: str

    @classmethod
    def of(cls, c: Campaign) -> CampaignOut:
        return cls(
            id=c.id, name=c.name, type=c.type, status=c.status, subject=c.subject,
            segment_id=c.segment_id, channel_id=c.channel_id, scheduled_at=c.scheduled_at,
            sent_at=c.sent_at, completed_at=c.completed_at, budget=major_units(c.budget_cents),
            spent=major_units(c.spent_cents), currency=c.currency,
        )


class CampaignResult(BaseModel):
    campaign: CampaignOut


class CampaignList(BaseModel):
    campaigns: list[CampaignOut]
    total: int
    has_more: bool


class ScheduleResult(BaseModel):
    campaign: CampaignOut
    audience: int = Field(description="Contacts in the segment now; the send uses it then.")


class Rates(BaseModel):
    """Fractions (0.25 = 25%); null when nothing reached the step before."""

    delivery: float | None
    open: float | None
    click: float | None
    click_to_open: float | None
    bounce: float | None
    unsubscribe: float | None
    conversion: float | None


class CampaignMetricsResult(BaseModel):
    campaign: CampaignOut
    recipients: int
    funnel: CampaignMetrics
    rates: Rates

    @classmethod
    def of(cls, campaign: Campaign, r: CampaignReport) -> CampaignMetricsResult:
        rates = Rates(
            delivery=r.delivery_rate, open=r.open_rate, click=r.click_rate,
            click_to_open=r.click_to_open_rate, bounce=r.bounce_rate,
            unsubscribe=r.unsubscribe_rate, conversion=r.conversion_rate,
        )
        return cls(campaign=CampaignOut.of(campaign), recipients=r.recipients, funnel=r.metrics,
                   rates=rates)


class SegmentOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    rules: dict[str, Any]
    contact_count: int
    last_calculated_at: datetime | None
    is_active: bool

    @classmethod
    def of(cls, s: Segment) -> SegmentOut:
        return cls(id=s.id, name=s.name, description=s.description, rules=s.rules,
                   contact_count=s.contact_count, last_calculated_at=s.last_calculated_at,
                   is_active=s.is_active)


class SegmentResult(BaseModel):
    segment: SegmentOut


class SegmentList(BaseModel):
    segments: list[SegmentOut]
    total: int
    has_more: bool


class ContactBrief(BaseModel):
    id: uuid.UUID
    name: str
    email: str | None
    company: str | None
    status: ContactStatus
    lead_score: int

    @classmethod
    def of(cls, c: Contact) -> ContactBrief:
        return cls(id=c.id, name=c.full_name, email=c.email, company=c.company, status=c.status,
                   lead_score=c.lead_score)


class SegmentPreviewResult(BaseModel):
    count: int = Field(description="Contacts matching now.")
    sample: list[ContactBrief] = Field(description="Highest-scoring matches.")


class AutomationOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    trigger: TriggerType
    trigger_config: dict[str, Any]
    action: ActionType
    action_config: dict[str, Any]
    status: AutomationStatus
    execution_count: int
    last_executed_at: datetime | None

    @classmethod
    def of(cls, r: AutomationRule) -> AutomationOut:
        return cls(id=r.id, name=r.name, description=r.description, trigger=r.trigger_type,
                   trigger_config=r.trigger_config, action=r.action_type,
                   action_config=r.action_config, status=r.status,
                   execution_count=r.execution_count, last_executed_at=r.last_executed_at)


class AutomationResult(BaseModel):
    rule: AutomationOut


class AutomationList(BaseModel):
    rules: list[AutomationOut]
    total: int
    has_more: bool


class ScoringRuleOut(BaseModel):
    id: uuid.UUID
    name: str
    field: str
    operator: ConditionOperator
    value: Any
    points: int
    type: ScoringType
    priority: int
    is_active: bool

    @classmethod
    def of(cls, r: LeadScoringRule) -> ScoringRuleOut:
        return cls(id=r.id, name=r.name, field=r.field, operator=r.operator, value=r.value,
                   points=r.points, type=r.type, priority=r.priority, is_active=r.is_active)


class ScoringRuleResult(BaseModel):
    rule: ScoringRuleOut
    matching_contacts: int = Field(description="Contacts the condition holds for now.")


class ScoringRuleList(BaseModel):
    rules: list[ScoringRuleOut]
    total: int
    has_more: bool


class ScoreChange(BaseModel):
    contact_id: uuid.UUID
    name: str
    before: int
    after: int


class RecomputeResult(BaseModel):
    active_rules: int
    contacts_changed: int
    biggest_changes: list[ScoreChange] = Field(description="Up to 10, largest change first.")


class RoutingRuleOut(BaseModel):
    id: uuid.UUID
    name: str
    conditions: dict[str, Any]
    assign_to: uuid.UUID | None
    round_robin_members: list[uuid.UUID]
    priority: int
    is_active: bool

    @classmethod
    def of(cls, r: LeadRoutingRule) -> RoutingRuleOut:
        members = [uuid.UUID(str(u)) for u in r.round_robin_users] if r.round_robin else []
        return cls(id=r.id, name=r.name, conditions=r.conditions, assign_to=r.assign_to,
                   round_robin_members=members, priority=r.priority, is_active=r.is_active)


class RoutingRuleResult(BaseModel):
    rule: RoutingRuleOut
    matching_contacts: int = Field(description="Contacts the conditions hold for now.")


class RoutingRuleList(BaseModel):
    rules: list[RoutingRuleOut]
    total: int
    has_more: bool
