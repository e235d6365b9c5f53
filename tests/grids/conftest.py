"""Grid test fixtures: the tool fixtures (`call_tool`, `ws`, `two`, ...) and the catalogue with
the grid tools registered."""

from __future__ import annotations

import tools.grids  # noqa: F401  (registers the grid tools)
from tests.tools.conftest import call_tool, catalog, tool_context, two, ws

__all__ = ["call_tool", "catalog", "tool_context", "two", "ws"]
