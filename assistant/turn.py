"""One chat turn, split by phase: prepare, (summarise), call the model, run tools, finish.

Each phase hands typed values to the next and opens only short transactions of its own; no
transaction is open while the model runs. The runner is driven by `assistant.runtime`, which
holds the conversation's turn lock around it and turns stop, errors and crashes into endings.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

import prompts
from assistant import events as ev
from assistant.context import History, PageContext, load_history, transcript
from assistant.deps import RuntimeDeps
from assistant.eventlog import EventLog
from assistant.gateway import (
    Attempt,
    Completion,
    GatewayError,
    ModelRequest,
    Restarted,
    TextChunk,
)
from assistant.insights.followup import after_calls, worth_a_session
from assistant.insights.surfacing import TurnMemory, expand_shortcut, load_turn_memory
from assistant.ledger import record_attempts
from assistant.tokens import count_message, count_text
from assistant.tool_runner import CallBatch, CallOutcome, run_calls
from assistant.workspace import TurnSetting, load_setting
from store.errors import NotFound
from store.models.ai import AiConversation, MessageRole, MessageStatus
from store.repositories.ai import ConversationRepository, MessageRepository
from store.repositories.neptune import ConversationEventRepository
from store.tenancy import scoped_session
from tools.context import Caller
from tools.knowledge.embedder import embedder_for

Ending = Literal["complete", "stopped", "error"]


class TurnError(Exception):
    """A turn ending the user should hear about (`code` for clients, `message` for people)."""

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code, self.message, self.retryable = code, message, retryable


@dataclass(frozen=True)
class TurnOutcome:
    turn_id: uuid.UUID
    conversation_id: uuid.UUID
    status: Ending
    message_id: uuid.UUID | None
    text: str
    error: str | None = None


@dataclass
class OpenMessage:
    """The assistant message being written: its row exists (status streaming) from the start."""

    id: uuid.UUID
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts)


class TurnRunner:
    def __init__(self, deps: RuntimeDeps, caller: Caller, conversation_id: uuid.UUID,
                 turn_id: uuid.UUID, log: EventLog) -> None:
        self.deps, self.caller, self.conversation_id = deps, caller, conversation_id
        self.turn_id, self.log = turn_id, log
        self.open: OpenMessage | None = None
        self.setting: TurnSetting | None = None
        self.messages: list[dict[str, Any]] = []
        self.context_tokens = 0
        self.invalid_calls = 0
        self.tools_off = False
        self.first_exchange = False
        self.last_finished: uuid.UUID | None = None
        self.memory = TurnMemory()

    # -- prepare ----------------------------------------------------------------------------
    async def prepare(
        self, text: str | None, page: PageContext | None, *,
        extra: Sequence[dict[str, Any]] = (), announce: Sequence[ev.Event] = (),
        any_owner: bool = False,
    ) -> None:
        """Store the user's message (committed before any model call) or, when resuming after
        an approval, the `extra` rows; open the assistant's message; load what the turn reads."""
        async with self._session() as session:
            conversation = await self._conversation(session, any_owner=any_owner)
            self.log.seq = await ConversationEventRepository(session, self.caller.scope).last_seq(
                self.conversation_id)
            rows: list[dict[str, Any]] = []
            if text is not None:
                text, shortcut = await expand_shortcut(session, self.caller, text)
                rows.append(_user_row(text, page, shortcut))
            rows.extend(extra)
            rows.append({"role": MessageRole.ASSISTANT, "status": MessageStatus.STREAMING})
            written = await MessageRepository(session, self.caller.scope).append_many(
                self.conversation_id, rows)
            self.first_exchange = conversation.title is None and text is not None
            if text is not None:
                self.log.make(ev.MessageCreated, turn_id=self.turn_id,
                              message_id=written[0].id, role="user", content=text)
            for event in announce:
                self.log.emit(event)
            self.setting = await load_setting(session, self.deps, self.caller, conversation)
            history = await load_history(session, self.caller.scope, self.conversation_id,
                                         self.deps.settings.context_tokens,
                                         before_seq=written[-1].seq)
            if self.setting.run.system_prompt is None:
                self.memory = await load_turn_memory(
                    session, self.caller, text, page, embedder_for(self.deps.tool_services))
            self._open(written[-1].id)
        await self._context(history, page)

    async def _conversation(self, session: AsyncSession, *, any_owner: bool) -> AiConversation:
        """The caller's own conversation; anyone else's behaves as if it did not exist."""
        conversation = await ConversationRepository(session, self.caller.scope).get(
            self.conversation_id)
        if not any_owner and conversation.user_id not in (None, self.caller.user_id):
            raise NotFound("ai_conversation", self.conversation_id)
        return conversation

    def _open(self, message_id: uuid.UUID) -> None:
        self.open = OpenMessage(message_id)
        self.log.make(ev.MessageCreated, turn_id=self.turn_id, message_id=message_id,
                      role="assistant")

    async def _context(self, history: History, page: PageContext | None) -> None:
        system_text = self._system_prompt(page)
        summary_text = await self._summarise(history) if history.overflow else None
        self.messages = [{"role": "system", "content": system_text},
                         *history.messages(summary_text)]
        self.context_tokens = count_text(system_text) + sum(u.tokens for u in history.kept)
        if summary_text:
            self.context_tokens += count_text(summary_text)

    def _system_prompt(self, page: PageContext | None) -> str:
        """The conversation's own prompt when it has one (an agent's run), else the channel's;
        its ref is recorded on every answer either way."""
        setting = self._setting()
        if setting.run.system_prompt is not None:
            setting.prompt_ref = setting.run.prompt_ref
            return setting.run.system_prompt
        version = self.deps.settings.prompt_version
        system = prompts.compose_system(
            _channel(self.caller.channel), version=version,
            values=setting.prompt_values(page or PageContext()),
        )
        background, background_ref = self.memory.render(version)
        setting.prompt_ref = f"{system.ref}+{background_ref}" if background_ref else system.ref
        return f"{system.text}\n\n{background}" if background else system.text

    # -- summary ----------------------------------------------------------------------------
    async def _summarise(self, history: History) -> str:
        """Summarise the overflow (and the previous summary) into a stored summary row."""
        previous = history.summary.content if history.summary else None
        prompt = prompts.load("summarize", self.deps.settings.prompt_version)
        request = ModelRequest(
            [{"role": "system", "content": prompt.text},
             {"role": "user", "content": transcript(history.overflow, previous)}],
            timeout=self.deps.settings.model_timeout,
        )
        completion = await self._complete(request, purpose="summary")
        until = history.overflow[-1].last_seq
        async with self._session() as session:
            await MessageRepository(session, self.caller.scope).append(
                self.conversation_id, MessageRole.SUMMARY, completion.text,
                summary_of_until_seq=until, model=completion.target.model,
                token_count=count_text(completion.text), prompt_ref=prompt.ref,
            )
        return completion.text

    async def _complete(self, request: ModelRequest, *, purpose: str) -> Completion:
        """A whole side response (summary, title), budgeted and recorded like a chat call."""
        self._check_budget(sum(count_message(m) for m in request.messages))
        try:
            completion = await self.deps.gateway.complete(self._setting().targets, request)
        except GatewayError as error:
            await self._record(error.attempts, purpose)
            raise TurnError("model_unavailable", str(error), retryable=True) from error
        await self._record(completion.attempts, purpose)
        return completion

    # -- model step -------------------------------------------------------------------------
    async def run(self) -> TurnOutcome:
        limit = self.deps.settings.step_limit
        for _ in range(limit):
            completion = await self._model_step()
            if not completion.tool_calls:
                return await self._complete_turn(completion)
            await self._tool_step(completion)
        return await self._step_limit(limit)

    async def _model_step(self) -> Completion:
        setting, message = self._setting(), self._message()
        tools = [] if self.tools_off else [t.schema for t in setting.tools]
        self._check_budget(self.context_tokens + setting.tool_tokens * bool(tools))
        request = ModelRequest(list(self.messages), tools, timeout=self.deps.settings.model_timeout)
        completion: Completion | None = None
        try:
            async for item in self.deps.gateway.stream(setting.targets, request):
                if isinstance(item, TextChunk):
                    message.parts.append(item.text)
                    self.log.make(ev.TextDelta, turn_id=self.turn_id, message_id=message.id,
                                  text=item.text)
                elif isinstance(item, Restarted):
                    message.parts.clear()
                    self.log.make(ev.TurnRestarted, turn_id=self.turn_id, message_id=message.id,
                                  reason=item.reason, model=item.target.name)
                else:
                    completion = item
        except GatewayError as error:
            await self._record(error.attempts, "chat")
            code = "model_timeout" if error.timed_out else "model_unavailable"
            raise TurnError(code, str(error), retryable=True) from error
        assert completion is not None
        await self._finish_step(completion, tools)
        return completion

    async def _finish_step(self, completion: Completion, tools: Sequence[dict[str, Any]]) -> None:
        """Store the assistant message as the model wrote it, its usage and its events."""
        message, setting = self._message(), self._setting()
        calls = [c.as_message() for c in completion.tool_calls]
        stored = {"role": "assistant", "content": completion.text or None,
                  **({"tool_calls": calls} if calls else {})}
        usage = completion.usage
        self.log.make(ev.Usage, turn_id=self.turn_id, model=completion.target.name,
                      prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                      cached_tokens=usage.cached_tokens, cost_usd=usage.cost_usd,
                      latency_ms=completion.latency_ms)
        tokens = count_message(stored)
        # The client has everything once these are emitted; storing follows, under the lock.
        self.log.make(ev.MessageCompleted, turn_id=self.turn_id, message_id=message.id,
                      status="complete", content=completion.text)
        async with self._session() as session:
            await MessageRepository(session, self.caller.scope).finish(
                message.id, content=completion.text, tool_calls=calls or None,
                model=completion.target.model, token_count=tokens,
                status=MessageStatus.COMPLETE, prompt_ref=setting.prompt_ref,
                tool_schema_hashes={t["function"]["name"]: setting.hashes[t["function"]["name"]]
                                    for t in tools},
                tokens={"prompt": usage.prompt_tokens, "completion": usage.completion_tokens,
                        "cached": usage.cached_tokens, "cost_usd": usage.cost_usd},
                response_time_ms=completion.latency_ms,
                meta={"turn_id": str(self.turn_id), "finish_reason": completion.finish_reason},
            )
            await record_attempts(session, self.caller, self.conversation_id,
                                  completion.attempts, "chat")
            self._count_spent(completion.attempts)
            await self.log.flush(session)
        self.messages.append(stored)
        self.context_tokens += tokens
        self.last_finished, self.open = message.id, None

    # -- tools ------------------------------------------------------------------------------
    async def _tool_step(self, completion: Completion) -> None:
        setting = self._setting()
        for call in completion.tool_calls:
            self.log.make(ev.ToolStarted, turn_id=self.turn_id, call_id=call.id,
                          tool=call.name, arguments=call.decoded())
        batch = CallBatch(
            self.caller, self.deps.database.sessions, setting.run.registry(self.deps.registry),
            setting.overrides,
            self.turn_id, self.conversation_id, self._finished(),
            completion.target.model, timedelta(hours=self.deps.settings.approval_ttl_hours),
            self.deps.tool_services,
            step_tokens=completion.usage.total // max(1, len(completion.tool_calls)),
        )
        outcomes = await run_calls(batch, completion.tool_calls)
        await self._after_calls(outcomes)
        self._bound_retries(outcomes)
        for outcome in outcomes:
            self._announce(outcome)
        await self._store_results(outcomes)

    async def _after_calls(self, outcomes: Sequence[CallOutcome]) -> None:
        """A committed deal-stage change or new invoice re-runs the insight detectors soon; a
        search joins the user's recent searches."""
        if worth_a_session(outcomes):
            async with self._session() as session:
                await after_calls(session, self.caller, outcomes)

    def _finished(self) -> uuid.UUID:
        assert self.last_finished is not None, "a model step finished first"
        return self.last_finished

    def _announce(self, outcome: CallOutcome) -> None:
        pending = outcome.pending
        if pending is not None:
            self.log.make(ev.ApprovalRequired, turn_id=self.turn_id, pending_action_id=pending.id,
                          call_id=outcome.call.id, tool=pending.tool_name,
                          arguments=pending.tool_arguments, risk=str(pending.risk_level),
                          title=pending.title, reasons=list(pending.reasons),
                          expires_at=pending.expires_at)
        self.log.make(ev.ToolFinished, turn_id=self.turn_id, call_id=outcome.call.id,
                      tool=outcome.call.name, status=outcome.status, result=outcome.result,
                      error=outcome.error, duration_ms=outcome.duration_ms)

    def _bound_retries(self, outcomes: Sequence[CallOutcome]) -> None:
        """After too many invalid calls in one turn, the next step gets no tools, so the model
        has to answer in words instead of looping on arguments it cannot get right."""
        self.invalid_calls += sum(o.retryable for o in outcomes)
        if self.invalid_calls > self.deps.settings.tool_retry_limit:
            self.tools_off = True

    async def _store_results(self, outcomes: Sequence[CallOutcome]) -> None:
        rows: list[dict[str, Any]] = [
            {"role": MessageRole.TOOL, "content": o.content, "tool_call_id": o.call.id,
             "token_count": count_message({"content": o.content}),
             "meta": {"tool": o.call.name, "status": o.status}}
            for o in outcomes
        ]
        rows.append({"role": MessageRole.ASSISTANT, "status": MessageStatus.STREAMING})
        async with self._session() as session:
            written = await MessageRepository(session, self.caller.scope).append_many(
                self.conversation_id, rows)
            await self.log.flush(session)
        for row in written[:-1]:
            self.messages.append({"role": "tool", "tool_call_id": row.tool_call_id,
                                  "content": row.content})
            self.context_tokens += row.token_count
        self._open(written[-1].id)

    # -- endings ----------------------------------------------------------------------------
    async def _complete_turn(self, completion: Completion) -> TurnOutcome:
        if self.first_exchange:
            await self._title()
        return TurnOutcome(self.turn_id, self.conversation_id, "complete", self._finished(),
                           completion.text)

    async def _step_limit(self, limit: int) -> TurnOutcome:
        text = (f"I stopped after {limit} steps without finishing, so some of what you asked may"
                " not be done. The tool results above show what did happen; tell me how you"
                " would like to continue.")
        self.log.make(ev.Error, turn_id=self.turn_id, code="step_limit",
                      message=f"stopped after {limit} model steps")
        message_id = await self.close_open(text, "complete")
        return TurnOutcome(self.turn_id, self.conversation_id, "complete", message_id, text,
                           error="step_limit")

    async def close_open(self, text: str | None, status: Ending) -> uuid.UUID | None:
        """End the open assistant message (stopped, failed, or a closing text) and store the
        turn's remaining events. Used by every ending, including after cancellation."""
        message = self.open
        if message is None:
            async with self._session() as session:
                await self.log.flush(session)
            return self.last_finished
        content = message.text if text is None else text
        self.log.make(ev.MessageCompleted, turn_id=self.turn_id, message_id=message.id,
                      status=status, content=content)
        async with self._session() as session:
            await MessageRepository(session, self.caller.scope).finish(
                message.id, content=content, token_count=count_message({"content": content}),
                status=MessageStatus(status),
                meta={"turn_id": str(self.turn_id)},
            )
            await self.log.flush(session)
        self.last_finished, self.open = message.id, None
        return message.id

    async def _title(self) -> None:
        """Name the conversation after its first exchange; a failure here costs only a title."""
        first_user = next((m["content"] for m in self.messages if m["role"] == "user"), "")
        answer = self.messages[-1].get("content") or ""
        prompt = prompts.load("title", self.deps.settings.prompt_version)
        request = ModelRequest([
            {"role": "system", "content": prompt.text},
            {"role": "user", "content": f"User: {first_user}\nAssistant: {answer}"},
        ], timeout=self.deps.settings.model_timeout)
        try:
            completion = await self._complete(request, purpose="title")
        except TurnError:
            return
        title = completion.text.strip().strip("\"'").rstrip(".")[:120] or None
        if title:
            async with self._session() as session:
                await ConversationRepository(session, self.caller.scope).rename(
                    self.conversation_id, title)

    # -- helpers ----------------------------------------------------------------------------
    def _message(self) -> OpenMessage:
        assert self.open is not None, "no assistant message is open"
        return self.open

    def _setting(self) -> TurnSetting:
        assert self.setting is not None, "prepare() runs first"
        return self.setting

    def _session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return scoped_session(self.deps.database.sessions, self.caller.scope)

    def _check_budget(self, estimate: int) -> None:
        setting = self._setting()
        if setting.tokens_today + estimate > setting.budget:
            raise TurnError(
                "budget_exceeded",
                f"This workspace has used {setting.tokens_today:,} of its {setting.budget:,}"
                " daily tokens and this request would go over; nothing was sent to the model."
                " The budget resets at midnight UTC, or an admin can raise the plan.",
            )

    def _count_spent(self, attempts: Sequence[Attempt]) -> None:
        self._setting().tokens_today += sum(a.usage.total for a in attempts)

    async def _record(self, attempts: Sequence[Attempt], purpose: str) -> None:
        async with self._session() as session:
            await record_attempts(session, self.caller, self.conversation_id, attempts, purpose)
        self._count_spent(attempts)


def _user_row(text: str, page: PageContext | None, shortcut: str | None) -> dict[str, Any]:
    """The user's message as stored; a shortcut is stored expanded, naming the shortcut."""
    meta: dict[str, Any] = {"page": page.model_dump(exclude_none=True)} if page else {}
    if shortcut is not None:
        meta["shortcut"] = shortcut
    return {"role": MessageRole.USER, "content": text,
            "token_count": count_message({"content": text}), "meta": meta}


def _channel(channel: str) -> str:
    return channel if channel in prompts.CHANNELS else "api"


