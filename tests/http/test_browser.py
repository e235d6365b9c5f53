"""The widget in a real browser: Debian's chromium driven by Playwright against the real server
(uvicorn on loopback) and the scripted model. What it proves: a user can chat, approve a
critical action that then really happens, see answers stream in, reload their conversation;
model text never becomes markup; a dropped socket resumes without losing or repeating text.

Chromium is a separate process, so the test process's network guard cannot see it: the launch
flags turn off its own background traffic (updates, sync, QUIC probes), and the page and widget
load nothing but the loopback server (test_web.py checks the sources for outside URLs).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Dialog, Page, WebSocketRoute, async_playwright, expect

from assistant.http.app import DemoIdentity, create_app
from store.db import Database
from store.models.orchestration import AgentPendingAction
from store.repositories.crm import ContactRepository
from store.tenancy import scoped_session
from tests.http.conftest import MakeServices, Member, pending_actions
from tests.http.live import serving
from tests.model_server import Call, ModelServer, Text, ToolCalls

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
HAVE_CHROMIUM = CHROMIUM.exists()
ARTIFACTS = Path(__file__).parent / "artifacts"
SHADOW = "document.querySelector('#neptune-widget').shadowRoot"
# Records every text the newest assistant bubble showed (with how many there were), to prove an
# answer arrived in parts.
RECORD_TEXTS = f"""() => {{
  const root = {SHADOW};
  window.__texts = [];
  new MutationObserver(() => {{
    const all = root.querySelectorAll('.msg.assistant');
    if (all.length) window.__texts.push([all.length, all[all.length - 1].textContent]);
  }}).observe(root, {{subtree: true, childList: true, characterData: true}});
}}"""


async def shown(page: Page, bubble: int) -> list[str]:
    """The texts the `bubble`-th assistant answer showed while it was the newest."""
    texts: list[tuple[int, str]] = await page.evaluate("window.__texts")
    return [text for count, text in texts if count == bubble]


Chromium = Browser | None


@dataclass
class Watch:
    """What the page complained about: console errors (CSP violations land here), uncaught
    exceptions, and dialogs (an injected `alert()` would be one)."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", self._dialog)

    async def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    def assert_clean(self) -> None:
        assert self.errors == [] and self.dialogs == []


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Chromium]:
    """One browser for the module (each test gets a fresh context); None when it is missing,
    so that every test fails saying so instead of erroring in setup."""
    if not HAVE_CHROMIUM:
        yield None
        return
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                   args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def browser_page(chromium: Chromium) -> AsyncIterator[tuple[Page, Watch]]:
    if chromium is None:
        pytest.fail("Debian's chromium is not installed at /usr/bin/chromium; install it with "
                    "`apt-get install chromium` (the widget's browser tests need it)")
    context = await chromium.new_context(viewport={"width": 1280, "height": 820})
    try:
        page = await context.new_page()
        page.set_default_timeout(8000)
        watch = Watch()
        watch.attach(page)
        yield page, watch
    finally:
        await context.close()


@asynccontextmanager
async def demo_site(make_services: MakeServices, owner: Member) -> AsyncIterator[str]:
    services = make_services(dev_mode=True)
    services.demo = DemoIdentity(owner.ws.workspace_id, owner.user_id)
    async with serving(create_app(services)) as base_url:
        yield base_url


async def add_contact(database: Database, member: Member) -> uuid.UUID:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        row = await ContactRepository(session, member.ws.scope).create(
            first_name="Grace", last_name="Hopper", email="grace@example.com")
        await session.flush()
        return row.id


async def contact_exists(database: Database, member: Member, contact_id: uuid.UUID) -> bool:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        return await ContactRepository(session, member.ws.scope).find(contact_id) is not None


async def open_widget(page: Page) -> None:
    launcher = page.get_by_role("button", name="Open Neptune assistant")
    await launcher.click()
    await expect(page.get_by_role("textbox", name="Message Neptune")).to_be_focused()
    await expect(page.get_by_role("dialog")).to_be_visible()


