"""The one door to models: the only module that imports litellm.

`Gateway.stream()` sends one model request down a list of targets (the configured model, then its
fallbacks) and yields what the turn needs: text chunks as they arrive, at most one `Restarted`
per broken stream, and a final `Completion` with the assembled tool calls, usage and cost.

- A retryable failure (429, 5xx, timeout, connection) before the first token is retried on the
  same target with exponential backoff, then the next target is tried. The client saw nothing.
- A stream that breaks after text was yielded is not spliced: the gateway yields `Restarted` (the
  turn emits `turn.restarted` so clients discard the partial text) and answers again from the
  start on the next target.
- Every attempt, failed or not, is reported (`attempts`) so the usage ledger records it.
- Keys travel in `ModelTarget.api_key`, which is excluded from repr, and every error text that
  leaves this module is passed through `redact()`.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import litellm
from litellm import exceptions as llm_errors
from litellm.llms.custom_llm import CustomLLM, CustomLLMError
from litellm.types.utils import GenericStreamingChunk

litellm.suppress_debug_info = True
litellm.telemetry = False
for _name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
    logging.getLogger(_name).setLevel(logging.WARNING)

log = logging.getLogger(__name__)

_RETRYABLE = (
    llm_errors.RateLimitError, llm_errors.InternalServerError,
    llm_errors.ServiceUnavailableError, llm_errors.Timeout, llm_errors.APIConnectionError,
    llm_errors.BadGatewayError,
)
MAX_BACKOFF = 8.0


@dataclass(frozen=True)
class ModelTarget:
    """A concrete place to send a request: alias, LiteLLM model, endpoint, key (never shown)."""

    name: str
    model: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)

    @property
    def provider(self) -> str:
        return provider_of(self.model)


@dataclass(frozen=True)
class ModelRequest:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    params: Mapping[str, Any] = field(default_factory=dict)
    timeout: float = 60.0


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str

    def decoded(self) -> Any:
        """The arguments as JSON, or the raw text when the model sent something that is not."""
        try:
            return json.loads(self.arguments or "{}")
        except json.JSONDecodeError:
            return self.arguments

    def as_message(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class UsageInfo:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Attempt:
    """One call to one target: what the ledger records, even for failures."""

    target: ModelTarget
    ok: bool
    latency_ms: int
    usage: UsageInfo = UsageInfo()
    error: str | None = None
    timed_out: bool = False


@dataclass(frozen=True)
class TextChunk:
    text: str


@dataclass(frozen=True)
class Restarted:
    reason: str
    target: ModelTarget


@dataclass(frozen=True)
class Completion:
    text: str
    tool_calls: list[ToolCall]
    usage: UsageInfo
    target: ModelTarget
    latency_ms: int
    finish_reason: str | None
    attempts: list[Attempt]


GatewayEvent = TextChunk | Restarted | Completion


class GatewayError(Exception):
    """Every target failed. `attempts` lists them; the message is safe to show."""

    def __init__(self, message: str, attempts: list[Attempt], *, timed_out: bool = False):
        super().__init__(message)
        self.attempts = attempts
        self.timed_out = timed_out


def provider_of(model: str) -> str:
    try:
        return str(litellm.get_llm_provider(model)[1])
    except Exception:
        return model.split("/", 1)[0] if "/" in model else "unknown"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "[redacted]")
    return text


def cost_of(model: str, usage: UsageInfo) -> float:
    """USD from LiteLLM's local price map; 0 for models it has no price for."""
    try:
        prompt, completion = litellm.cost_per_token(
            model=model, prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )
    except Exception:
        return 0.0
    return float(prompt) + float(completion)


