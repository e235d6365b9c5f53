"""A disk cache of model responses, as a `Gateway` whose `stream()` replays what it saw.

The key is (system prompt hash, tool schema hashes, model, parameters, trial index, request
messages). The trial index is in the key so that trial 2 of a case is a sample of its own and a
re-run replays each trial's own answers. Ids make requests differ between runs even when nothing
that matters did: every trial creates records with fresh uuids, and tool results echo them. The
key therefore numbers uuids in order of first appearance and blanks ISO timestamps; the stored
response keeps those numbers where it repeats a request uuid (a model passing on a contact id it
was shown), and a replay puts back the uuids of the request at hand. A response is stored only
when it completed; a failure is never cached.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.gateway import (
    LOCAL_PROVIDER,
    Attempt,
    Completion,
    Gateway,
    GatewayEvent,
    ModelRequest,
    ModelTarget,
    TextChunk,
    ToolCall,
    UsageInfo,
)

TRIAL = contextvars.ContextVar("eval_trial", default=0)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")
PLACEHOLDER = re.compile(r"<uuid:(\d+)>")


def _sha(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Canon:
    """A request's uuids, numbered by first appearance."""

    uuids: list[str] = field(default_factory=list)

    def text(self, value: str) -> str:
        """`value` with uuids as `<uuid:n>` and timestamps as `<ts>`."""
        return TIMESTAMP.sub("<ts>", UUID.sub(self._number, value))

    def _number(self, found: re.Match[str]) -> str:
        uuid = found.group(0).lower()
        if uuid not in self.uuids:
            self.uuids.append(uuid)
        return f"<uuid:{self.uuids.index(uuid)}>"

    def known(self, value: str) -> str:
        """Only the uuids this request already holds become placeholders (for responses)."""
        def swap(found: re.Match[str]) -> str:
            uuid = found.group(0).lower()
            return f"<uuid:{self.uuids.index(uuid)}>" if uuid in self.uuids else found.group(0)
        return UUID.sub(swap, value)

    def restore(self, value: str) -> str:
        return PLACEHOLDER.sub(lambda m: self.uuids[int(m.group(1))], value)


def request_key(target: ModelTarget, request: ModelRequest, trial: int) -> tuple[str, Canon]:
    """The cache key of one model call, and the canon that maps its uuids."""
    canon = Canon()
    messages = [_message(canon, m) for m in request.messages]
    system = next((m["content"] for m in messages if m.get("role") == "system"), "")
    tools = sorted(_sha(t) for t in request.tools)
    parts = {"prompt": _sha(system or ""), "tools": tools, "model": target.model,
             "params": dict(request.params), "trial": trial, "messages": messages}
    return _sha(parts), canon


def _message(canon: Canon, message: Mapping[str, Any]) -> dict[str, Any]:
    text = json.dumps(message, sort_keys=True, default=str)
    return dict(json.loads(canon.text(text)))


class ResponseCache:
    """Responses on disk, one JSON file per key (sharded by its first two characters)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        if not path.exists():
            self.misses += 1
            return None
        self.hits += 1
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(value), encoding="utf-8")
        temporary.replace(path)


def uncached_local(target: ModelTarget) -> bool:
    """The offline model is free and deterministic, and its code is what a CI run measures:
    replaying its old answers would hide a change to it."""
    return target.model.startswith(f"{LOCAL_PROVIDER}/")


class CachingGateway(Gateway):
    """A gateway that answers from `cache` when it can and records what it had to ask;
    targets for which `bypass` holds always go to the model."""

    def __init__(self, cache: ResponseCache, *, retries: int = 2, backoff: float = 0.5,
                 bypass: Callable[[ModelTarget], bool] = uncached_local) -> None:
        super().__init__(retries=retries, backoff=backoff)
        self.cache = cache
        self.bypass = bypass

    async def stream(self, targets: Sequence[ModelTarget],
                     request: ModelRequest) -> AsyncIterator[GatewayEvent]:
        if not targets or self.bypass(targets[0]):
            async for item in super().stream(targets, request):
                yield item
            return
        key, canon = request_key(targets[0], request, TRIAL.get())
        stored = self.cache.get(key)
        if stored is not None:
            for item in _replay(stored, canon, targets):
                yield item
            return
        async for item in super().stream(targets, request):
            if isinstance(item, Completion):
                self.cache.put(key, _record(item, canon))
            yield item


def _record(completion: Completion, canon: Canon) -> dict[str, Any]:
    usage = completion.usage
    return {
        "text": canon.known(completion.text),
        "tool_calls": [{"id": c.id, "name": c.name, "arguments": canon.known(c.arguments)}
                       for c in completion.tool_calls],
        "usage": [usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens,
                  usage.cost_usd],
        "target": completion.target.name, "latency_ms": completion.latency_ms,
        "finish_reason": completion.finish_reason,
    }


def _replay(stored: Mapping[str, Any], canon: Canon,
            targets: Sequence[ModelTarget]) -> list[GatewayEvent]:
    """The stored response in the stream's shape: its text as one chunk, then the completion
    (usage and latency as first measured, so metrics of a cached run match the original)."""
    target = next((t for t in targets if t.name == stored["target"]), targets[0])
    text = canon.restore(stored["text"])
    calls = [ToolCall(c["id"], c["name"], canon.restore(c["arguments"]))
             for c in stored["tool_calls"]]
    prompt, completion, cached, cost = stored["usage"]
    usage = UsageInfo(int(prompt), int(completion), int(cached), float(cost))
    latency = int(stored["latency_ms"])
    done = Completion(text, calls, usage, target, latency, stored["finish_reason"],
                      [Attempt(target, True, latency, usage)])
    return [TextChunk(text), done] if text else [done]
