"""Store benchmark: embedded cold start, bulk inserts, get-by-id latency, pipeline summary.

    .venv/bin/python benchmarks/store_bench.py [--contacts 10000] [--deals 10000]

Prints numbers; asserts nothing. Run on a quiet machine and compare ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from store.bootstrap import prepare_embedded
from store.db import Database
from store.embedded import EmbeddedServer
from store.migrations import upgrade
from store.models.core import User, Workspace, WorkspaceMember
from store.models.crm import DealStage
from store.repositories.crm import ContactRepository, DealRepository
from store.tenancy import WorkspaceScope, scoped_session


def report(label: str, value: str) -> None:
    print(f"{label + ':':<50} {value}")


def spread(samples: list[float]) -> str:
    return f"p50 {statistics.median(samples):8.3f} ms  p95 {percentile(samples, 0.95):8.3f} ms"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench(contacts: int, deals: int, gets: int) -> None:
    with tempfile.TemporaryDirectory(prefix="neptune-bench-") as tmp:
        started = time.perf_counter()
        server = EmbeddedServer(Path(tmp), delete_on_exit=True)
        cold = time.perf_counter() - started
        report("embedded server cold start (initdb + start)", f"{cold * 1000:8.0f} ms")
        urls = await prepare_embedded(server, "bench")
        t = time.perf_counter()
        await upgrade(urls.owner)
        report("migrate empty database to head", f"{(time.perf_counter() - t) * 1000:8.0f} ms")
        db = Database.connect(urls.app, pool_size=2)
        scope = WorkspaceScope(uuid.uuid4())
        async with scoped_session(db.sessions, scope) as s:
            s.add(
                Workspace(id=scope.workspace_id, name="Bench", slug=f"bench-{uuid.uuid4().hex[:6]}")
            )
            user = User(email="bench@example.com")
            s.add(user)
            await s.flush()
            s.add(WorkspaceMember(workspace_id=scope.workspace_id, user_id=user.id))
        rng = random.Random(1)
        rows = [
            {
                "first_name": f"F{i}",
                "last_name": f"L{i}",
                "email": f"c{i}@bench.io",
                "company": f"Company {i % 500}",
                "lead_score": rng.randint(0, 100),
            }
            for i in range(contacts)
        ]
        t = time.perf_counter()
        async with scoped_session(db.sessions, scope) as s:
            ids = []
            for start in range(0, contacts, 1000):
                ids += await ContactRepository(s, scope).create_many(rows[start : start + 1000])
        elapsed = time.perf_counter() - t
        report(
            f"{contacts} contact inserts (create_many, 1000/batch)",
            f"{contacts / elapsed:8.0f} rows/s",
        )
        t = time.perf_counter()
        async with scoped_session(db.sessions, scope) as s:
            repo = ContactRepository(s, scope)
            for row in rows[:500]:
                await repo.create(**row | {"email": "x" + str(row["email"])})
        elapsed = time.perf_counter() - t
        report("500 single contact inserts (create + flush)", f"{500 / elapsed:8.0f} rows/s")
        latencies = []
        async with scoped_session(db.sessions, scope) as s:
            repo = ContactRepository(s, scope)
            for _ in range(gets):
                target = rng.choice(ids)
                t = time.perf_counter()
                await repo.get(target)
                latencies.append((time.perf_counter() - t) * 1000)
                s.expunge_all()
        report(f"get contact by id ({gets}x, one transaction)", spread(latencies))
        latencies = []
        for _ in range(200):
            target = rng.choice(ids)
            t = time.perf_counter()
            async with scoped_session(db.sessions, scope) as s:
                await ContactRepository(s, scope).get(target)
            latencies.append((time.perf_counter() - t) * 1000)
        report("get by id incl. its own scoped transaction", spread(latencies))
        stages = list(DealStage)
        deal_rows = [
            {
                "name": f"Deal {i}",
                "contact_id": rng.choice(ids),
                "stage": rng.choice(stages),
                "value_cents": rng.randint(1, 10_000) * 100,
                "probability": rng.randint(0, 100),
            }
            for i in range(deals)
        ]
        async with scoped_session(db.sessions, scope) as s:
            for start in range(0, deals, 1000):
                await DealRepository(s, scope).create_many(deal_rows[start : start + 1000])
        latencies = []
        async with scoped_session(db.sessions, scope) as s:
            await s.execute(sa.text("ANALYZE deals"))
        for _ in range(50):
            t = time.perf_counter()
            async with scoped_session(db.sessions, scope) as s:
                summary = await DealRepository(s, scope).pipeline_summary()
            latencies.append((time.perf_counter() - t) * 1000)
        assert sum(row.count for row in summary) == deals
        report(f"pipeline summary over {deals} deals", spread(latencies))
        await db.close()
        server.stop()
        t = time.perf_counter()
        restarted = EmbeddedServer(Path(tmp), delete_on_exit=True)
        report(
            "embedded server start on an existing data dir",
            f"{(time.perf_counter() - t) * 1000:6.0f} ms",
        )
        restarted.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--gets", type=int, default=2_000)
    args = parser.parse_args()
    asyncio.run(bench(args.contacts, args.deals, args.gets))


if __name__ == "__main__":
    main()
