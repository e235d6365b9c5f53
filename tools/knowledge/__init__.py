"""Knowledge tools: documents and pages in collections, tags, and search with citations.

Importing the package registers its tools. `embedder`, `ingest` and `indexing` are the pipeline
the tools and the worker share (`indexing.embed_item` is the worker's handler for `embed`).
"""

from tools.knowledge import collections, items, search

__all__ = ["collections", "items", "search"]
