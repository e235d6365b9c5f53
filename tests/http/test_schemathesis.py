"""Every operation of the OpenAPI document, fuzzed with schemathesis against a live server.

Why this arrangement: the database engine, the scripted model and the app's services all live in
the test session's event loop, so the app has to be served from that loop. `serving(app)` runs
uvicorn there, and schemathesis, which is synchronous (hypothesis generating cases, `requests`
sending them), runs in a worker thread (`asyncio.to_thread`) and calls the server over loopback
HTTP while the loop keeps serving. schemathesis's own pytest integration (`@schema.parametrize()`)
would call the server from the loop's own thread and block it, and `from_asgi` drives the app
from an event loop of its own, where the engine's connections cannot be used.

The document is read from `app.openapi()` when the test runs (`from_dict`), so routes added by
any module are covered; the WebSocket is the only thing not in it. Each operation gets its own
hypothesis run, positive cases (valid by the schema) and negative ones (invalid), a few dozen
examples each, no deadline and no shrinking, so the whole file stays well under a minute.
Generation is derandomized: a run is repeatable, and CI fails the way a developer's run does
(`NEPTUNE_FUZZ_EXAMPLES=300` digs deeper locally).
Path parameters are sometimes real ids (a conversation with a finished exchange, its messages, a
pending approval) so the code past the 404 runs too; the model answers every turn with "ok".
Every response must be no 5xx, have a documented status and content type, and match the
documented schema; failures are collected per operation and reported together.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import hypothesis.strategies as st
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok

from assistant.http.app import create_app
from store.crypto import Keyring, new_key_spec
from store.db import Database
from store.models.core import SubscriptionTier
from store.repositories.crm import ContactRepository
from store.tenancy import scoped_session
from tests.http.conftest import MakeServices, Member
from tests.http.live import serving
from tests.model_server import Call, ModelServer, Text, ToolCalls

EXAMPLES = int(os.environ.get("NEPTUNE_FUZZ_EXAMPLES", "40"))  # per operation; more locally
CHECKS = [schemathesis.checks.not_a_server_error,
          schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance,
          schemathesis.checks.response_schema_conformance]
UNLIMITED = {"user_rate_limit": 1_000_000,
             "rate_limits": dict.fromkeys(SubscriptionTier, 1_000_000)}


def fuzz_settings() -> settings:
    return settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                    phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
                    suppress_health_check=list(HealthCheck))


def strategy(operation: Any, known: dict[str, str]) -> st.SearchStrategy[Any]:
    """Generated cases, and the same with every path parameter we hold a real id for."""
    names = {p.name for p in operation.path_parameters}
    real = {name: value for name, value in known.items() if name in names}
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    options = [operation.as_strategy(generation_mode=mode) for mode in modes]
    if real:
        options.append(operation.as_strategy(path_parameters=real))
    return st.one_of(options)


def fuzz(operation: Any, base_url: str, headers: dict[str, str],
         known: dict[str, str]) -> str | None:
    """Run one operation's cases; the first failure's report, or None."""
    session = requests.Session()
    session.trust_env = False

    @fuzz_settings()
    @given(case=strategy(operation, known))
    def check(case: Any) -> None:
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS)

    try:
        check()
    except (Exception, FailureGroup) as exc:  # a FailureGroup is a BaseExceptionGroup
        return f"{operation.label}: {exc}"
    finally:
        session.close()
    return None


def fuzz_all(document: dict[str, Any], base_url: str, headers: dict[str, str],
             known: dict[str, str]) -> tuple[list[str], list[str]]:
    """(operations run, failure reports) over the whole document."""
    schema = schemathesis.openapi.from_dict(document)
    ran, failures = [], []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"schema error: {result.err()}")
            continue
        operation = result.ok()
        ran.append(operation.label)
        if (failure := fuzz(operation, base_url, headers, known)) is not None:
            failures.append(failure)
    return ran, failures


async def seed(base_url: str, owner: Member, server: ModelServer,
               database: Database) -> dict[str, str]:
    """Real ids for path parameters: a conversation, its messages, a pending approval, an
    access key, the served model."""
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        contact = await ContactRepository(session, owner.ws.scope).create(
            first_name="Grace", email="grace@example.com")
    server.script(ToolCalls([Call("delete_contact", {"contact_id": str(contact.id)})]),
                  Text("That needs your approval."))
    async with httpx.AsyncClient(base_url=base_url, headers=owner.headers,
                                 trust_env=False) as client:
        created = (await client.post("/v1/conversations", json={"title": "Fuzz"})).json()
        conversation_id = created["id"]
        answered = (await client.post(f"/v1/conversations/{conversation_id}/messages",
                                      json={"text": "Delete Grace"})).json()
        detail = (await client.get(f"/v1/conversations/{conversation_id}")).json()
        key = (await client.post("/v1/access-keys",
                                 json={"name": "fuzz", "scopes": ["chat"]})).json()
        models = (await client.get("/v1/models")).json()
    assert answered["status"] == "awaiting_approval", answered
    return {"conversation_id": conversation_id, "message_id": detail["messages"][-1]["id"],
            "pending_id": answered["pending_approvals"][0], "key_id": key["id"],
            "model_id": models["data"][0]["id"]}


async def test_every_operation_conforms(make_services: MakeServices, owner: Member,
                                        server: ModelServer, database: Database) -> None:
    app: FastAPI = _app(make_services)
    document = app.openapi()
    async with serving(app) as base_url:
        known = await seed(base_url, owner, server, database)
        server.rule(lambda request: True, Text("ok"))
        ran, failures = await asyncio.to_thread(fuzz_all, document, base_url, owner.headers,
                                                known)
    assert len(ran) == sum(len(methods) for methods in document["paths"].values()), ran
    assert not failures, "\n\n".join(failures)


def _app(make_services: MakeServices) -> FastAPI:
    """The app with rate limits out of the way and a master key, so provider keys work."""
    services = make_services(**UNLIMITED)
    services.deps.keyring = Keyring.parse(new_key_spec("k1"))
    return create_app(services)
