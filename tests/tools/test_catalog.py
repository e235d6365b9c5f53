"""Invariants over the whole tool catalogue."""

from __future__ import annotations

import inspect
from collections import Counter
from dataclasses import replace

from tools.catalog import DOMAINS
from tools.registry import FORBIDDEN_FIELDS, ToolRegistry, _properties


def test_every_domain_module_registers_tools(catalog: ToolRegistry) -> None:
    per_domain = Counter(tool.domain for tool in catalog)
    assert set(per_domain) == set(DOMAINS), per_domain


def test_no_argument_names_an_identity(catalog: ToolRegistry) -> None:
    offenders = [(tool.name, ".".join(path)) for tool in catalog
                 for path, _ in _properties(tool.parameters)
                 if path[-1].lower() in FORBIDDEN_FIELDS]
    assert offenders == []


def test_every_argument_is_described_and_models_are_frozen(catalog: ToolRegistry) -> None:
    undocumented = [(tool.name, ".".join(path)) for tool in catalog
                    for path, prop in _properties(tool.parameters) if not prop.get("description")]
    assert undocumented == []
    assert [t.name for t in catalog if not t.args_model.model_config.get("frozen")] == []


def test_schema_hashes_are_stable_and_distinct(catalog: ToolRegistry) -> None:
    hashes = [tool.schema_hash for tool in catalog]
    assert len(set(hashes)) == len(hashes)
    first = next(iter(catalog))
    assert replace(first).schema_hash == first.schema_hash  # recomputed, same contract
    changed = replace(first, description=first.description + " Changed.")
    assert changed.schema_hash != first.schema_hash


def test_no_tool_decides_pending_actions(catalog: ToolRegistry) -> None:
    """Only people approve: no tool may touch the pending-action decision."""
    for tool in catalog:
        source = inspect.getsource(inspect.getmodule(tool.fn))  # type: ignore[arg-type]
        assert "AgentPendingActionRepository" not in source or ".decide(" not in source, tool.name
