"""Bodies of the workspace, knowledge and key routes (what the OpenAPI document describes).

Request bodies forbid unknown fields and bound every length, so a typo is a 422 rather than a
silently ignored setting. Responses never carry a secret: provider keys appear masked, access
keys by their last four characters; only `AccessKeyCreated.token` shows a token, once.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SecretStr,
    StringConstraints,
    field_validator,
)

from assistant.http.schemas import Body
from store.models.ai import AssistantPreferences
from store.models.orchestration import RiskLevel
from store.provider_keys import PROVIDERS
from tools.knowledge.common import ItemOut

ScopeName = Literal["chat", "read", "admin"]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
MAX_SHORTCUTS = 50
MAX_FAVORITES = 20
MAX_RECENT_SEARCHES = 20


# -- tools ------------------------------------------------------------------------------------
class ToolOut(BaseModel):
    """A tool the caller may use, as the model is offered it, and whether it asks first."""

    name: str
    title: str = Field(description="The name in words, e.g. 'Create contact'.")
    description: str = Field(description="What the model reads about the tool.")
    domain: str = Field(description="The tool's area, e.g. 'crm' or 'knowledge'.")
    risk: RiskLevel
    needs_approval: bool = Field(
        description="True when a call by this caller waits for a person's approval.")
    approval_reasons: list[str] = Field(description="Why it asks first (empty when it runs).")
    parameters: dict[str, object] = Field(description="JSON schema of the tool's arguments.")
    schema_hash: str = Field(description="Stable hash of name, description and parameters.")
    examples: list[str]


# -- insights ---------------------------------------------------------------------------------
class InsightOut(BaseModel):
    id: uuid.UUID
    type: str
    title: str
    description: str | None
    priority: int = Field(description="0-100; higher is more important.")
    status: str
    workspace_wide: bool = Field(description="True when meant for every member (no user).")
    data: dict[str, object]
    actions: list[object] = Field(description="Suggested tool calls, as the detector wrote them.")
    record_type: str | None
    record_id: uuid.UUID | None
    expires_at: datetime | None
    seen_at: datetime | None
    dismissed_at: datetime | None
    created_at: datetime


class InsightActIn(Body):
    action: int = Field(default=0, ge=0, le=9,
                        description="Which suggested action to run: its index in `actions`.")


class InsightActOut(BaseModel):
    """What acting did: the tool ran (`success`, with its result), or it waits for approval
    (`awaiting_approval`: decide it with /v1/approvals/{pending_action_id})."""

    insight: InsightOut
    tool: str
    status: Literal["success", "awaiting_approval"]
    result: JsonValue = None
    pending_action_id: uuid.UUID | None = None


# -- memory -----------------------------------------------------------------------------------
class FactOut(BaseModel):
    id: uuid.UUID
    fact: str
    scope: Literal["me", "workspace"] = Field(
        description="me: only the caller recalls it; workspace: every member does.")
    created_at: datetime


# -- workspace profile ------------------------------------------------------------------------
MAX_PROFILE_CHARS = 8000


class ProductIn(Body):
    name: Text200
    description: str | None = Field(default=None, max_length=1000)


class ProfileIn(Body):
    """The whole company profile Neptune puts in every system prompt (replaces what is stored)."""

    company_profile: dict[Annotated[str, StringConstraints(min_length=1, max_length=60)],
                          JsonValue] = Field(
        default_factory=dict, max_length=30,
        description="Short facts by name, e.g. {'industry': 'Robotics', 'founded': 2014}.")
    products: list[ProductIn] = Field(default_factory=list, max_length=100)
    brand_voice: str = Field(default="", max_length=2000,
                             description="How the company sounds, e.g. 'warm and plain'.")

    @field_validator("company_profile")
    @classmethod
    def _bounded(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        if len(json.dumps(value, default=str)) > MAX_PROFILE_CHARS:
            raise ValueError(f"the profile is at most {MAX_PROFILE_CHARS} characters as JSON")
        return value


class ProfileOut(BaseModel):
    company_profile: dict[str, JsonValue]
    products: list[JsonValue]
    brand_voice: str
    updated_at: datetime | None


# -- preferences ------------------------------------------------------------------------------
class ShortcutIn(Body):
    name: str = Field(pattern=r"^/[\w-]{1,39}$",
                      description="What the user types, starting with '/', e.g. '/pipeline'.")
    expands_to: str = Field(min_length=1, max_length=2000,
                            description="The message the shortcut sends.")


class PreferencesIn(AssistantPreferences):
    """The caller's whole preferences document: fields left out take their defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    language: str = Field(default="en", max_length=35, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
                          description="BCP 47 tag answers are written in, e.g. 'en', 'pt-BR'.")
    timezone: str = Field(default="UTC", min_length=1, max_length=64,
                          description="IANA time zone, e.g. 'Europe/Paris'.")
    shortcuts: list[ShortcutIn] = Field(default_factory=list, max_length=MAX_SHORTCUTS)
    favorite_agents: list[Text200] = Field(default_factory=list, max_length=MAX_FAVORITES,
                                           description="Agents to show first, in order.")
    recent_searches: list[Text200] = Field(default_factory=list,
                                           max_length=MAX_RECENT_SEARCHES,
                                           description="Newest first.")

    @field_validator("shortcuts")
    @classmethod
    def _distinct_names(cls, value: list[ShortcutIn]) -> list[ShortcutIn]:
        names = [s.name for s in value]
        if len(set(names)) != len(names):
            raise ValueError("two shortcuts have the same name")
        return value

    def assistant(self) -> AssistantPreferences:
        """The part the runtime reads into the system prompt."""
        return AssistantPreferences.model_validate(
            self.model_dump(include=set(AssistantPreferences.model_fields)))


