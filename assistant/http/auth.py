"""Who is calling: JWT bearer tokens, workspace access keys, and WebSocket tickets.

Whatever the credential, the caller's role and permissions come from their active
`workspace_members` row, read on every request; a token only names the user and the workspace.
A token's subject is a user id or a Clerk user id; its workspace claim is a workspace id, slug or
Clerk organisation id. Access keys act as the member who made them, limited to their scopes.
WebSocket tickets are short-lived tokens this service signs itself (`POST /v1/ws/tickets`), so a
browser never puts a long-lived credential in a URL and a client-chosen id is never trusted.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.http.problems import unauthorized
from assistant.http.settings import ApiSettings
from store import access_keys
from store.access_keys import KeyScope
from store.models.core import MemberRole, SubscriptionTier, User, Workspace, WorkspaceMember
from store.tenancy import WorkspaceScope, scoped_session
from tools.context import Caller

ALL_SCOPES = frozenset(KeyScope)
# What each scope lets a credential do: chatting needs reading one's conversations.
IMPLIED = {KeyScope.ADMIN: ALL_SCOPES, KeyScope.CHAT: frozenset({KeyScope.CHAT, KeyScope.READ}),
           KeyScope.READ: frozenset({KeyScope.READ})}
TICKET_TYPE = "neptune-ws"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller and what its credential allows."""

    caller: Caller
    scopes: frozenset[KeyScope]
    tier: SubscriptionTier
    via: str  # "jwt", "key" or "ticket"
    key_id: uuid.UUID | None = None
    email: str | None = field(default=None, compare=False)

    def allows(self, scope: KeyScope) -> bool:
        return any(scope in IMPLIED[held] for held in self.scopes)