async def say(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message Neptune")
    await box.fill(text)
    await box.press("Enter")


async def test_chat_approve_a_critical_action(
        chromium: Chromium, make_services: MakeServices, owner: Member, server: ModelServer,
        database: Database) -> None:
    contact_id = await add_contact(database, owner)
    server.script(ToolCalls([Call("delete_contact", {"contact_id": str(contact_id)})]),
                  Text("That needs your approval first."),
                  Text("Deleted the contact.", chunks=5, chunk_delay=0.05))
    async with demo_site(make_services, owner) as base_url, browser_page(chromium) as (page, watch):
        await page.goto(base_url + "/")
        await page.click("tr[data-record-id='D-1043']")  # the page tells Neptune what is shown
        await open_widget(page)
        await say(page, "Please delete Grace Hopper")

        card = page.locator(".approval")
        await expect(card).to_contain_text("critical risk")
        await expect(card).to_contain_text("delete_contact")
        await expect(card).to_contain_text(str(contact_id))
        waiting = "Delete contact: waiting for your approval"
        await expect(page.locator(".tool")).to_have_text(waiting)
        answers = page.locator(".msg.assistant")
        await expect(answers).to_have_text(["That needs your approval first."])
        assert await contact_exists(database, owner, contact_id)

        await page.evaluate(RECORD_TEXTS)
        await card.get_by_role("button", name="Approve").click()
        await expect(card.locator(".outcome")).to_have_text("Approved")
        await expect(answers).to_have_text(["That needs your approval first.",
                                            "Deleted the contact."])
        await expect(page.locator(".tool")).to_have_text("Delete contact: done")
        partial = [t for t in await shown(page, 2) if t != "Deleted the contact."]
        assert partial and all("Deleted the contact.".startswith(t) for t in partial), partial
        await expect(page.get_by_role("button", name="Stop the answer")).to_be_hidden()

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "widget.png"))

        await page.keyboard.press("Escape")
        await expect(page.get_by_role("dialog")).to_be_hidden()
        await expect(page.get_by_role("button", name="Open Neptune assistant")).to_be_focused()
        watch.assert_clean()

    assert not await contact_exists(database, owner, contact_id)
    [pending] = await pending_actions(database, owner)
    assert isinstance(pending, AgentPendingAction) and pending.status == "executed"
    system = server.requests[0].messages[0]["content"]
    assert "D-1043" in system and "deal" in system
    assert server.pending == ()


MARKUP = ("Here is **bold**, *italic* and `code`.\n\n"
          "- first <img src=x onerror=alert(1)>\n- second\n\n"
          "1. one\n2. two\n\n"
          "<script>alert(2)</script>\n\n"
          "```\n<b>not bold</b>\n```\n\n"
          "See [the docs](https://example.com/docs) or [this](javascript:alert(3)).")


async def assert_rendered_safely(page: Page) -> None:
    answer = page.locator(".msg.assistant").last
    await expect(answer.locator("strong")).to_have_text("bold")
    await expect(answer.locator("em")).to_have_text("italic")
    await expect(answer.locator("p code")).to_have_text("code")
    await expect(answer.locator("ul > li")).to_have_text(["first <img src=x onerror=alert(1)>",
                                                         "second"])
    await expect(answer.locator("ol > li")).to_have_text(["one", "two"])
    await expect(answer.locator("pre code")).to_have_text("<b>not bold</b>")
    await expect(answer).to_contain_text("<script>alert(2)</script>")
    await expect(answer).to_contain_text("[this](javascript:alert(3))")
    link = answer.locator("a")
    await expect(link).to_have_count(1)
    await expect(link).to_have_text("the docs")
    await expect(link).to_have_attribute("href", "https://example.com/docs")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    await expect(link).to_have_attribute("target", "_blank")
    made = await page.evaluate(f"{SHADOW}.querySelectorAll('img, script, b').length"
                               " + document.querySelectorAll('img').length")
    assert made == 0


async def test_markup_from_the_model_stays_text_live_and_in_history(
        chromium: Chromium, make_services: MakeServices, owner: Member,
        server: ModelServer) -> None:
    server.script(Text(MARKUP, chunks=8, chunk_delay=0.02))
    question = "Show me some formatting"
    async with demo_site(make_services, owner) as base_url, browser_page(chromium) as (page, watch):
        await page.goto(base_url + "/")
        await open_widget(page)
        await say(page, question)
        await assert_rendered_safely(page)

        await page.get_by_role("button", name="New conversation").click()
        await expect(page.locator(".msg")).to_have_count(0)
        await page.get_by_role("button", name="Show conversations").click()
        await page.get_by_role("button", name=question).click()
        await expect(page.locator(".msg.user")).to_have_text([question])
        await assert_rendered_safely(page)  # the history from GET /v1/conversations/{id}

        await page.reload()  # the open conversation survives a page navigation
        await page.get_by_role("button", name="Open Neptune assistant").click()
        await assert_rendered_safely(page)
        watch.assert_clean()
    assert len(server.requests) == 1


