"""The service's tool catalogue: importing a domain module registers its tools in `registry`."""

from __future__ import annotations

import importlib

from tools.registry import ToolRegistry, registry

DOMAINS: tuple[str, ...] = (
    "workspace", "crm", "tasks", "finance", "marketing", "communications", "content", "creator",
    "admin", "agents", "orchestration", "grids", "knowledge",
)


def load_catalog() -> ToolRegistry:
    """Import every domain module once; the registry then holds all tools."""
    for domain in DOMAINS:
        importlib.import_module(f"tools.{domain}")
    return registry
