"""Authentication and authorisation: JWTs (HS256, RS256 by key file or JWKS), access keys, and
the rule that role and permissions come from the member row, never from the credential."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from assistant.http.app import create_app
from store.access_keys import AccessKeys
from store.db import Database
from store.models.core import MemberRole, User, WorkspaceMember
from store.models.crm import Contact
from store.tenancy import scoped_session
from tests.http.conftest import MakeMember, MakeServices, Member, new_chat, token
from tests.model_server import Call, ModelServer, Text, ToolCalls

PROBLEM = "application/problem+json"


async def status_of(client: httpx.AsyncClient, bearer: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return await client.get("/v1/conversations", headers=headers)


async def test_missing_expired_forged_and_foreign_tokens_are_401(
        client: httpx.AsyncClient, owner: Member, other: Member) -> None:
    ws, user = owner.ws.workspace_id, owner.user_id
    cases = {
        "missing": None,
        "garbage": "not-a-token",
        "expired": token(ws, user, expires_in=-120),
        "forged": token(ws, user, secret="another-secret-that-is-long-enough-for-hs256"),
        "unsigned": jwt.encode({"sub": str(user), "workspace": str(ws),
                                "exp": int(time.time()) + 60}, None, algorithm="none"),
        "not a member": token(other.ws.workspace_id, user),
        "no workspace": jwt.encode({"sub": str(user), "exp": int(time.time()) + 60},
                                   "test-jwt-secret-with-enough-bytes-for-hs256", "HS256"),
        "unknown workspace": token(uuid.uuid4(), user),
        "unknown key": "nep_" + uuid.uuid4().hex + "_" + "x" * 43,
    }
    for name, bearer in cases.items():
        response = await status_of(client, bearer)
        assert response.status_code == 401, name
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["www-authenticate"].startswith("Bearer")
    expired = await status_of(client, cases["expired"])
    assert "expired" in expired.json()["detail"]


async def test_workspace_claim_by_slug_and_subject_by_clerk_id(
        client: httpx.AsyncClient, owner: Member, database: Database) -> None:
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        await session.execute(sa.update(User).where(User.id == owner.user_id)
                              .values(clerk_user_id=f"user_{owner.user_id.hex[:10]}"))
    bearer = token(owner.ws.slug, f"user_{owner.user_id.hex[:10]}")
    assert (await status_of(client, bearer)).status_code == 200


async def test_inactive_members_are_locked_out(client: httpx.AsyncClient, owner: Member,
                                               make_member: MakeMember,
                                               database: Database) -> None:
    member = await make_member(owner.ws, MemberRole.MEMBER)
    assert (await status_of(client, member.token)).status_code == 200
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        await session.execute(sa.update(WorkspaceMember)
                              .where(WorkspaceMember.user_id == member.user_id)
                              .values(is_active=False))
    assert (await status_of(client, member.token)).status_code == 401


def rsa_pem() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, public


def rs_token(key: rsa.RSAPrivateKey, member: Member, kid: str | None = None) -> str:
    claims = {"sub": str(member.user_id), "workspace": str(member.ws.workspace_id),
              "exp": int(time.time()) + 300, "aud": "neptune", "iss": "https://issuer.test"}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid} if kid else None)


async def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_rs256_with_a_public_key_file(make_services: MakeServices, owner: Member,
                                            tmp_path: Path) -> None:
    key, public = rsa_pem()
    (tmp_path / "public.pem").write_bytes(public)
    services = make_services(jwt_public_key_file=tmp_path / "public.pem",
                             jwt_audience="neptune", jwt_issuer="https://issuer.test")
    async with await client_for(create_app(services)) as client:
        assert (await status_of(client, rs_token(key, owner))).status_code == 200
        other_key, _ = rsa_pem()
        assert (await status_of(client, rs_token(other_key, owner))).status_code == 401
        hs256 = token(owner.ws.workspace_id, owner.user_id, aud="neptune",
                      iss="https://issuer.test")
        assert (await status_of(client, hs256)).status_code == 200  # the secret still works
        assert (await status_of(client, owner.token)).status_code == 401  # no audience


async def test_rs256_with_a_jwks_file_picks_the_key_by_kid(
        make_services: MakeServices, owner: Member, tmp_path: Path) -> None:
    first, second = rsa_pem()[0], rsa_pem()[0]
    keys = []
    for kid, key in (("k1", first), ("k2", second)):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        keys.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": keys}))
    services = make_services(jwt_jwks_file=tmp_path / "jwks.json", jwt_audience="neptune")
    async with await client_for(create_app(services)) as client:
        assert (await status_of(client, rs_token(second, owner, "k2"))).status_code == 200
        assert (await status_of(client, rs_token(second, owner, "k1"))).status_code == 401
        assert (await status_of(client, rs_token(first, owner, "k9"))).status_code == 401


async def test_role_comes_from_the_member_row_not_the_token(
        client: httpx.AsyncClient, owner: Member, make_member: MakeMember,
        server: ModelServer, database: Database) -> None:
    viewer = await make_member(owner.ws, MemberRole.VIEWER)
    bearer = token(owner.ws.workspace_id, viewer.user_id, role="owner", roles=["admin"])
    headers = {"Authorization": f"Bearer {bearer}"}
    conversation_id = await new_chat(client, Member(owner.ws, viewer.user_id, bearer))
    server.script(ToolCalls([Call("create_contact", {"first_name": "Eve",
                                                     "email": "eve@example.com"})]),
                  Text("I could not add Eve."))
    response = await client.post(f"/v1/conversations/{conversation_id}/messages",
                                 json={"text": "add Eve"}, headers=headers)
    finished = [e for e in response.json()["events"] if e["type"] == "tool.finished"]
    assert finished and finished[0]["status"] in {"refused", "error"}
    assert "create_contact" not in server.requests[0].tool_names  # never even offered
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(Contact).where(
            Contact.workspace_id == owner.ws.workspace_id))
    assert count == 0


async def test_access_keys_act_as_their_member_within_their_scopes(
        client: httpx.AsyncClient, owner: Member, database: Database) -> None:
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        keys = AccessKeys(session, owner.ws.scope)
        reader = await keys.create(owner.user_id, "reporting", ["read"])
        chatter = await keys.create(owner.user_id, "backend", ["chat"])
    read_headers = {"Authorization": f"Bearer {reader.token}"}
    assert (await client.get("/v1/conversations", headers=read_headers)).status_code == 200
    refused = await client.post("/v1/conversations", json={}, headers=read_headers)
    assert refused.status_code == 403 and "chat" in refused.json()["detail"]
    chat_headers = {"Authorization": f"Bearer {chatter.token}"}
    assert (await client.post("/v1/conversations", json={},
                              headers=chat_headers)).status_code == 201
    tampered = chatter.token[:-4] + ("AAAA" if not chatter.token.endswith("AAAA") else "BBBB")
    assert (await status_of(client, tampered)).status_code == 401
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        [used] = [k for k in await AccessKeys(session, owner.ws.scope).list()
                  if k.id == chatter.row.id]
        assert used.last_used_at is not None
        await AccessKeys(session, owner.ws.scope).revoke(chatter.row.id)
    assert (await status_of(client, chatter.token)).status_code == 401


@pytest.mark.parametrize("scopes", [["chat"], ["read"]])
async def test_keys_never_reach_admin_endpoints_without_admin_scope(
        client: httpx.AsyncClient, owner: Member, database: Database,
        scopes: list[str]) -> None:
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        issued = await AccessKeys(session, owner.ws.scope).create(owner.user_id, "k", scopes)
    response = await client.get("/v1/access-keys",
                                headers={"Authorization": f"Bearer {issued.token}"})
    assert response.status_code == 403


async def test_cors_allows_only_configured_origins(make_services: MakeServices) -> None:
    services = make_services(cors_origins=("https://app.example",))
    async with await client_for(create_app(services)) as client:
        allowed = await client.options("/v1/conversations", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
        refused = await client.options("/v1/conversations", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in refused.headers
