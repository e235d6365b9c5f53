"""Who may use a tool, and whether a call runs at once or waits for a person.

Availability: the caller's role must reach the tool's role, the caller must hold the tool's
permission area, and the workspace must not have disabled the tool. A model only ever sees the
tools its caller may use; the runtime re-checks at execution, since a model can name any tool.

Risk decides the rest. low: runs. medium: runs only when this user switched on auto-execution
for this tool (offered after consistent approvals); otherwise approval. high and critical: always
approval, and critical can never be auto-enabled. A workspace admin may raise any tool to
"always ask" in workspace settings (`tool_policies: {name: {"require_approval": true}}`), never
lower it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from store.models.orchestration import RiskLevel
from tools.context import Caller
from tools.registry import Tool


class ToolOverride(BaseModel):
    """A workspace admin's policy for one tool."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    disabled: bool = Field(default=False, description="Hide the tool from everyone.")
    require_approval: bool = Field(
        default=False, description="Ask before every call, whatever the risk."
    )


class Verdict(enum.StrEnum):
    RUN = "run"
    ASK = "ask"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reasons: tuple[str, ...]
    automatic: bool = False


def overrides_from_settings(settings: Mapping[str, Any] | None) -> dict[str, ToolOverride]:
    """Parse `workspaces.settings["tool_policies"]`; entries that do not parse are ignored
    rather than breaking every turn, and the settings API validates them on write."""
    raw = (settings or {}).get("tool_policies") or {}
    parsed: dict[str, ToolOverride] = {}
    if not isinstance(raw, Mapping):
        return parsed
    for name, value in raw.items():
        try:
            parsed[str(name)] = ToolOverride.model_validate(value)
        except ValidationError:
            continue
    return parsed


def refusal(tool: Tool, caller: Caller, override: ToolOverride | None = None) -> str | None:
    """Why this caller may not use this tool, or None when they may."""
    if override is not None and override.disabled:
        return f"{tool.name} is disabled in this workspace"
    if not caller.at_least(tool.role):
        return f"{tool.name} needs the {tool.role} role; you are {caller.role}"
    if not caller.may(tool.permission):
        return f"{tool.name} needs the {tool.permission} permission"
    return None


def available(
    tools: Iterable[Tool], caller: Caller, overrides: Mapping[str, ToolOverride]
) -> list[Tool]:
    return [t for t in tools if refusal(t, caller, overrides.get(t.name)) is None]


def decide(
    tool: Tool, *, override: ToolOverride | None = None, auto_enabled: bool = False
) -> Decision:
    """Run now or ask first. `auto_enabled` is the user's consistent opt-in for this tool."""
    if override is not None and override.require_approval:
        return Decision(Verdict.ASK, ("the workspace requires approval for this tool",))
    if tool.risk == RiskLevel.LOW:
        return Decision(Verdict.RUN, ())
    if tool.risk == RiskLevel.MEDIUM and auto_enabled:
        return Decision(Verdict.RUN, ("you enabled automatic runs for this tool",), True)
    if tool.risk == RiskLevel.MEDIUM:
        return Decision(Verdict.ASK, ("medium-risk change; you have not enabled automatic runs",))
    return Decision(Verdict.ASK, (f"{tool.risk}-risk action: always needs approval",))


def may_auto_enable(tool: Tool) -> bool:
    """Only medium-risk tools may ever run unasked."""
    return tool.risk == RiskLevel.MEDIUM
