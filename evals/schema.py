"""What an eval case is: the YAML schema, validated by pydantic.

A case names a fixture (a seeded demo workspace plus extra rows), the user's side of the
conversation (scripted messages or a simulated user), which approvals the runner grants, and what
counts as success: tool calls with argument matchers, forbidden tools, approvals, the final
workspace state (tau-bench style: gold actions applied to a fresh copy), answer assertions and
limits. Argument matchers stay plain data here (`Any`); `evals.matchers` interprets them, so a
dataset file reads like the tool call it expects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tools.catalog import DOMAINS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExtraRow(_Strict):
    """A row inserted into the case's workspace after the clone (workspace_id is stamped).

    `values` may use `{lookup: {...}}` like argument matchers; without an `id` the row gets a
    deterministic one (so the agent's copy and the gold copy agree on it)."""

    table: str
    values: dict[str, Any]
    workspace: str | None = Field(
        default=None, description="another demo workspace's slug: plant the row there (a "
        "cross-workspace probe); default the case's workspace")


class Fixture(_Strict):
    name: Literal["demo"] = "demo"
    workspace: str = "acme-demo"
    user: str | None = Field(default=None, description="first name of the member; owner if None")
    extra_rows: list[ExtraRow] = Field(default_factory=list)


class SimulatedUser(_Strict):
    """A user played by a model: it opens with `opening` and continues until it says the stop
    token or `max_turns` user messages were sent."""

    persona: str
    goal: str
    known_facts: list[str] = Field(default_factory=list)
    opening: str
    max_turns: int = Field(default=4, ge=1, le=20)
    model: str | None = None


class ExpectedCall(_Strict):
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class GoldAction(_Strict):
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class StateExpectation(_Strict):
    """The final state must equal a fresh copy with `gold` applied (no gold: unchanged)."""

    gold: list[GoldAction] = Field(default_factory=list)
    ignore_columns: dict[str, list[str]] = Field(default_factory=dict)


class AnswerExpectation(_Strict):
    contains: list[str] = Field(default_factory=list)
    not_contains: list[str] = Field(default_factory=list)
    regex: list[str] = Field(default_factory=list)
    asks: bool = False
    rubric: str | None = None
    judge_model: str | None = None


class Limits(_Strict):
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    max_latency_ms: int | None = None


class Expectations(_Strict):
    tool_calls: list[ExpectedCall] = Field(default_factory=list)
    ordered: bool = False
    forbidden_tools: list[str] = Field(default_factory=list)
    not_executed: list[str] = Field(default_factory=list)
    approvals_required: list[str] = Field(default_factory=list)
    state: StateExpectation | None = None
    answer: AnswerExpectation | None = None
    limits: Limits | None = None


class Case(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{1,80}$")
    domain: str
    tags: list[str] = Field(default_factory=list)
    description: str = ""
    fixture: Fixture = Field(default_factory=Fixture)
    turns: list[str] = Field(default_factory=list)
    user: SimulatedUser | None = None
    approve: list[str] = Field(default_factory=list)
    reject: list[str] = Field(default_factory=list)
    expect: Expectations = Field(default_factory=Expectations)

    @field_validator("domain")
    @classmethod
    def _known_domain(cls, value: str) -> str:
        if value not in DOMAINS:
            raise ValueError(f"domain must be one of {', '.join(DOMAINS)}")
        return value

    @model_validator(mode="after")
    def _one_user(self) -> Case:
        if bool(self.turns) == (self.user is not None):
            raise ValueError("a case has either scripted `turns` or a simulated `user`")
        return self


class Dataset(_Strict):
    path: str
    cases: list[Case]


def load_dataset(path: Path) -> Dataset:
    """A YAML file holding a list of cases (or `{cases: [...]}`)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = raw.get("cases", []) if isinstance(raw, dict) else raw
    return Dataset(path=str(path), cases=[Case.model_validate(item) for item in items or []])


def load_cases(paths: list[Path]) -> list[Case]:
    """Every case of every file (a directory means its *.yaml); ids must be unique."""
    files = [f for p in paths for f in (sorted(p.glob("*.yaml")) if p.is_dir() else [p])]
    cases = [case for f in files for case in load_dataset(f).cases]
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise ValueError(f"case id {case.id!r} appears twice")
        seen.add(case.id)
    return cases