LONG = "Pipeline summary: " + " ".join(f"deal{n} is on track." for n in range(1, 13))


@dataclass
class Sockets:
    """Every widget socket, as seen through Playwright's WebSocket routing."""

    urls: list[str] = field(default_factory=list)
    sent: list[list[dict[str, Any]]] = field(default_factory=list)
    delivered: list[list[dict[str, Any]]] = field(default_factory=list)
    dropped: set[int] = field(default_factory=set)


async def test_a_dropped_socket_resumes_without_gaps_or_repeats(
        chromium: Chromium, make_services: MakeServices, owner: Member,
        server: ModelServer) -> None:
    server.script(Text(LONG, chunks=12, chunk_delay=0.08))
    seen = Sockets()

    async def route(ws: WebSocketRoute) -> None:
        index = len(seen.urls)
        seen.urls.append(ws.url)
        seen.sent.append([])
        seen.delivered.append([])
        upstream = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            seen.sent[index].append(json.loads(message))
            upstream.send(message)

        async def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if index in seen.dropped:
                return
            if index == 1 and frame["type"] == "hello":
                ws.send(message)
                # A stale copy of an event already shown: the widget must drop it by seq.
                ws.send(json.dumps(next(f for f in seen.delivered[0]
                                        if f["type"] == "text.delta")))
                return
            ws.send(message)
            seen.delivered[index].append(frame)
            deltas = [f for f in seen.delivered[index] if f["type"] == "text.delta"]
            if index == 0 and len(deltas) == 3:
                seen.dropped.add(index)
                await ws.close(code=1012, reason="the test drops the connection")

        ws.on_message(from_page)
        upstream.on_message(from_server)

    async with demo_site(make_services, owner) as base_url, browser_page(chromium) as (page, watch):
        await page.route_web_socket(lambda url: "/v1/ws?" in url, route)
        await page.goto(base_url + "/")
        await open_widget(page)
        await page.evaluate(RECORD_TEXTS)
        await say(page, "How is the pipeline?")
        answer = page.locator(".msg.assistant")
        await expect(answer).to_have_text([LONG], timeout=10000)
        await expect(answer).not_to_have_attribute("data-repaired", "true")
        await expect(page.get_by_role("button", name="Send")).to_be_visible()  # turn.completed
        texts = await shown(page, 1)
        assert all(LONG.startswith(t) for t in texts), texts  # never a repeated fragment
        watch.assert_clean()

    assert len(seen.urls) == 2 and seen.urls[0] != seen.urls[1]  # a new ticket
    first = [f["seq"] for f in seen.delivered[0] if "seq" in f]
    conversation_id = next(f["conversation_id"] for f in seen.delivered[0] if "seq" in f)
    resume = {"type": "resume", "conversation_id": conversation_id, "after_seq": max(first)}
    assert resume in seen.sent[1]
    later = [f["seq"] for f in seen.delivered[1] if "seq" in f]
    assert later[0] == max(first) + 1 and later == list(range(later[0], later[-1] + 1))
    assert [f["type"] for f in seen.delivered[1][-2:]] == ["message.completed", "turn.completed"]


async def test_stop_keeps_the_partial_answer(chromium: Chromium, make_services: MakeServices,
                                            owner: Member, server: ModelServer) -> None:
    server.script(Text("one two three four five six seven eight", chunks=8, chunk_delay=0.4))
    async with demo_site(make_services, owner) as base_url, browser_page(chromium) as (page, watch):
        await page.goto(base_url + "/")
        await open_widget(page)
        await say(page, "Count slowly")
        answer = page.locator(".msg.assistant")
        await expect(answer).to_contain_text("one")
        await page.get_by_role("button", name="Stop the answer").click()
        await expect(page.locator(".note", has_text="Stopped.")).to_be_visible()
        await expect(page.get_by_role("button", name="Send")).to_be_visible()
        partial = await answer.text_content()
        assert partial and "one two three four five six seven eight".startswith(partial)
        assert "eight" not in partial
        watch.assert_clean()
