"""The demo page and the embeddable widget, served by the API itself and kept out of the OpenAPI
document (they are not API).

The widget is one static script with no build step, so a host page adds Neptune with a single
`<script src=".../widget.js" data-token-url="...">`. The files are read once, on first use, and
carry a content-hash ETag, so a browser revalidates them cheaply; restart the server after
editing them. `/demo/token` hands the demo page a token for the demo workspace's owner: whoever
can load the page can chat as that user, so it answers only in development mode with a demo
identity configured, and is otherwise the same 404 as a path that does not exist.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from assistant.http.app import STATIC
from assistant.http.auth import dev_token
from assistant.http.dependencies import ServicesDep
from assistant.http.problems import Problem

router = APIRouter(include_in_schema=False)

MEDIA_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
# Pages change with the code; the widget may be cached briefly by every host page that embeds it.
PAGE_CACHE, ASSET_CACHE = "no-cache", "public, max-age=300"
# A Host header is reflected into the page's policy only when it is a plain host[:port].
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


@functools.cache
def asset(name: str) -> Asset:
    """A file of `static/`, read once (they ship as package data and do not change at run time)."""
    body = (STATIC / name).read_bytes()
    media_type = MEDIA_TYPES[(STATIC / name).suffix]
    return Asset(body, media_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def content_security_policy(host: str | None) -> str:
    """Scripts, styles and connections from this origin only (WebSocket included: older
    browsers do not count `ws:` as `'self'`), nothing else loaded, no framing."""
    sockets = f" ws://{host} wss://{host}" if host and _HOST.fullmatch(host) else ""
    return "; ".join((
        "default-src 'none'", "script-src 'self'", f"connect-src 'self'{sockets}",
        "style-src 'self'", "img-src 'self' data:", "base-uri 'none'", "form-action 'none'",
        "frame-ancestors 'none'",
    ))


def serve(request: Request, name: str, cache: str,
          headers: dict[str, str] | None = None) -> Response:
    """The file, or 304 when the browser already holds this version."""
    found = asset(name)
    sent = {"ETag": found.etag, "Cache-Control": cache, "X-Content-Type-Options": "nosniff",
            **(headers or {})}
    if found.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=sent)
    return Response(found.body, media_type=found.media_type, headers=sent)


@router.get("/")
async def demo_page(request: Request) -> Response:
    return serve(request, "index.html", PAGE_CACHE, {
        "Content-Security-Policy": content_security_policy(request.headers.get("host")),
        "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    })


@router.get("/widget.js")
async def widget_script(request: Request) -> Response:
    # Host pages on other origins load it with a plain <script>; let them, even under COEP.
    return serve(request, "widget.js", ASSET_CACHE,
                 {"Cross-Origin-Resource-Policy": "cross-origin"})


@router.get("/demo.css")
async def demo_styles(request: Request) -> Response:
    return serve(request, "demo.css", ASSET_CACHE)


@router.get("/demo.js")
async def demo_script(request: Request) -> Response:
    return serve(request, "demo.js", ASSET_CACHE)


@router.get("/demo/token")
async def demo_token(svc: ServicesDep) -> JSONResponse:
    demo = svc.demo
    if not svc.settings.dev_mode or demo is None:
        raise Problem(404, "Not Found", "Not Found")  # exactly what an unknown path answers
    token = dev_token(svc.settings, demo.workspace_id, demo.user_id)
    return JSONResponse({"token": token}, headers={"Cache-Control": "no-store"})
