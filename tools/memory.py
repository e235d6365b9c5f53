"""Memory and preferences tools: facts Neptune remembers, and how the user wants answers.

A fact is the caller's own ("I prefer morning meetings") or the workspace's ("our fiscal year
starts in April"); it is stored with an embedding (`memory_facts`) so a turn recalls the facts
relevant to what was just said (`recall_relevant`, used by the context builder) rather than
every fact. Another member's own facts are invisible: forgetting one is not-found.

Preferences (tone, verbosity, language, time zone, favourite agents) and shortcuts are the
caller's own row in `ai_user_preferences`, the one the system prompt reads, so "be more concise
from now on" takes effect from the next turn. A fact with no vector from the current embedder
(stored while it was unavailable, or by another model) is matched by shared words instead.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field, StringConstraints, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from store.errors import NotFound
from store.models.agents import Agent
from store.models.ai import AssistantPreferences
from store.models.core import MemberRole
from store.models.neptune import MemoryFact
from store.repositories.agents import AgentRepository
from store.repositories.ai import PreferencesRepository
from store.repositories.neptune import FactHit, MemoryFactRepository
from store.tenancy import WorkspaceScope
from tools.context import ToolContext
from tools.errors import RetryableToolError
from tools.insights import Frozen, workspace_tool
from tools.knowledge.embedder import Embedder, EmbedderUnavailable, embedder_for
from tools.registry import Risk

log = logging.getLogger(__name__)
MAX_FACT_CHARS = 1000
RECALL_SIMILARITY = 0.3
FORGET_SIMILARITY = 0.55
FactScope = Literal["me", "workspace"]


class FactOut(BaseModel):
    id: uuid.UUID
    fact: str
    scope: FactScope = Field(description="me: only you recall it; workspace: everyone.")
    created_at: datetime

    @classmethod
    def of(cls, row: MemoryFact) -> FactOut:
        return cls(id=row.id, fact=row.content, created_at=row.created_at,
                   scope="workspace" if row.user_id is None else "me")


async def embed_text(embedder: Embedder, text: str) -> list[float] | None:
    """The text's embedding, or None when no embedding model is available (the fact is still
    kept and listed; it is just not recalled by relevance)."""
    try:
        return (await embedder.embed([text]))[0]
    except EmbedderUnavailable as error:
        log.warning("memory fact stored without an embedding: %s", error)
        return None


async def recall_relevant(
    session: AsyncSession, scope: WorkspaceScope, user_id: uuid.UUID, text: str,
    embedder: Embedder, *, k: int = 5, min_similarity: float = RECALL_SIMILARITY,
) -> list[FactHit]:
    """The facts this user recalls that are closest in meaning to `text`, best first. Embeds
    `text` only when there is at least one fact, so turns without memory cost nothing. Facts
    with no vector of this embedder (stored while it was unavailable, or by another model) are
    matched by shared words instead, so they are never silently unreachable."""
    repo = MemoryFactRepository(session, scope)
    if not text.strip() or not await repo.for_user(user_id, limit=1):
        return []
    vector = await embed_text(embedder, text)
    hits = [] if vector is None else [
        h for h in await repo.search(vector, embedding_model=embedder.name, user_id=user_id, k=k)
        if h.similarity >= min_similarity]
    if len(hits) < k:
        space = embedder.name if vector is not None else None
        unembedded = await _outside(session, repo, user_id, space)
        hits += word_matches(unembedded, text, space, min_similarity)[: k - len(hits)]
    return hits


async def _outside(
    session: AsyncSession, repo: MemoryFactRepository, user_id: uuid.UUID, space: str | None
) -> list[MemoryFact]:
    """The user's facts (theirs and the workspace's) with no vector in `space` (None: all)."""
    stmt = repo.select().where(
        sa.or_(MemoryFact.user_id == user_id, MemoryFact.user_id.is_(None)),
    ).order_by(MemoryFact.created_at.desc()).limit(MAX_WORD_MATCHED)
    if space is not None:
        stmt = stmt.where(sa.or_(MemoryFact.embedding.is_(None),
                                 MemoryFact.embedding_model.is_distinct_from(space)))
    return list(await session.scalars(stmt))


MAX_WORD_MATCHED = 500
_WORD = re.compile(r"[^\W_]{3,}")


_COMMON = frozenset({"the", "and", "for", "our", "you", "your", "are", "was", "were", "with",
    "that", "this", "what", "when", "where", "who", "how", "why", "does", "did", "can", "could",
    "would", "should", "will", "from", "about", "have", "has", "had", "not", "but", "all", "any",
    "its", "into", "than", "then", "them", "they", "their", "there", "these", "those", "which",
    "while", "also", "just", "very", "more", "most", "some"})


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower())) - _COMMON


def word_matches(
    facts: Sequence[MemoryFact], text: str, space: str | None, min_similarity: float
) -> list[FactHit]:
    """Facts not embedded in `space` (None: no vectors at all), scored by the share of words
    they have in common with `text` (of the shorter of the two), best first."""
    asked = _words(text)
    hits = []
    for fact in facts:
        if space is not None and fact.embedding is not None and fact.embedding_model == space:
            continue
        words = _words(fact.content)
        shared = len(asked & words) / max(1, min(len(asked), len(words)))
        if shared >= min_similarity and asked & words:
            hits.append(FactHit(fact, shared))
    return sorted(hits, key=lambda h: -h.similarity)


def _owner(ctx: ToolContext, scope: FactScope) -> uuid.UUID | None:
    return None if scope == "workspace" else ctx.caller.user_id


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


# -- remember_fact ----------------------------------------------------------------------------
class RememberFactArgs(Frozen):
    fact: str = Field(min_length=3, max_length=MAX_FACT_CHARS,
                      description="The fact as one sentence, e.g. 'Our fiscal year starts in "
                                  "April' or 'I prefer meetings before noon'.")
    scope: FactScope = Field(default="me", description="me: about the user, recalled only for "
                             "them; workspace: about the company, recalled for everyone.")


class FactResult(BaseModel):
    fact: FactOut
    already_known: bool = Field(description="True when the same fact was already remembered.")


@workspace_tool(risk=Risk.LOW, role=MemberRole.MEMBER, title="Remember a fact", examples=(
    "remember that our fiscal year starts in April", "remember I prefer meetings before noon",
    "note for everyone: we never discount more than 15%",
))
async def remember_fact(ctx: ToolContext, args: RememberFactArgs) -> FactResult:
    """Remember a fact for later conversations: about the user (scope 'me') or about the
    company for everyone in the workspace (scope 'workspace'). Relevant facts are recalled
    automatically in later conversations; forget_fact removes one."""
    repo = MemoryFactRepository(ctx.session, ctx.scope)
    owner = _owner(ctx, args.scope)
    text = " ".join(args.fact.split())
    for row in await repo.for_user(owner, include_workspace=False, limit=500):
        if _same_text(row.content, text):
            return FactResult(fact=FactOut.of(row), already_known=True)
    embedder = embedder_for(ctx.services)
    vector = await embed_text(embedder, text)
    row = await repo.remember(
        text, user_id=owner, source=ctx.caller.channel, embedding=vector,
        embedding_model=embedder.name if vector is not None else None,
        meta={"created_by": str(ctx.caller.user_id),
              "conversation_id": str(ctx.conversation_id) if ctx.conversation_id else None},
    )
    await ctx.session.refresh(row, ["created_at"])
    return FactResult(fact=FactOut.of(row), already_known=False)


# -- forget_fact ------------------------------------------------------------------------------
class ForgetFactArgs(Frozen):
    fact_id: uuid.UUID | None = Field(default=None, description="The fact's id, as shown with "
                                      "recalled facts or returned by recall_facts.")
    about: str | None = Field(default=None, min_length=3, max_length=MAX_FACT_CHARS,
                              description="Or the fact in words; the closest remembered fact "
                                          "is forgotten, e.g. 'fiscal year'.")

    @model_validator(mode="after")
    def _one(self) -> ForgetFactArgs:
        if (self.fact_id is None) == (self.about is None):
            raise ValueError("give fact_id or about, not both")
        return self


class ForgottenResult(BaseModel):
    forgotten: FactOut


async def _closest(ctx: ToolContext, about: str) -> MemoryFact:
    hits = await recall_relevant(ctx.session, ctx.scope, ctx.caller.user_id, about,
                                 embedder_for(ctx.services), k=1,
                                 min_similarity=FORGET_SIMILARITY)
    if not hits:
        raise RetryableToolError(f"no remembered fact matches {about!r}; recall_facts lists "
                                 "them with their ids")
    return hits[0].fact


async def _visible_fact(ctx: ToolContext, fact_id: uuid.UUID) -> MemoryFact:
    row = await MemoryFactRepository(ctx.session, ctx.scope).find(fact_id)
    if row is None or row.user_id not in (None, ctx.caller.user_id):
        raise NotFound("memory_fact", fact_id)
    return row


@workspace_tool(risk=Risk.LOW, role=MemberRole.MEMBER, title="Forget a fact", examples=(
    "forget what I told you about the fiscal year", "forget that fact",
    "you don't need to remember my meeting preference anymore",
))
async def forget_fact(ctx: ToolContext, args: ForgetFactArgs) -> ForgottenResult:
    """Forget a remembered fact, by its id or by describing it. It is deleted and will not be
    recalled again."""
    row = await (_visible_fact(ctx, args.fact_id) if args.fact_id is not None
                 else _closest(ctx, args.about or ""))
    out = FactOut.of(row)
    await MemoryFactRepository(ctx.session, ctx.scope).delete(row.id)
    return ForgottenResult(forgotten=out)


# -- recall_facts -----------------------------------------------------------------------------
class RecallFactsArgs(Frozen):
    query: str | None = Field(default=None, max_length=500, description="What the facts "
                              "should be about; omit to list the newest facts.")
    limit: int = Field(default=10, ge=1, le=50, description="Most facts to return (1-50).")


class FactsResult(BaseModel):
    facts: list[FactOut]


@workspace_tool(risk=Risk.LOW, examples=(
    "what do you remember about me?", "what do you know about our fiscal year?",
    "list the facts you remember",
))
async def recall_facts(ctx: ToolContext, args: RecallFactsArgs) -> FactsResult:
    """List the facts Neptune remembers for the user (their own and the workspace's): the
    newest, or the ones closest in meaning to `query`."""
    if args.query:
        hits = await recall_relevant(ctx.session, ctx.scope, ctx.caller.user_id, args.query,
                                     embedder_for(ctx.services), k=args.limit)
        return FactsResult(facts=[FactOut.of(h.fact) for h in hits])
    rows = await MemoryFactRepository(ctx.session, ctx.scope).for_user(
        ctx.caller.user_id, limit=args.limit)
    return FactsResult(facts=[FactOut.of(r) for r in rows])


# -- preferences ------------------------------------------------------------------------------
Tone = Literal["neutral", "friendly", "professional", "casual", "formal"]
Verbosity = Literal["brief", "normal", "detailed"]


AgentName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=200)]


class SetPreferenceArgs(Frozen):
    tone: Tone | None = Field(default=None, description="Voice of the answers.")
    verbosity: Verbosity | None = Field(
        default=None, description="Answer length: brief ('be more concise'), normal, detailed.")
    language: str | None = Field(default=None, max_length=20, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]"
                                 r"{2,8})*$", description="Language tag, e.g. 'en', 'fr', 'pt-BR'.")
    timezone: str | None = Field(default=None, max_length=64,
                                 description="IANA time zone, e.g. 'Europe/Paris'.")
    favorite_agents: tuple[AgentName, ...] | None = Field(
        default=None, max_length=20, description="The user's favourite agents by name, in "
        "order; replaces the list (an empty list clears it).")

    @model_validator(mode="after")
    def _something(self) -> SetPreferenceArgs:
        if not self.model_dump(exclude_none=True):
            raise ValueError("set at least one of tone, verbosity, language, timezone, "
                             "favorite_agents")
        return self


class PreferencesResult(BaseModel):
    tone: str
    verbosity: str
    language: str
    timezone: str
    favorite_agents: list[str]


async def _agent_names(ctx: ToolContext, wanted: Sequence[str]) -> list[str]:
    """The workspace's agents by these names (any case), as the agents spell them."""
    found = await ctx.session.scalars(AgentRepository(ctx.session, ctx.scope).select()
                                      .with_only_columns(Agent.name)
                                      .where(sa.func.lower(Agent.name).in_(
                                          [w.lower() for w in wanted])))
    spelled = {name.lower(): name for name in found}
    missing = [w for w in wanted if w.lower() not in spelled]
    if missing:
        raise RetryableToolError(f"no agent named {', '.join(map(repr, missing))}; "
                                 "list_agents shows their names")
    return list(dict.fromkeys(spelled[w.lower()] for w in wanted))


@workspace_tool(risk=Risk.LOW, title="Change your preferences", examples=(
    "be more concise from now on", "answer in French from now on", "I'm in Europe/Paris",
    "be more formal", "give me detailed answers", "make the lead scorer one of my favourites",
))
async def set_preference(ctx: ToolContext, args: SetPreferenceArgs) -> PreferencesResult:
    """Change how Neptune answers this user from the next message on: tone, verbosity (brief
    for "be more concise"), language, time zone, or their favourite agents. Only the given
    fields change."""
    repo = PreferencesRepository(ctx.session, ctx.scope)
    user = ctx.caller.user_id
    changes = args.model_dump(exclude_none=True, exclude={"favorite_agents"})
    row = await (repo.update_preferences(user, **changes) if changes else repo.for_user(user))
    if args.favorite_agents is not None:
        row = await repo.set_favorite_agents(user, await _agent_names(ctx, args.favorite_agents))
    prefs = AssistantPreferences.model_validate(row.preferences)
    return PreferencesResult(**prefs.model_dump(), favorite_agents=list(row.favorite_agents))


class SetShortcutArgs(Frozen):
    command: str = Field(min_length=2, max_length=40, pattern=r"^/?[\w-]+$",
                         description="The shortcut, e.g. '/pipeline'.")
    expansion: str | None = Field(default=None, max_length=2000, description="What typing it "
                                  "sends, e.g. 'Show my open deals by stage'; omit to remove it.")


class ShortcutsResult(BaseModel):
    shortcuts: dict[str, str] = Field(description="Every shortcut: command -> request.")


def _slash(command: str) -> str:
    return command if command.startswith("/") else f"/{command}"


@workspace_tool(risk=Risk.LOW, title="Set shortcut {command}", examples=(
    "make /pipeline show my open deals by stage", "remove the /pipeline shortcut",
))
async def set_shortcut(ctx: ToolContext, args: SetShortcutArgs) -> ShortcutsResult:
    """Create, change or remove (no expansion) one of the user's shortcuts: typing the
    command, e.g. '/pipeline', sends its stored request instead."""
    repo = PreferencesRepository(ctx.session, ctx.scope)
    command = _slash(args.command)
    if args.expansion:
        row = await repo.set_shortcut(ctx.caller.user_id, command, args.expansion)
    else:
        row = await repo.remove_shortcut(ctx.caller.user_id, command)
    return ShortcutsResult(shortcuts=shortcut_map(row.shortcuts))


def shortcut_map(stored: Sequence[object]) -> dict[str, str]:
    """Stored shortcuts as `{"/command": expansion}` (commands saved with or without '/')."""
    return {_slash(str(s.get("command"))): str(s.get("expansion"))
            for s in stored if isinstance(s, dict) and s.get("command") and s.get("expansion")}
