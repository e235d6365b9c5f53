"""The tool registry: a decorator turns `async def f(ctx, args: XArgs) -> XResult` into a `Tool`.

The function's docstring is the description the model reads; the argument model's JSON schema is
its parameters. Registration refuses what would break an invariant: a mutable argument model, a
field without a description, or a field that names a workspace, tenant or user (identity comes
from `ToolContext`, never from arguments). Each tool has a stable schema hash over name,
description and parameters, so a turn can record which version of a tool it was given.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import typing
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from pydantic import BaseModel

from store.models.core import MemberRole
from store.models.orchestration import RiskLevel
from tools.context import ToolContext

A = TypeVar("A", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)
ToolFunction = Callable[[ToolContext, A], Awaitable[R]]

FORBIDDEN_FIELDS = frozenset({
    "workspace_id", "workspace", "tenant_id", "tenant", "user_id", "user", "caller",
    "organization_id", "clerk_user_id",
})
_NAME = r"^[a-z][a-z0-9_]{1,63}$"
Risk = RiskLevel


class ToolDefinitionError(TypeError):
    """A tool is declared in a way the registry refuses (raised at import time)."""


@dataclass(frozen=True, eq=False)
class Tool:
    """One registered tool: its contract with the model and its policy."""

    name: str
    description: str
    args_model: type[BaseModel]
    result_model: type[BaseModel]
    fn: Callable[[ToolContext, Any], Awaitable[BaseModel]]
    risk: RiskLevel
    role: MemberRole
    permission: str | None = None
    domain: str = "general"
    examples: tuple[str, ...] = ()
    title: str | None = None

    @cached_property
    def parameters(self) -> dict[str, Any]:
        return _clean_schema(self.args_model.model_json_schema())

    @cached_property
    def schema(self) -> dict[str, Any]:
        """The OpenAI `tools` entry for this tool."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description, "parameters": self.parameters,
        }}

    @cached_property
    def schema_hash(self) -> str:
        canonical = json.dumps(self.schema["function"], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def writes(self) -> bool:
        return self.risk != RiskLevel.LOW or self.role != MemberRole.VIEWER

    def describe_call(self, arguments: Mapping[str, Any]) -> str:
        """A one-line title for an approval card, e.g. "Send invoice INV-0042"."""
        if self.title is None:
            return f"{self.name.replace('_', ' ').capitalize()}"
        try:
            return self.title.format_map(_Blank(arguments))
        except (ValueError, IndexError):
            return self.title


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's `title` keys, which only cost tokens; keep everything else."""
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()
                    if not (k == "title" and isinstance(v, str))}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node
    cleaned: dict[str, Any] = walk(schema)
    cleaned.setdefault("properties", {})
    return cleaned


@dataclass
class ToolRegistry:
    """Tools by name. The service uses `registry`; tests may build their own."""

    _tools: dict[str, Tool] = field(default_factory=dict)

    def register(self, tool: Tool) -> Tool:
        if tool.name in self._tools:
            raise ToolDefinitionError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool
        return tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __iter__(self) -> Iterator[Tool]:
        return iter(sorted(self._tools.values(), key=lambda t: t.name))

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def tool(
        self, *, risk: RiskLevel, role: MemberRole | None = None, permission: str | None = None,
        examples: tuple[str, ...] = (), title: str | None = None, name: str | None = None,
    ) -> Callable[[ToolFunction[A, R]], ToolFunction[A, R]]:
        """Register the decorated function. `role` defaults to viewer for low-risk tools and
        member for the others; `title` formats an approval card from the arguments."""
        def decorate(fn: ToolFunction[A, R]) -> ToolFunction[A, R]:
            args_model, result_model = _signature_models(fn)
            self.register(Tool(
                name=name or fn.__name__, description=_description(fn), args_model=args_model,
                result_model=result_model, fn=fn, risk=risk,
                role=role or (MemberRole.VIEWER if risk == RiskLevel.LOW else MemberRole.MEMBER),
                permission=permission, domain=_domain(fn.__module__),
                examples=tuple(examples), title=title,
            ))
            _check(self._tools[name or fn.__name__])
            return fn
        return decorate


def _domain(module: str) -> str:
    """`tools.crm.deals` -> `crm`: a domain may grow from a module into a package."""
    parts = module.split(".")
    return parts[1] if parts[0] == "tools" and len(parts) > 1 else parts[-1]


def _description(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn)
    if not doc:
        raise ToolDefinitionError(f"tool {fn.__name__} needs a docstring: the model reads it")
    return doc


def _signature_models(fn: Callable[..., Any]) -> tuple[type[BaseModel], type[BaseModel]]:
    hints = typing.get_type_hints(fn)
    params = [p for p in inspect.signature(fn).parameters if p != "return"]
    if len(params) != 2 or not inspect.iscoroutinefunction(fn):
        raise ToolDefinitionError(f"tool {fn.__name__} must be `async def f(ctx, args)`")
    args_model, result_model = hints.get(params[1]), hints.get("return")
    for model in (args_model, result_model):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ToolDefinitionError(
                f"tool {fn.__name__}: arguments and result must be pydantic models"
            )
    return args_model, result_model  # type: ignore[return-value]


def _check(tool: Tool) -> None:
    if not re.match(_NAME, tool.name):
        raise ToolDefinitionError(f"tool name {tool.name!r} must match {_NAME}")
    if not tool.args_model.model_config.get("frozen"):
        raise ToolDefinitionError(f"{tool.name}: argument model must be frozen")
    for path, prop in _properties(tool.parameters):
        if path[-1].lower() in FORBIDDEN_FIELDS:
            raise ToolDefinitionError(
                f"{tool.name}: argument {'.'.join(path)!r} names an identity; use ToolContext"
            )
        if not prop.get("description"):
            raise ToolDefinitionError(
                f"{tool.name}: argument {'.'.join(path)!r} needs a description"
            )


def _properties(schema: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every property of the schema and of its nested models, with its dotted path."""
    yield from _walk(schema, ())
    for def_name, definition in schema.get("$defs", {}).items():
        yield from _walk(definition, (def_name,))


def _walk(
    node: dict[str, Any], path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    for name, prop in node.get("properties", {}).items():
        yield (*path, name), prop


registry = ToolRegistry()
tool = registry.tool
