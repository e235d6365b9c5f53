"""Engines and sessions for the service role."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def make_engine(url: URL, *, pool_size: int = 10, max_overflow: int | None = None) -> AsyncEngine:
    """An engine as the service role; the pool may grow by `max_overflow` (default: doubles)."""
    return create_async_engine(
        url, pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow, pool_pre_ping=False,
    )


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@dataclass
class Database:
    """The service's connection to the store: an engine as `neptune_app` and its sessions."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @classmethod
    def connect(cls, url: URL, *, pool_size: int = 10) -> Database:
        engine = make_engine(url, pool_size=pool_size)
        return cls(engine=engine, sessions=make_sessions(engine))

    async def close(self) -> None:
        await self.engine.dispose()
