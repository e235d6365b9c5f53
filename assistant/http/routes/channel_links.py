"""Links from a channel's own identities to members, managed by a workspace admin.

A Slack user whose Slack email address differs from their Neptune one, and every phone number
that should reach Neptune as a member (users have no verified phone of their own), need an
explicit link: `PUT /v1/channels/links/slack/U012ABC` or `.../phone/+14155550100` with the
member's user id. The workspace is the admin's own; a user who is not an active member of it
is refused like a bad value.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from assistant.http.dependencies import Admin, ServicesDep
from assistant.http.problems import Problem, not_found, problem_responses
from store.errors import InvalidArgument
from store.models.channels import ChannelUserLink, LinkProvider
from store.models.communications import to_e164
from store.repositories.channels import UserLinkRepository
from store.repositories.core import WorkspaceMemberRepository
from store.tenancy import scoped_session

router = APIRouter(prefix="/v1/channels/links", tags=["channels"],
                   responses=problem_responses(401, 403, 422, 429))
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID = Field(description="The member this Slack user or number is.")


class LinkOut(BaseModel):
    provider: LinkProvider
    external_id: str
    user_id: uuid.UUID
    created_by: uuid.UUID | None
    created_at: datetime


def external(provider: LinkProvider, external_id: str) -> str:
    """The id as channels see it: a Slack user id, or an E.164 number; 422 otherwise."""
    if provider == LinkProvider.SLACK:
        if not _SLACK_USER.match(external_id):
            raise Problem(422, "Invalid request", "a Slack user id looks like U012AB3CD",
                          kind="invalid")
        return external_id
    try:
        return to_e164(external_id)
    except InvalidArgument as error:
        raise Problem(422, "Invalid request", str(error), kind="invalid") from error


@router.get("", summary="Slack users and phone numbers linked to members")
async def list_links(principal: Admin, svc: ServicesDep) -> list[LinkOut]:
    scope = principal.caller.scope
    async with scoped_session(svc.deps.database.sessions, scope) as session:
        rows = await UserLinkRepository(session, scope).all_links()
    return [_out(r) for r in rows]


@router.put("/{provider}/{external_id}", summary="Link a Slack user or a phone number to a member")
async def put_link(provider: LinkProvider, external_id: str, body: LinkIn, principal: Admin,
                   svc: ServicesDep) -> LinkOut:
    caller = principal.caller
    key = external(provider, external_id)
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        if await WorkspaceMemberRepository(session, caller.scope).for_user(body.user_id) is None:
            raise Problem(422, "Invalid request", "user_id is not an active member of this "
                          "workspace", kind="invalid")
        row = await UserLinkRepository(session, caller.scope).link(
            provider, key, body.user_id, created_by=caller.user_id)
    return _out(row)


@router.delete("/{provider}/{external_id}", status_code=204, summary="Remove a link",
               responses=problem_responses(404))
async def delete_link(provider: LinkProvider, external_id: str, principal: Admin,
                      svc: ServicesDep) -> Response:
    scope = principal.caller.scope
    key = external(provider, external_id)
    async with scoped_session(svc.deps.database.sessions, scope) as session:
        if not await UserLinkRepository(session, scope).unlink(provider, key):
            raise not_found("link")
    return Response(status_code=204)


def _out(row: ChannelUserLink) -> LinkOut:
    return LinkOut(provider=row.provider, external_id=row.external_id, user_id=row.user_id,
                   created_by=row.created_by, created_at=row.created_at)
