"""The OpenAI chat-completions wire format as Neptune speaks it: request and response bodies,
streamed chunks, errors an OpenAI SDK can read, and the history hash that ties a client's
resent message list to a Neptune conversation.

Kept apart from the route so the route reads as the flow (check, find the conversation, run
the turn, answer) and this module as the format. Nothing here touches the database.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from assistant import events as ev
from assistant.http.problems import MEDIA_TYPE, Problem
from assistant.runtime import MAX_MESSAGE_CHARS

MODEL_ID = "neptune"
MODEL_CREATED = 1_735_689_600  # 2025-01-01: the model id's fixed "created" stamp
KEY_PREFIX = "openai:"
TRANSCRIPT_CHARS = 8_000
LINE_CHARS = 1_500
LABELS = {"system": "Instructions", "user": "User", "assistant": "Assistant"}
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
               403: "permission_error", 404: "invalid_request_error", 409: "conflict_error",
               413: "invalid_request_error", 422: "invalid_request_error",
               429: "rate_limit_error"}
TURN_ERRORS = {"budget_exceeded": (429, "Token budget exceeded"),
               "model_unavailable": (502, "Model unavailable"),
               "model_timeout": (504, "Model timed out")}

Said = tuple[str, str]  # (speaker: system | user | assistant, text)


# -- request ----------------------------------------------------------------------------------
class _Wire(BaseModel):
    # Clients send many fields we do not use; those are ignored, but a known field with the
    # wrong type is an error rather than a silent coercion.
    model_config = ConfigDict(extra="ignore", strict=True)


class ContentPart(_Wire):
    type: str = Field(max_length=50)
    text: str | None = None


class ChatMessage(_Wire):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    @property
    def speaker(self) -> str:
        return "system" if self.role == "developer" else self.role

    def text(self) -> str:
        if self.content is None or isinstance(self.content, str):
            return (self.content or "").strip()
        return "\n".join(p.text or "" for p in self.content).strip()


class StreamOptions(_Wire):
    include_usage: bool | None = None


class ChatRequest(_Wire):
    """The fields of `POST /v1/chat/completions` Neptune reads. Sampling and length settings
    are accepted for compatibility and not applied: the workspace's model settings decide."""

    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=2000)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    user: str | None = Field(default=None, max_length=256)
    n: int | None = Field(default=None, ge=1, le=128)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


def check(request: ChatRequest) -> list[Said]:
    """What was said, in order, once the request is one Neptune can answer; else a Problem."""
    if request.model != MODEL_ID:
        raise Problem(404, "Not Found", f"The model {request.model!r} does not exist; this "
                      f"endpoint serves {MODEL_ID!r} (see GET /v1/models).",
                      kind="model-not-found")
    if request.tools or request.functions or request.tool_choice not in (None, "none", "auto"):
        raise bad_request("Neptune runs its own tools server-side and answers with text; do "
                          "not send `tools`, `functions` or a forcing `tool_choice`.",
                          "tools-not-supported")
    if request.n not in (None, 1):
        raise bad_request("Only n=1 is supported.", "invalid-n")
    for message in request.messages:
        _check_message(message)
    if request.messages[-1].role != "user":
        raise bad_request("The last message must be a user message.", "invalid-messages")
    said = [(m.speaker, m.text()) for m in request.messages]
    _check_text(said[-1][1])
    return said


def _check_message(message: ChatMessage) -> None:
    if message.role in ("tool", "function"):
        raise bad_request("Tool messages are not accepted: Neptune runs its own tools "
                          "server-side, so a conversation never holds client tool results.",
                          "tools-not-supported")
    if isinstance(message.content, list):
        other = next((p.type for p in message.content if p.type != "text"), None)
        if other is not None:
            raise bad_request(f"Only text content parts are supported (got {other!r}).",
                              "unsupported-content")


def _check_text(text: str) -> None:
    if not text:
        raise bad_request("The last user message has no text.", "invalid-messages")
    if len(text) > MAX_MESSAGE_CHARS:
        raise bad_request(f"A message is at most {MAX_MESSAGE_CHARS:,} characters.",
                          "message-too-long")


def bad_request(detail: str, kind: str) -> Problem:
    return Problem(400, "Bad Request", detail, kind=kind)


# -- history ----------------------------------------------------------------------------------
def history_key(user_id: uuid.UUID, history: Sequence[Said]) -> str:
    """`openai:` + sha256 of the member and what was said (speakers and stripped texts), so
    equal histories from one member map to one key whatever the content's shape."""
    canonical = json.dumps([str(user_id), [[who, text.strip()] for who, text in history]],
                           separators=(",", ":"), ensure_ascii=False)
    return KEY_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()


def with_transcript(earlier: Sequence[Said], text: str) -> str:
    """The user's text, preceded by the most recent earlier messages that fit the budget, for
    a history Neptune has not seen (it started elsewhere or was edited)."""
    if not earlier:
        return text
    budget = min(TRANSCRIPT_CHARS, MAX_MESSAGE_CHARS - len(text) - 200)
    lines: list[str] = []
    used = 0
    for who, said in reversed(earlier):
        line = f"{LABELS.get(who, who.title())}: {_clip(said, LINE_CHARS)}"
        if used + len(line) > budget:
            break
        lines.append(line)
        used += len(line) + 1
    lines.reverse()
    head = ["(Earlier messages of this conversation, resent by my client:)"]
    if omitted := len(earlier) - len(lines):
        head.append(f"[{omitted} earlier message(s) omitted]")
    return "\n".join([*head, *lines, "", "(My new message:)", text])


