"""Neptune assistant demo data: past conversations with real tool calls and results (about the
workspace's own deals when the CRM seeder ran), each user's preferences, a month of action
history, a few insights waiting to be surfaced, the company profile, and Neptune's own tables
(usage ledger, event log, a Slack delivery, autonomy records, remembered facts).

Every tool call in a demo conversation has its action-history row with the same call id, and
every assistant message its usage-ledger row, so "what did Neptune do in this chat, and what did
it cost?" has one consistent answer.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from store.demo.context import DemoContext
from store.models.ai import (
    ActionStatus,
    AiMessage,
    Channel,
    InsightType,
    MessageRole,
    Rating,
)
from store.models.base import JSON
from store.models.neptune import OutboundChannel
from store.repositories.ai import (
    ActionHistoryRepository,
    ConversationRepository,
    FeedbackRepository,
    InsightRepository,
    MessageRepository,
    PreferencesRepository,
    WorkspaceIntelligenceRepository,
    content_hash,
)
from store.repositories.crm import DealRepository
from store.repositories.insights import InsightSweepRepository
from store.repositories.neptune import (
    AutonomyRepository,
    ConversationEventRepository,
    IngressEventRepository,
    MemoryFactRepository,
    OutboundMessageRepository,
    UsageLedgerRepository,
)

MODEL = "gpt-4o-mini"
PROMPT_REF = "neptune-system@3f1a9c0e"


def estimate_tokens(text: str) -> int:
    """About four characters per token: close enough for demo rows (the runtime stores
    tiktoken's exact count for real messages)."""
    return max(1, (len(text) + 3) // 4)


@dataclass(frozen=True)
class Deal:
    id: uuid.UUID | None
    name: str
    value: str


@dataclass(frozen=True)
class Script:
    title: str
    channel: Channel
    messages: list[JSON]
    external_key: str | None = None
    archived: bool = False


def _user(text: str) -> JSON:
    return {"role": MessageRole.USER, "content": text}


def _call(call_id: str, tool: str, arguments: JSON, text: str = "") -> JSON:
    return {"role": MessageRole.ASSISTANT, "content": text, "model": MODEL,
            "tool_calls": [{"id": call_id, "name": tool, "arguments": arguments}]}


def _result(call_id: str, result: Any) -> JSON:
    return {"role": MessageRole.TOOL, "tool_call_id": call_id, "content": json.dumps(result)}


def _answer(text: str) -> JSON:
    return {"role": MessageRole.ASSISTANT, "content": text, "model": MODEL}


def _pipeline_script(deals: list[Deal]) -> Script:
    first, second = deals[0], deals[1]
    found = [{"id": str(d.id) if d.id else None, "name": d.name, "value": d.value}
             for d in (first, second)]
    return Script("Deals closing this month", Channel.WEB, [
        _user("Which deals are expected to close in the next 30 days?"),
        _call("call_pipe_1", "list_deals_closing", {"days": 30}),
        _result("call_pipe_1", {"deals": found}),
        _answer(f"Two deals are expected to close in the next 30 days: **{first.name}** "
                f"({first.value}) and **{second.name}** ({second.value}). Want me to draft a "
                "follow-up for either?"),
        _user("Yes, draft a follow-up for the first one."),
        _call("call_pipe_2", "draft_email", {"deal": first.name, "purpose": "follow_up"}),
        _result("call_pipe_2", {"subject": f"Next steps on {first.name}", "status": "draft"}),
        _answer(f"I drafted \"Next steps on {first.name}\". It recaps the proposal, proposes "
                "two times for a call this week, and is saved in your drafts, not sent."),
    ])


def _refund_script() -> Script:
    hit = {"item": "Refund Policy", "chunk_index": 1,
           "text": "Annual plans cancelled within 30 days of purchase are refunded in full."}
    return Script("Refund window for annual plans", Channel.SLACK, [
        _user("What's our refund window for annual plans?"),
        _call("call_kb_1", "search_knowledge", {"query": "refund window annual plan"}),
        _result("call_kb_1", {"hits": [hit]}),
        _answer("Annual plans cancelled within 30 days of purchase get a full refund; after "
                "that, unused months are not refunded but the plan runs to the end of its term. "
                "[Refund Policy, section 2]"),
    ], external_key="slack:T0DEMO:C0SALES:1712059200.000100")


def _newsletter_script() -> Script:
    return Script("Spring newsletter", Channel.WEB, [
        _user("Schedule the spring newsletter for Tuesday 9am."),
        _call("call_mkt_1", "schedule_campaign",
              {"campaign": "Spring newsletter", "send_at": "Tuesday 09:00"}),
        _result("call_mkt_1", {"status": "approval_required",
                               "reason": "sends email to 1,240 recipients"}),
        _answer("Scheduling it sends email to 1,240 recipients, so it needs your approval. "
                "Approve sending the spring newsletter on Tuesday at 9:00?"),
        _user("Approve."),
        _answer("Done: the spring newsletter is scheduled for Tuesday at 9:00."),
    ], archived=True)


async def _demo_deals(ctx: DemoContext) -> list[Deal]:
    ids = ctx.ids.get("deals", [])[:2]
    rows = await DealRepository(ctx.session, ctx.scope).get_many(ids)
    found = sorted(rows, key=lambda d: ids.index(d.id))
    deals = [Deal(d.id, d.name, f"${d.value_cents // 100:,}") for d in found]
    fallback = [Deal(None, "Globex — Platform licence", "$24,000"),
                Deal(None, "Initech — Annual renewal", "$9,600")]
    return (deals + fallback)[:2]


async def _seed_conversation(ctx: DemoContext, script: Script, started: datetime) -> None:
    conversations = ConversationRepository(ctx.session, ctx.scope)
    user_id = ctx.user()
    conversation = await conversations.create(
        user_id=user_id, title=script.title, model=MODEL, channel=script.channel,
        external_key=script.external_key, is_archived=script.archived, created_at=started,
        context={"page": "/crm/deals"} if script.channel == Channel.WEB else {},
    )
    ctx.remember("ai_conversations", [conversation.id])
    rows = [_with_timing(message, started + timedelta(seconds=40 * i))
            for i, message in enumerate(script.messages)]
    messages = await MessageRepository(ctx.session, ctx.scope).append_many(conversation.id, rows)
    ctx.remember("ai_messages", [m.id for m in messages])
    await _record_calls(ctx, conversation.id, user_id, messages)
    await _record_usage(ctx, conversation.id, user_id, messages)
    await _record_events(ctx, conversation.id, messages)
    if script.external_key is not None:
        await _record_delivery(ctx, script.external_key)


def _with_timing(message: JSON, at: datetime) -> JSON:
    counted = message["content"] + json.dumps(message.get("tool_calls") or "")
    timed = {**message, "created_at": at, "token_count": estimate_tokens(counted)}
    if message["role"] == MessageRole.ASSISTANT:
        timed.update(prompt_ref=PROMPT_REF, response_time_ms=600 + len(counted) * 3,
                     tokens={"prompt": 900 + len(counted), "completion": estimate_tokens(counted)})
    return timed


async def _record_calls(
    ctx: DemoContext, conversation_id: uuid.UUID, user_id: uuid.UUID, messages: list[AiMessage]
) -> None:
    """One action-history row per tool call, with the result the tool message carries."""
    results = {m.tool_call_id: json.loads(m.content) for m in messages if m.tool_call_id}
    rows = []
    for message in messages:
        for call in message.tool_calls or []:
            output = results.get(call["id"], {})
            pending = output.get("status") == "approval_required"
            rows.append({
                "user_id": user_id, "conversation_id": conversation_id,
                "message_id": message.id, "tool_call_id": call["id"],
                "action_type": call["name"], "input": call["arguments"], "output": output,
                "status": ActionStatus.APPROVED if pending else ActionStatus.SUCCESS,
                "success": not pending, "approved_by": user_id if pending else None,
                "duration_ms": 180 + len(call["name"]) * 10, "ai_model": MODEL,
                "tokens_used": 350, "idempotency_key": f"{conversation_id}:{call['id']}",
                "created_at": message.created_at,
            })
    repo = ActionHistoryRepository(ctx.session, ctx.scope)
    ctx.remember("neptune_action_history", await repo.create_many(rows))


BACKGROUND_TOOLS = [
    ("search_contacts", "contact"), ("get_deal", "deal"), ("update_deal", "deal"),
    ("create_task", "task"), ("search_knowledge", "knowledge"), ("send_email", "email"),
    ("create_invoice", "invoice"), ("run_grid", "grid"),
]


async def _seed_background_history(ctx: DemoContext) -> None:
    """A month of tool calls from other chats: mostly successes, a few errors and rejections."""
    rows = []
    for _ in range(ctx.count(24, minimum=3)):
        tool, target = ctx.rng.choice(BACKGROUND_TOOLS)
        outcome = ctx.rng.choices(
            [ActionStatus.SUCCESS, ActionStatus.ERROR, ActionStatus.REJECTED], weights=[85, 10, 5]
        )[0]
        rows.append({
            "user_id": ctx.user(), "action_type": tool, "target": target,
            "input": {"query": target} if tool.startswith("search") else {},
            "output": {"ok": True} if outcome == ActionStatus.SUCCESS else None,
            "status": outcome, "success": outcome == ActionStatus.SUCCESS,
            "error": "upstream timeout after 30s" if outcome == ActionStatus.ERROR else None,
            "duration_ms": ctx.rng.randint(40, 2500), "ai_model": MODEL,
            "tokens_used": ctx.rng.randint(150, 1800), "created_at": ctx.days_ago(0, 30),
        })
    rows[0].update(status=ActionStatus.ERROR, success=False, output=None,
                   error="upstream timeout after 30s")
    repo = ActionHistoryRepository(ctx.session, ctx.scope)
    ctx.remember("neptune_action_history", await repo.create_many(rows))


async def _seed_preferences(ctx: DemoContext) -> None:
    repo = PreferencesRepository(ctx.session, ctx.scope)
    zones = ["America/New_York", "Europe/London", "Europe/Berlin", "Asia/Singapore"]
    for user_id in ctx.user_ids:
        row = await repo.update_preferences(
            user_id, tone=ctx.rng.choice(["friendly", "professional", "neutral"]),
            verbosity=ctx.rng.choice(["brief", "normal", "detailed"]),
            timezone=ctx.rng.choice(zones),
        )
        ctx.remember("ai_user_preferences", [row.id])
        await repo.set_shortcut(user_id, "/pipe", "Show my open pipeline by stage")
        await repo.set_shortcut(user_id, "/week", "What needs my attention this week?")
        for text in ctx.rng.sample(["Acme renewal", "refund policy", "open invoices",
                                    "spring newsletter", "onboarding checklist"], k=3):
            await repo.record_search(user_id, text)


async def _seed_insights(ctx: DemoContext, deals: list[Deal]) -> None:
    """Insights as the detectors (`assistant.insights`) write them, under their names and
    fingerprints, so the first real sweep refreshes or retires each one; and a last sweep old
    enough that the worker sweeps the demo workspace as soon as it starts."""
    repo = InsightRepository(ctx.session, ctx.scope)
    candidates: list[tuple[str, dict[str, Any]]] = []
    for deal in deals:
        if deal.id is None:
            continue
        days = ctx.rng.randint(15, 40)
        candidates.append((f"stalled_deals:{deal.id}", {
            "detector": "stalled_deals", "type": InsightType.WARNING, "priority": 70,
            "title": f"{deal.name} is stalled in negotiation",
            "description": f"{deal.name} has been in negotiation for {days} days without "
                           "moving.",
            "data": {"deal": deal.name, "stage": "negotiation", "days_in_stage": days},
            "record_type": "deal", "record_id": deal.id,
            "expires_at": ctx.now + timedelta(days=7),
            "actions": [{"tool": "create_task", "label": "Create a follow-up task",
                         "arguments": {"title": f"Follow up on {deal.name}"[:300],
                                       "priority": "high"}},
                        {"tool": "get_deal", "label": "Open the deal",
                         "arguments": {"deal_id": str(deal.id)}}],
        }))
    candidates.append((f"knowledge_gaps:{content_hash('data residency')[:24]}", {
        "detector": "knowledge_gaps", "type": InsightType.RECOMMENDATION, "priority": 40,
        "title": 'Nothing in the knowledge base answers "data residency"',
        "description": 'People searched for "data residency" 3 times in the last 14 days and '
                       "found nothing. A short document would help.",
        "data": {"query": "data residency", "searches": 3},
        "expires_at": ctx.now + timedelta(days=14),
        "actions": [{"tool": "create_task", "label": "Create a task to write it",
                     "arguments": {"title": "Write a knowledge article: data residency",
                                   "priority": "medium"}}],
    }))
    candidates.append(("overdue_tasks:unassigned", {
        "detector": "overdue_tasks", "type": InsightType.WARNING, "priority": 50,
        "title": "3 overdue tasks", "description": "Unassigned tasks: 3 open past the due date, "
        "the oldest by 4 days.", "data": {"count": 3},
        "expires_at": ctx.now + timedelta(days=1),
        "actions": [{"tool": "list_tasks", "label": "List the overdue tasks",
                     "arguments": {"overdue": True, "limit": 50, "query": ""}}],
    }))
    for fingerprint, fields in candidates[: ctx.count(len(candidates), minimum=2)]:
        row = await repo.upsert(fingerprint, **fields)
        ctx.remember("proactive_insights", [row.id])
    sweep = await InsightSweepRepository(ctx.session, ctx.scope).started(ctx.days_ago(1, 2))
    ctx.remember("insight_sweeps", [sweep.id])


async def _seed_intelligence(ctx: DemoContext) -> None:
    row = await WorkspaceIntelligenceRepository(ctx.session, ctx.scope).put(
        updated_by=ctx.user_ids[0],
        company_profile={"name": ctx.company_name, "industry": "B2B software",
                         "size": "50-200 employees", "website": "https://example.com",
                         "summary": f"{ctx.company_name} sells a workflow platform to "
                                    "operations teams, with onboarding and data migration."},
        products=[{"name": "Platform licence", "price": "from $18,000 / year"},
                  {"name": "Onboarding package", "price": "$4,500 one-off"},
                  {"name": "Support add-on", "price": "$2,400 / year"}],
        brand_voice="Plain, confident and warm. Short sentences, no jargon, no exclamation marks.",
    )
    ctx.remember("workspace_intelligence", [row.id])


# -- Neptune's own tables ---------------------------------------------------------------------
COST_MICROS_PER_1K = {"prompt": 150, "completion": 600}  # gpt-4o-mini list price, per 1k tokens


def _cost(prompt: int, completion: int) -> int:
    return (prompt * COST_MICROS_PER_1K["prompt"] + completion * COST_MICROS_PER_1K["completion"]
            ) // 1000


async def _record_usage(
    ctx: DemoContext, conversation_id: uuid.UUID, user_id: uuid.UUID, messages: list[AiMessage]
) -> None:
    """One ledger row per model call, i.e. per assistant message, with its tokens and timing."""
    rows = [{
        "user_id": user_id, "conversation_id": conversation_id, "model": MODEL,
        "provider": "openai", "prompt_tokens": m.tokens["prompt"],
        "completion_tokens": m.tokens["completion"], "cached_tokens": m.tokens["prompt"] // 2,
        "cost_usd_micros": _cost(m.tokens["prompt"], m.tokens["completion"]),
        "latency_ms": m.response_time_ms, "created_at": m.created_at,
    } for m in messages if m.role == MessageRole.ASSISTANT]
    repo = UsageLedgerRepository(ctx.session, ctx.scope)
    ctx.remember("usage_ledger", await repo.create_many(rows))


async def _seed_background_usage(ctx: DemoContext) -> None:
    """Two weeks of calls from other chats, summaries and insight sweeps."""
    rows = []
    for _ in range(ctx.count(40, minimum=3)):
        prompt, completion = ctx.rng.randint(600, 6000), ctx.rng.randint(40, 700)
        rows.append({
            "user_id": ctx.user(), "model": MODEL, "provider": "openai",
            "purpose": ctx.rng.choices(["chat", "summary", "insights"], weights=[8, 1, 1])[0],
            "prompt_tokens": prompt, "completion_tokens": completion,
            "cached_tokens": ctx.rng.randint(0, prompt // 2),
            "cost_usd_micros": _cost(prompt, completion),
            "latency_ms": ctx.rng.randint(400, 4000), "created_at": ctx.days_ago(0, 14),
        })
    repo = UsageLedgerRepository(ctx.session, ctx.scope)
    ctx.remember("usage_ledger", await repo.create_many(rows))


def _events_for(message: AiMessage) -> list[tuple[str, JSON]]:
    if message.role == MessageRole.USER:
        return [("message.user", {"message_id": str(message.id), "text": message.content})]
    if message.role == MessageRole.TOOL:
        return [("tool.end", {"call_id": message.tool_call_id, "ok": True})]
    events: list[tuple[str, JSON]] = [
        ("tool.start", {"call_id": c["id"], "name": c["name"]}) for c in message.tool_calls or []
    ]
    if message.content:
        events.append(("text.delta", {"text": message.content}))
        events.append(("message.done", {"message_id": str(message.id)}))
    return events


async def _record_events(
    ctx: DemoContext, conversation_id: uuid.UUID, messages: list[AiMessage]
) -> None:
    """The event stream the channels saw for the conversation, in order."""
    events = [event for m in messages for event in _events_for(m)] + [("done", {})]
    rows = await ConversationEventRepository(ctx.session, ctx.scope).append_many(
        conversation_id, events
    )
    ctx.remember("conversation_events", [r.id for r in rows])


async def _record_delivery(ctx: DemoContext, external_key: str) -> None:
    """The Slack delivery that started the thread, already processed."""
    repo = IngressEventRepository(ctx.session, ctx.scope)
    event_id = "Ev" + external_key.rsplit(":", 1)[-1].replace(".", "")
    await repo.claim("slack", event_id, payload_hash="9c1e4d0b")
    row = await repo.mark_processed("slack", event_id)
    ctx.remember("ingress_events", [row.id])


async def _seed_feedback(ctx: DemoContext) -> None:
    ids = ctx.ids.get("ai_messages", [])
    answers = [m for m in await MessageRepository(ctx.session, ctx.scope).get_many(ids)
               if m.role == MessageRole.ASSISTANT and m.content]
    repo = FeedbackRepository(ctx.session, ctx.scope)
    ratings = [(Rating.UP, None), (Rating.DOWN, "Too long: I only needed the two names."),
               (Rating.UP, "Exactly the clause I needed.")]
    ordered = sorted(answers, key=lambda m: ids.index(m.id))
    for answer, (rating, comment) in zip(ordered, ratings, strict=False):
        row = await repo.rate(answer.id, rating, user_id=ctx.user(), comment=comment)
        ctx.remember("ai_message_feedback", [row.id])


async def _seed_autonomy(ctx: DemoContext) -> None:
    """One user has approved `update_deal` consistently (eligible for auto-execution) and has
    mixed answers for `send_email`."""
    repo = AutonomyRepository(ctx.session, ctx.scope)
    user_id = ctx.user_ids[0]
    for _ in range(6):
        await repo.record_approval(user_id, "update_deal")
    await repo.record_approval(user_id, "send_email")
    await repo.record_rejection(user_id, "send_email")
    ctx.remember("user_autonomy_preferences", [r.id for r in await repo.for_user(user_id)])


async def _seed_memory(ctx: DemoContext) -> None:
    """Facts Neptune was told; embeddings are added by the embedding job, not the demo."""
    repo = MemoryFactRepository(ctx.session, ctx.scope)
    facts = [
        ("Our fiscal year starts on 1 April.", None, "conversation"),
        (f"{ctx.company_name}'s main competitor in deals is Globex.", None, "conversation"),
        ("Prefers answers as short bullet lists.", ctx.user_ids[0], "preference"),
    ]
    for content, user_id, source in facts:
        row = await repo.remember(content, user_id=user_id, source=source)
        ctx.remember("memory_facts", [row.id])


async def _seed_outbox(ctx: DemoContext) -> None:
    """A reminder email the default sender delivered, and one still queued."""
    repo = OutboundMessageRepository(ctx.session, ctx.scope)
    sent = await repo.enqueue(
        OutboundChannel.EMAIL, "accounts@northwind.example", "Hi, a friendly reminder that"
        " invoice INV-1042 is due on Friday.", subject="Invoice INV-1042 reminder",
        idempotency_key="demo:outbox:reminder",
    )
    await repo.mark_sent(sent.id, "demo-message-1")
    queued = await repo.enqueue(OutboundChannel.SMS, "+15555550123",
                                "Your demo is confirmed for Tuesday at 10:00.")
    ctx.remember("outbound_messages", [sent.id, queued.id])


async def seed(ctx: DemoContext) -> None:
    deals = await _demo_deals(ctx)
    scripts = [_pipeline_script(deals), _refund_script(), _newsletter_script()]
    for script in scripts[: ctx.count(len(scripts))]:
        await _seed_conversation(ctx, script, ctx.days_ago(1, 20))
    await _seed_background_history(ctx)
    await _seed_preferences(ctx)
    await _seed_insights(ctx, deals)
    await _seed_intelligence(ctx)
    await _seed_feedback(ctx)
    await _seed_background_usage(ctx)
    await _seed_autonomy(ctx)
    await _seed_memory(ctx)
    await _seed_outbox(ctx)
