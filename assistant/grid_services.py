"""What the assistant provides to grid runs: the model call behind a grid's `ai` node.

`GatewayModelCall` implements `tools.grids.model.ModelCall` with the same gateway a chat turn
uses: the node's model, or the workspace's, then its fallbacks, each with the workspace's own
provider key when it has one; the workspace's daily token budget applies, and every attempt is
recorded in the usage ledger (purpose `grid`). No database transaction is open during the call.

Put it in the worker's (and the runtime's) services under `tools.grids.model.MODEL_SERVICE`:
`services = {**deps.tool_services, MODEL_SERVICE: GatewayModelCall(deps)}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.deps import RuntimeDeps
from assistant.gateway import GatewayError, ModelRequest, ModelTarget
from assistant.ledger import record_attempts
from assistant.tokens import count_message
from assistant.workspace import model_targets
from store.models.core import Workspace
from store.repositories.neptune import UsageLedgerRepository
from store.tenancy import scoped_session
from tools.context import Caller
from tools.grids.model import ModelPrompt, ModelReply, ModelUnavailable

PURPOSE = "grid"


@dataclass(frozen=True)
class _Budget:
    targets: list[ModelTarget]
    budget: int
    spent: int


@dataclass
class GatewayModelCall:
    deps: RuntimeDeps

    async def complete(self, prompt: ModelPrompt) -> ModelReply:
        caller = prompt.caller
        async with scoped_session(self.deps.database.sessions, caller.scope) as session:
            setting = await _setting(session, self.deps, caller, prompt.model)
        messages = _messages(prompt)
        if setting.spent + sum(count_message(m) for m in messages) > setting.budget:
            raise ModelUnavailable(
                f"the workspace has used {setting.spent:,} of its {setting.budget:,} daily "
                "tokens; nothing was sent to the model")
        params: dict[str, Any] = {"max_tokens": prompt.max_tokens} if prompt.max_tokens else {}
        request = ModelRequest(messages, params=params, timeout=self.deps.settings.model_timeout)
        try:
            completion = await self.deps.gateway.complete(setting.targets, request)
        except GatewayError as error:
            await self._record(caller, error.attempts, prompt.purpose)
            raise ModelUnavailable(str(error)) from error
        await self._record(caller, completion.attempts, prompt.purpose)
        return ModelReply(completion.text, completion.target.name,
                          completion.usage.prompt_tokens, completion.usage.completion_tokens)

    async def _record(self, caller: Caller, attempts: Any, purpose: str) -> None:
        async with scoped_session(self.deps.database.sessions, caller.scope) as session:
            await record_attempts(session, caller, None, attempts, purpose)


def _messages(prompt: ModelPrompt) -> list[dict[str, Any]]:
    system = [{"role": "system", "content": prompt.system}] if prompt.system else []
    return [*system, {"role": "user", "content": prompt.prompt}]


async def _setting(session: AsyncSession, deps: RuntimeDeps, caller: Caller,
                   model: str | None) -> _Budget:
    spent_query = UsageLedgerRepository(session, caller.scope).tokens_today_query()
    row = (await session.execute(
        sa.select(Workspace, spent_query.scalar_subquery())
        .where(Workspace.id == caller.workspace_id))).one()
    workspace, spent = row[0], int(row[1] or 0)
    settings: dict[str, Any] = dict(workspace.settings or {})
    budget = deps.settings.daily_budget(workspace.subscription_tier, settings)
    first = model or settings.get("model") or deps.settings.model
    return _Budget(await model_targets(session, deps, caller, settings, str(first)),
                   budget, spent)