def title_for(said: Sequence[Said]) -> str:
    """The first user message, on one line and short: a title without a model call."""
    first = next((text for who, text in said if who == "user" and text), "API chat")
    return _clip(" ".join(first.split()), 80)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# -- answers ----------------------------------------------------------------------------------
@dataclass
class Answer:
    """The answer text as the client receives it while streaming: every step's text, steps
    (and a restarted attempt) separated by a blank line."""

    parts: list[str] = field(default_factory=list)
    message_id: uuid.UUID | None = None

    def take(self, event: ev.Event) -> str:
        """The text this event adds for the client ("" for most events)."""
        if isinstance(event, ev.TurnRestarted):
            self.message_id = None
        if not isinstance(event, ev.TextDelta) or not event.text:
            return ""
        separate = bool(self.parts) and event.message_id != self.message_id
        self.message_id = event.message_id
        return self.add(event.text, separate=separate)

    def add(self, text: str, *, separate: bool = True) -> str:
        piece = ("\n\n" if separate and self.parts and text else "") + text
        if piece:
            self.parts.append(piece)
        return piece

    @property
    def text(self) -> str:
        return "".join(self.parts)


def approval_note(events: Iterable[ev.Event]) -> str:
    """One line per action waiting for approval, saying how to approve it over REST."""
    return "\n".join(
        f"Waiting for approval: {e.title} ({e.tool}). Approve with POST "
        f"/v1/approvals/{e.pending_action_id}/approve (or reject with .../reject)."
        for e in events if isinstance(e, ev.ApprovalRequired))


def joined(text: str, note: str) -> str:
    return "\n\n".join(part for part in (text.rstrip(), note) if part)


class UsageOut(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


def usage_of(events: Iterable[ev.Event]) -> UsageOut:
    spent = [e for e in events if isinstance(e, ev.Usage)]
    prompt = sum(e.prompt_tokens for e in spent)
    completion = sum(e.completion_tokens for e in spent)
    return UsageOut(prompt_tokens=prompt, completion_tokens=completion,
                    total_tokens=prompt + completion)


class NeptuneMeta(BaseModel):
    """Neptune's side of the exchange: where it lives and what waits for approval."""

    conversation_id: uuid.UUID
    turn_id: uuid.UUID
    status: str
    pending_approvals: list[uuid.UUID] = Field(default_factory=list)


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    logprobs: None = None
    finish_reason: Literal["stop"] = "stop"


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str = MODEL_ID
    choices: list[Choice]
    usage: UsageOut
    neptune: NeptuneMeta


class ModelCard(BaseModel):
    id: str = MODEL_ID
    object: Literal["model"] = "model"
    created: int = MODEL_CREATED
    owned_by: str = "neptune"
    neptune: dict[str, str] = Field(
        default_factory=dict, description="`model`: the workspace's model behind `neptune`.")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def completion_id(turn_id: uuid.UUID) -> str:
    return f"chatcmpl-{turn_id.hex}"


@dataclass(frozen=True)
class Chunks:
    """The `chat.completion.chunk` payloads of one streamed answer."""

    id: str
    created: int
    include_usage: bool

    def delta(self, delta: dict[str, Any], finish: str | None = None,
              **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return sse(self._chunk([choice], **extra))

    def usage(self, usage: UsageOut) -> bytes:
        return sse({**self._chunk([]), "usage": usage.model_dump()})

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk",
                                "created": self.created, "model": MODEL_ID,
                                "choices": choices, **extra}
        if self.include_usage:
            body["usage"] = None
        return body


def sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, default=str)
    return f"data: {data}\n\n".encode()


# -- errors -----------------------------------------------------------------------------------
def error_object(problem: Problem) -> dict[str, Any]:
    """The `error` object OpenAI clients read: message, type, code."""
    kind = problem.kind or ("internal-error" if problem.status >= 500 else "error")
    default = "server_error" if problem.status >= 500 else "invalid_request_error"
    return {"message": problem.detail or problem.title,
            "type": ERROR_TYPES.get(problem.status, default),
            "param": None, "code": kind.replace("-", "_")}


def respond(problem: Problem) -> JSONResponse:
    """The platform's problem+json, with the OpenAI `error` object added to the same body."""
    body = {**problem.body(), "error": error_object(problem)}
    return JSONResponse(body, status_code=problem.status, headers=problem.headers,
                        media_type=MEDIA_TYPE)


def invalid(exc: RequestValidationError) -> Problem:
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""),
               "type": e.get("type", "")} for e in exc.errors()]
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return Problem(422, "Invalid request", f"{where}: {first['msg']}{more}", kind="invalid",
                   errors=errors)


def turn_failed(code: str, message: str) -> Problem:
    """A turn that ended in an error. The runtime already retried and fell back across models,
    so clients are told not to retry on their own (`x-should-retry: false`)."""
    status, title = TURN_ERRORS.get(code, (500, "Turn failed"))
    return Problem(status, title, message, kind=code.replace("_", "-"),
                   headers={"x-should-retry": "false"})
