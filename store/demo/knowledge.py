"""Knowledge demo data: a public help centre and an internal sales playbook, about a dozen
documents written for the workspace's company, already chunked by section.

Items are `ready` and their chunks have content, headings and token counts but no embeddings:
embedding is the knowledge pipeline's job, and full-text search works without it. Each chunk is
one section, so a citation (item, chunk index) points at a heading a reader can find.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from store.demo.ai import estimate_tokens
from store.demo.context import DemoContext
from store.models.knowledge import ItemStatus, ItemType
from store.repositories.knowledge import (
    ChunkRepository,
    CollectionRepository,
    ItemRepository,
    TagRepository,
)

HELP_CENTER = "Help Center"
PLAYBOOK = "Sales Playbook"


@dataclass(frozen=True)
class Doc:
    name: str
    collection: str
    tags: tuple[str, ...]
    summary: str
    sections: tuple[tuple[str, str], ...]


DOCS = (
    Doc("Product FAQ", HELP_CENTER, ("product",),
        "Common questions about what {company} does and how it works.", (
        ("What is {company}?",
         "{company} is a workflow platform for operations teams. It brings requests, approvals, "
         "inventory and customer records into one place, and automates the repetitive steps "
         "between them with visual workflows."),
        ("Who is it for?",
         "Teams of 10 to 500 people who run recurring processes: order handling, vendor "
         "onboarding, field service scheduling, procurement. Most customers start with one "
         "team and expand within six months."),
        ("Does it work offline or on mobile?",
         "The mobile apps for iOS and Android work offline for forms and checklists and sync "
         "when the connection returns. Workflow editing needs the web app."),
        ("How long does setup take?",
         "A first workflow is usually live within a week. The onboarding package adds a "
         "dedicated specialist and typically shortens a full rollout to four to six weeks."),
    )),
    Doc("Pricing and Plans", HELP_CENTER, ("billing", "product"),
        "The three plans, what they include and how seats are billed.", (
        ("Plans at a glance",
         "Starter costs $12 per seat per month and covers up to 20 seats and 10 workflows. "
         "Professional costs $29 per seat per month with unlimited workflows, approvals and "
         "the API. Enterprise is priced annually from $18,000 and adds SSO, audit logs, a "
         "99.9% uptime SLA and a named customer success manager."),
        ("Monthly or annual billing",
         "Every plan can be paid monthly or annually. Annual billing saves 15% and is invoiced "
         "up front; monthly billing is charged to a card on the same day each month."),
        ("Adding and removing seats",
         "Seats added mid-term are prorated to the end of the current billing period. Removed "
         "seats stop billing at the next renewal; they are not refunded for the current period."),
        ("Discounts",
         "Registered non-profits and schools receive 30% off any plan. Multi-year Enterprise "
         "contracts are eligible for an additional 5% per extra year committed."),
    )),
    Doc("Refund Policy", HELP_CENTER, ("billing", "policy"),
        "When and how {company} refunds payments.", (
        ("Monthly plans",
         "Monthly subscriptions can be cancelled at any time from Settings, Billing. The plan "
         "stays active until the end of the paid month; partial months are not refunded."),
        ("Annual plans",
         "Annual plans cancelled within 30 days of purchase are refunded in full. After 30 "
         "days the plan remains active until the end of its term and unused months are not "
         "refunded, except where local law requires it."),
        ("Service credits",
         "If we miss the uptime commitment in your plan, you receive service credits on the "
         "next invoice: 10% of the monthly fee for each full hour below the commitment, up to "
         "50% of that month's fee."),
        ("How to request a refund",
         "Email billing@example.com from the account owner's address with the invoice number. "
         "Refunds are issued to the original payment method within 10 business days."),
    )),
    Doc("Onboarding Guide", HELP_CENTER, ("onboarding",),
        "The first 30 days with {company}, step by step.", (
        ("Week 1: workspace and people",
         "Create the workspace, invite administrators first, then connect your identity "
         "provider if you are on Enterprise. Import users from a CSV or sync them from Google "
         "Workspace or Microsoft 365."),
        ("Week 2: your first workflow",
         "Pick one process with a clear start and end, such as purchase requests. Map its steps "
         "on paper, then rebuild them with the workflow editor using a template as a starting "
         "point. Run it with a pilot group of five people."),
        ("Weeks 3 and 4: integrations and rollout",
         "Connect the tools the process touches (accounting, e-mail, Slack) and move the pilot "
         "to the whole team. Schedule a review after two weeks of real use to remove steps "
         "nobody needs."),
        ("Onboarding checklist",
         "Administrators invited; SSO configured; first workflow published; integrations "
         "connected; team trained with the 20-minute video course; success metrics agreed."),
    )),
    Doc("Security Overview", HELP_CENTER, ("security", "policy"),
        "How {company} protects customer data.", (
        ("Certifications",
         "{company} is SOC 2 Type II audited every year and ISO 27001 certified. Reports are "
         "available under NDA from the trust portal."),
        ("Encryption",
         "Data is encrypted in transit with TLS 1.2 or later and at rest with AES-256. "
         "Customer-provided API keys and OAuth tokens are encrypted again at the application "
         "level with per-workspace keys."),
        ("Data residency",
         "Workspaces are hosted in the United States or the European Union, chosen at creation. "
         "Backups stay in the same region and are retained for 35 days."),
        ("Access controls",
         "Enterprise workspaces support SAML single sign-on, SCIM provisioning and enforced "
         "two-factor authentication. Every administrative action is written to the audit log."),
    )),
    Doc("Data Migration Guide", HELP_CENTER, ("onboarding",),
        "Moving records from spreadsheets or another system into {company}.", (
        ("What can be imported",
         "Contacts, companies, products, inventory levels and historical requests can be "
         "imported from CSV or Excel files of up to 200,000 rows each."),
        ("Preparing your files",
         "Use one file per record type, keep a unique ID column, and format dates as "
         "YYYY-MM-DD. Remove merged cells and summary rows before uploading."),
        ("Assisted migration",
         "The data migration service moves records from another platform for you, including "
         "attachments and history. It is quoted per project and usually completes in two weeks."),
    )),
    Doc("Integrations and API", HELP_CENTER, ("product",),
        "Connecting {company} to other tools.", (
        ("Built-in integrations",
         "Native integrations exist for Slack, Microsoft Teams, Google Workspace, QuickBooks, "
         "Xero, Salesforce and HubSpot. They are configured from Settings, Integrations."),
        ("REST API",
         "The REST API is available on Professional and Enterprise. Requests are authenticated "
         "with workspace API keys and limited to 600 requests per minute per workspace."),
        ("Webhooks",
         "Webhooks send a signed POST request when a workflow step completes. Failed deliveries "
         "are retried with exponential backoff for up to 24 hours."),
    )),
    Doc("Support and SLA", HELP_CENTER, ("policy",),
        "Support channels, hours and response times.", (
        ("Support channels",
         "All plans include e-mail support and the help centre. Professional adds live chat; "
         "Enterprise adds phone support and a named customer success manager."),
        ("Response times",
         "Starter: first response within two business days. Professional: within eight "
         "business hours. Enterprise: one hour for urgent issues, around the clock."),
        ("Uptime commitment",
         "Enterprise plans include a 99.9% monthly uptime commitment backed by service "
         "credits. Planned maintenance is announced seven days ahead and excluded."),
    )),
    Doc("Discovery Call Guide", PLAYBOOK, ("sales",),
        "How to run a first call with a prospect.", (
        ("Before the call",
         "Read the prospect's website and LinkedIn, check the CRM for past conversations, and "
         "write down two hypotheses about which process hurts them most."),
        ("Questions that work",
         "Which process takes the most back-and-forth today? Who approves requests, and how do "
         "they find out? What happens when someone is on holiday? What have you tried before?"),
        ("Ending the call",
         "Agree on a concrete next step with a date: a tailored demo with the process owner, "
         "or a pilot scope. Log the call and the next step in the CRM the same day."),
    )),
    Doc("Objection Handling", PLAYBOOK, ("sales",),
        "Answers to the objections we hear most.", (
        ("\"It's too expensive\"",
         "Anchor on the hours saved: a team of 20 that saves two hours a week each recovers "
         "more than the Professional plan costs within the first month. Offer annual billing "
         "for the 15% discount before any other concession."),
        ("\"We already use spreadsheets\"",
         "Spreadsheets are where most customers start. Ask who fixes the sheet when a formula "
         "breaks and how they know a request was approved. Offer to import the sheet in the demo."),
        ("\"Security will never approve it\"",
         "Send the Security Overview and the SOC 2 report early, and offer a call with our "
         "security team. Enterprise includes SSO and EU data residency."),
    )),
    Doc("Competitive Battlecard", PLAYBOOK, ("sales",),
        "How we compare with the alternatives prospects mention.", (
        ("Against general-purpose project tools",
         "Project tools track tasks; they do not enforce approvals or keep inventory in sync. "
         "Show a purchase request that updates stock and notifies finance automatically."),
        ("Against building in-house",
         "Internal tools need an engineer to maintain them. Our customers replace an average "
         "of three internal scripts in the first quarter; ask who maintains theirs today."),
    )),
    Doc("Brand Voice Guidelines", PLAYBOOK, ("product",),
        "How {company} sounds in e-mails, posts and the product.", (
        ("Principles",
         "Plain, confident and warm. Short sentences. Say what the customer gets, not what the "
         "feature is called. No exclamation marks and no jargon such as 'synergy'."),
        ("E-mail",
         "Subject lines under 50 characters and specific: 'Your pilot results' rather than "
         "'Quick update'. One request per e-mail, stated in the first two lines."),
    )),
)


def _render(doc: Doc, company: str) -> tuple[list[tuple[str, str]], str]:
    sections = [(h.format(company=company), t.format(company=company)) for h, t in doc.sections]
    body = "\n\n".join(f"## {heading}\n\n{text}" for heading, text in sections)
    return sections, f"# {doc.name}\n\n{body}\n"


async def _collections(ctx: DemoContext) -> dict[str, Any]:
    repo = CollectionRepository(ctx.session, ctx.scope)
    help_center = await repo.create(
        name=HELP_CENTER, is_default=True, is_public=True, created_by=ctx.user(),
        description=f"Customer-facing answers about {ctx.company_name}: product, billing, "
                    "security and support.",
    )
    playbook = await repo.create(
        name=PLAYBOOK, created_by=ctx.user(),
        description="Internal: discovery, objections, competitors and brand voice.",
    )
    ctx.remember("knowledge_collections", [help_center.id, playbook.id])
    return {HELP_CENTER: help_center.id, PLAYBOOK: playbook.id}


async def seed(ctx: DemoContext) -> None:
    collection_ids = await _collections(ctx)
    docs = DOCS[: ctx.count(len(DOCS), minimum=4)]
    items, chunks = [], []
    rendered = [_render(doc, ctx.company_name) for doc in docs]
    for doc, (sections, content) in zip(docs, rendered, strict=True):
        indexed = ctx.days_ago(1, 60)
        items.append({
            "collection_id": collection_ids[doc.collection], "created_by": ctx.user(),
            "name": doc.name, "type": ItemType.DOCUMENT, "content": content,
            "mime_type": "text/markdown", "file_size": len(content.encode()),
            "status": ItemStatus.READY, "checksum": hashlib.sha256(content.encode()).hexdigest(),
            "chunk_count": len(sections), "last_indexed_at": indexed,
            "meta": {"summary": doc.summary.format(company=ctx.company_name),
                     "headings": [h for h, _ in sections]},
            "created_at": indexed,
        })
    item_ids = ctx.remember("knowledge_items",
                            await ItemRepository(ctx.session, ctx.scope).create_many(items))
    for item_id, (sections, _) in zip(item_ids, rendered, strict=True):
        for index, (heading, text) in enumerate(sections):
            chunk = f"{heading}\n\n{text}"
            chunks.append({
                "item_id": item_id, "chunk_index": index, "heading": heading, "content": chunk,
                "token_count": estimate_tokens(chunk), "location": {"section": index + 1},
            })
    chunk_repo = ChunkRepository(ctx.session, ctx.scope)
    ctx.remember("knowledge_chunks", await chunk_repo.create_many(chunks))
    await _tag(ctx, docs, item_ids)


TAG_COLORS = {"product": "#2563eb", "billing": "#16a34a", "policy": "#9333ea",
              "onboarding": "#ea580c", "security": "#dc2626", "sales": "#0891b2"}


async def _tag(ctx: DemoContext, docs: tuple[Doc, ...], item_ids: list[Any]) -> None:
    tags = TagRepository(ctx.session, ctx.scope)
    for name, color in TAG_COLORS.items():
        tag = await tags.get_or_create(name, color=color)
        ctx.remember("knowledge_tags", [tag.id])
        for doc, item_id in zip(docs, item_ids, strict=True):
            if name in doc.tags:
                await tags.tag(item_id, tag.id)
