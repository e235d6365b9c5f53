"""Grids: visual workflows (a DAG of typed nodes) and the engine that runs them.

Importing the package registers the grid tools (`tools.grids.tools`). The engine
(`tools.grids.engine.Engine`) runs an execution node by node, the worker handlers
(`tools.grids.worker.HANDLERS`) drive it in the background, and `tools.grids.runs` holds what
happens around a run: queueing, cancelling, continuing after an approval.
"""

from tools.grids import tools

__all__ = ["tools"]
