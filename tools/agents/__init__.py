"""Agent tools: the workspace's AI agents, their runs and their schedules.

Importing the package registers the tools (domain `agents`). `manage` holds the tools about the
agents themselves (list, read, create, change, install from the marketplace), `runs` those about
running them (now or on a cron schedule) and reading what a run did, and `common` the agent
config reader, cron helpers and output models they share with the runner in
`assistant.agent_runs`.
"""

from tools.agents import manage, runs

__all__ = ["manage", "runs"]
