"""What each `neptune` subcommand does (see assistant.cli for the parser)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from store import migrations
from store.access_keys import AccessKeys
from store.bootstrap import DatabaseUrls, prepare
from store.config import StoreSettings
from store.crypto import load_keyring, new_key_spec
from store.db import Database
from store.demo import DEMO_WORKSPACES, load_demo
from store.errors import ConfigError
from store.maintenance import rotate_secrets, workspace_counts
from store.repositories.base import utcnow
from store.tenancy import WorkspaceScope, scoped_session

if TYPE_CHECKING:
    from assistant.http.serve import MemberRef


async def _prepare(*, migrate: bool = True) -> tuple[StoreSettings, DatabaseUrls]:
    settings = StoreSettings.from_env()
    return settings, await prepare(settings, migrate=migrate)


async def cmd_db_upgrade(args: argparse.Namespace) -> int:
    _, urls = await _prepare(migrate=False)
    await migrations.upgrade(urls.owner, args.revision)
    return await cmd_db_status(args)


async def cmd_db_downgrade(args: argparse.Namespace) -> int:
    _, urls = await _prepare(migrate=False)
    await migrations.downgrade(urls.owner, args.revision)
    return await cmd_db_status(args)


async def cmd_db_status(args: argparse.Namespace) -> int:
    _, urls = await _prepare(migrate=False)
    current, head = await migrations.status(urls.owner)
    state = "up to date" if current == head else "behind: run `neptune db upgrade`"
    print(f"database revision: {current or '(empty)'}; code revision: {head} ({state})")
    return 0


async def cmd_demo(args: argparse.Namespace) -> int:
    _, urls = await _prepare()
    database = Database.connect(urls.app, pool_size=2)
    try:
        for result in await load_demo(database.sessions):
            verb = "created" if result.created else "already present"
            print(f"demo workspace {result.slug} ({result.workspace_id}): {verb}")
    finally:
        await database.close()
    return 0


async def cmd_status(args: argparse.Namespace) -> int:
    settings, urls = await _prepare()
    where = f"embedded server in {settings.data_dir}" if settings.embedded else "external server"
    current, _ = await migrations.status(urls.owner)
    print(f"PostgreSQL: {where}; schema revision {current}")
    database = Database.connect(urls.app, pool_size=2)
    try:
        for spec in DEMO_WORKSPACES:
            counts = await workspace_counts(database.sessions, spec.workspace_id)
            if not counts.get("workspaces"):
                print(f"  {spec.slug}: not loaded (run `neptune demo`)")
                continue
            print(f"  {spec.name} [{spec.slug}]: {headline(counts)}")
    finally:
        await database.close()
    return 0


HEADLINE = (
    ("contacts", "contacts"), ("deals", "deals"), ("invoices", "invoices"),
    ("campaigns", "campaigns"), ("conversations", "inbox conversations"),
    ("knowledge_items", "documents"), ("agents", "agents"), ("galaxy_grids", "grids"),
    ("todo_hq_tasks", "tasks"), ("blog_posts", "blog posts"),
)


def headline(counts: dict[str, int]) -> str:
    """A short line of the tables people recognise, then the totals."""
    shown = ", ".join(f"{counts.get(table, 0)} {label}" for table, label in HEADLINE)
    filled = sum(1 for table, n in counts.items() if n and table != "workspaces")
    total = sum(n for table, n in counts.items() if table != "workspaces")
    return f"{shown} ({total} rows in {filled} tables)"


async def cmd_run(args: argparse.Namespace) -> int:
    settings = StoreSettings.from_env()
    load_keyring(settings.master_keys, dev_mode=settings.dev_mode, data_dir=settings.data_dir)
    await cmd_demo(args)
    await cmd_status(args)
    return await cmd_serve(args)


async def cmd_worker(args: argparse.Namespace) -> int:
    from assistant.services import build_deps, worker_services
    from assistant.worker import Worker, WorkerSettings

    store_settings, urls = await _prepare()
    keyring = load_keyring(store_settings.master_keys, dev_mode=store_settings.dev_mode,
                           data_dir=store_settings.data_dir)
    database = Database.connect(urls.app, pool_size=args.concurrency + 2)
    deps = build_deps(database, keyring=keyring)
    settings = WorkerSettings(sweep_seconds=args.sweep_seconds, concurrency=args.concurrency)
    worker = Worker(database, urls.app, services=worker_services(deps), settings=settings)
    try:
        if args.once:
            found = await worker.run_once()
            print(f"due: {found.due}; queued and run: {found.queued} {found.kinds}")
        else:
            print(f"neptune worker: sweeping every {args.sweep_seconds:g}s, "
                  f"{args.concurrency} jobs at a time; Ctrl-C stops")
            await worker.run()
    finally:
        await database.close()
    return 0


async def cmd_keys_generate(args: argparse.Namespace) -> int:
    print(new_key_spec())
    return 0


async def cmd_keys_rotate(args: argparse.Namespace) -> int:
    settings = StoreSettings.from_env()
    keyring = load_keyring(
        settings.master_keys, dev_mode=settings.dev_mode, data_dir=settings.data_dir
    )
    _, urls = await _prepare()
    engine = create_async_engine(urls.owner)
    try:
        changed = await rotate_secrets(engine, keyring)
    finally:
        await engine.dispose()
    print(f"re-encrypted {changed} secret(s) with key {keyring.current}")
    return 0


async def cmd_serve(args: argparse.Namespace) -> int:
    from assistant.http import serve
    from assistant.http.app import build_services
    from assistant.services import build_deps

    store_settings, urls = await _prepare()
    keyring = load_keyring(store_settings.master_keys, dev_mode=store_settings.dev_mode,
                           data_dir=store_settings.data_dir)
    api = serve.api_settings(store_settings, host=args.host, port=args.port)
    database = serve.database_for_serving(urls, api)
    try:
        services = build_services(build_deps(database, keyring=keyring), api)
        lock_engine = serve.bound_turns(services.deps, urls, api)
        if api.dev_mode:
            services.demo = await serve.demo_identity(database.sessions)
        worker = api.run_worker if api.run_worker is not None else store_settings.embedded
        if args.no_worker:
            worker = False
        relay = api.event_relay if api.event_relay is not None else not store_settings.embedded
        try:
            await serve.serve(store_settings, urls, services, worker=worker, relay=relay)
        finally:
            await lock_engine.dispose()
    finally:
        await database.close()
    return 0


async def cmd_token(args: argparse.Namespace) -> int:
    from assistant.http import serve
    from assistant.http.auth import dev_token

    store_settings, urls = await _prepare()
    database = Database.connect(urls.app, pool_size=2)
    try:
        member = await serve.find_member(database.sessions, args.workspace, args.user)
    finally:
        await database.close()
    token = dev_token(serve.api_settings(store_settings), member.workspace_id, member.user_id,
                      args.hours)
    print(token)
    print(f"# {member.email} ({member.role.value}) in workspace {member.workspace_id}; "
          f"valid {args.hours:g} h; use: Authorization: Bearer <token>", file=sys.stderr)
    return 0


@asynccontextmanager
async def _member_session(workspace: str, user: str | None
                          ) -> AsyncIterator[tuple[MemberRef, AsyncSession]]:
    """A member of `workspace` (default: its owner) and a session scoped to the workspace."""
    from assistant.http import serve

    _, urls = await _prepare()
    database = Database.connect(urls.app, pool_size=2)
    try:
        member = await serve.find_member(database.sessions, workspace, user)
        async with scoped_session(database.sessions,
                                  WorkspaceScope(member.workspace_id)) as session:
            yield member, session
    finally:
        await database.close()


async def cmd_access_key_create(args: argparse.Namespace) -> int:
    expires = utcnow() + timedelta(days=args.days) if args.days else None
    async with _member_session(args.workspace, args.user) as (member, session):
        issued = await AccessKeys(session, WorkspaceScope(member.workspace_id)).create(
            member.user_id, args.name, args.scope, created_by=member.user_id,
            expires_at=expires)
    print(issued.token)
    print(f"# access key {issued.row.id} for {member.email}, scopes {issued.row.scopes}; "
          "shown once: store it now", file=sys.stderr)
    return 0


async def cmd_access_key_list(args: argparse.Namespace) -> int:
    async with _member_session(args.workspace, None) as (member, session):
        rows = await AccessKeys(session, WorkspaceScope(member.workspace_id)).list(
            include_revoked=True)
    for row in rows:
        state = "revoked" if row.revoked_at else "active"
        used = row.last_used_at.isoformat(timespec="seconds") if row.last_used_at else "never"
        print(f"{row.id}  {row.name!r:24} …{row.last_four}  {','.join(row.scopes):16} "
              f"{state:8} last used {used}")
    return 0


async def cmd_access_key_revoke(args: argparse.Namespace) -> int:
    async with _member_session(args.workspace, None) as (member, session):
        row = await AccessKeys(session, WorkspaceScope(member.workspace_id)).revoke(
            args.key_id)
    print(f"revoked {row.id} ({row.name})")
    return 0


async def cmd_chat(args: argparse.Namespace) -> int:
    from assistant import chat_cli

    console = chat_cli.console_for_terminal()
    if args.url:
        if not args.token:
            raise ConfigError("--url needs --token (a token from `neptune token` or an access key)")
        return await chat_cli.converse(chat_cli.Remote(args.url, args.token), console)
    return await _chat_in_process(args, console)


async def _chat_in_process(args: argparse.Namespace, console: Any) -> int:
    from assistant import chat_cli
    from assistant.http import serve
    from assistant.runtime import Runtime
    from assistant.services import build_deps
    from tools.context import Caller

    store_settings, urls = await _prepare()
    keyring = load_keyring(store_settings.master_keys, dev_mode=store_settings.dev_mode,
                           data_dir=store_settings.data_dir)
    database = Database.connect(urls.app, pool_size=4)
    try:
        member = await serve.find_member(database.sessions, args.workspace, args.user)
        caller = Caller.for_member(member.workspace_id, member.user_id, member.role,
                                   channel="cli")
        runtime = Runtime(build_deps(database, keyring=keyring))
        return await chat_cli.converse(chat_cli.InProcess(runtime, caller), console)
    finally:
        await database.close()
