"""Approvals: what awaits the caller's decision, and deciding it (JSON, or SSE for a chat)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from assistant import decisions
from assistant.approvals import ApprovalRefused
from assistant.http import streaming
from assistant.http.dependencies import Chatter, Reader, ServicesDep
from assistant.http.problems import Problem, forbidden, problem_responses
from assistant.http.routes.chat import SSE_RESPONSE
from assistant.http.schemas import ApprovalOut, DecisionIn, DecisionOut
from assistant.tool_runner import CallOutcome
from store.models.core import MemberRole
from store.models.orchestration import AgentPendingAction, ApprovalStatus
from store.repositories.orchestration import AgentPendingActionRepository
from store.tenancy import scoped_session

router = APIRouter(prefix="/v1/approvals", tags=["approvals"],
                   responses=problem_responses(401, 403, 404, 422, 429))


@router.get("", summary="Actions awaiting approval (the caller's; all of them for admins)")
async def list_approvals(
    principal: Reader, svc: ServicesDep,
    status: Annotated[Literal["pending", "approved", "rejected", "expired", "all"],
                      Query()] = "pending",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ApprovalOut]:
    caller = principal.caller
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        repo = AgentPendingActionRepository(session, caller.scope)
        filters: list[Any] = []
        if status != "all":
            filters.append(AgentPendingAction.status == ApprovalStatus(status))
        if not caller.at_least(MemberRole.ADMIN):
            filters.append(AgentPendingAction.user_id == caller.user_id)
        rows = await repo._all(*filters, order_by=[AgentPendingAction.requested_at.desc()],
                               limit=limit)
    return [_out(r) for r in rows]


@router.post("/{pending_id}/approve", summary="Approve: the stored call runs once",
             responses={**SSE_RESPONSE, **problem_responses(409)})
async def approve(pending_id: uuid.UUID, request: Request, principal: Chatter,
                  svc: ServicesDep, body: DecisionIn | None = None) -> DecisionOut:
    return await _decide(pending_id, request, principal, svc, body, approve=True)


@router.post("/{pending_id}/reject", summary="Reject: the call never runs; Neptune is told",
             responses={**SSE_RESPONSE, **problem_responses(409)})
async def reject(pending_id: uuid.UUID, request: Request, principal: Chatter,
                 svc: ServicesDep, body: DecisionIn | None = None) -> DecisionOut:
    return await _decide(pending_id, request, principal, svc, body, approve=False)


async def _decide(pending_id: uuid.UUID, request: Request, principal: Chatter,
                  svc: ServicesDep, body: DecisionIn | None, *, approve: bool) -> DecisionOut:
    try:
        decision = await decisions.decide(svc.deps, principal.caller, pending_id,
                                          approve=approve, notes=body.notes if body else None)
    except ApprovalRefused as refused:
        raise forbidden(str(refused)) from refused
    verdict: Literal["approved", "rejected"] = "approved" if approve else "rejected"
    if decision.turn is not None:
        if streaming.SSE_MEDIA_TYPE in request.headers.get("accept", ""):
            return StreamingResponse(  # type: ignore[return-value]
                streaming.stream(decision.turn), media_type=streaming.SSE_MEDIA_TYPE)
        turn = await streaming.collect(decision.turn)
        resolution = decision.turn.resolution
        assert resolution is not None
        return DecisionOut(pending_action_id=pending_id, decision=verdict, kind="chat",
                           tool=resolution.pending.tool_name, status=resolution.outcome.status,
                           result=_jsonable(resolution.outcome), turn=turn)
    if decision.report is not None:
        report = decision.report
        return DecisionOut(pending_action_id=pending_id, decision=verdict, kind="agent",
                           tool=decision.tool, status=report.status, agent_status=report.status,
                           text=report.text or None)
    resolution = decision.resolution
    if resolution is None:
        raise Problem(500, "Internal error", "the decision produced no outcome")
    return DecisionOut(pending_action_id=pending_id, decision=verdict, kind=decision.kind,
                       tool=resolution.pending.tool_name, status=resolution.outcome.status,
                       result=_jsonable(resolution.outcome))


def _jsonable(outcome: CallOutcome) -> Any:
    if outcome.error:
        return {"error": outcome.error}
    result = outcome.result
    return result.model_dump(mode="json") if isinstance(result, BaseModel) else result


def _out(row: AgentPendingAction) -> ApprovalOut:
    return ApprovalOut(id=row.id, tool=row.tool_name, arguments=row.tool_arguments,
                       risk=str(row.risk_level), title=row.title, status=str(row.status),
                       conversation_id=row.conversation_id, requested_by=row.user_id,
                       expires_at=row.expires_at, created_at=row.created_at)
