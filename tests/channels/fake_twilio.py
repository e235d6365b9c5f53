"""A fake of Twilio's REST Messages resource on loopback (POST
/2010-04-01/Accounts/{AccountSid}/Messages.json, HTTP basic auth with the account sid and auth
token, form parameters From/To/Body, 201 with the message as JSON), as documented at
https://www.twilio.com/docs/messaging/api/message-resource."""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    sent: list[dict[str, str]] = field(default_factory=list)
    _sids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    port: int = 0

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _create(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if (request.match_info["account"] != self.account_sid
                or request.headers.get("Authorization") != f"Basic {expected}"):
            return web.json_response({"code": 20003, "message": "Authenticate",
                                      "status": 401}, status=401)
        form = {k: str(v) for k, v in (await request.post()).items()}
        if not form.get("To") or not form.get("Body"):
            return web.json_response({"code": 21604, "message": "A 'To' phone number is "
                                      "required.", "status": 400}, status=400)
        self.sent.append(form)
        message: dict[str, Any] = {
            "sid": f"SM{next(self._sids):032d}", "account_sid": self.account_sid,
            "to": form["To"], "from": form.get("From"), "body": form["Body"],
            "status": "queued", "direction": "outbound-api", "api_version": "2010-04-01"}
        return web.json_response(message, status=201)
