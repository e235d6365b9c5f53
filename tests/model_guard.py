"""A network guard for tests: any connection beyond this machine fails and is recorded.

Tests must never reach a real model provider (or anything else off the machine), whatever the
code under test does, so the guard works at the socket layer and needs no knowledge of litellm:
it wraps `socket.getaddrinfo` (so a remote host name is refused before any DNS query),
`socket.create_connection`, and `socket.socket.connect`/`connect_ex` (the call every asyncio,
aiohttp, httpx and asyncpg connection ends in; asyncio resolves through `socket.getaddrinfo` at
call time, so its loop needs no wrapping of its own). Loopback addresses, `localhost`, unix
sockets and the unspecified address (a server binding to all interfaces) are allowed.

Refusing is not enough: retry loops and broad `except` clauses swallow errors. Every refusal is
also recorded, and the fixture fails the test at teardown if anything was recorded. Guards nest
(a session-wide one and a test's own): the socket functions are wrapped once while any guard is
installed, and a refusal is recorded in the innermost guard, which answers for it.

Wiring for tests/conftest.py:

    @pytest.fixture(scope="session", autouse=True)
    def _network_guard_session() -> Iterator[NetworkGuard]:
        with NetworkGuard() as guard:
            yield guard

    @pytest.fixture(autouse=True)
    def network_guard(_network_guard_session: NetworkGuard) -> Iterator[NetworkGuard]:
        yield _network_guard_session
        _network_guard_session.raise_if_violated()
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self


class NetworkBlockedError(ConnectionRefusedError):
    """Raised instead of letting a test reach a non-loopback address."""


class NetworkViolationError(AssertionError):
    """A test attempted non-loopback network access (perhaps swallowing the refusal)."""


@dataclass(frozen=True)
class Violation:
    """One refused attempt: which host and port, and through which socket call."""

    host: str
    port: object
    via: str

    def __str__(self) -> str:
        return f"{self.via} to {self.host}:{self.port}"


_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def is_local_host(host: str | bytes | None) -> bool:
    """True for hosts that cannot leave this machine: loopback, localhost, unspecified."""
    if host is None:
        return True
    name = (host.decode() if isinstance(host, bytes) else host).strip("[]").lower()
    if name in ("", *_LOCAL_NAMES) or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.partition("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or address.is_unspecified or bool(mapped and mapped.is_loopback)


class NetworkGuard:
    """Refuses and records non-loopback connections while installed.

    `install()`/`uninstall()` or `with NetworkGuard() as guard:`; leaving the block uninstalls
    and raises `NetworkViolationError` if anything was refused (unless already raising).
    """

    def __init__(self) -> None:
        self.violations: list[Violation] = []

    def __enter__(self) -> Self:
        self.install()
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.uninstall()
        if exc_type is None:
            self.raise_if_violated()

    def install(self) -> None:
        with _lock:
            if self in _active:
                raise RuntimeError("this NetworkGuard is already installed")
            if not _active:
                _wrap_sockets()
            _active.append(self)

    def uninstall(self) -> None:
        with _lock:
            _active.remove(self)
            if not _active:
                _unwrap_sockets()

    def take_violations(self) -> list[Violation]:
        """The violations recorded so far, forgetting them (a test that expects some)."""
        taken, self.violations = self.violations, []
        return taken

    def raise_if_violated(self) -> None:
        """Fail if anything was refused since the last check; the record starts afresh."""
        if taken := self.take_violations():
            listed = "; ".join(map(str, taken))
            raise NetworkViolationError(f"test attempted non-loopback network access: {listed}")


_lock = threading.RLock()
_active: list[NetworkGuard] = []
_originals: dict[tuple[Any, str], Any] = {}


def _refuse(host: object, port: object, via: str) -> NetworkBlockedError:
    violation = Violation(str(host), port, via)
    with _lock:
        if _active:  # a wrapper someone kept a reference to may outlive the guards
            _active[-1].violations.append(violation)
    return NetworkBlockedError(f"network access blocked in tests: {violation}")


def _check_address(family: int, address: Any, via: str) -> None:
    if family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
        return
    if not is_local_host(address[0]):
        raise _refuse(address[0], address[1], via)


def _guarded_getaddrinfo(original: Callable[..., Any]) -> Callable[..., Any]:
    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_local_host(host):
            raise _refuse(host, port, "socket.getaddrinfo")
        return original(host, port, *args, **kwargs)

    return getaddrinfo


def _guarded_create_connection(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_connection(address: tuple[Any, Any], *args: Any, **kwargs: Any) -> Any:
        if not is_local_host(address[0]):
            raise _refuse(address[0], address[1], "socket.create_connection")
        return original(address, *args, **kwargs)

    return create_connection


def _guarded_connect(original: Callable[..., Any], via: str) -> Callable[..., Any]:
    def connect(sock: socket.socket, address: Any) -> Any:
        _check_address(sock.family, address, via)
        return original(sock, address)

    return connect


_WRAPPERS: list[tuple[Any, str, Callable[[Callable[..., Any]], Callable[..., Any]]]] = [
    (socket, "getaddrinfo", _guarded_getaddrinfo),
    (socket, "create_connection", _guarded_create_connection),
    (socket.socket, "connect", lambda original: _guarded_connect(original, "socket.connect")),
    (socket.socket, "connect_ex", lambda original: _guarded_connect(original, "socket.connect_ex")),
]


def _wrap_sockets() -> None:
    for owner, name, wrap in _WRAPPERS:
        _originals[owner, name] = owner.__dict__.get(name)
        setattr(owner, name, wrap(getattr(owner, name)))


def _unwrap_sockets() -> None:
    for owner, name, _wrap in _WRAPPERS:
        original = _originals.pop((owner, name))
        if original is None:
            delattr(owner, name)  # inherited from the C base class: uncover it again
        else:
            setattr(owner, name, original)
