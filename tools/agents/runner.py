"""The protocol through which tools-side engines run an agent, and what a run reports back.

Running an agent means model calls, which live above `tools/` (DESIGN: imports point down). So
the engines here (one execution, a schedule firing, a team, a workflow) decide *what* runs and
record it in the store, and an `AgentRunner` that `assistant/` provides (`assistant.agent_runs`)
does the running: one turn of the agent's own conversation through the chat runtime, with the
agent's system prompt, model and tools, under the same approval policy as a chat.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from store.models.agents import Agent
from tools.context import Caller
from tools.orchestration.common import TeamRun

ReportStatus = Literal["completed", "failed", "waiting"]


@dataclass(frozen=True)
class AgentTask:
    """Whose run this is and what it may do. `origin` finishes the sentence "started ..." in the
    agent's prompt. A coordinator's task carries its `team` (which offers `hand_off_task`); the
    ids say what an action this run proposes for approval belongs to."""

    execution_id: uuid.UUID
    agent: Agent
    caller: Caller
    origin: str = "by a member of the workspace"
    team: TeamRun | None = None
    team_id: uuid.UUID | None = None
    workflow_execution_id: uuid.UUID | None = None


@dataclass(frozen=True)
class TurnReport:
    """What one turn (or, summed, one run) came to. `waiting`: actions await approval."""

    conversation_id: uuid.UUID | None
    status: ReportStatus
    text: str = ""
    error: str | None = None
    awaiting: tuple[uuid.UUID, ...] = ()
    tokens: int = 0
    cost_usd: float = 0.0

    @classmethod
    def failed(cls, error: str, conversation_id: uuid.UUID | None = None) -> TurnReport:
        return cls(conversation_id, "failed", error=error)

    def plus_usage(self, earlier: TurnReport | None) -> TurnReport:
        """This report, with the tokens and cost of an earlier turn of the same run added."""
        if earlier is None:
            return self
        return replace(self, tokens=self.tokens + earlier.tokens,
                       cost_usd=self.cost_usd + earlier.cost_usd)


class AgentRunner(Protocol):
    async def turn(
        self, task: AgentTask, text: str, conversation_id: uuid.UUID | None = None
    ) -> TurnReport:
        """Give the agent `text` as the next message of its run's conversation (a new one when
        `conversation_id` is None) and let it work until it answers, fails, or waits."""
        ...
