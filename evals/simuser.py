"""A simulated user (after tau-bench's user simulator): a model plays the person.

It gets the persona, the goal and what the person knows, sees the conversation with the roles
swapped (the assistant's words are what it was told), and writes the person's next message. It
says the stop token when the goal is met or cannot be met; the runner also stops at the case's
turn limit. Its calls go through the same gateway, so they are cached per trial like the agent's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from assistant.gateway import Gateway, ModelRequest, ModelTarget
from assistant.settings import RuntimeSettings
from evals.records import Said
from evals.schema import SimulatedUser

STOP = "###STOP###"


def target_for(name: str, settings: RuntimeSettings) -> ModelTarget:
    """A model name or alias as a gateway target (its key from the alias's variable)."""
    route = settings.route(name)
    key = os.environ.get(route.api_key_env) if route.api_key_env else None
    return ModelTarget(name, route.model, route.api_base, key)


def system_prompt(user: SimulatedUser) -> str:
    facts = "\n".join(f"- {fact}" for fact in user.known_facts) or "- (nothing more)"
    return (
        f"You are playing a person talking to a workspace assistant.\nPersona: {user.persona}\n"
        f"Your goal: {user.goal}\nWhat you know:\n{facts}\n\n"
        "Write only your next message to the assistant, in the person's words; give a fact only "
        "when it is asked for or needed. When the goal is met, or clearly cannot be met, reply "
        f"with exactly {STOP}."
    )


def simulator_messages(user: SimulatedUser, transcript: Sequence[Said]) -> list[dict[str, str]]:
    """The conversation as the simulator sees it: its own lines are the assistant's."""
    swapped = {"user": "assistant", "assistant": "user"}
    return [{"role": "system", "content": system_prompt(user)},
            *({"role": swapped[s.role], "content": s.text} for s in transcript if s.text)]


async def next_message(gateway: Gateway, target: ModelTarget, user: SimulatedUser,
                       transcript: Sequence[Said], seconds: float = 60.0) -> str | None:
    """The person's next message, or None when they are done."""
    request = ModelRequest(simulator_messages(user, transcript), timeout=seconds)
    completion = await gateway.complete([target], request)
    text = completion.text.strip()
    if not text or STOP in text:
        return None
    return text
