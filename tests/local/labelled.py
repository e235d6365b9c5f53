"""The labelled evaluation set for Neptune's built-in offline model (issue #6).

Each case is one user message, the tool a careful reader would pick and the arguments they could
take from the text. The set lives in `utterances.yaml` next to this module so that people can read
and extend it without touching code; this module only gives it types.

Why record ids are references: the demo workspace's ids are generated at seed time, so a case
cannot name one. A case writes `{ref: deal, name: "Hooli — Expansion"}` instead, and the evaluator
resolves it by searching the demo workspace; the case then measures both the tool choice and the
lookup. For the execution kinds (`agent_execution`, `grid_execution`, `workflow_execution`)
`name` names the agent, grid or workflow and the reference means its latest run; a
`conversation` is named by its contact and, where that contact has several, its subject.

Dates in arguments are resolved against a fixed `TODAY` (2026-11-25, a Wednesday, UTC) and
datetimes are ISO 8601 with `Z`, so the expected arguments never depend on when the set is run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any, Literal, Self

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TODAY = date(2026, 11, 25)
DATA_FILE = Path(__file__).with_name("utterances.yaml")

RefKind = Literal[
    "contact", "deal", "customer", "project", "prospect", "member",
    "task", "sprint", "epic",
    "invoice", "expense",
    "campaign", "segment", "automation_rule",
    "conversation", "team_channel",
    "blog_post", "topic_idea",
    "creator_item", "creator_collection", "creator_template",
    "agent", "agent_template", "agent_schedule", "agent_execution",
    "agent_team", "workflow", "workflow_execution",
    "grid", "grid_execution",
    "knowledge_item",
]

#: Which kinds of record an id argument may refer to; the evaluator searches that table.
REF_KINDS_BY_FIELD: dict[str, frozenset[str]] = {
    "contact_id": frozenset({"contact"}),
    "deal_id": frozenset({"deal"}),
    "customer_id": frozenset({"customer"}),
    "project_id": frozenset({"project"}),
    "prospect_id": frozenset({"prospect"}),
    "task_id": frozenset({"task"}),
    "sprint_id": frozenset({"sprint"}),
    "epic_id": frozenset({"epic"}),
    "invoice_id": frozenset({"invoice"}),
    "expense_id": frozenset({"expense"}),
    "campaign_id": frozenset({"campaign"}),
    "segment_id": frozenset({"segment"}),
    "rule_id": frozenset({"automation_rule"}),
    "conversation_id": frozenset({"conversation"}),
    "channel_id": frozenset({"team_channel"}),
    "post_id": frozenset({"blog_post"}),
    "topic_idea_id": frozenset({"topic_idea"}),
    "item_id": frozenset({"knowledge_item", "creator_item"}),
    "item_ids": frozenset({"creator_item"}),
    "collection_id": frozenset({"creator_collection"}),
    "template_id": frozenset({"agent_template", "creator_template"}),
    "agent_id": frozenset({"agent"}),
    "coordinator_agent_id": frozenset({"agent"}),
    "member_agent_ids": frozenset({"agent"}),
    "schedule_id": frozenset({"agent_schedule"}),
    "team_id": frozenset({"agent_team"}),
    "workflow_id": frozenset({"workflow"}),
    "grid_id": frozenset({"grid"}),
    "execution_id": frozenset({"agent_execution", "grid_execution", "workflow_execution"}),
    **{name: frozenset({"member"}) for name in (
        "owner_id", "assignee_id", "assigned_to", "assign_to", "manager_id", "recipient_id",
        "member_user_id", "actor_id", "round_robin_members",
    )},
}

_STRICT = ConfigDict(extra="forbid", frozen=True)


class Ref(BaseModel):
    """A record named the way the user named it, standing in for its id."""

    model_config = _STRICT

    ref: RefKind
    name: str = Field(min_length=1, max_length=200)

    def placeholder(self) -> str:
        """A stable, distinct UUID for this reference: lets an id field validate offline."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"neptune-eval:{self.ref}:{self.name}"))


class Case(BaseModel):
    """One labelled message; `args` are complete (after `followup` when `missing` is set)."""

    model_config = _STRICT

    id: str = Field(pattern=r"^[a-z]+-\d{3}$")
    domain: str
    text: str = Field(min_length=2, max_length=2000)
    tool: str = Field(pattern=r"^[a-z][a-z0-9_]+$")
    args: dict[str, Any] = Field(default_factory=dict)
    missing: tuple[str, ...] = ()
    followup: str | None = Field(default=None, min_length=1)
    chain: bool = False

    @field_validator("args", mode="before")
    @classmethod
    def _parse_refs(cls, value: Any) -> Any:
        return _with_refs(value)

    @model_validator(mode="after")
    def _followup_iff_missing(self) -> Self:
        if bool(self.missing) != (self.followup is not None):
            raise ValueError("a case with `missing` needs a `followup`, and only then")
        return self

    def refs(self) -> Iterator[tuple[str, Ref]]:
        """Every reference in the arguments, with the top-level argument it sits in."""
        for name, value in self.args.items():
            for ref in _walk_refs(value):
                yield name, ref

    def resolved_args(self, resolve: Callable[[Ref], str]) -> dict[str, Any]:
        """The arguments with each reference replaced by what `resolve` returns (an id)."""
        result: dict[str, Any] = _replace_refs(self.args, resolve)
        return result


def load_cases(path: Path = DATA_FILE) -> list[Case]:
    """Read and type every case of the set (a pydantic error names the bad case's index)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise ValueError(f"{path.name} must be a list of cases")
    return [Case.model_validate(item) for item in raw]


def _with_refs(value: Any) -> Any:
    """Turn every mapping with a `ref` key into a `Ref`, at any depth."""
    if isinstance(value, dict):
        if "ref" in value:
            return Ref.model_validate(value)
        return {key: _with_refs(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_refs(item) for item in value]
    return value


def _walk_refs(value: Any) -> Iterator[Ref]:
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_refs(item)


def _replace_refs(value: Any, resolve: Callable[[Ref], str]) -> Any:
    if isinstance(value, Ref):
        return resolve(value)
    if isinstance(value, dict):
        return {key: _replace_refs(item, resolve) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_refs(item, resolve) for item in value]
    return value
