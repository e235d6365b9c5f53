"""All tables. Importing this module registers every model on `Base.metadata`."""

from store.models import (  # noqa: F401  (imported for their tables)
    admin,
    agents,
    ai,
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

__all__ = ["Base", "global_tables", "tenant_tables"]