class _StreamBroke(Exception):
    """The stream failed after text was already yielded."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass
class _Assembly:
    """Accumulates one streamed response: text, tool-call fragments by index, usage."""

    text: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, str]] = field(default_factory=dict)
    usage: UsageInfo = UsageInfo()
    finish_reason: str | None = None

    def add_tool_deltas(self, deltas: Iterable[Any]) -> None:
        for delta in deltas:
            slot = self.calls.setdefault(int(delta.index or 0),
                                         {"id": "", "name": "", "arguments": ""})
            if delta.id:
                slot["id"] = delta.id
            function = delta.function
            if function is not None:
                if function.name:
                    slot["name"] = function.name
                if function.arguments:
                    slot["arguments"] += function.arguments

    def tool_calls(self) -> list[ToolCall]:
        return [ToolCall(c["id"] or f"call_{i}", c["name"], c["arguments"] or "{}")
                for i, c in sorted(self.calls.items())]


def _usage(raw: Any, model: str) -> UsageInfo:
    if raw is None:
        return UsageInfo()
    details = getattr(raw, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
    usage = UsageInfo(int(raw.prompt_tokens or 0), int(raw.completion_tokens or 0), cached)
    return UsageInfo(usage.prompt_tokens, usage.completion_tokens, cached, cost_of(model, usage))


class Gateway:
    def __init__(self, *, retries: int = 2, backoff: float = 0.5) -> None:
        self.retries = retries
        self.backoff = backoff

    async def stream(
        self, targets: Sequence[ModelTarget], request: ModelRequest
    ) -> AsyncIterator[GatewayEvent]:
        if not targets:
            raise GatewayError("no model is configured", [])
        attempts: list[Attempt] = []
        secrets = [t.api_key for t in targets]
        for index, target in enumerate(targets):
            run = _TargetRun(self, target, request, attempts)
            async for item in run:
                if isinstance(item, Completion):
                    yield replace(item, attempts=list(attempts))
                    return
                yield item
            if run.restart and index + 1 < len(targets):
                yield Restarted(redact(attempts[-1].error or "", secrets), targets[index + 1])
        last = attempts[-1] if attempts else None
        reason = redact(last.error or "", secrets) if last else "no call was made"
        raise GatewayError(f"the model is unavailable ({reason})", attempts,
                           timed_out=bool(last and last.timed_out))

    async def _backoff(self, attempt: int) -> None:
        await asyncio.sleep(min(MAX_BACKOFF, self.backoff * (2 ** attempt)))

    async def complete(self, targets: Sequence[ModelTarget], request: ModelRequest) -> Completion:
        """A whole response (titles, summaries): the stream, with text chunks dropped."""
        async for item in self.stream(targets, request):
            if isinstance(item, Completion):
                return item
        raise GatewayError("the model returned no response", [])  # pragma: no cover


class _TargetRun:
    """Retries one target; iterating yields its chunks and, on success, a Completion.

    After iteration, `restart` says whether text had been yielded before it failed.
    """

    def __init__(self, gateway: Gateway, target: ModelTarget, request: ModelRequest,
                 attempts: list[Attempt]) -> None:
        self.gateway, self.target, self.request, self.attempts = gateway, target, request, attempts
        self.restart = False

    async def __aiter__(self) -> AsyncIterator[TextChunk | Completion]:
        for attempt in range(self.gateway.retries + 1):
            started = time.perf_counter()
            try:
                async for item in _call(self.target, self.request, started):
                    if isinstance(item, Completion):
                        self.attempts.append(Attempt(self.target, True, item.latency_ms,
                                                     item.usage))
                    yield item
            except _StreamBroke as broke:
                self._record(broke.cause, started)
                self.restart = True
                return
            except Exception as exc:
                self._record(exc, started)
                if not isinstance(exc, _RETRYABLE) or attempt == self.gateway.retries:
                    return
                await self.gateway._backoff(attempt)

    def _record(self, exc: BaseException, started: float) -> None:
        latency = int((time.perf_counter() - started) * 1000)
        message = redact(f"{type(exc).__name__}: {exc}", [self.target.api_key])[:500]
        log.warning("model call to %s failed: %s", self.target.name, message)
        self.attempts.append(Attempt(self.target, False, latency, error=message,
                                     timed_out=isinstance(exc, llm_errors.Timeout)))


async def _call(
    target: ModelTarget, request: ModelRequest, started: float
) -> AsyncIterator[TextChunk | Completion]:
    response = await litellm.acompletion(
        model=target.model, messages=request.messages, tools=request.tools or None,
        stream=True, stream_options={"include_usage": True}, api_base=target.api_base,
        api_key=target.api_key, timeout=request.timeout, num_retries=0, max_retries=0,
        # litellm 1.106 routes any request with tools through its MCP gateway check, which
        # imports the optional `mcp` package; our tools are plain functions, never MCP.
        _skip_mcp_handler=True, **request.params,
    )
    assembly = _Assembly()
    sent_text = False
    try:
        async for chunk in response:
            for text in _absorb(assembly, chunk, target.model):
                sent_text = True
                yield TextChunk(text)
    except Exception as exc:
        if sent_text:
            raise _StreamBroke(exc) from exc
        raise
    finally:
        await response.aclose()
    yield Completion(
        "".join(assembly.text), assembly.tool_calls(), assembly.usage, target,
        int((time.perf_counter() - started) * 1000), assembly.finish_reason, [],
    )


def _absorb(assembly: _Assembly, chunk: Any, model: str) -> list[str]:
    usage = getattr(chunk, "usage", None)
    if usage is not None:
        assembly.usage = _usage(usage, model)
    texts: list[str] = []
    for choice in chunk.choices or ():
        delta = choice.delta
        if delta is not None and delta.content:
            assembly.text.append(delta.content)
            texts.append(delta.content)
        if delta is not None and delta.tool_calls:
            assembly.add_tool_deltas(delta.tool_calls)
        if choice.finish_reason:
            assembly.finish_reason = choice.finish_reason
    return texts



# -- the built-in offline model as a LiteLLM custom provider --------------------------------
LOCAL_PROVIDER = "neptune-local"


class LocalResponder(Protocol):
    """What answers `neptune-local/...` requests (assistant.local.model.LocalModel)."""

    def respond(self, messages: Sequence[Mapping[str, Any]], offered: Sequence[str]) -> Any: ...


class _LocalHandler(CustomLLM):
    """Speaks LiteLLM's custom-provider interface for the offline model: text, then tool calls,
    streamed as chunks exactly like a hosted model's, with (approximate) token usage."""

    def __init__(self) -> None:
        super().__init__()
        self.model: LocalResponder | None = None

    # LiteLLM iterates what astreaming returns: an async generator is what it expects.
    async def astreaming(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        reply = await self._reply(kwargs)
        words = re.findall(r"\S+\s*", reply.text)
        for word in words:
            yield _chunk(word)
        for index, (call_id, name, arguments) in enumerate(reply.calls):
            yield {"text": "", "is_finished": False, "finish_reason": "", "usage": None,
                   "index": 0, "tool_use": {"id": call_id, "type": "function", "index": index,
                                            "function": {"name": name,
                                                         "arguments": json.dumps(arguments)}}}
        prompt = sum(len(str(m.get("content") or "")) for m in kwargs.get("messages", [])) // 4
        yield {"text": "", "is_finished": True, "index": 0, "tool_use": None,
               "finish_reason": "tool_calls" if reply.calls else "stop",
               "usage": {"prompt_tokens": prompt, "completion_tokens": len(words) + 1,
                         "total_tokens": prompt + len(words) + 1}}

    async def _reply(self, kwargs: Mapping[str, Any]) -> Any:
        if self.model is None:
            raise CustomLLMError(  # type: ignore[no-untyped-call]
                status_code=503, message="the offline model is not loaded")
        params = kwargs.get("optional_params") or {}
        offered = [t["function"]["name"] for t in params.get("tools") or ()
                   if isinstance(t, Mapping) and "function" in t]
        return await asyncio.to_thread(self.model.respond, list(kwargs.get("messages", [])),
                                       offered)


def _chunk(text: str) -> GenericStreamingChunk:
    return {"text": text, "is_finished": False, "finish_reason": "", "usage": None,
            "index": 0, "tool_use": None}


_local = _LocalHandler()
litellm.custom_provider_map = [{"provider": LOCAL_PROVIDER, "custom_handler": _local}]


def use_local_model(model: LocalResponder) -> None:
    """Answer `neptune-local/...` requests with `model` (once per process, at start)."""
    _local.model = model
