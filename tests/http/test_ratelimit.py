"""Rate limits per user and per workspace tier, shared by replicas through PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from assistant.http.app import create_app
from store.db import Database
from store.models.core import MemberRole, SubscriptionTier
from store.ratelimits import Limit, take
from store.repositories.base import utcnow
from store.tenancy import scoped_session
from tests.http.conftest import MakeMember, MakeServices, Member

ALL_TIERS_AT = {tier: 1_000_000 for tier in SubscriptionTier}


def replica(make_services: MakeServices, **settings: object) -> httpx.AsyncClient:
    app = create_app(make_services(**settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r")


async def test_user_limit_holds_across_two_replicas(make_services: MakeServices,
                                                    owner: Member) -> None:
    settings = {"user_rate_limit": 5, "rate_limits": ALL_TIERS_AT}
    async with replica(make_services, **settings) as a, replica(make_services, **settings) as b:
        statuses = [(await (a if i % 2 else b).get("/v1/conversations",
                                                   headers=owner.headers)).status_code
                    for i in range(7)]
        refused = await a.get("/v1/conversations", headers=owner.headers)
    assert statuses == [200] * 5 + [429] * 2
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 12


async def test_workspace_tier_limit_is_shared_by_its_members(
        make_services: MakeServices, owner: Member, make_member: MakeMember) -> None:
    colleague = await make_member(owner.ws, MemberRole.MEMBER)
    limits = {**ALL_TIERS_AT, SubscriptionTier.FREE: 6}  # a burst of 5 (the minimum)
    async with replica(make_services, user_rate_limit=1000, rate_limits=limits) as api:
        for member in (owner, colleague, owner, colleague, owner):
            assert (await api.get("/v1/conversations", headers=member.headers)).status_code \
                == 200
        last = await api.get("/v1/conversations", headers=colleague.headers)
    assert last.status_code == 429 and "workspace" in last.json()["detail"]


async def test_other_workspaces_are_not_limited_by_one_busy_workspace(
        make_services: MakeServices, owner: Member, other: Member) -> None:
    async with replica(make_services, user_rate_limit=5, rate_limits=ALL_TIERS_AT) as api:
        for _ in range(6):
            await api.get("/v1/conversations", headers=owner.headers)
        assert (await api.get("/v1/conversations", headers=other.headers)).status_code == 200


async def test_gcra_admits_exactly_the_burst_under_concurrency(database: Database,
                                                               owner: Member) -> None:
    limit, now = Limit(per_minute=60, burst=5), utcnow()

    async def one() -> float | None:
        async with scoped_session(database.sessions, owner.ws.scope) as session:
            return await take(session, "concurrency", limit, now)

    results = await asyncio.gather(*(one() for _ in range(20)))
    assert sum(r is None for r in results) == 5
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        later = await take(session, "concurrency", limit, now + timedelta(seconds=1))
        refused = await take(session, "concurrency", limit, now + timedelta(seconds=1.5))
    assert later is None  # one interval later, one more request is admitted
    assert refused is not None and 0 < refused <= 1.0
