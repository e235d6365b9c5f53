"""The widget shows what Neptune noticed and the user's shortcuts (from /v1/insights and
/v1/preferences), as text, in a real browser (see tests/http/test_browser.py)."""

from __future__ import annotations

from datetime import datetime

import httpx
from playwright.async_api import expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.http.conftest import MakeServices, Member
from tests.http.test_browser import Chromium, browser_page, demo_site, open_widget
from tests.insights.conftest import Seed
from tests.insights.test_detectors import stalled_fire


async def test_the_widget_shows_what_neptune_noticed_and_the_shortcuts(
    chromium: Chromium, make_services: MakeServices, owner: Member, client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession], now: datetime,
) -> None:
    mine = Seed(sessions, owner.ws, now)
    deal = await stalled_fire(mine)
    await mine.sweep("stalled_deals")
    insight = await mine.insight(f"stalled_deals:{deal.key}")
    put = await client.put("/v1/preferences", headers=owner.headers, json={"shortcuts": [
        {"name": "/pipeline", "expands_to": "Show my open deals by stage"}]})
    assert put.status_code == 200, put.text

    async with demo_site(make_services, owner) as base_url, browser_page(chromium) as (page, watch):
        await page.goto(base_url + "/")
        await open_widget(page)
        noticed = page.get_by_role("complementary", name="Neptune noticed")
        await expect(noticed).to_contain_text(insight.title)
        box = page.get_by_role("textbox", name="Message Neptune")
        await expect(box).to_have_attribute("placeholder", "Ask Neptune… or type /pipeline")
        watch.assert_clean()
