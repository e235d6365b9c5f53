"""What the communications modules share: argument and row model configs."""

from __future__ import annotations

from pydantic import ConfigDict

ARGS = ConfigDict(frozen=True, extra="forbid")
ROW = ConfigDict(from_attributes=True)
