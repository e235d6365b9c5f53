"""What the runtime is built from; one instance per process, shared by all turns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
