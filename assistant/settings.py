"""Runtime configuration from the environment (`NEPTUNE_*`), with defaults a demo can run on.

Model names are aliases resolved by `NEPTUNE_MODEL_ALIASES` (JSON: alias -> provider model, or
alias -> {"model": ..., "api_base": ..., "api_key_env": ...}); a name that is not an alias is
passed to LiteLLM as it is ("openai/gpt-4o-mini"). A workspace may override the model and its
fallbacks in its settings (`{"model": ..., "fallback_models": [...]}`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from store.models.core import SubscriptionTier


class BusyPolicy(enum.StrEnum):
    """What a message does while its conversation is busy with another turn."""

    QUEUE = "queue"
    REJECT = "reject"


class ModelRoute(BaseModel):
    """Where an alias goes: a LiteLLM model name, optionally its own endpoint and key variable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1)
    api_base: str | None = None
    api_key_env: str | None = None


def split_commas(value: Any) -> Any:
    """An environment list (`a, b,c`) as a tuple; anything else unchanged."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


DEFAULT_BUDGETS = {
    SubscriptionTier.FREE: 50_000,
    SubscriptionTier.STARTER: 200_000,
    SubscriptionTier.PROFESSIONAL: 1_000_000,
    SubscriptionTier.ENTERPRISE: 5_000_000,
}


class RuntimeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEPTUNE_", extra="ignore", frozen=True)

    model: str = "neptune-local/neptune"  # the built-in offline model until one is configured
    fallback_models: Annotated[tuple[str, ...], NoDecode] = ()
    model_aliases: dict[str, ModelRoute] = Field(default_factory=dict)
    model_timeout: float = Field(default=60.0, gt=0)
    model_retries: int = Field(default=2, ge=0, le=10)
    retry_backoff: float = Field(default=0.5, ge=0)
    step_limit: int = Field(default=8, ge=1, le=50)
    tool_retry_limit: int = Field(default=2, ge=0, le=10)
    context_tokens: int = Field(default=12_000, ge=500)
    busy_policy: BusyPolicy = BusyPolicy.QUEUE
    token_budgets: dict[SubscriptionTier, int] = Field(
        default_factory=lambda: dict(DEFAULT_BUDGETS)
    )
    approval_ttl_hours: float = Field(default=24.0, gt=0)
    prompt_version: str = "v1"

    _split = field_validator("fallback_models", mode="before")(
        lambda value: split_commas(value))

    @field_validator("model_aliases", mode="before")
    @classmethod
    def _routes(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"model": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    def route(self, name: str) -> ModelRoute:
        return self.model_aliases.get(name) or ModelRoute(model=name)

    def budget_for(self, tier: SubscriptionTier) -> int:
        return self.token_budgets.get(tier, DEFAULT_BUDGETS[tier])

    def daily_budget(self, tier: SubscriptionTier, workspace_settings: Mapping[str, Any]) -> int:
        """A workspace's daily tokens: its own `daily_token_budget`, else its tier's."""
        return int(workspace_settings.get("daily_token_budget") or self.budget_for(tier))
