"""What the runtime is built from; one instance per process, shared by all turns."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from assistant.eventlog import EventHub
from assistant.gateway import Gateway
from assistant.settings import RuntimeSettings
from store.crypto import Keyring
from store.db import Database
from tools.registry import ToolRegistry


@dataclass
class RuntimeDeps:
    database: Database
    gateway: Gateway
    registry: ToolRegistry
    settings: RuntimeSettings
    hub: EventHub = field(default_factory=EventHub)
    keyring: Keyring | None = None
    tool_services: Mapping[str, Any] = field(default_factory=dict)
    # A running turn holds a connection for its conversation lock. A service gives the locks an
    # engine of their own and at most that many turns at once (`turn_slots`), so locks never
    # take the connections the turns themselves need (see `neptune serve`).
    lock_engine: AsyncEngine | None = None
    turn_slots: asyncio.Semaphore | None = None
