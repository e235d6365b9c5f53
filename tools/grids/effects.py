"""The node types with effects: action (a registered tool), email and notification (the
outbox), delay (a stored wake-up time), and the two that leave the database, ai and
webhook/api, whose calls run with no transaction open.

An action runs as the member who started the run (their role and permissions from
`workspace_members`, checked like a chat call) under the same risk policy as chat: `decide()`
either lets it run now, in a savepoint of the step's transaction, or it becomes an
`agent_pending_actions` row naming the run, and the run pauses until a person decides. Every
effect carries the step's idempotency key `grid:<execution>:<node>:<n>` (n counts the node's
runs within the execution), so a resumed, retried or approved step finds its earlier effect
instead of repeating it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from store.errors import InvalidArgument
from store.models.core import Workspace, WorkspaceMember
from store.models.grids import GridExecution, NodeType
from store.models.neptune import OutboundChannel
from store.models.orchestration import AgentPendingAction, RiskLevel
from store.repositories.base import utcnow
from store.repositories.neptune import AutonomyRepository
from store.repositories.orchestration import AgentPendingActionRepository
from store.tenancy import WorkspaceScope
from tools.audit import record_change
from tools.context import Caller, ToolContext
from tools.errors import ToolError
from tools.grids import expressions as ex
from tools.grids import safe_http
from tools.grids.model import MODEL_SERVICE, ModelCall, ModelPrompt, ModelUnavailable
from tools.grids.nodes import NodeError, Produced
from tools.grids.specs import (
    ActionConfig,
    AiConfig,
    DelayConfig,
    EmailConfig,
    HttpConfig,
    NodeSpec,
    NotificationConfig,
)
from tools.invoke import invoke, parse_arguments
from tools.policy import Verdict, decide, overrides_from_settings, refusal
from tools.registry import ToolRegistry
from tools.senders import OutgoingMessage, sender_for, sending_number

log = logging.getLogger(__name__)
CHANNEL = "grid"


@dataclass(frozen=True)
class Step:
    """One node's run inside the step's transaction: everything an effect may use."""

    session: AsyncSession
    scope: WorkspaceScope
    run: GridExecution
    node: NodeSpec
    config: Any
    input: Any
    env: ex.Env
    key: str
    services: Mapping[str, Any]
    registry: ToolRegistry
    approval_ttl: timedelta

    def render(self, value: Any) -> Any:
        return ex.render(value, self.env)


@dataclass(frozen=True)
class Approval:
    """The action waits for a person: the pending action that holds its call."""

    pending: AgentPendingAction


async def run_caller(session: AsyncSession, scope: WorkspaceScope,
                     run: GridExecution) -> Caller:
    """The member who started the run, as a caller with their current role and permissions."""
    if run.triggered_by is None:
        raise NodeError("this run was not started by a member, so it cannot act for anyone")
    member = await session.scalar(sa.select(WorkspaceMember).where(
        WorkspaceMember.workspace_id == scope.workspace_id,
        WorkspaceMember.user_id == run.triggered_by))
    if member is None or not member.is_active:
        raise NodeError("the member who started this run is no longer active in the workspace")
    return Caller.for_member(scope.workspace_id, member.user_id, member.role,
                             member.permissions, channel=CHANNEL)


async def _settings(step: Step) -> dict[str, Any]:
    value = await step.session.scalar(
        sa.select(Workspace.settings).where(Workspace.id == step.scope.workspace_id))
    return dict(value or {})


async def action(step: Step) -> Produced | Approval:
    config: ActionConfig = step.config
    tool = step.registry.get(config.tool)
    if tool is None:
        raise NodeError(f"there is no tool named {config.tool!r}")
    caller = await run_caller(step.session, step.scope, step.run)
    override = overrides_from_settings(await _settings(step)).get(tool.name)
    reason = refusal(tool, caller, override)
    if reason is not None:
        raise NodeError(reason)
    try:
        args = parse_arguments(tool, step.render(config.arguments))
    except ToolError as error:
        raise NodeError(f"{tool.name}: {error}") from error
    auto = tool.risk == RiskLevel.MEDIUM and await AutonomyRepository(
        step.session, step.scope).may_auto_execute(caller.user_id, tool.name)
    decision = decide(tool, override=override, auto_enabled=auto)
    arguments = args.model_dump(mode="json")
    if decision.verdict == Verdict.ASK:
        pending = await AgentPendingActionRepository(step.session, step.scope).request(
            tool_name=tool.name, tool_arguments=arguments, risk_level=tool.risk,
            title=tool.describe_call(arguments), idempotency_key=step.key,
            user_id=caller.user_id, grid_execution_id=step.run.id,
            reasons=list(decision.reasons), expires_at=utcnow() + step.approval_ttl,
            details={"grid_id": str(step.run.grid_id), "node_id": step.node.id},
        )
        return Approval(pending)
    ctx = ToolContext(caller, step.session, step.key, None, step.services)
    try:
        async with step.session.begin_nested():
            result = await invoke(tool, ctx, args)
    except ToolError as error:
        raise NodeError(f"{tool.name}: {error}") from error
    except Exception as exc:
        log.exception("tool %s crashed in grid run %s", tool.name, step.run.id)
        raise NodeError(f"{tool.name} failed unexpectedly") from exc
    return Produced(result.model_dump(mode="json"), [f"ran {tool.name} ({decision.verdict})"])


def _as_text(value: Any, what: str) -> str:
    if value is None or isinstance(value, dict | list):
        text = ex.FUNCTIONS["string"](value)
    else:
        text = str(value)
    if not text.strip():
        raise NodeError(f"the {what} is empty")
    return str(text)


async def _send(step: Step, message: OutgoingMessage) -> Produced:
    caller = await run_caller(step.session, step.scope, step.run)
    ctx = ToolContext(caller, step.session, step.key, None, step.services)
    try:
        receipt = await sender_for(ctx).send(step.session, step.scope, message)
    except (InvalidArgument, ToolError) as error:
        raise NodeError(str(error)) from error
    if not receipt.repeated:
        await record_change(ctx, "send", "outbound_message", receipt.outbound_message_id, after={
            "channel": receipt.channel, "recipient": receipt.recipient,
            "subject": message.subject, "grid_execution_id": step.run.id})
    output = {"outbound_message_id": str(receipt.outbound_message_id),
              "channel": str(receipt.channel), "recipient": receipt.recipient,
              "status": str(receipt.status), "repeated": receipt.repeated}
    return Produced(output, [f"queued {receipt.channel} to {receipt.recipient}"])


async def email(step: Step) -> Produced:
    config: EmailConfig = step.config
    subject = config.subject or f"{step.node.label or step.node.id}"
    body = config.body if config.body is not None else "{{ input }}"
    return await _send(step, OutgoingMessage(
        channel=OutboundChannel.EMAIL,
        recipient=_as_text(step.render(config.to), "recipient"),
        subject=_as_text(step.render(subject), "subject"),
        body=_as_text(step.render(body), "body"),
        related_type="grid_execution", related_id=step.run.id, idempotency_key=step.key,
    ))


async def notification(step: Step) -> Produced:
    config: NotificationConfig = step.config
    body = config.message if config.message is not None else "{{ input }}"
    try:
        sender = await sending_number(step.session, step.scope, config.channel)
    except ToolError as error:
        raise NodeError(str(error)) from error
    return await _send(step, OutgoingMessage(
        channel=config.channel, recipient=_as_text(step.render(config.to), "recipient"),
        body=_as_text(step.render(body), "message"),
        subject=None if config.subject is None else _as_text(step.render(config.subject),
                                                              "subject"),
        sender=sender, related_type="grid_execution", related_id=step.run.id,
        idempotency_key=step.key,
    ))


def delay_until(step: Step, now: datetime) -> datetime:
    """When a delay node's wait ends (`now` is the engine's clock)."""
    config: DelayConfig = step.config
    if config.until is None:
        return now + timedelta(seconds=config.total_seconds)
    value = step.render(config.until)
    try:
        until = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise NodeError(f"until: {value!r} is not an ISO date and time") from exc
    if until.tzinfo is None:
        raise NodeError(f"until: {value!r} needs a time zone, e.g. 2025-01-31T09:00:00+00:00")
    return until


# -- calls outside the transaction -------------------------------------------------------------


def http_request(step: Step) -> safe_http.HttpRequest:
    """The request a webhook or api node sends, rendered now (inside the step)."""
    config: HttpConfig = step.config
    is_webhook = step.node.type == NodeType.WEBHOOK
    method = config.method or ("POST" if is_webhook else "GET")
    body = config.body if config.body is not None or not is_webhook else "{{ input }}"
    return safe_http.HttpRequest(
        method=method, url=str(step.render(config.url)),
        headers={k: str(v) for k, v in step.render(config.headers).items()},
        query=step.render(config.query), body=None if method == "GET" else step.render(body),
        timeout=config.timeout_seconds, idempotency_key=step.key,
    )


async def perform_http(request: safe_http.HttpRequest, config: HttpConfig) -> Produced:
    try:
        response = await safe_http.send(request)
    except (safe_http.HttpRefused, safe_http.HttpFailed) as error:
        raise NodeError(str(error)) from error
    line = f"{request.method} {safe_http.redacted_url(request.url)} -> {response.status}"
    if config.fail_on_status and response.status >= 400:
        raise NodeError(f"{line}: the server answered with an error")
    return Produced(response.as_output(), [line])


def model_prompt(step: Step, caller: Caller) -> ModelPrompt:
    config: AiConfig = step.config
    return ModelPrompt(
        caller=caller, prompt=_as_text(step.render(config.prompt), "prompt"),
        system=None if config.system is None else _as_text(step.render(config.system),
                                                            "system prompt"),
        model=config.model, max_tokens=config.max_tokens,
    )


async def perform_ai(services: Mapping[str, Any], prompt: ModelPrompt,
                     config: AiConfig) -> Produced:
    model = services.get(MODEL_SERVICE)
    if not isinstance(model, ModelCall):
        raise NodeError("no model is available to this run (the `model` service is missing)")
    try:
        reply = await model.complete(prompt)
    except ModelUnavailable as error:
        raise NodeError(f"the model could not answer: {error}") from error
    logs = [f"{reply.model}: {reply.prompt_tokens} prompt + {reply.completion_tokens} "
            "completion tokens"]
    if not config.parse_json:
        return Produced({"text": reply.text, "model": reply.model}, logs)
    return Produced(_json_reply(reply.text), logs)


def _json_reply(text: str) -> Any:
    """The reply as JSON (a ```json fence around it is allowed); NodeError when it is not."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise NodeError(f"the model's reply is not JSON: {text[:200]!r}") from exc
