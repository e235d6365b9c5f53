"""FastAPI dependencies: the service container, and the caller with what their credential and
role allow. Route signatures use the aliases (`Reader`, `Chatter`, `Writer`, `Admin`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from assistant.http.auth import Principal
from assistant.http.problems import forbidden, unauthorized
from store.access_keys import KeyScope
from store.models.core import MemberRole

if TYPE_CHECKING:
    from assistant.http.app import Services

bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="A JWT (HS256/RS256) naming user and workspace, or a workspace "
                                "access key `nep_...`.")


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated["Services", Depends(services)]


async def authenticated(request: Request, svc: ServicesDep,
                        credentials: Annotated[HTTPAuthorizationCredentials | None,
                                               Security(bearer)] = None) -> Principal:
    if credentials is None:
        raise unauthorized("send Authorization: Bearer <token or access key>")
    principal = await svc.auth.bearer(credentials.credentials)
    await svc.limiter.spend(principal)
    return principal


def requires(scope: KeyScope, role: MemberRole = MemberRole.VIEWER
             ) -> Callable[..., Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if not principal.allows(scope):
            raise forbidden(f"this credential lacks the {scope.value!r} scope")
        if not principal.caller.at_least(role):
            raise forbidden(f"this needs the {role.value} role or higher")
        return principal

    return check


Reader = Annotated[Principal, Depends(requires(KeyScope.READ))]
Chatter = Annotated[Principal, Depends(requires(KeyScope.CHAT))]
Writer = Annotated[Principal, Depends(requires(KeyScope.CHAT, MemberRole.MEMBER))]
Admin = Annotated[Principal, Depends(requires(KeyScope.ADMIN, MemberRole.ADMIN))]
