"""Running one tool call: parse the model's arguments, check the caller, run, map errors.

This is the part of execution every caller shares (the chat runtime, the grid engine, an
approved pending action, tests). Sessions, action history and approvals are the caller's
business; this function only needs a `ToolContext` whose session is bound to the workspace.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from tools.context import ToolContext
from tools.errors import RetryableToolError, ToolError, ToolFailed, as_tool_error
from tools.policy import ToolOverride, refusal
from tools.registry import Tool


def parse_arguments(tool: Tool, raw: str | Mapping[str, Any] | None) -> BaseModel:
    """The model's arguments (a JSON string, as models send them, or a mapping) as the tool's
    argument model; anything malformed is a retryable error naming the problem."""
    if raw is None or raw == "":
        data: Any = {}
    elif isinstance(raw, str):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RetryableToolError(f"arguments are not valid JSON ({exc.msg})") from exc
    else:
        data = dict(raw)
    if not isinstance(data, dict):
        raise RetryableToolError("arguments must be a JSON object")
    try:
        return tool.args_model.model_validate(data)
    except ValidationError as exc:
        raise as_tool_error(exc) from exc  # type: ignore[misc]


def check_allowed(tool: Tool, ctx: ToolContext, override: ToolOverride | None = None) -> None:
    reason = refusal(tool, ctx.caller, override)
    if reason is not None:
        raise ToolFailed(reason)


async def invoke(
    tool: Tool, ctx: ToolContext, raw: str | Mapping[str, Any] | BaseModel | None,
    *, override: ToolOverride | None = None,
) -> BaseModel:
    """Validate, check the caller may use the tool, and run it. Raises `ToolError` for what the
    model should see; any other exception is a bug and propagates."""
    check_allowed(tool, ctx, override)
    args = raw if isinstance(raw, tool.args_model) else parse_arguments(tool, raw)  # type: ignore[arg-type]
    try:
        result = await tool.fn(ctx, args)
    except ToolError:
        raise
    except Exception as exc:
        mapped = as_tool_error(exc)
        if mapped is None:
            raise
        raise mapped from exc
    if not isinstance(result, tool.result_model):
        raise TypeError(f"{tool.name} returned {type(result).__name__}, not its result model")
    return result
