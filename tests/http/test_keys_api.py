"""Provider keys and access keys over REST: admins only, secrets never echoed or logged, an
access key's token shown once, revocation effective at once, other workspaces invisible."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from assistant.http.app import Services
from store.access_keys import AccessKeys
from store.crypto import Keyring, new_key_spec
from store.db import Database
from store.models.core import MemberRole, SubscriptionTier, WorkspaceApiKey, WorkspaceMember
from store.models.neptune import AccessKey
from store.provider_keys import ProviderKeys
from store.tenancy import scoped_session
from tests.http.conftest import MakeMember, MakeServices, Member

PROBLEM = "application/problem+json"
SECRET = "sk-live-THIS-MUST-NEVER-LEAK-4f2a9c"


@pytest.fixture
def services(make_services: MakeServices) -> Services:
    """Generous rate limits: these tests send many requests per workspace in one burst."""
    return make_services(user_rate_limit=100_000,
                         rate_limits=dict.fromkeys(SubscriptionTier, 100_000))


@pytest.fixture
def keyring(services: Services) -> Keyring:
    ring = Keyring.parse(new_key_spec("k1"))
    services.deps.keyring = ring
    return ring


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == status


async def key_headers(database: Database, member: Member, *scopes: str) -> dict[str, str]:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        issued = await AccessKeys(session, member.ws.scope).create(member.user_id, "test",
                                                                   scopes)
    return {"Authorization": f"Bearer {issued.token}"}


async def provider_rows(database: Database, member: Member) -> list[WorkspaceApiKey]:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        return list(await session.scalars(sa.select(WorkspaceApiKey)))


async def access_rows(database: Database, member: Member) -> list[AccessKey]:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        return list(await session.scalars(sa.select(AccessKey)))


# -- provider keys ----------------------------------------------------------------------------


async def test_without_a_master_key_provider_keys_are_unavailable(
        client: httpx.AsyncClient, owner: Member, database: Database) -> None:
    for method, path, body in (("GET", "/v1/provider-keys", None),
                               ("POST", "/v1/provider-keys",
                                {"provider": "openai", "key": SECRET}),
                               ("DELETE", f"/v1/provider-keys/{uuid.uuid4()}", None)):
        response = await client.request(method, path, json=body, headers=owner.headers)
        assert_problem(response, 503)
        assert "no master key configured" in response.json()["detail"]
        assert SECRET not in response.text
    assert await provider_rows(database, owner) == []


async def test_provider_keys_are_sealed_masked_and_never_shown(
        client: httpx.AsyncClient, owner: Member, database: Database, keyring: Keyring,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    added = await client.post("/v1/provider-keys", json={
        "provider": "OpenAI", "key": SECRET, "name": "Production"}, headers=owner.headers)
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["provider"] == "openai" and body["name"] == "Production"
    assert body["masked"] == "••••" + SECRET[-4:]
    listed = await client.get("/v1/provider-keys", headers=owner.headers)
    assert listed.status_code == 200 and listed.json() == [body]
    [row] = await provider_rows(database, owner)
    assert SECRET.encode() not in row.encrypted_key
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        assert await ProviderKeys(session, owner.ws.scope, keyring).reveal("openai") == SECRET
    deleted = await client.delete(f"/v1/provider-keys/{body['id']}", headers=owner.headers)
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await client.get("/v1/provider-keys", headers=owner.headers)).json() == []
    assert_problem(await client.delete(f"/v1/provider-keys/{body['id']}",
                                       headers=owner.headers), 404)
    for response in (added, listed, deleted):
        assert SECRET not in response.text
    assert SECRET not in caplog.text


@pytest.mark.parametrize("body", [
    {"provider": "myspace", "key": SECRET},
    {"provider": "openai", "key": "short"},
    {"provider": "openai", "key": SECRET * 40},
    {"provider": "openai"},
    {"provider": "openai", "key": SECRET, "workspace_id": str(uuid.uuid4())},
    {"provider": "openai", "key": "        " + SECRET[:3] + "    "},
    {"provider": "openai", "key": SECRET, "name": ""},
])
async def test_bad_provider_keys_are_refused_without_echoing_them(
        client: httpx.AsyncClient, owner: Member, database: Database, keyring: Keyring,
        body: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    response = await client.post("/v1/provider-keys", json=body, headers=owner.headers)
    assert_problem(response, 422)
    assert SECRET not in response.text and SECRET[:3] + "    " not in response.text
    assert SECRET not in caplog.text
    assert await provider_rows(database, owner) == []


async def test_another_workspaces_provider_key_is_not_found(
        client: httpx.AsyncClient, owner: Member, other: Member, database: Database,
        keyring: Keyring) -> None:
    theirs = (await client.post("/v1/provider-keys", json={"provider": "anthropic",
                                                          "key": SECRET},
                                headers=other.headers)).json()["id"]
    fake = str(uuid.uuid4())
    response = await client.delete(f"/v1/provider-keys/{theirs}", headers=owner.headers)
    unknown = await client.delete(f"/v1/provider-keys/{fake}", headers=owner.headers)
    assert_problem(response, 404)
    assert_problem(unknown, 404)
    assert response.json()["detail"].replace(theirs, "X") == \
        unknown.json()["detail"].replace(fake, "X")
    assert (await client.get("/v1/provider-keys", headers=owner.headers)).json() == []
    assert len(await provider_rows(database, other)) == 1


async def test_only_admins_with_admin_credentials_manage_provider_keys(
        client: httpx.AsyncClient, owner: Member, make_member: MakeMember, database: Database,
        keyring: Keyring) -> None:
    added = await client.post("/v1/provider-keys", json={"provider": "openai", "key": SECRET},
                              headers=owner.headers)
    key_id = added.json()["id"]
    refused = [(await make_member(owner.ws, role)).headers
               for role in (MemberRole.VIEWER, MemberRole.MEMBER)]
    refused += [await key_headers(database, owner, "read"),
                await key_headers(database, owner, "chat")]
    for headers in refused:
        assert_problem(await client.get("/v1/provider-keys", headers=headers), 403)
        assert_problem(await client.post("/v1/provider-keys", json={
            "provider": "groq", "key": SECRET}, headers=headers), 403)
        assert_problem(await client.delete(f"/v1/provider-keys/{key_id}", headers=headers), 403)
    assert [r.provider for r in await provider_rows(database, owner)] == ["openai"]
    admin = await make_member(owner.ws, MemberRole.ADMIN)
    admin_key = await key_headers(database, admin, "admin")
    listed = await client.get("/v1/provider-keys", headers=admin_key)
    assert [k["id"] for k in listed.json()] == [key_id]


# -- access keys ------------------------------------------------------------------------------


async def test_an_access_key_is_shown_once_and_works_until_revoked(
        client: httpx.AsyncClient, owner: Member, database: Database) -> None:
    created = await client.post("/v1/access-keys", json={"name": "CRM sync",
                                                        "scopes": ["read"]},
                                headers=owner.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    token = body["token"]
    assert token.startswith("nep_") and body["last_four"] == token[-4:]
    assert body["user_id"] == str(owner.user_id) and body["scopes"] == ["read"]
    assert body["created_by"] == str(owner.user_id) and body["revoked_at"] is None
    key = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/v1/tools", headers=key)).status_code == 200
    assert_problem(await client.post("/v1/conversations", json={}, headers=key), 403)
    listed = await client.get("/v1/access-keys", headers=owner.headers)
    assert token not in listed.text and token[4:] not in listed.text
    [shown] = listed.json()
    assert "token" not in shown and shown["id"] == body["id"]
    assert shown["last_used_at"] is not None
    revoked = await client.delete(f"/v1/access-keys/{body['id']}", headers=owner.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert token not in revoked.text
    assert_problem(await client.get("/v1/tools", headers=key), 401)
    assert_problem(await client.get("/v1/conversations", headers=key), 401)
    assert (await client.get("/v1/access-keys", headers=owner.headers)).json() == []
    everything = await client.get("/v1/access-keys", params={"include_revoked": True},
                                  headers=owner.headers)
    assert [k["id"] for k in everything.json()] == [body["id"]]


async def test_an_access_key_for_another_member_acts_as_that_member(
        client: httpx.AsyncClient, owner: Member, make_member: MakeMember) -> None:
    viewer = await make_member(owner.ws, MemberRole.VIEWER)
    created = await client.post("/v1/access-keys", json={
        "name": "Dashboard", "scopes": ["chat", "read"], "user_id": str(viewer.user_id),
        "expires_in_days": 7}, headers=owner.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["user_id"] == str(viewer.user_id) and body["scopes"] == ["chat", "read"]
    expires = datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)
    key = {"Authorization": f"Bearer {body['token']}"}
    tools = {t["name"] for t in (await client.get("/v1/tools", headers=key)).json()}
    assert "search_deals" in tools and "create_contact" not in tools
    assert_problem(await client.get("/v1/access-keys", headers=key), 403)


async def test_access_keys_only_for_active_members_of_this_workspace(
        client: httpx.AsyncClient, owner: Member, other: Member, make_member: MakeMember,
        database: Database) -> None:
    former = await make_member(owner.ws, MemberRole.MEMBER)
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        await session.execute(sa.update(WorkspaceMember).where(
            WorkspaceMember.user_id == former.user_id).values(is_active=False))
    answers = []
    for user_id in (other.user_id, uuid.uuid4(), former.user_id):
        response = await client.post("/v1/access-keys", json={
            "name": "x", "scopes": ["read"], "user_id": str(user_id)}, headers=owner.headers)
        assert_problem(response, 422)
        answers.append(response.json())
    assert answers[0] == answers[1] == answers[2]
    assert await access_rows(database, owner) == []


@pytest.mark.parametrize("body", [
    {"name": "x", "scopes": []},
    {"name": "x", "scopes": ["root"]},
    {"name": "", "scopes": ["read"]},
    {"name": "   ", "scopes": ["read"]},
    {"name": "x" * 201, "scopes": ["read"]},
    {"name": "x", "scopes": ["read"], "expires_in_days": 0},
    {"name": "x", "scopes": ["read"], "expires_in_days": 3651},
    {"name": "x", "scopes": ["read"], "user_id": "not-a-uuid"},
    {"name": "x", "scopes": ["read"], "role": "owner"},
    {"scopes": ["read"]},
])
async def test_bad_access_keys_are_refused(client: httpx.AsyncClient, owner: Member,
                                           database: Database, body: dict[str, Any]) -> None:
    assert_problem(await client.post("/v1/access-keys", json=body, headers=owner.headers), 422)
    assert await access_rows(database, owner) == []


async def test_another_workspaces_access_key_is_not_found(
        client: httpx.AsyncClient, owner: Member, other: Member, database: Database) -> None:
    theirs = await client.post("/v1/access-keys", json={"name": "theirs", "scopes": ["read"]},
                               headers=other.headers)
    theirs_id = theirs.json()["id"]
    fake = str(uuid.uuid4())
    response = await client.delete(f"/v1/access-keys/{theirs_id}", headers=owner.headers)
    unknown = await client.delete(f"/v1/access-keys/{fake}", headers=owner.headers)
    assert_problem(response, 404)
    assert_problem(unknown, 404)
    assert response.json()["detail"].replace(theirs_id, "X") == \
        unknown.json()["detail"].replace(fake, "X")
    assert (await client.get("/v1/access-keys", headers=owner.headers)).json() == []
    token = {"Authorization": f"Bearer {theirs.json()['token']}"}
    assert (await client.get("/v1/tools", headers=token)).status_code == 200


async def test_only_admins_with_admin_credentials_manage_access_keys(
        client: httpx.AsyncClient, owner: Member, make_member: MakeMember,
        database: Database) -> None:
    mine = await client.post("/v1/access-keys", json={"name": "mine", "scopes": ["admin"]},
                             headers=owner.headers)
    key_id = mine.json()["id"]
    refused = [(await make_member(owner.ws, role)).headers
               for role in (MemberRole.VIEWER, MemberRole.MEMBER)]
    refused += [await key_headers(database, owner, "read"),
                await key_headers(database, owner, "chat")]
    for headers in refused:
        assert_problem(await client.get("/v1/access-keys", headers=headers), 403)
        assert_problem(await client.post("/v1/access-keys", json={
            "name": "escalate", "scopes": ["admin"]}, headers=headers), 403)
        assert_problem(await client.delete(f"/v1/access-keys/{key_id}", headers=headers), 403)
    names = sorted(r.name for r in await access_rows(database, owner))
    assert names == ["mine", "test", "test"]
    assert all(r.revoked_at is None for r in await access_rows(database, owner))
    admin_key = {"Authorization": f"Bearer {mine.json()['token']}"}
    made = await client.post("/v1/access-keys", json={"name": "by key", "scopes": ["read"]},
                             headers=admin_key)
    assert made.status_code == 201 and made.json()["user_id"] == str(owner.user_id)
