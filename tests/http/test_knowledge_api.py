"""Knowledge over REST: uploads (text, Markdown, HTML, PDF) through the `create_document` tool,
search through `search_knowledge`; type and size checks, roles, scopes and tenancy."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from assistant.http.app import Services, create_app
from store.access_keys import AccessKeys
from store.db import Database
from store.models.admin import AuditLog
from store.models.core import MemberRole, SubscriptionTier, Workspace
from store.models.knowledge import KnowledgeItem
from store.repositories.knowledge import CollectionRepository
from store.tenancy import scoped_session
from tests.http.conftest import MakeMember, MakeServices, Member
from tests.knowledge.test_ingest import pdf_with_pages

PROBLEM = "application/problem+json"
UPLOAD = "/v1/knowledge/documents"
SEARCH = "/v1/knowledge/search"
REFUNDS = (b"# Refund policy\n\n## Annual plans\n\n"
           b"Annual plans are refunded pro rata within 30 days.\n")


@pytest.fixture
def services(make_services: MakeServices) -> Services:
    """Generous rate limits: these tests send many requests per workspace in one burst."""
    return make_services(user_rate_limit=100_000,
                         rate_limits=dict.fromkeys(SubscriptionTier, 100_000))


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == status


async def upload(client: httpx.AsyncClient, member: Member | dict[str, str], data: bytes,
                 media_type: str, filename: str = "doc.md", **form: str) -> httpx.Response:
    headers = member if isinstance(member, dict) else member.headers
    return await client.post(UPLOAD, files={"file": (filename, data, media_type)}, data=form,
                             headers=headers)


async def items(database: Database, member: Member) -> list[KnowledgeItem]:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        return list(await session.scalars(sa.select(KnowledgeItem)))


async def key_headers(database: Database, member: Member, *scopes: str) -> dict[str, str]:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        issued = await AccessKeys(session, member.ws.scope).create(member.user_id, "test",
                                                                   scopes)
    return {"Authorization": f"Bearer {issued.token}"}


async def test_upload_markdown_then_find_it_with_citations(
        client: httpx.AsyncClient, owner: Member, database: Database) -> None:
    response = await upload(client, owner, REFUNDS, "text/markdown", "refunds.md",
                            tags="billing, policies,billing")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["media_type"] == "text/markdown" and body["characters"] == len(REFUNDS)
    item = body["item"]
    assert item["name"] == "refunds" and item["collection"] == "General"
    assert sorted(item["tags"]) == ["billing", "policies"]
    [row] = await items(database, owner)
    assert str(row.id) == item["id"] and row.content == REFUNDS.decode()
    for mode in ("text", "hybrid"):
        found = await client.get(SEARCH, params={"q": "refund annual plans", "mode": mode},
                                 headers=owner.headers)
        assert found.status_code == 200, found.text
        hit = found.json()["hits"][0]
        assert hit["citation"] == {"item_id": item["id"], "title": "refunds",
                                   "heading": "Refund policy > Annual plans", "chunk_index": 0}
        assert "pro rata within 30 days" in hit["snippet"] and "text" in hit["matched_by"]
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        audit = (await session.scalars(sa.select(AuditLog).where(
            AuditLog.entity_type == "knowledge_item"))).one()
    assert audit.action == "create" and audit.entity_id == item["id"]
    assert audit.user_id == owner.user_id and audit.meta["channel"] == "api"


async def test_upload_a_pdf_and_html(client: httpx.AsyncClient, owner: Member,
                                     database: Database) -> None:
    pdf = pdf_with_pages("Refunds within 30 days", "Shipping is free over 50 euros")
    response = await upload(client, owner, pdf, "application/pdf", "terms.pdf",
                            title="Terms of sale")
    assert response.status_code == 201, response.text
    assert response.json()["item"]["name"] == "Terms of sale"
    html = (b"<html><head><script>var secret = 1;</script></head><body><nav>Menu</nav>"
            b"<h1>Opening hours</h1><p>Open 9 to 5 on weekdays.</p></body></html>")
    page = await upload(client, owner, html, "text/html; charset=utf-8", "hours.html")
    assert page.status_code == 201, page.text
    by_name = {r.name: r for r in await items(database, owner)}
    assert "## Page 2" in (by_name["Terms of sale"].content or "")
    assert by_name["hours"].content == "# Opening hours\n\nOpen 9 to 5 on weekdays.\n"
    shipping = (await client.get(SEARCH, params={"q": "shipping", "mode": "text"},
                                 headers=owner.headers)).json()["hits"]
    assert [(h["citation"]["title"], h["citation"]["heading"]) for h in shipping] == [
        ("Terms of sale", "Page 2")]
    hidden = await client.get(SEARCH, params={"q": "secret", "mode": "text"},
                              headers=owner.headers)
    assert hidden.json()["hits"] == []


async def test_a_retried_upload_with_the_same_key_stores_one_item(
        client: httpx.AsyncClient, owner: Member, database: Database) -> None:
    headers = {**owner.headers, "Idempotency-Key": "upload-1"}
    first = await upload(client, headers, REFUNDS, "text/markdown")
    again = await upload(client, headers, REFUNDS, "text/markdown")
    assert first.status_code == again.status_code == 201
    assert first.json()["item"]["id"] == again.json()["item"]["id"]
    assert len(await items(database, owner)) == 1


@pytest.mark.parametrize(("data", "media_type", "form", "status"), [
    (b"\x89PNG\r\n\x1a\n", "image/png", {}, 415),
    (REFUNDS, "application/octet-stream", {}, 415),
    (REFUNDS, "application/pdf", {}, 415),
    (b"\xff\xfe\xfa not utf-8", "text/plain", {}, 415),
    (b"text with a \x00 byte", "text/plain", {}, 415),
    (pdf_with_pages("x"), "text/plain", {}, 415),
    (b"%PDF-1.4\n%%EOF\n", "application/pdf", {}, 422),
    (b"", "text/plain", {}, 422),
    (b"  \n ", "text/markdown", {}, 422),
    (REFUNDS, "text/markdown", {"tags": ",".join(f"t{n}" for n in range(21))}, 422),
    (REFUNDS, "text/markdown", {"tags": "x" * 51}, 422),
    (REFUNDS, "text/markdown", {"title": "x" * 201}, 422),
    (REFUNDS, "text/markdown", {"collection": "No such collection"}, 422),
    (b"a" * 100_001, "text/plain", {}, 413),
])
async def test_bad_uploads_are_problems_and_store_nothing(
        client: httpx.AsyncClient, owner: Member, database: Database, data: bytes,
        media_type: str, form: dict[str, str], status: int) -> None:
    response = await upload(client, owner, data, media_type, **form)
    assert_problem(response, status)
    assert await items(database, owner) == []


async def test_upload_without_a_file_is_a_problem(client: httpx.AsyncClient, owner: Member,
                                                  database: Database) -> None:
    assert_problem(await client.post(UPLOAD, data={"title": "x"}, headers=owner.headers), 422)
    assert_problem(await client.post(UPLOAD, json={"content": "x"}, headers=owner.headers), 422)
    assert await items(database, owner) == []


async def test_upload_over_the_size_limit(make_services: MakeServices, owner: Member,
                                          database: Database) -> None:
    app = create_app(make_services(upload_max_bytes=2048))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://neptune.test") as client:
        small = await upload(client, owner, b"short note", "text/plain")
        assert small.status_code == 201, small.text
        big = await upload(client, owner, b"a" * 4096, "text/plain")
        assert_problem(big, 413)
    assert len(await items(database, owner)) == 1


async def test_viewers_and_read_keys_search_but_cannot_upload(
        client: httpx.AsyncClient, owner: Member, make_member: MakeMember,
        database: Database) -> None:
    await upload(client, owner, REFUNDS, "text/markdown")
    viewer = await make_member(owner.ws, MemberRole.VIEWER)
    read_key = await key_headers(database, owner, "read")
    for headers in (viewer.headers, read_key):
        assert_problem(await upload(client, headers, b"# Mine\n\ntext", "text/markdown"), 403)
        found = await client.get(SEARCH, params={"q": "refund", "mode": "text"},
                                 headers=headers)
        assert found.status_code == 200 and len(found.json()["hits"]) == 1
    assert len(await items(database, owner)) == 1


async def test_a_disabled_tool_is_disabled_over_rest_too(
        client: httpx.AsyncClient, owner: Member, database: Database) -> None:
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        workspace = await session.get(Workspace, owner.ws.workspace_id)
        assert workspace is not None
        workspace.settings = {"tool_policies": {"create_document": {"disabled": True}}}
    assert_problem(await upload(client, owner, REFUNDS, "text/markdown"), 403)
    assert await items(database, owner) == []


async def test_another_workspace_is_invisible(client: httpx.AsyncClient, owner: Member,
                                              other: Member, database: Database) -> None:
    await upload(client, other, b"# Zebra striping\n\nZebra rules apply.", "text/markdown")
    async with scoped_session(database.sessions, other.ws.scope) as session:
        await CollectionRepository(session, other.ws.scope).create(name="Secret plans")
    found = await client.get(SEARCH, params={"q": "zebra", "mode": "text"},
                             headers=owner.headers)
    assert found.status_code == 200 and found.json()["hits"] == []
    theirs = await upload(client, owner, REFUNDS, "text/markdown", collection="Secret plans")
    unknown = await upload(client, owner, REFUNDS, "text/markdown", collection="Nope plans")
    assert_problem(theirs, 422)
    assert_problem(unknown, 422)
    assert theirs.json()["detail"].replace("Secret", "X") == \
        unknown.json()["detail"].replace("Nope", "X")
    assert await items(database, owner) == []


@pytest.mark.parametrize("params", [
    {}, {"q": ""}, {"q": "x" * 501}, {"q": "x", "limit": 0}, {"q": "x", "limit": 21},
    {"q": "x", "mode": "fuzzy"}, {"q": "x", "tag": "no-such-tag"},
    {"q": "x", "collection": "No such collection"},
])
async def test_bad_searches_are_problems(client: httpx.AsyncClient, owner: Member,
                                         params: dict[str, Any]) -> None:
    assert_problem(await client.get(SEARCH, params=params, headers=owner.headers), 422)


async def test_knowledge_needs_a_credential(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(SEARCH, params={"q": "x"}), 401)
    assert_problem(await client.post(UPLOAD, files={"file": ("a.txt", b"x", "text/plain")}),
                   401)
