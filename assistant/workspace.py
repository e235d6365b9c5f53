"""What a turn reads about its workspace and caller once, at the start: names, preferences,
models and keys, the tools the caller may use, the budget and what is spent of it.

A conversation may carry per-run overrides in `context["run"]` (an agent's run writes them when
it opens its conversation, see `assistant.agent_runs`): its own system prompt and the only tools
it may use. They live on the conversation rather than in the call that starts a turn, so every
turn of that conversation honours them, including the continuation after an approval that a
person decides from any channel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.context import PageContext
from assistant.deps import RuntimeDeps
from assistant.gateway import ModelTarget, provider_of
from assistant.tokens import count_tools
from store.models.ai import AiConversation, AiUserPreferences, AssistantPreferences
from store.models.core import User, Workspace
from store.provider_keys import ProviderKeys
from store.repositories.neptune import UsageLedgerRepository
from tools.context import Caller
from tools.policy import ToolOverride, available, overrides_from_settings
from tools.registry import Tool, ToolRegistry

_TOOL_TOKENS: dict[str, int] = {}


def tool_tokens(tools: list[Tool]) -> int:
    """Schema tokens, counted once per tool version per process."""
    total = 0
    for tool in tools:
        if tool.schema_hash not in _TOOL_TOKENS:
            _TOOL_TOKENS[tool.schema_hash] = count_tools([tool.schema])
        total += _TOOL_TOKENS[tool.schema_hash]
    return total


@dataclass(frozen=True)
class RunOverrides:
    """A conversation's own system prompt and tool list (None: the usual ones)."""

    system_prompt: str | None = None
    prompt_ref: str | None = None
    tools: frozenset[str] | None = None

    @classmethod
    def of(cls, context: Mapping[str, Any] | None) -> RunOverrides:
        run = (context or {}).get("run")
        if not isinstance(run, Mapping):
            return cls()
        tools = run.get("tools")
        return cls(
            system_prompt=run.get("system_prompt") or None, prompt_ref=run.get("prompt_ref"),
            tools=frozenset(str(t) for t in tools) if isinstance(tools, list) else None,
        )

    def registry(self, full: ToolRegistry) -> ToolRegistry:
        """The tools a call may name: all of `full`, or only the run's own. A call to any other
        tool then finds no such tool and is never executed."""
        if self.tools is None:
            return full
        allowed = ToolRegistry()
        for tool in full:
            if tool.name in self.tools:
                allowed.register(tool)
        return allowed


@dataclass
class TurnSetting:
    workspace_name: str
    user_name: str
    preferences: AssistantPreferences
    targets: list[ModelTarget]
    tools: list[Tool]
    overrides: dict[str, ToolOverride]
    budget: int
    tokens_today: int
    tool_tokens: int = 0
    hashes: dict[str, str] = field(default_factory=dict)
    prompt_ref: str | None = None
    run: RunOverrides = field(default_factory=RunOverrides)

    def prompt_values(self, page: PageContext) -> dict[str, str]:
        prefs = self.preferences
        today = datetime.now(UTC).astimezone(ZoneInfo(prefs.timezone)).date().isoformat()
        return {
            "workspace_name": self.workspace_name, "user_name": self.user_name,
            "today": today, "timezone": prefs.timezone, "tone": prefs.tone,
            "verbosity": prefs.verbosity, "language": prefs.language, **page.values(),
        }


async def load_setting(
    session: AsyncSession, deps: RuntimeDeps, caller: Caller, conversation: AiConversation
) -> TurnSetting:
    workspace, user, preferences, tokens_today = await _read(session, caller)
    settings: dict[str, Any] = dict(workspace.settings or {})
    overrides = overrides_from_settings(settings)
    run = RunOverrides.of(conversation.context)
    tools = available(run.registry(deps.registry), caller, overrides)
    return TurnSetting(
        workspace_name=workspace.name, user_name=_name(user),
        preferences=AssistantPreferences.model_validate(preferences or {}),
        targets=await model_targets(
            session, deps, caller, settings,
            str(conversation.model or settings.get("model") or deps.settings.model)),
        tools=tools, overrides=overrides,
        budget=deps.settings.daily_budget(workspace.subscription_tier, settings),
        tokens_today=tokens_today, tool_tokens=tool_tokens(tools),
        hashes={t.name: t.schema_hash for t in tools}, run=run,
    )


async def _read(session: AsyncSession, caller: Caller) -> tuple[Workspace, User | None, Any, int]:
    """Workspace, user, preferences and today's tokens in one round trip (every turn pays it)."""
    preferences = (
        sa.select(AiUserPreferences.preferences)
        .where(AiUserPreferences.workspace_id == caller.workspace_id,
               AiUserPreferences.user_id == caller.user_id)
        .scalar_subquery()
    )
    spent = UsageLedgerRepository(session, caller.scope).tokens_today_query().scalar_subquery()
    stmt = (
        sa.select(Workspace, User, preferences, spent)
        .outerjoin(User, User.id == caller.user_id)
        .where(Workspace.id == caller.workspace_id)
    )
    row = (await session.execute(stmt)).one()
    return row[0], row[1], row[2], int(row[3] or 0)


def _name(user: User | None) -> str:
    if user is None:
        return "a member"
    full = " ".join(p for p in (user.first_name, user.last_name) if p)
    return full or user.email


async def model_targets(session: AsyncSession, deps: RuntimeDeps, caller: Caller,
                        settings: dict[str, Any], first: str) -> list[ModelTarget]:
    """`first`, then the workspace's fallbacks, each with the workspace's own key for its
    provider when it has one. Chat turns and grid `ai` nodes route the same way."""
    fallbacks = settings.get("fallback_models") or deps.settings.fallback_models
    names = list(dict.fromkeys([first, *(str(n) for n in fallbacks)]))
    keys = ProviderKeys(session, caller.scope, deps.keyring) if deps.keyring else None
    targets = []
    for name in names:
        route = deps.settings.route(name)
        key = await keys.reveal(provider_of(route.model)) if keys else None
        if key is None and route.api_key_env:
            key = os.environ.get(route.api_key_env)
        targets.append(ModelTarget(name, route.model, route.api_base, key))
    return targets