class ShortcutOut(BaseModel):
    name: str
    expands_to: str


class PreferencesOut(BaseModel):
    tone: str
    verbosity: str
    language: str
    timezone: str
    shortcuts: list[ShortcutOut]
    favorite_agents: list[str]
    recent_searches: list[str]
    updated_at: datetime | None = Field(description="None while the defaults apply.")


# -- feedback ---------------------------------------------------------------------------------
class FeedbackIn(Body):
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=2000)


class FeedbackOut(BaseModel):
    message_id: uuid.UUID
    rating: Literal["up", "down"]
    comment: str | None
    updated_at: datetime


# -- usage ------------------------------------------------------------------------------------
class UsageTotals(BaseModel):
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = Field(description="Part of prompt_tokens the provider served cached.")
    total_tokens: int = Field(description="prompt_tokens + completion_tokens.")
    cost_usd_micros: int = Field(description="Cost in millionths of a US dollar.")


class ModelUsage(UsageTotals):
    model: str


class DayUsage(UsageTotals):
    day: date = Field(description="UTC day.")


class BudgetOut(BaseModel):
    """The workspace's daily token budget (per UTC day) and what the workspace spent of it."""

    daily_tokens: int
    spent_today: int
    remaining_today: int
    spent_this_month: int = Field(description="Tokens since the first of this UTC month.")


class UsageOut(BaseModel):
    scope: Literal["me", "workspace"]
    since: datetime
    totals: UsageTotals
    by_model: list[ModelUsage]
    by_day: list[DayUsage]
    budget: BudgetOut


# -- knowledge --------------------------------------------------------------------------------
class DocumentOut(BaseModel):
    item: ItemOut
    media_type: str = Field(description="The uploaded file's type.")
    characters: int = Field(description="Length of the stored text.")


class CitationOut(BaseModel):
    item_id: uuid.UUID
    title: str
    heading: str | None = Field(description="Section path, e.g. 'Pricing > Enterprise'.")
    chunk_index: int


class SearchHitOut(BaseModel):
    snippet: str
    score: float = Field(description="Relevance; comparable within one search.")
    matched_by: list[str] = Field(description="Which rankings found it: text, vector.")
    citation: CitationOut


class SearchOut(BaseModel):
    query: str
    mode: Literal["hybrid", "text", "vector"] = Field(description="The search that ran.")
    note: str | None = None
    hits: list[SearchHitOut]


# -- keys -------------------------------------------------------------------------------------
class ProviderKeyIn(Body):
    provider: str = Field(min_length=1, max_length=40,
                          json_schema_extra={"enum": list[JsonValue](sorted(PROVIDERS))})
    key: SecretStr = Field(min_length=8, max_length=1000, description="The provider's API key.")
    name: Text200 | None = None

    @field_validator("provider")
    @classmethod
    def _known(cls, value: str) -> str:
        provider = value.strip().lower()
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider; one of {', '.join(sorted(PROVIDERS))}")
        return provider


class ProviderKeyOut(BaseModel):
    id: uuid.UUID
    provider: str
    name: str
    masked: str = Field(description="The key's last four characters only.")
    is_active: bool
    last_used_at: datetime | None
    created_at: datetime


class AccessKeyIn(Body):
    name: Text200
    scopes: list[ScopeName] = Field(min_length=1, max_length=3,
                                    description="chat (talk and read), read, admin (all).")
    user_id: uuid.UUID | None = Field(
        default=None, description="The member the key acts as; default: the caller.")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class AccessKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    user_id: uuid.UUID
    scopes: list[str]
    last_four: str
    created_by: uuid.UUID | None
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class AccessKeyCreated(AccessKeyOut):
    token: str = Field(description="The key itself. Shown this once; store it now.")
