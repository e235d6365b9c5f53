"""The two errors a model ever sees from a tool, and the one place other failures map to them.

`RetryableToolError` means "your arguments were wrong; correct them and call again" (invalid
values, an id that does not exist in this workspace). `ToolFailed` means "this did not work; do
not retry blindly" (a state conflict, a refused permission). Any other exception is a bug: the
runtime ends the turn with a generic message and logs it under the turn id.
"""

from __future__ import annotations

from pydantic import ValidationError

from store.errors import Conflict, InvalidArgument, NotFound


class ToolError(Exception):
    """An error whose message is written for the model (and, through it, for the user)."""

    retryable = False


class RetryableToolError(ToolError):
    """Retry with corrected arguments."""

    retryable = True


class ToolFailed(ToolError):
    """The call was valid but failed; retrying the same call will not help."""


def describe_validation(error: ValidationError, *, limit: int = 5) -> str:
    """`field: problem; field: problem` for the first few errors, short enough for a model."""
    parts = []
    for item in error.errors()[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or "arguments"
        parts.append(f"{where}: {item['msg']}")
    more = len(error.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def as_tool_error(exc: BaseException) -> ToolError | None:
    """Map a known failure to what the model should see; None for an unexpected exception."""
    if isinstance(exc, ToolError):
        return exc
    if isinstance(exc, ValidationError):
        return RetryableToolError(f"invalid arguments: {describe_validation(exc)}")
    if isinstance(exc, NotFound):
        entity = exc.entity.replace("_", " ")
        return RetryableToolError(
            f"no {entity} with id {exc.entity_id} in this workspace; look it up with a search or"
            " list tool and use an id it returns"
        )
    if isinstance(exc, InvalidArgument):
        return RetryableToolError(str(exc))
    if isinstance(exc, Conflict):
        return ToolFailed(str(exc))
    return None
