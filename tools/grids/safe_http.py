"""Outbound HTTP for `webhook` and `api` nodes, refusing the service's own network.

A grid's URL is written by a workspace member (or a model), and the request leaves from our
servers, so it could be aimed at the metadata service, the database or anything else on the
private network (SSRF). Before connecting, the host is resolved and every address checked:
loopback, private, link-local, multicast, reserved and other non-global addresses are refused.
The request then goes to the address that was checked (the original name travels in the `Host`
header and as the TLS server name), so a DNS answer that changes between the check and the
connection cannot redirect it. Redirects are not followed.

Only the operator can lift the refusal, with `NEPTUNE_GRID_ALLOW_PRIVATE_HTTP=1` in the
service's environment (tests and on-premise installs that call internal services). It is
deliberately not a workspace setting: a workspace admin must not be able to reach the
platform's internal network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

ALLOW_PRIVATE_ENV = "NEPTUNE_GRID_ALLOW_PRIVATE_HTTP"
MAX_RESPONSE_BYTES = 1_000_000
MAX_TEXT_CHARS = 20_000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class HttpRefused(Exception):
    """The request was not sent: a bad URL, or an address the service may not call."""


class HttpFailed(Exception):
    """The request was sent but failed (timeout, connection error, response too large)."""


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    query: Mapping[str, Any]
    body: Any
    timeout: float
    idempotency_key: str | None = None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: Any
    content_type: str | None

    def as_output(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body, "content_type": self.content_type}


def redacted_url(url: str) -> str:
    """The URL without credentials or query string, which may hold tokens: safe to log."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return "(invalid URL)"
    return str(parsed.copy_with(query=None, fragment=None, username=None, password=None))


def private_allowed() -> bool:
    return os.environ.get(ALLOW_PRIVATE_ENV, "").strip().lower() in ("1", "true", "yes")


def refusal(address: IPAddress) -> str | None:
    """Why an address may not be called, or None for a public one."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        return refusal(mapped)
    for reason, flag in (("loopback", address.is_loopback), ("link-local", address.is_link_local),
                         ("multicast", address.is_multicast), ("private", address.is_private),
                         ("unspecified", address.is_unspecified),
                         ("reserved", address.is_reserved)):
        if flag:
            return reason
    return None if address.is_global else "non-public"


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses a host name stands for (an address literal stands for itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise HttpRefused(f"cannot resolve {host}: {exc.strerror or exc}") from exc
    found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    return list(dict.fromkeys(found))


async def checked_address(url: httpx.URL) -> IPAddress:
    if url.scheme not in ("http", "https") or not url.host:
        raise HttpRefused(f"only http and https URLs with a host can be called, not {url}")
    addresses = await resolve(url.host, url.port or (443 if url.scheme == "https" else 80))
    if not addresses:
        raise HttpRefused(f"{url.host} has no address")
    if not private_allowed():
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                raise HttpRefused(f"refusing to call {url.host}: it resolves to a {reason} "
                                  f"address ({address})")
    return addresses[0]


async def send(request: HttpRequest) -> HttpResponse:
    """Send the request to the checked address; the response body parsed as JSON when it is."""
    try:
        url = httpx.URL(request.url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise HttpRefused(f"invalid URL {request.url!r}: {exc}") from exc
    address = await checked_address(url)
    host = url.host
    pinned = url.copy_with(host=str(address))
    headers = {**request.headers, "Host": url.netloc.decode("ascii")}
    if request.idempotency_key:
        headers.setdefault("Idempotency-Key", request.idempotency_key)
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    content, kind = _encode(request.body)
    if kind:
        headers.setdefault("Content-Type", kind)
    timeout = httpx.Timeout(request.timeout, connect=min(5.0, request.timeout))
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False,
                                     trust_env=False) as client:
            built = client.build_request(request.method, pinned, headers=headers,
                                         params=dict(request.query), content=content,
                                         extensions=extensions)
            response = await client.send(built, stream=True)
            try:
                raw = await _read(response)
            finally:
                await response.aclose()
    except httpx.TimeoutException as exc:
        raise HttpFailed(f"{request.method} {host} timed out after {request.timeout}s") from exc
    except httpx.HTTPError as exc:
        raise HttpFailed(f"{request.method} {host} failed: {type(exc).__name__}") from exc
    content_type = response.headers.get("content-type")
    return HttpResponse(response.status_code, _decode(raw, content_type), content_type)


def _encode(body: Any) -> tuple[bytes | None, str | None]:
    if body is None:
        return None, None
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return json.dumps(body, separators=(",", ":"), default=str).encode(), "application/json"


async def _read(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise HttpFailed(f"the response is larger than {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(raw: bytes, content_type: str | None) -> Any:
    text = raw.decode("utf-8", errors="replace")
    if content_type and "json" in content_type:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return text[:MAX_TEXT_CHARS]
