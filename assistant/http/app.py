"""The FastAPI application: one `Services` container per process, built before the app starts.

`build_services()` makes what every request shares (the runtime, the authenticator, the
limiter); `create_app(services)` wires routes, problem handlers and the body-size guard. Tests
build `Services` over their own database and scripted model and use the app in-process.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.conversations import Conversations
from assistant.deps import RuntimeDeps
from assistant.http import problems
from assistant.http.auth import Authenticator
from assistant.http.problems import Problem
from assistant.http.ratelimit import Limiter
from assistant.http.settings import ApiSettings
from assistant.runtime import Runtime

STATIC = Path(__file__).parent / "static"
VERSION = "1.0.0"

DESCRIPTION = """Neptune, the workspace assistant, as a service.

Authenticate with `Authorization: Bearer <token>`: a JWT naming the user (`sub`) and the
workspace (`workspace`), or a workspace access key (`nep_...`). Errors are
`application/problem+json`. Chat answers stream as Server-Sent Events when the request sends
`Accept: text/event-stream`, and over the WebSocket at `/v1/ws` (ticket from `POST
/v1/ws/tickets`). `POST /v1/chat/completions` speaks the OpenAI chat protocol."""


@dataclass(frozen=True)
class DemoIdentity:
    """Who the demo page chats as (development mode only): a demo workspace's owner."""

    workspace_id: uuid.UUID
    user_id: uuid.UUID


@dataclass
class Services:
    deps: RuntimeDeps
    settings: ApiSettings
    auth: Authenticator
    limiter: Limiter
    runtime: Runtime = field(init=False)
    conversations: Conversations = field(init=False)
    demo: DemoIdentity | None = None

    def __post_init__(self) -> None:
        self.runtime = Runtime(self.deps)
        self.conversations = Conversations(self.deps.database)


def build_services(deps: RuntimeDeps, settings: ApiSettings) -> Services:
    sessions = deps.database.sessions
    return Services(deps, settings, Authenticator(sessions, settings),
                    Limiter(sessions, settings))


def create_app(services: Services) -> FastAPI:
    from assistant.http.routes import ROUTERS

    app = FastAPI(title="Neptune", version=VERSION, description=DESCRIPTION,
                  openapi_url="/openapi.json", docs_url="/docs", redoc_url=None)
    app.state.services = services
    problems.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(BodyLimit, limit=services.settings.max_body_bytes,
                       upload_limit=services.settings.upload_max_bytes)
    if services.settings.cors_origins:
        # Bearer tokens, not cookies: credentials stay off, so no origin can ride a session.
        app.add_middleware(CORSMiddleware, allow_origins=list(services.settings.cors_origins),
                           allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
                           max_age=600)
    _complete_document(app)
    return app


def _complete_document(app: FastAPI) -> None:
    """What FastAPI cannot infer: errors are problem+json (its default 422 says JSON), and an
    operation that takes a body can also answer 400 (unparseable body) and 413 (BodyLimit)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["ProblemBody"] = problems.ProblemBody.model_json_schema()
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    _problem_statuses(operation)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _problem_statuses(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    statuses = [code for code in responses if code.startswith(("4", "5"))]
    if "requestBody" in operation:
        statuses += ["400", "413"]
    for code in statuses:
        existing = responses.get(code, {})
        responses[code] = {
            "description": existing.get("description") or problems.title_of(int(code)),
            "content": {problems.MEDIA_TYPE: {"schema": {
                "$ref": "#/components/schemas/ProblemBody"}}}}


class BodyLimit:
    """Refuse request bodies over the limit (413) before a route reads them, whether or not the
    client sent a Content-Length. Knowledge uploads get their own, larger limit."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int) -> None:
        self.app, self.limit, self.upload_limit = app, limit, upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if scope["path"].startswith("/v1/knowledge/") else self.limit
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(limit, send)


class _TooLarge(Exception):
    pass


async def _too_large(limit: int, send: Send) -> None:
    problem = Problem(413, "Payload Too Large", f"the request body is over {limit:,} bytes",
                      kind="too-large")
    response = problems.respond(problem)
    await send({"type": "http.response.start", "status": 413,
                "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
