"""Knowledge search benchmark: filtered vector search over 100,000 chunks in 100 workspaces.

    .venv/bin/python benchmarks/knowledge_search.py [--chunks 100000] [--workspaces 100]
        [--queries 200] [--distribution clustered|uniform]

Starts its own embedded PostgreSQL in a temporary directory, loads synthetic 384-dimension unit
vectors with COPY (the HNSW index is built once after the load, as a bulk import would), then
runs `ChunkRepository.vector_search` (k=10, filtered to one workspace, iterative scan
`relaxed_order`, `hnsw.ef_search` as listed) and compares each answer with an exact scan of the
same workspace (index scans off). Prints p50/p95 latency and recall@10 per setting, then the
local embedding model's throughput. `clustered` vectors (each workspace's chunks around its own
topics, which a few workspaces share; queries near a workspace's chunk) look like real
embeddings; `uniform` random vectors are the worst case for any approximate index.
With ~1,000 chunks per workspace the planner prefers an exact sort of the workspace's rows over
the HNSW index; the forced rows show the HNSW path a large workspace would take.
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from pgvector.asyncpg import register_vector

from store.bootstrap import connect, prepare_embedded
from store.db import Database
from store.embedded import EmbeddedServer
from store.migrations import upgrade
from store.models.core import Workspace
from store.repositories.knowledge import HNSW_EF_SEARCH, ChunkRepository, ItemRepository
from store.tenancy import WorkspaceScope, scoped_session
from tools.knowledge.embedder import LocalEmbedder

DIM = 384
K = 10
MODEL = "bench-vectors"
INDEX = "ix_knowledge_chunks_embedding_384"
Vectors = NDArray[np.float32]


def report(label: str, value: str) -> None:
    print(f"{label + ':':<72} {value}", flush=True)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    report(label, f"{time.perf_counter() - started:8.1f} s")


def unit(rows: Vectors) -> Vectors:
    normed: Vectors = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return normed


def make_vectors(
    owner: NDArray[np.int64], workspaces: int, distribution: str, rng: np.random.Generator
) -> Vectors:
    """One unit vector per chunk. `uniform`: anywhere on the sphere. `clustered`: each workspace
    writes about 20 topics drawn from 500 that ~4 workspaces share, and a chunk is its topic
    plus as much noise again (cosine ~0.65 to its topic, ~0.4 to a sibling), as passages of
    related documents embed."""
    n = len(owner)
    if distribution == "uniform":
        return unit(rng.standard_normal((n, DIM), dtype=np.float32))
    topics = unit(rng.standard_normal((500, DIM), dtype=np.float32))
    own_topics = rng.integers(0, len(topics), (workspaces, 20))
    picked = own_topics[owner, rng.integers(0, 20, n)]
    noise = rng.standard_normal((n, DIM), dtype=np.float32) * 0.06
    return unit(topics[picked] + noise)


@dataclass
class Corpus:
    workspaces: list[WorkspaceScope]
    items: list[uuid.UUID]
    vectors: Vectors
    owner: NDArray[np.int64]  # index of each vector's workspace


async def create_workspaces(db: Database, count: int) -> Corpus:
    scopes, items = [], []
    for n in range(count):
        scope = WorkspaceScope(uuid.uuid4())
        async with scoped_session(db.sessions, scope) as s:
            s.add(Workspace(id=scope.workspace_id, name=f"Bench {n}",
                            slug=f"bench-{n}-{scope.workspace_id.hex[:6]}"))
            await s.flush()
            items.append((await ItemRepository(s, scope).create(name="Corpus")).id)
        scopes.append(scope)
    return Corpus(scopes, items, np.zeros((0, DIM), np.float32), np.zeros(0, np.int64))


async def load(owner_url: Any, corpus: Corpus, chunks: int, distribution: str) -> None:
    """COPY the chunks in as the owner, then build the HNSW index in one go."""
    rng = np.random.default_rng(7)
    corpus.owner = np.arange(chunks) % len(corpus.workspaces)
    corpus.vectors = make_vectors(corpus.owner, len(corpus.workspaces), distribution, rng)
    conn = await connect(owner_url)
    try:
        await register_vector(conn)
        definition = await conn.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE indexname = $1", INDEX)
        await conn.execute(f"DROP INDEX {INDEX}")
        records = (
            (corpus.workspaces[w].workspace_id, uuid.uuid4(), corpus.items[w], i, f"chunk {i}",
             corpus.vectors[i], MODEL, DIM)
            for i, w in enumerate(corpus.owner.tolist())
        )
        with timed(f"COPY {chunks} chunks"):
            await conn.copy_records_to_table(
                "knowledge_chunks", records=records,
                columns=["workspace_id", "id", "item_id", "chunk_index", "content", "embedding",
                         "embedding_model", "embedding_dim"])
        await conn.execute("SET maintenance_work_mem = '1GB'")
        with timed("build HNSW index (m=16, ef_construction=64)"):
            await conn.execute(definition)
        await conn.execute("ANALYZE knowledge_chunks")
    finally:
        await conn.close()


@dataclass(frozen=True)
class Setting:
    label: str
    ef_search: int = HNSW_EF_SEARCH
    force_hnsw: bool = False


SETTINGS = (
    Setting(f"planner's choice, ef_search {HNSW_EF_SEARCH} (repository default)"),
    Setting("HNSW forced, ef_search 40 (pgvector default)", 40, force_hnsw=True),
    Setting(f"HNSW forced, ef_search {HNSW_EF_SEARCH}", force_hnsw=True),
    Setting("HNSW forced, ef_search 200", 200, force_hnsw=True),
)


async def prepare(session: Any, setting: Setting) -> None:
    """Forcing HNSW: no sort allowed, so the planner takes the index that yields the order."""
    if setting.force_hnsw:
        await session.execute(sa.text("SET LOCAL enable_sort = off"))


def queries(corpus: Corpus, count: int, distribution: str) -> list[tuple[int, list[float]]]:
    """(workspace index, query vector): near one of that workspace's chunks when clustered."""
    rng = np.random.default_rng(11)
    picked = []
    for _ in range(count):
        w = int(rng.integers(0, len(corpus.workspaces)))
        if distribution == "uniform":
            vector = unit(rng.standard_normal((1, DIM), dtype=np.float32))[0]
        else:
            own = np.flatnonzero(corpus.owner == w)
            base = corpus.vectors[int(rng.choice(own))]
            vector = unit((base + rng.standard_normal(DIM, dtype=np.float32) * 0.05)[None])[0]
        picked.append((w, vector.tolist()))
    return picked


