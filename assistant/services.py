"""Building the runtime and the services its tools and the worker use, once per process.

Tools declare small protocols for work that lives above them (`tools.grids.model.ModelCall` for
a grid's `ai` node, `tools.knowledge.embedder.Embedder` for search and indexing); this module is
where the assistant plugs its implementations in. The worker gets the same services plus the
`RuntimeDeps` itself, which agent runs need to drive turns.
"""

from __future__ import annotations

from typing import Any

from assistant.agent_runs import RUNTIME_SERVICE
from assistant.deps import RuntimeDeps
from assistant.gateway import Gateway, use_local_model
from assistant.grid_services import GatewayModelCall
from assistant.local.model import LocalModel
from assistant.settings import RuntimeSettings
from store.crypto import Keyring
from store.db import Database
from tools.catalog import load_catalog
from tools.grids.model import MODEL_SERVICE
from tools.knowledge.embedder import EMBEDDER_SERVICE, default_embedder


def build_deps(
    database: Database, *, settings: RuntimeSettings | None = None, keyring: Keyring | None = None,
) -> RuntimeDeps:
    """The runtime's dependencies with the full tool catalogue and its services."""
    settings = settings or RuntimeSettings()
    gateway = Gateway(retries=settings.model_retries, backoff=settings.retry_backoff)
    deps = RuntimeDeps(database, gateway, load_catalog(), settings, keyring=keyring)
    embedder = default_embedder()
    deps.tool_services = {MODEL_SERVICE: GatewayModelCall(deps), EMBEDDER_SERVICE: embedder}
    use_local_model(LocalModel(deps.registry, embedder.embed_blocking))
    return deps


def worker_services(deps: RuntimeDeps) -> dict[str, Any]:
    """What worker handlers get in `JobContext.services`."""
    return {**deps.tool_services, RUNTIME_SERVICE: deps}
