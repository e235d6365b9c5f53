"""Orchestration tools: agent teams, workflows, shared memory and the approval queue.

Importing the package registers the tools (domain `orchestration`). `teams` holds teams and
team runs (and `TEAM_TOOLS`, the coordinator's hand-off tool, which is not in the catalogue),
`workflows` the step-by-step workflows, `memory` the shared memory, `pending` the approval
queue as people read it, and `common` what they share with the runner in
`assistant.agent_runs`.
"""

from tools.orchestration import memory, pending, teams, workflows

__all__ = ["memory", "pending", "teams", "workflows"]