async def exact(db: Database, scope: WorkspaceScope, vector: list[float]) -> set[uuid.UUID]:
    """The true top k of the workspace: the same search with index scans disabled."""
    async with scoped_session(db.sessions, scope) as s:
        await s.execute(sa.text("SET LOCAL enable_indexscan = off"))
        await s.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
        hits = await ChunkRepository(s, scope).vector_search(vector, k=K, embedding_model=MODEL)
    return {h.chunk.id for h in hits}


async def plan(db: Database, scope: WorkspaceScope, setting: Setting, vector: list[float]) -> str:
    """How the planner runs the repository's own statement: the HNSW index, or an exact sort."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *rest: Any) -> None:
        seen.append((statement, params))

    async with scoped_session(db.sessions, scope) as s:
        await prepare(s, setting)
        engine = s.bind.sync_engine  # type: ignore[union-attr]
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            await ChunkRepository(s, scope).vector_search(
                vector, k=K, embedding_model=MODEL, ef_search=setting.ef_search)
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)
        statement, params = next((q, p) for q, p in seen if "<=>" in q)
        conn = await s.connection()
        lines = (await conn.exec_driver_sql(f"EXPLAIN {statement}", params)).scalars().all()
    return "HNSW index scan" if any(INDEX in line for line in lines) else "exact sort"


async def measure(db: Database, corpus: Corpus, setting: Setting,
                  picked: list[tuple[int, list[float]]], truth: list[set[uuid.UUID]]) -> None:
    latencies, recalls = [], []
    for (w, vector), expected in zip(picked, truth, strict=True):
        scope = corpus.workspaces[w]
        async with scoped_session(db.sessions, scope) as s:
            await prepare(s, setting)
            started = time.perf_counter()
            hits = await ChunkRepository(s, scope).vector_search(
                vector, k=K, embedding_model=MODEL, ef_search=setting.ef_search)
            latencies.append((time.perf_counter() - started) * 1000)
        recalls.append(len({h.chunk.id for h in hits} & expected) / K)
    kind = await plan(db, corpus.workspaces[picked[0][0]], setting, picked[0][1])
    report(f"{setting.label} [{kind}]",
           f"p50 {statistics.median(latencies):6.2f} ms  p95 {percentile(latencies, 0.95):6.2f} ms"
           f"  recall@10 {statistics.mean(recalls):.3f}")


def embedding_throughput() -> None:
    embedder = LocalEmbedder()
    words = ("the", "refund", "policy", "covers", "annual", "plans", "cancelled", "within",
             "thirty", "days", "invoices", "approval", "workflow", "customer", "data")
    rng = random.Random(3)
    long_texts = [" ".join(rng.choice(words) for _ in range(190)) for _ in range(128)]
    short_texts = [" ".join(rng.choice(words) for _ in range(40)) for _ in range(256)]
    embedder.embed_blocking(["warm up"])
    for label, texts in (("~250-token chunks", long_texts), ("~50-token chunks", short_texts)):
        started = time.perf_counter()
        embedder.embed_blocking(texts)
        rate = len(texts) / (time.perf_counter() - started)
        report(f"local model {embedder.name}, {label}", f"{rate:8.1f} chunks/s")


async def bench(chunks: int, workspaces: int, count: int, distribution: str) -> None:
    with tempfile.TemporaryDirectory(prefix="neptune-knowledge-bench-") as tmp:
        server = EmbeddedServer(Path(tmp), delete_on_exit=True)
        try:
            urls = await prepare_embedded(server, "bench")
            await upgrade(urls.owner)
            db = Database.connect(urls.app, pool_size=2)
            corpus = await create_workspaces(db, workspaces)
            await load(urls.owner, corpus, chunks, distribution)
            picked = queries(corpus, count, distribution)
            truth = [await exact(db, corpus.workspaces[w], v) for w, v in picked]
            report("data", f"{chunks} chunks, {workspaces} workspaces, {distribution} vectors")
            for setting in SETTINGS:
                await measure(db, corpus, setting, picked, truth)
            await db.close()
        finally:
            server.stop()
    embedding_throughput()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--distribution", choices=("clustered", "uniform"), default="clustered")
    args = parser.parse_args()
    asyncio.run(bench(args.chunks, args.workspaces, args.queries, args.distribution))


if __name__ == "__main__":
    main()