class Authenticator:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: ApiSettings) -> None:
        self.sessions, self.settings = sessions, settings
        self._ticket_key = settings.secret_for_tickets()
        self._hs_key = _optional(settings.dev_jwt_secret)
        self._rs_key = (settings.jwt_public_key_file.read_text()
                        if settings.jwt_public_key_file else None)
        self._jwks = _load_jwks(settings.jwt_jwks_file) if settings.jwt_jwks_file else None

    async def bearer(self, token: str, channel: str = "api") -> Principal:
        """The principal of an `Authorization: Bearer` credential, or 401."""
        if access_keys.looks_like_key(token):
            return await self._key(token, channel)
        claims = self._decode(token)
        workspace_ref = claims.get(self.settings.jwt_workspace_claim)
        if not isinstance(workspace_ref, str) or not workspace_ref:
            raise unauthorized(f"the token has no {self.settings.jwt_workspace_claim!r} claim")
        workspace_id = await self._workspace(workspace_ref)
        return await self._member(workspace_id, str(claims["sub"]), ALL_SCOPES, "jwt", channel)

    async def ticket(self, ticket: str, channel: str = "web") -> Principal:
        """The principal a WebSocket ticket was issued to, with the member's current role."""
        try:
            claims = jwt.decode(ticket, self._ticket_key, algorithms=["HS256"],
                                options={"require": ["exp", "sub", "ws", "typ"]})
        except jwt.PyJWTError as exc:
            raise unauthorized(f"invalid or expired ticket ({exc})") from exc
        if claims.get("typ") != TICKET_TYPE:
            raise unauthorized("not a WebSocket ticket")
        scopes = frozenset(KeyScope(s) for s in claims.get("scp", []) if s in ALL_SCOPES)
        return await self._member(uuid.UUID(claims["ws"]), claims["sub"], scopes, "ticket",
                                  channel)

    def issue_ticket(self, principal: Principal) -> tuple[str, int]:
        now = int(time.time())
        expires = now + self.settings.ws_ticket_seconds
        claims = {"typ": TICKET_TYPE, "sub": str(principal.caller.user_id),
                  "ws": str(principal.caller.workspace_id), "scp": sorted(principal.scopes),
                  "iat": now, "exp": expires, "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self._ticket_key, algorithm="HS256"), expires

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise unauthorized("the bearer token is not a JWT or an access key") from exc
        algorithm: str = str(header.get("alg"))
        key: Any = None
        if algorithm == "HS256":
            key = self._hs_key
        elif algorithm == "RS256":
            key = self._jwks_key(header.get("kid")) if self._jwks else self._rs_key
        if key is None:
            raise unauthorized(f"tokens signed with {algorithm!r} are not accepted here")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[algorithm], audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer, leeway=self.settings.jwt_leeway_seconds,
                options={"require": ["exp", "sub"],
                         "verify_aud": self.settings.jwt_audience is not None})
        except jwt.ExpiredSignatureError as exc:
            raise unauthorized("the token has expired") from exc
        except jwt.PyJWTError as exc:
            raise unauthorized(f"the token is not valid ({exc})") from exc
        return claims

    def _jwks_key(self, kid: object) -> Any:
        assert self._jwks is not None
        for key in self._jwks.keys:
            if key.key_id == kid or (kid is None and len(self._jwks.keys) == 1):
                return key.key
        raise unauthorized("the token's key id is not in the configured key set")

    async def _workspace(self, ref: str) -> uuid.UUID:
        async with self.sessions() as session:
            found = await session.scalar(sa.select(sa.func.neptune_workspace_ref(ref)))
        if found is None:
            raise unauthorized("the token's workspace is not a member workspace")
        return uuid.UUID(str(found))

    async def _key(self, token: str, channel: str) -> Principal:
        row = await access_keys.authenticate(self.sessions, token)
        if row is None:
            raise unauthorized("the access key is not valid (unknown, revoked or expired)")
        scopes = frozenset(KeyScope(s) for s in row.scopes if s in ALL_SCOPES)
        principal = await self._member(row.workspace_id, str(row.user_id), scopes, "key",
                                       channel)
        return Principal(principal.caller, scopes, principal.tier, "key", row.id,
                         principal.email)

    async def _member(self, workspace_id: uuid.UUID, subject: str,
                      scopes: frozenset[KeyScope], via: str, channel: str) -> Principal:
        scope = WorkspaceScope(workspace_id)
        match_user = User.clerk_user_id == subject
        if (user_uuid := _uuid(subject)) is not None:
            match_user = sa.or_(User.id == user_uuid, match_user)
        query = (sa.select(WorkspaceMember.role, WorkspaceMember.permissions, User.id, User.email,
                           Workspace.subscription_tier)
                 .join(User, User.id == WorkspaceMember.user_id)
                 .join(Workspace, Workspace.id == WorkspaceMember.workspace_id)
                 .where(WorkspaceMember.workspace_id == workspace_id,
                        WorkspaceMember.is_active.is_(True), Workspace.is_active.is_(True),
                        match_user).limit(1))
        async with scoped_session(self.sessions, scope) as session:
            row = (await session.execute(query)).first()
        if row is None:
            raise unauthorized("the caller is not an active member of the token's workspace")
        role, flags, user_id, email, tier = row
        caller = Caller.for_member(workspace_id, user_id, MemberRole(role), flags, channel)
        return Principal(caller, scopes, SubscriptionTier(tier), via, email=email)


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _optional(read: Any) -> bytes | None:
    from store.errors import ConfigError

    try:
        value: bytes = read()
    except ConfigError:
        return None
    return value


def _load_jwks(path: Path) -> jwt.PyJWKSet:
    return jwt.PyJWKSet.from_json(path.read_text())


def dev_token(settings: ApiSettings, workspace_id: uuid.UUID, user_id: uuid.UUID,
              hours: float | None = None) -> str:
    """A development token for `neptune token` and the demo page (HS256)."""
    now = int(time.time())
    claims = {"sub": str(user_id), settings.jwt_workspace_claim: str(workspace_id), "iat": now,
              "exp": now + int(3600 * (hours or settings.dev_token_hours))}
    return jwt.encode(claims, settings.dev_jwt_secret(), algorithm="HS256")
