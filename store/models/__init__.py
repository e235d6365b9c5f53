"""All tables. Importing this module registers every model on `Base.metadata`."""

from store.models import (
    admin,
    agents,
    ai,
    channels,
    communications,
    content,
    core,
    creator,
    crm,
    finance,
    grids,
    knowledge,
    marketing,
    neptune,
    orchestration,
)
from store.models.base import Base, global_tables, tenant_tables

__all__ = [
    "Base",
    "admin",
    "agents",
    "ai",
    "channels",
    "communications",
    "content",
    "core",
    "creator",
    "crm",
    "finance",
    "global_tables",
    "grids",
    "knowledge",
    "marketing",
    "neptune",
    "orchestration",
    "tenant_tables",
]
