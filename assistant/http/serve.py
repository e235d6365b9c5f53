"""`neptune serve`, `neptune token` and `neptune access-key`: the service and its credentials.

`serve` builds everything once before it listens (litellm is imported here, at start, never per
request), runs a worker in the same process when the database is embedded (a single-machine
install has nobody else to fire scheduled work), and prints where to go next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from assistant.deps import RuntimeDeps
from assistant.http.app import DemoIdentity, Services, create_app
from assistant.http.settings import ApiSettings
from assistant.relay import EventRelay
from store.bootstrap import DatabaseUrls
from store.config import StoreSettings
from store.db import Database, make_engine
from store.demo import DEMO_WORKSPACES
from store.errors import ConfigError
from store.models.core import MemberRole, User, WorkspaceMember
from store.tenancy import WorkspaceScope, scoped_session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemberRef:
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    role: MemberRole


async def find_member(sessions: async_sessionmaker[AsyncSession], workspace: str,
                      user: str | None) -> MemberRef:
    """A workspace (id, slug or Clerk org id) and one of its active members (id, email or
    Clerk user id; default: the owner)."""
    async with sessions() as session:
        found = await session.scalar(sa.select(sa.func.neptune_workspace_ref(workspace)))
    if found is None:
        raise ConfigError(f"no active workspace {workspace!r} (try `neptune status`)")
    workspace_id = uuid.UUID(str(found))
    query = (sa.select(User.id, User.email, WorkspaceMember.role)
             .join(WorkspaceMember, WorkspaceMember.user_id == User.id)
             .where(WorkspaceMember.workspace_id == workspace_id,
                    WorkspaceMember.is_active.is_(True)))
    if user:
        match = sa.or_(sa.func.lower(User.email) == user.lower(), User.clerk_user_id == user)
        with contextlib.suppress(ValueError):
            match = sa.or_(match, User.id == uuid.UUID(user))
        query = query.where(match)
    else:
        query = query.where(WorkspaceMember.role == MemberRole.OWNER)
    async with scoped_session(sessions, WorkspaceScope(workspace_id)) as session:
        row = (await session.execute(query.limit(1))).first()
    if row is None:
        who = repr(user) if user else "an owner"
        raise ConfigError(f"{who} is not an active member of {workspace!r}")
    return MemberRef(workspace_id, row[0], row[1], MemberRole(row[2]))


async def demo_identity(sessions: async_sessionmaker[AsyncSession]) -> DemoIdentity | None:
    spec = DEMO_WORKSPACES[0]
    try:
        member = await find_member(sessions, str(spec.workspace_id), None)
    except ConfigError:
        return None
    return DemoIdentity(member.workspace_id, member.user_id)


def api_settings(store: StoreSettings, **overrides: object) -> ApiSettings:
    values = {"dev_mode": store.dev_mode, "data_dir": store.data_dir,
              **{k: v for k, v in overrides.items() if v is not None}}
    return ApiSettings(**values)  # type: ignore[arg-type]


async def serve(store: StoreSettings, urls: DatabaseUrls, services: Services, *,
                worker: bool, relay: bool) -> None:
    """Listen until stopped; `relay` shares live events with other replicas (LISTEN/NOTIFY)."""
    settings = services.settings
    event_relay = EventRelay(urls.app, services.deps.database.sessions) if relay else None
    if event_relay is not None:
        await event_relay.start()
        services.deps.hub.attach(event_relay)
    config = uvicorn.Config(create_app(services), host=settings.host, port=settings.port,
                            ws="websockets-sansio", ws_max_size=settings.ws_max_frame_bytes,
                            lifespan="off", log_level="warning", server_header=False)
    server = uvicorn.Server(config)
    http = asyncio.create_task(server.serve(), name="http")
    helpers = [asyncio.create_task(_announce(server, services, worker))]
    if worker:
        helpers.append(asyncio.create_task(_keep_working(services, urls), name="worker"))
    try:
        await http
    finally:
        server.should_exit = True
        for task in helpers:
            task.cancel()
        await asyncio.gather(http, *helpers, return_exceptions=True)
        if event_relay is not None:
            await event_relay.close()


async def _keep_working(services: Services, urls: DatabaseUrls) -> None:
    """The in-process worker; if it fails, it is logged and restarted, and HTTP goes on."""
    from assistant.services import worker_services
    from assistant.worker import Worker

    while True:
        try:
            await Worker(services.deps.database, urls.app,
                         services=worker_services(services.deps)).run()
        except Exception:
            log.exception("the in-process worker stopped; restarting it in 5 s")
        await asyncio.sleep(5)


async def _announce(server: uvicorn.Server, services: Services, worker: bool) -> None:
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for this
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = services.settings.public_url or f"http://{services.settings.host}:{port}"
    lines = [f"Neptune is ready at {base}",
             f"  API reference: {base}/docs   health: {base}/readyz"]
    if services.demo and services.settings.dev_mode:
        lines.append(f"  demo page:     {base}/   (chats as the demo workspace's owner)")
    lines.append("  a token:       neptune token --workspace acme-demo --user dana@acme.example")
    lines.append(f"  background work: {'in this process' if worker else 'run `neptune worker`'}")
    print("\n".join(lines), flush=True)


def database_for_serving(urls: DatabaseUrls, settings: ApiSettings) -> Database:
    """The pool requests, turns and tools share (it may double under load)."""
    return Database.connect(urls.app, pool_size=settings.db_pool_size)


def bound_turns(deps: RuntimeDeps, urls: DatabaseUrls, settings: ApiSettings) -> AsyncEngine:
    """At most `max_concurrent_turns` turns at once, their conversation locks on an engine of
    their own: a turn waiting for a work connection can never be holding the last one. Further
    turns wait in memory for a slot. Returns the lock engine (the caller disposes of it)."""
    deps.lock_engine = make_engine(urls.app, pool_size=settings.max_concurrent_turns,
                                   max_overflow=0)
    deps.turn_slots = asyncio.Semaphore(settings.max_concurrent_turns)
    return deps.lock_engine
