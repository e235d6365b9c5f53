"""A fake Slack Web API on loopback, built from Slack's documented request and response shapes
(https://docs.slack.dev/reference/methods): the real `slack_sdk` client talks to it over HTTP
when `NEPTUNE_SLACK_API_URL` points here.

It answers `chat.postMessage`, `chat.update`, `chat.postEphemeral` and `users.info`, records
every call (method, token, arguments), keeps the messages it was sent (so a test can read the
blocks Neptune showed and click them), and can be told to fail a method once.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web


@dataclass
class SlackCall:
    method: str
    token: str
    args: dict[str, Any]


@dataclass
class FakeSlack:
    team: str = "T0NEPTUNE"
    calls: list[SlackCall] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    port: int = 0

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def reset(self) -> None:
        self.calls.clear()
        self.users.clear()
        self.messages.clear()
        self.failures.clear()

    def add_user(self, user_id: str, email: str, **extra: Any) -> None:
        """A member of the fake team, as `users.info` describes one."""
        self.users[user_id] = {
            "id": user_id, "team_id": self.team, "name": email.split("@")[0],
            "deleted": False, "is_bot": False, "is_email_confirmed": True,
            "profile": {"email": email, "real_name": email.split("@")[0]}, **extra}

    def called(self, method: str) -> list[dict[str, Any]]:
        return [c.args for c in self.calls if c.method == method]

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.calls.append(SlackCall(method, token, args))
        if not token.startswith("xoxb-"):
            return _ok_false("not_authed")
        if method in self.failures:
            return _ok_false(self.failures.pop(method))
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return _ok_false("unknown_method")
        body: dict[str, Any] = handler(args)
        return web.json_response(body)

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not (args.get("text") or args.get("blocks")):
            return {"ok": False, "error": "no_text"}
        ts = self._next_ts()
        message = {"type": "message", "subtype": None, "text": args.get("text", ""),
                   "ts": ts, "thread_ts": args.get("thread_ts"), "bot_id": "B0NEPTUNE",
                   "blocks": _blocks(args)}
        self.messages[ts] = message
        return {"ok": True, "channel": args["channel"], "ts": ts, "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get(str(args.get("ts")))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.update(text=args.get("text", ""), blocks=_blocks(args))
        return {"ok": True, "channel": args["channel"], "ts": args["ts"],
                "text": message["text"], "message": message}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}


def _blocks(args: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = args.get("blocks") or []
    if isinstance(blocks, str):  # form-encoded calls send blocks as a JSON string
        blocks = json.loads(blocks)
    return list(blocks)


def _ok_false(error: str) -> web.Response:
    # Slack answers API errors with HTTP 200 and ok=false.
    return web.json_response({"ok": False, "error": error})
