"""The `neptune` command.

    neptune run                      prepare the database, load demo data once, show status
    neptune db upgrade|downgrade|status
    neptune demo                     load the demo workspaces (idempotent)
    neptune status                   what is in the database
    neptune keys generate|rotate     master keys for secrets at rest
    neptune worker [--once]          run scheduled and background work (campaigns, posts, ...)
    neptune serve [--host H --port P] the HTTP API, WebSocket, widget and demo page
    neptune token --workspace W [--user U]   a development token (HS256) for a member
    neptune access-key create|list|revoke    workspace access keys for server-to-server calls
    neptune chat [--url U --token T]         chat in the terminal (in-process by default)
    neptune eval run|compare                 the eval harness (evals/)

Configuration errors print one line saying what is wrong and how to fix it, and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from store.errors import ConfigError, CryptoError, InvalidArgument, NotFound

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neptune", description="Neptune, the workspace assistant")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="prepare the database, load demo data once, serve")
    _serve_options(run)
    _serve_options(commands.add_parser("serve", help="serve the HTTP API, WebSocket and widget"))
    token = commands.add_parser("token", help="issue a development token for a member")
    token.add_argument("--workspace", required=True, help="workspace id, slug or Clerk org id")
    token.add_argument("--user", help="user email, id or Clerk user id (default: the owner)")
    token.add_argument("--hours", type=_positive_float, default=12.0, help="validity (12)")
    chat = commands.add_parser("chat", help="chat with Neptune in the terminal")
    chat.add_argument("--workspace", default="acme-demo", help="in-process: workspace (demo)")
    chat.add_argument("--user", help="in-process: member email or id (default: the owner)")
    chat.add_argument("--url", help="chat with a running service instead (needs --token)")
    chat.add_argument("--token", help="a token or access key for --url")
    access = commands.add_parser("access-key", help="workspace access keys").add_subparsers(
        dest="access_key_command", required=True)
    create = access.add_parser("create", help="create a key (shown once)")
    create.add_argument("--workspace", required=True)
    create.add_argument("--user", help="the member the key acts as (default: the owner)")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", choices=["chat", "read", "admin"],
                        required=True, help="repeat for several scopes")
    create.add_argument("--days", type=_positive_int, help="expire after this many days")
    access.add_parser("list", help="list keys (never the secret)").add_argument(
        "--workspace", required=True)
    revoke = access.add_parser("revoke", help="revoke a key")
    revoke.add_argument("--workspace", required=True)
    revoke.add_argument("key_id", type=uuid.UUID)
    db = commands.add_parser("db", help="migrations").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="migrate to the newest revision").add_argument(
        "revision", nargs="?", default="head"
    )
    db.add_parser("downgrade", help="migrate down (to base by default)").add_argument(
        "revision", nargs="?", default="base"
    )
    db.add_parser("status", help="current and newest revision")
    commands.add_parser("demo", help="load the demo workspaces (idempotent)")
    commands.add_parser("eval", help="the eval harness: eval run|compare (see eval --help)")
    commands.add_parser("status", help="summarise the database")
    keys = commands.add_parser("keys", help="master keys").add_subparsers(
        dest="keys_command", required=True
    )
    keys.add_parser("generate", help="print a new NEPTUNE_MASTER_KEYS entry")
    keys.add_parser("rotate", help="re-encrypt stored secrets with the newest master key")
    worker = commands.add_parser("worker", help="run scheduled and background work")
    worker.add_argument("--once", action="store_true",
                        help="run what is due now, then exit (for cron or a one-off catch-up)")
    worker.add_argument("--concurrency", type=_positive_int, default=4,
                        help="jobs run at the same time (default 4)")
    worker.add_argument("--sweep-seconds", type=_positive_float, default=10.0,
                        help="how often to look for due work (default 10)")
    return parser


def _serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--no-worker", action="store_true",
                        help="do not run background work in this process")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def handler_for(args: argparse.Namespace) -> Handler:
    from assistant import commands

    command = args.command.replace("-", "_")
    sub = getattr(args, f"{command}_command", None)
    name = f"{command}_{sub}" if sub else command
    handler: Handler = getattr(commands, f"cmd_{name}")
    return handler


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["eval"]:
        # The eval harness drives the service like a user; the service never imports it.
        return int(importlib.import_module("evals.cli").main(argv[1:]))
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(handler_for(args)(args))
    except (ConfigError, CryptoError) as exc:
        print(f"neptune: {exc}", file=sys.stderr)
        return 2
    except (NotFound, InvalidArgument) as exc:
        print(f"neptune: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
