"""What a chat turn tells the model besides the prompt templates: the workspace's own profile,
the user's favourite agents and recent searches, the remembered facts relevant to the user's
message, and the few insights that matter for the page or record the user is on. Also shortcut
expansion, which happens before the message is stored.

Insights for the record on screen are offered even when already seen (the user is looking at
that record now); other pending ones are offered at most `TOP_INSIGHTS` at a time, those about
the kind of record the page shows first, and marked seen once offered, so the same warning does
not open every answer.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

import prompts
from assistant.context import PageContext
from store.models.ai import AiUserPreferences, InsightStatus, ProactiveInsight
from store.repositories.ai import InsightRepository, WorkspaceIntelligenceRepository
from store.repositories.neptune import FactHit
from store.tenancy import WorkspaceScope
from tools.context import Caller
from tools.knowledge.embedder import Embedder
from tools.memory import recall_relevant, shortcut_map

log = logging.getLogger(__name__)
TEMPLATE = "workspace_memory"
TOP_INSIGHTS = 3
RECORD_INSIGHTS = 3
RECALLED_FACTS = 5
CANDIDATES = 20
# Words in a page's name, and the kind of record (`Finding.record_type`) they mean.
PAGE_WORDS = {"deal": "deal", "pipeline": "deal", "contact": "contact", "lead": "contact",
              "invoice": "invoice", "expense": "expense", "campaign": "campaign",
              "task": "task", "agent": "agent", "grid": "grid", "inbox": "inbox_conversation"}
RECENT_SEARCHES = 5
NOTHING = "none"


@dataclass
class TurnMemory:
    """What the context builder adds to the system prompt for one turn."""

    profile: list[str] = field(default_factory=list)
    user: list[str] = field(default_factory=list)
    facts: list[FactHit] = field(default_factory=list)
    insights: list[ProactiveInsight] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.profile or self.user or self.facts or self.insights)

    def render(self, version: str) -> tuple[str, str | None]:
        """The `workspace_memory` template filled in, and its ref (recorded with the system
        prompt's, so an eval can tell which background text a turn had); ("", None) when there
        is nothing to say."""
        if self.empty:
            return "", None
        try:
            template = prompts.load(TEMPLATE, version)
        except prompts.PromptNotFound:
            log.warning("prompt version %s has no %s template; background left out", version,
                        TEMPLATE)
            return "", None
        return template.render(
            profile="\n".join(self.profile) or NOTHING,
            user="\n".join(self.user) or NOTHING,
            facts="\n".join(_fact_line(h) for h in self.facts) or NOTHING,
            insights="\n".join(_insight_line(i) for i in self.insights) or NOTHING,
        ).strip(), template.ref


def _fact_line(hit: FactHit) -> str:
    whose = "workspace" if hit.fact.user_id is None else "the user's own"
    return f"- [{hit.fact.id}] {hit.fact.content} ({whose})"


def _insight_line(row: ProactiveInsight) -> str:
    about = f" about {row.record_type} {row.record_id}" if row.record_id else ""
    actions = "; ".join(
        f"{i}: {a.get('label') or a.get('tool')} ({a.get('tool')})"
        for i, a in enumerate(row.actions) if isinstance(a, dict))
    text = f"- [{row.id}] {row.type}, priority {row.priority}{about}: {row.title}."
    if row.description:
        text += f" {row.description}"
    return text + (f" Suggested actions: {actions}." if actions else "")


# -- loading ----------------------------------------------------------------------------------
async def load_turn_memory(
    session: AsyncSession, caller: Caller, text: str | None, page: PageContext | None,
    embedder: Embedder,
) -> TurnMemory:
    scope = caller.scope
    return TurnMemory(
        profile=await company_profile(session, scope),
        user=await user_habits(session, caller),
        facts=await recall_relevant(session, scope, caller.user_id, text or "", embedder,
                                    k=RECALLED_FACTS) if text else [],
        insights=await insights_for(session, caller, page),
    )


async def user_habits(session: AsyncSession, caller: Caller) -> list[str]:
    """The caller's favourite agents and latest searches, from their preferences row."""
    row = (await session.execute(sa.select(
        AiUserPreferences.favorite_agents, AiUserPreferences.recent_searches,
    ).where(AiUserPreferences.workspace_id == caller.workspace_id,
            AiUserPreferences.user_id == caller.user_id))).first()
    if row is None:
        return []
    favourites, searches = list(row[0] or []), list(row[1] or [])
    lines = [f"- Favourite agents: {', '.join(favourites)}"] if favourites else []
    if searches:
        lines.append(f"- Recent searches: {'; '.join(searches[:RECENT_SEARCHES])}")
    return lines


async def company_profile(session: AsyncSession, scope: WorkspaceScope) -> list[str]:
    """`workspace_intelligence` as short lines: profile fields, products, brand voice."""
    row = await WorkspaceIntelligenceRepository(session, scope).current()
    if row is None:
        return []
    lines = [f"- {_label(k)}: {_flat(v)}" for k, v in (row.company_profile or {}).items()
             if v not in (None, "", [], {})]
    products = [_flat(p.get("name", p) if isinstance(p, dict) else p) for p in row.products]
    if products:
        lines.append(f"- Products: {', '.join(products)}")
    if row.brand_voice:
        lines.append(f"- Brand voice: {row.brand_voice}")
    return lines


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _flat(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_flat(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_flat(v)}" for k, v in value.items())
    return " ".join(str(value).split())[:300]


async def insights_for(
    session: AsyncSession, caller: Caller, page: PageContext | None
) -> list[ProactiveInsight]:
    """Insights about the record on screen, then the caller's top pending ones (deduplicated);
    the pending ones offered become seen."""
    repo = InsightRepository(session, caller.scope)
    chosen = await _about_record(repo, caller, page)
    known = {r.id for r in chosen}
    pending = [r for r in await repo.unseen(user_id=caller.user_id, limit=CANDIDATES)
               if r.id not in known]
    kind = page_kind(page)
    pending.sort(key=lambda r: r.record_type != kind)  # stable: priority order otherwise
    chosen.extend(pending[:TOP_INSIGHTS])
    await repo.mark_seen(r.id for r in chosen if r.status == InsightStatus.PENDING)
    return chosen


def page_kind(page: PageContext | None) -> str | None:
    """The kind of record the page is about: its `record_type`, else a kind its name mentions
    ("finance/invoices" is about invoices), so that page's insights come first."""
    if page is None:
        return None
    if page.record_type:
        return page.record_type
    words = [w.removesuffix("s") for w in re.findall(r"[a-z]+", (page.page or "").lower())]
    return next((PAGE_WORDS[w] for w in reversed(words) if w in PAGE_WORDS), None)


async def _about_record(
    repo: InsightRepository, caller: Caller, page: PageContext | None
) -> list[ProactiveInsight]:
    record_id = _uuid(page.record_id) if page and page.record_id else None
    if page is None or page.record_type is None or record_id is None:
        return []
    rows = await repo.for_record(page.record_type, record_id, include_seen=True,
                                 limit=RECORD_INSIGHTS * 2)
    return [r for r in rows if r.user_id in (None, caller.user_id)][:RECORD_INSIGHTS]


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


# -- shortcuts --------------------------------------------------------------------------------
async def expand_shortcut(
    session: AsyncSession, caller: Caller, text: str
) -> tuple[str, str | None]:
    """`/pipeline` (optionally followed by more words) becomes the user's stored request for
    it; returns the text to run and the shortcut used (None when the text is not one)."""
    if not text.startswith("/"):
        return text, None
    command, _, rest = text.partition(" ")
    stored = await session.scalar(sa.select(AiUserPreferences.shortcuts).where(
        AiUserPreferences.workspace_id == caller.workspace_id,
        AiUserPreferences.user_id == caller.user_id))
    expansion = shortcut_map(_as_list(stored)).get(command)
    if expansion is None:
        return text, None
    return (f"{expansion} {rest.strip()}".strip(), command)


def _as_list(value: object) -> Sequence[object]:
    return value if isinstance(value, list) else []
