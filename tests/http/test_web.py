"""The demo page, the widget script and the demo token, in process: content types, caching,
the page's security headers, and a token route that exists only in development mode."""

from __future__ import annotations

import re

import httpx
import pytest

from assistant.http.app import STATIC, DemoIdentity, create_app
from tests.http.conftest import MakeServices, Member

PROBLEM = "application/problem+json"


def client_for(make_services: MakeServices, member: Member | None, **api: object
               ) -> httpx.AsyncClient:
    services = make_services(**api)
    if member is not None:
        services.demo = DemoIdentity(member.ws.workspace_id, member.user_id)
    transport = httpx.ASGITransport(app=create_app(services))
    return httpx.AsyncClient(transport=transport, base_url="http://neptune.test")


async def test_demo_page_has_a_strict_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = dict(part.strip().split(" ", 1)
                  for part in response.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self' ws://neptune.test wss://neptune.test"
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    page = response.text
    assert '<script src="/widget.js"' in page and 'data-token-url="/demo/token"' in page
    assert "<script>" not in page and " style=" not in page  # nothing inline: the CSP forbids it


async def test_a_forged_host_never_reaches_the_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers={"Host": "evil.test; script-src *"})
    policy = response.headers["content-security-policy"]
    assert "evil" not in policy and "connect-src 'self';" in policy


async def test_widget_script_is_javascript_and_cacheable(client: httpx.AsyncClient) -> None:
    response = await client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.text == (STATIC / "widget.js").read_text()
    etag = response.headers["etag"]
    again = await client.get("/widget.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    changed = await client.get("/widget.js", headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200


@pytest.mark.parametrize(("path", "media_type"), [("/demo.css", "text/css; charset=utf-8"),
                                                  ("/demo.js", "text/javascript; charset=utf-8")])
async def test_demo_assets(client: httpx.AsyncClient, path: str, media_type: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200 and response.headers["content-type"] == media_type


async def test_web_routes_are_not_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/", "/widget.js", "/demo.css", "/demo.js", "/demo/token"}.isdisjoint(paths)
    assert "/v1/ws/tickets" in paths


async def test_demo_token_in_dev_mode_is_a_working_credential(
        make_services: MakeServices, owner: Member) -> None:
    async with client_for(make_services, owner, dev_mode=True) as client:
        response = await client.get("/demo/token")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        token = response.json()["token"]
        ticket = await client.post("/v1/ws/tickets",
                                   headers={"Authorization": f"Bearer {token}"})
        assert ticket.status_code == 200, ticket.text
        mine = await client.get("/v1/conversations", headers={"Authorization": f"Bearer {token}"})
        assert mine.status_code == 200


@pytest.mark.parametrize("dev_mode", [False, True])
async def test_demo_token_is_an_ordinary_404_otherwise(
        make_services: MakeServices, owner: Member, dev_mode: bool) -> None:
    # Not in dev mode (even with a demo identity), or in dev mode without one: no such page.
    async with client_for(make_services, None if dev_mode else owner,
                          dev_mode=dev_mode) as client:
        response = await client.get("/demo/token")
        unknown = await client.get("/demo/no-such-thing")
    assert response.status_code == unknown.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == unknown.json()
    assert "token" not in response.text


def test_widget_never_parses_text_as_html() -> None:
    """The browser test proves model text stays text; this keeps HTML sinks out of the source
    (and anything fetched from elsewhere out of the page and the widget)."""
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|"
                       r"new Function|DOMParser|createContextualFragment|srcdoc")
    for name in ("widget.js", "demo.js", "index.html"):
        source = (STATIC / name).read_text()
        assert not sinks.findall(source), name
        assert "http://" not in source and "https://" not in source, name
    widget = (STATIC / "widget.js").read_text()
    # Links are made only from URLs that parse as absolute http(s).
    assert 'url.protocol === "http:" || url.protocol === "https:"' in widget
