"""Keys an admin manages: the workspace's own provider keys, and its access keys.

Provider keys are sealed with the master keyring (AES-256-GCM, the workspace bound as associated
data) before they reach the database; listings show the last four characters only, and no
response ever carries a key. Without a configured master key there is nothing to seal with, so
these routes answer 503 rather than storing a key in the clear.

An access key (`nep_...`) is shown once, in the response that creates it; afterwards only its
last four characters. It acts as its member, with that member's current role, within its
scopes; revoking it stamps `revoked_at` and it is refused from then on.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response

from assistant.http.dependencies import Admin, ServicesDep
from assistant.http.problems import Problem, problem_responses
from assistant.http.workspace_schemas import (
    AccessKeyCreated,
    AccessKeyIn,
    AccessKeyOut,
    ProviderKeyIn,
    ProviderKeyOut,
)
from store.access_keys import AccessKeys
from store.crypto import Keyring
from store.models.neptune import AccessKey
from store.provider_keys import MaskedKey, ProviderKeys
from store.repositories.base import utcnow
from store.repositories.core import WorkspaceMemberRepository
from store.tenancy import scoped_session

router = APIRouter(tags=["keys"], responses=problem_responses(401, 403, 422, 429))


# -- provider keys ----------------------------------------------------------------------------
@router.get("/v1/provider-keys", summary="The workspace's provider keys (masked)",
            responses=problem_responses(503))
async def list_provider_keys(principal: Admin, svc: ServicesDep) -> list[ProviderKeyOut]:
    keyring = _keyring(svc)
    async with scoped_session(svc.deps.database.sessions, principal.caller.scope) as session:
        keys = await ProviderKeys(session, principal.caller.scope, keyring).list()
    return [_provider_out(k) for k in keys]


@router.post("/v1/provider-keys", status_code=201, summary="Add a provider key (sealed)",
             responses=problem_responses(503))
async def add_provider_key(body: ProviderKeyIn, principal: Admin,
                           svc: ServicesDep) -> ProviderKeyOut:
    keyring = _keyring(svc)
    caller = principal.caller
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        key = await ProviderKeys(session, caller.scope, keyring).add(
            body.provider, body.key.get_secret_value(), name=body.name,
            created_by=caller.user_id)
    return _provider_out(key)


@router.delete("/v1/provider-keys/{key_id}", status_code=204, summary="Delete a provider key",
               responses=problem_responses(404, 503))
async def delete_provider_key(key_id: uuid.UUID, principal: Admin,
                              svc: ServicesDep) -> Response:
    keyring = _keyring(svc)
    async with scoped_session(svc.deps.database.sessions, principal.caller.scope) as session:
        await ProviderKeys(session, principal.caller.scope, keyring).delete(key_id)
    return Response(status_code=204)


def _keyring(svc: ServicesDep) -> Keyring:
    if svc.deps.keyring is None:
        raise Problem(503, "Service Unavailable", "no master key configured: set "
                      "NEPTUNE_MASTER_KEYS to store provider keys", kind="no-master-key")
    return svc.deps.keyring


def _provider_out(key: MaskedKey) -> ProviderKeyOut:
    return ProviderKeyOut(id=key.id, provider=key.provider, name=key.name, masked=key.masked,
                          is_active=key.is_active, last_used_at=key.last_used_at,
                          created_at=key.created_at)


# -- access keys ------------------------------------------------------------------------------
@router.get("/v1/access-keys", summary="The workspace's access keys (never their tokens)")
async def list_access_keys(
    principal: Admin, svc: ServicesDep,
    include_revoked: Annotated[bool, Query(description="Also list revoked keys.")] = False,
) -> list[AccessKeyOut]:
    async with scoped_session(svc.deps.database.sessions, principal.caller.scope) as session:
        rows = await AccessKeys(session, principal.caller.scope).list(
            include_revoked=include_revoked)
    return [_access_out(r) for r in rows]


@router.post("/v1/access-keys", status_code=201,
             summary="Create an access key; its token is shown in this response only")
async def create_access_key(body: AccessKeyIn, principal: Admin,
                            svc: ServicesDep) -> AccessKeyCreated:
    caller = principal.caller
    user_id = body.user_id or caller.user_id
    expires_at = (utcnow() + timedelta(days=body.expires_in_days)
                  if body.expires_in_days else None)
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        if await WorkspaceMemberRepository(session, caller.scope).for_user(user_id) is None:
            raise Problem(422, "Invalid request", "user_id is not an active member of this "
                          "workspace", kind="invalid")
        issued = await AccessKeys(session, caller.scope).create(
            user_id, body.name, body.scopes, created_by=caller.user_id, expires_at=expires_at)
    return AccessKeyCreated(**_access_out(issued.row).model_dump(), token=issued.token)


@router.delete("/v1/access-keys/{key_id}", summary="Revoke an access key (it stops working)",
               responses=problem_responses(404))
async def revoke_access_key(key_id: uuid.UUID, principal: Admin,
                            svc: ServicesDep) -> AccessKeyOut:
    async with scoped_session(svc.deps.database.sessions, principal.caller.scope) as session:
        row = await AccessKeys(session, principal.caller.scope).revoke(key_id)
    return _access_out(row)


def _access_out(row: AccessKey) -> AccessKeyOut:
    return AccessKeyOut(id=row.id, name=row.name, user_id=row.user_id, scopes=list(row.scopes),
                        last_four=row.last_four, created_by=row.created_by,
                        last_used_at=row.last_used_at, expires_at=row.expires_at,
                        revoked_at=row.revoked_at, created_at=row.created_at)
