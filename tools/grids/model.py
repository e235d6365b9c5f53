"""The model call a grid's `ai` node needs, as a protocol: models live above `tools/`.

`assistant.grid_services.GatewayModelCall` implements it with the workspace's configured model
(or the node's), its own provider keys and the usage ledger; tests give a fake. The engine finds
the implementation in the run's services under `MODEL_SERVICE`. No database transaction is open
while it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tools.context import Caller

MODEL_SERVICE = "model"


@dataclass(frozen=True)
class ModelPrompt:
    """One request: who asks (the run's caller), the prompt, and optional model and limits."""

    caller: Caller
    prompt: str
    system: str | None = None
    model: str | None = None
    max_tokens: int | None = None
    purpose: str = "grid"


@dataclass(frozen=True)
class ModelReply:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ModelUnavailable(Exception):
    """The model could not answer; the message is safe to record (no keys)."""


@runtime_checkable
class ModelCall(Protocol):
    async def complete(self, prompt: ModelPrompt) -> ModelReply: ...
