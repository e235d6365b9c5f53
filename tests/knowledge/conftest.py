"""Fixtures for knowledge tests: the tool-test fixtures (`call_tool`, workspaces), the knowledge
tools registered, the real local embedder (its model loads once per run), and an embedder that
counts what it embeds."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

import tools.knowledge  # noqa: F401  (registers the knowledge tools)
from tests.tools.conftest import call_tool, catalog, tool_context, two, ws
from tools.knowledge.embedder import LocalEmbedder, default_embedder

__all__ = ["call_tool", "catalog", "tool_context", "two", "ws"]


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    return default_embedder()


class CountingEmbedder:
    """The local model under another name, counting the texts it embeds; `gate`, when set,
    holds every call until the test opens it (to overlap two handler runs)."""

    dim = 384

    def __init__(self, inner: LocalEmbedder, name: str = "counting-minilm") -> None:
        self.inner = inner
        self.name = name
        self.texts: list[str] = []
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts.extend(texts)
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        return await self.inner.embed(texts)


@pytest.fixture
def counting(embedder: LocalEmbedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)
