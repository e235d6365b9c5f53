"""Errors as RFC 9457 problem details (`application/problem+json`), in one place.

Domain errors map to statuses here, so routes raise what they mean (`NotFound`, `Forbidden`,
`InvalidArgument`) and never build responses for errors. Another workspace's record is a
`NotFound` like any missing record: 404, never 403.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

from assistant.locks import ConversationBusy
from store.errors import Conflict, InvalidArgument, NotFound
from tools.errors import ToolError

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"


class ProblemBody(BaseModel):
    """An error: what kind (`type`, `title`), this occurrence (`detail`), the HTTP status."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str | None = None, *,
                 headers: dict[str, str] | None = None, kind: str | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail
        self.headers, self.kind, self.errors = headers or {}, kind, errors

    def body(self) -> dict[str, Any]:
        body = ProblemBody(type=f"https://neptune.dev/problems/{self.kind}" if self.kind
                           else "about:blank", title=self.title, status=self.status,
                           detail=self.detail, errors=self.errors)
        return body.model_dump(exclude_none=True)


def unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, kind="unauthorized",
                   headers={"WWW-Authenticate": 'Bearer realm="neptune"'})


def forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail, kind="forbidden")


def not_found(what: str = "resource") -> Problem:
    return Problem(404, "Not Found", f"no such {what}", kind="not-found")


def respond(problem: Problem) -> JSONResponse:
    return JSONResponse(problem.body(), status_code=problem.status, headers=problem.headers,
                        media_type=MEDIA_TYPE)


def as_problem(exc: Exception) -> Problem | None:
    """The problem a known exception means, or None for a bug."""
    match exc:
        case Problem():
            return exc
        case HTTPException():
            return Problem(exc.status_code, title_of(exc.status_code), str(exc.detail),
                           headers=dict(exc.headers or {}))
        case NotFound():
            return Problem(404, "Not Found", str(exc), kind="not-found")
        case InvalidArgument():
            return Problem(422, "Invalid request", str(exc), kind="invalid")
        case Conflict():
            return Problem(409, "Conflict", str(exc), kind="conflict")
        case ConversationBusy():
            return Problem(409, "Conversation busy", "another turn is running in this "
                           "conversation; try again when it ends", kind="busy",
                           headers={"Retry-After": "1"})
        case ToolError():
            return Problem(422, "Not possible", str(exc), kind="tool-error")
        case DBAPIError() if _sqlstate(exc) in UNSTORABLE_TEXT:
            return Problem(422, "Invalid request", "text may not contain NUL characters or "
                           "invalid UTF-8", kind="invalid")
    return None


# PostgreSQL refuses these characters in text (NUL, or bytes its encoding cannot hold); the
# transaction is rolled back, so the request changed nothing and is the client's to fix.
UNSTORABLE_TEXT = frozenset({"22021", "22P05"})


def _sqlstate(exc: DBAPIError) -> str | None:
    cause = getattr(exc.orig, "__cause__", None)
    state = getattr(cause, "sqlstate", None) or getattr(exc.orig, "sqlstate", None)
    return str(state) if state else None


def install(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        problem = as_problem(exc)
        if problem is None:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            problem = Problem(500, "Internal error", "something went wrong on our side")
        return respond(problem)


    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""),
                   "type": e.get("type", "")} for e in exc.errors()]
        return respond(Problem(422, "Invalid request", _summary(errors), kind="invalid",
                               errors=errors))

    for cls in (Problem, NotFound, InvalidArgument, Conflict, ConversationBusy, ToolError,
                DBAPIError, Exception):
        app.add_exception_handler(cls, on_problem)
    app.add_exception_handler(HTTPException, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)


def _summary(errors: list[dict[str, Any]]) -> str:
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def title_of(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problems a route can answer."""
    return {s: {"description": title_of(s),
                "content": {MEDIA_TYPE: {"schema": {
                    "$ref": "#/components/schemas/ProblemBody"}}}} for s in statuses}
