"""Every detector on crafted data: it fires when it should, stays silent on near misses,
de-duplicates across sweeps, expires when the situation is over (or its time is up), and a
dismissed insight stays dismissed until its data changes materially.

Each `Case` seeds one workspace: `fire` adds the rows that should produce the insight and
returns its key and record, `quiet` adds near misses that must not, `resolve` ends the situation
and `change` (when the detector has a material state that can change) alters it materially.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from assistant.insights.registry import DETECTORS
from store.models.admin import TaskStatus, TodoHqTask
from store.models.agents import Agent, AgentExecution, ExecutionStatus
from store.models.ai import ActionStatus, InsightStatus, NeptuneActionHistory
from store.models.communications import Conversation, ConversationChannel, ConversationStatus
from store.models.crm import Contact, ContactStatus, Customer, Deal, DealStage
from store.models.finance import Expense, ExpenseStatus, Invoice, InvoiceStatus
from store.models.grids import GalaxyGrid, GridExecution, GridRunStatus
from store.models.marketing import Campaign, CampaignStatus, CampaignType, Segment
from store.models.neptune import UsageLedger
from store.repositories.ai import content_hash
from tests.insights.conftest import Seed
from tools.catalog import load_catalog
from tools.invoke import parse_arguments


def days(n: float) -> timedelta:
    return timedelta(days=n)


@dataclass
class Fired:
    key: str
    record_type: str | None = None
    record_id: uuid.UUID | None = None
    ids: tuple[uuid.UUID, ...] = ()


Step = Callable[[Seed], Awaitable[None]]
Then = Callable[[Seed, Fired], Awaitable[None]]


@dataclass
class Case:
    detector: str
    fire: Callable[[Seed], Awaitable[Fired]]
    quiet: Step
    resolve: Then
    change: Then | None = None


def new_id() -> uuid.UUID:
    return uuid.uuid4()


# -- sales ------------------------------------------------------------------------------------
async def stalled_fire(s: Seed) -> Fired:
    deal = Deal(workspace_id=s.ws.workspace_id, id=new_id(), name="Globex renewal",
                value_cents=5_000_000, stage=DealStage.NEGOTIATION,
                stage_changed_at=s.now - days(20), owner_id=s.ws.user_id)
    await s.add(deal)
    return Fired(str(deal.id), "deal", deal.id)


async def stalled_quiet(s: Seed) -> None:
    w = s.ws.workspace_id
    await s.add(
        Deal(workspace_id=w, name="Fresh", stage=DealStage.NEGOTIATION,
             stage_changed_at=s.now - days(3)),
        Deal(workspace_id=w, name="Early", stage=DealStage.QUALIFICATION,
             stage_changed_at=s.now - days(40)),
        Deal(workspace_id=w, name="Won", stage=DealStage.CLOSED_WON,
             stage_changed_at=s.now - days(40)),
    )


async def stalled_resolve(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.update(Deal, f.record_id, stage=DealStage.CLOSED_WON, stage_changed_at=s.now)


async def stalled_change(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.update(Deal, f.record_id, value_cents=80_000_000)


async def past_close_fire(s: Seed) -> Fired:
    deal = Deal(workspace_id=s.ws.workspace_id, id=new_id(), name="Initech pilot",
                value_cents=900_000, stage=DealStage.PROPOSAL,
                expected_close_date=s.now.date() - days(10))
    await s.add(deal)
    return Fired(str(deal.id), "deal", deal.id)


async def past_close_quiet(s: Seed) -> None:
    w, today = s.ws.workspace_id, s.now.date()
    await s.add(
        Deal(workspace_id=w, name="Later", stage=DealStage.PROPOSAL,
             expected_close_date=today + days(5)),
        Deal(workspace_id=w, name="Today", stage=DealStage.PROPOSAL, expected_close_date=today),
        Deal(workspace_id=w, name="Lost", stage=DealStage.CLOSED_LOST,
             expected_close_date=today - days(30)),
        Deal(workspace_id=w, name="Undated", stage=DealStage.DISCOVERY),
    )


async def past_close_resolve(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.update(Deal, f.record_id, expected_close_date=s.now.date() + days(14))


async def past_close_change(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.update(Deal, f.record_id, expected_close_date=s.now.date() - days(2))


async def hot_lead_fire(s: Seed) -> Fired:
    lead = Contact(workspace_id=s.ws.workspace_id, id=new_id(), first_name="Ada",
                   last_name="Lovelace", status=ContactStatus.LEAD, lead_score=85,
                   created_at=s.now - days(3))
    await s.add(lead)
    return Fired(str(lead.id), "contact", lead.id)


async def hot_lead_quiet(s: Seed) -> None:
    w, old = s.ws.workspace_id, s.now - days(10)
    await s.add(
        Contact(workspace_id=w, first_name="Lukewarm", status=ContactStatus.LEAD,
                lead_score=50, created_at=old),
        Contact(workspace_id=w, first_name="Customer", status=ContactStatus.CUSTOMER,
                lead_score=95, created_at=old),
        Contact(workspace_id=w, first_name="Called", status=ContactStatus.LEAD, lead_score=95,
                created_at=old, last_contacted_at=s.now - days(1)),
        Contact(workspace_id=w, first_name="Brand new", status=ContactStatus.LEAD,
                lead_score=95, created_at=s.now - timedelta(hours=2)),
    )


async def hot_lead_resolve(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.update(Contact, f.record_id, last_contacted_at=s.now)


async def hot_lead_change(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.update(Contact, f.record_id, lead_score=99)


def won(s: Seed, name: str, cents: int, months_ago: int = 0) -> Deal:
    first = s.now.date().replace(day=1)
    for _ in range(months_ago):
        first = (first - timedelta(days=1)).replace(day=1)
    closed = first + timedelta(days=2) if months_ago else s.now.date()
    return Deal(workspace_id=s.ws.workspace_id, id=new_id(), name=name, value_cents=cents,
                stage=DealStage.CLOSED_WON, actual_close_date=closed)


async def best_month_fire(s: Seed) -> Fired:
    await s.add(won(s, "Big", 4_000_000), won(s, "Old", 1_000_000, 1),
                won(s, "Older", 2_500_000, 3))
    return Fired(f"{s.now:%Y-%m}:USD")


async def best_month_quiet(s: Seed) -> None:
    euro = won(s, "First in euros", 900_000)  # nothing earlier in euros to beat
    euro.currency = "EUR"
    await s.add(won(s, "Small", 1_000_000), won(s, "Record", 3_000_000, 2), euro)


async def best_month_resolve(s: Seed, f: Fired) -> None:
    await s.add(won(s, "Bigger before", 9_000_000, 2))


async def best_month_change(s: Seed, f: Fired) -> None:
    await s.add(won(s, "Another", 30_000_000))


# -- finance ----------------------------------------------------------------------------------
async def invoice_fire(s: Seed) -> Fired:
    customer = Customer(workspace_id=s.ws.workspace_id, id=new_id(), name="Globex",
                        email="billing@globex.example")
    invoice = Invoice(workspace_id=s.ws.workspace_id, id=new_id(), invoice_number="INV-1001",
                      status=InvoiceStatus.SENT, amount_cents=120_000,
                      due_date=s.now.date() - days(20), customer_id=customer.id)
    await s.add(customer)
    await s.add(invoice)
    return Fired(str(invoice.id), "invoice", invoice.id)


async def invoice_quiet(s: Seed) -> None:
    w, past = s.ws.workspace_id, s.now.date() - days(20)
    await s.add(
        Invoice(workspace_id=w, invoice_number="PAID", status=InvoiceStatus.PAID,
                amount_cents=5000, amount_paid_cents=5000, due_date=past),
        Invoice(workspace_id=w, invoice_number="FUTURE", status=InvoiceStatus.SENT,
                amount_cents=5000, due_date=s.now.date() + days(3)),
        Invoice(workspace_id=w, invoice_number="DRAFT", status=InvoiceStatus.DRAFT,
                amount_cents=5000, due_date=past),
        Invoice(workspace_id=w, invoice_number="SETTLED", status=InvoiceStatus.SENT,
                amount_cents=5000, amount_paid_cents=5000, due_date=past),
    )


async def invoice_resolve(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.update(Invoice, f.record_id, status=InvoiceStatus.PAID, amount_paid_cents=120_000)


async def invoice_change(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.update(Invoice, f.record_id, amount_paid_cents=100_000)


async def expense_fire(s: Seed) -> Fired:
    expense = Expense(workspace_id=s.ws.workspace_id, id=new_id(), description="Team offsite",
                      amount_cents=45_000, status=ExpenseStatus.PENDING,
                      submitted_at=s.now - days(8), submitted_by=s.ws.user_id)
    await s.add(expense)
    return Fired(str(expense.id), "expense", expense.id)


async def expense_quiet(s: Seed) -> None:
    w = s.ws.workspace_id
    await s.add(
        Expense(workspace_id=w, description="Taxi", amount_cents=3000,
                status=ExpenseStatus.PENDING, submitted_at=s.now - days(2)),
        Expense(workspace_id=w, description="Hotel", amount_cents=30000,
                status=ExpenseStatus.APPROVED, submitted_at=s.now - days(12)),
    )


async def expense_resolve(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.update(Expense, f.record_id, status=ExpenseStatus.APPROVED)


async def expense_change(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.update(Expense, f.record_id, amount_cents=900_000)


# -- marketing --------------------------------------------------------------------------------
def campaign(s: Seed, name: str, opened: int, sent: int = 100, **fields: object) -> Campaign:
    values: dict[str, object] = {"status": CampaignStatus.COMPLETED, "subject": "News", **fields}
    return Campaign(workspace_id=s.ws.workspace_id, id=new_id(), name=name,
                    metrics={"sent": sent, "delivered": sent, "opened": opened}, **values)


async def below_fire(s: Seed) -> Fired:
    weak = campaign(s, "Weak", 10)
    await s.add(campaign(s, "A", 40), campaign(s, "B", 45), campaign(s, "C", 42), weak)
    return Fired(str(weak.id), "campaign", weak.id)


async def below_quiet(s: Seed) -> None:
    await s.add(campaign(s, "A", 40), campaign(s, "B", 42), campaign(s, "C", 35),
                campaign(s, "Tiny", 0, sent=10),
                campaign(s, "Draft", 0, status=CampaignStatus.DRAFT))


async def below_resolve(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.update(Campaign, f.record_id,
                   metrics={"sent": 100, "delivered": 100, "opened": 41})


async def below_change(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.update(Campaign, f.record_id,
                   metrics={"sent": 100, "delivered": 100, "opened": 20})


async def incomplete_fire(s: Seed) -> Fired:
    row = Campaign(workspace_id=s.ws.workspace_id, id=new_id(), name="Spring launch",
                   type=CampaignType.EMAIL, subject="Hello", status=CampaignStatus.SCHEDULED,
                   scheduled_at=s.now + days(2))
    await s.add(row)
    return Fired(str(row.id), "campaign", row.id)


async def incomplete_quiet(s: Seed) -> None:
    segment = Segment(workspace_id=s.ws.workspace_id, id=new_id(), name="All")
    await s.add(segment)
    w, later = s.ws.workspace_id, s.now + days(2)
    await s.add(
        Campaign(workspace_id=w, name="Ready", subject="Hi", segment_id=segment.id,
                 status=CampaignStatus.SCHEDULED, scheduled_at=later),
        Campaign(workspace_id=w, name="Draft", status=CampaignStatus.DRAFT),
        Campaign(workspace_id=w, name="Text", type=CampaignType.SMS, segment_id=segment.id,
                 status=CampaignStatus.SCHEDULED, scheduled_at=later),
    )


async def incomplete_resolve(s: Seed, f: Fired) -> None:
    assert f.record_id
    segment = Segment(workspace_id=s.ws.workspace_id, id=new_id(), name="All")
    await s.add(segment)
    await s.update(Campaign, f.record_id, segment_id=segment.id)


async def incomplete_change(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.update(Campaign, f.record_id, subject="  ")


# -- operations -------------------------------------------------------------------------------
async def unanswered_fire(s: Seed) -> Fired:
    row = Conversation(workspace_id=s.ws.workspace_id, id=new_id(),
                       channel=ConversationChannel.EMAIL, status=ConversationStatus.ACTIVE,
                       subject="Where is my order?", last_inbound_at=s.now - timedelta(hours=6),
                       last_outbound_at=s.now - days(1))
    await s.add(row)
    return Fired(str(row.id), "inbox_conversation", row.id)


async def unanswered_quiet(s: Seed) -> None:
    w, h = s.ws.workspace_id, timedelta(hours=1)
    await s.add(
        Conversation(workspace_id=w, channel=ConversationChannel.SMS,
                     status=ConversationStatus.ACTIVE, last_inbound_at=s.now - h),
        Conversation(workspace_id=w, channel=ConversationChannel.EMAIL,
                     status=ConversationStatus.ACTIVE, last_inbound_at=s.now - 9 * h,
                     last_outbound_at=s.now - 8 * h),
        Conversation(workspace_id=w, channel=ConversationChannel.EMAIL,
                     status=ConversationStatus.CLOSED, last_inbound_at=s.now - 9 * h),
    )


async def unanswered_resolve(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.update(Conversation, f.record_id, last_outbound_at=s.now)


async def unanswered_change(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.update(Conversation, f.record_id, last_inbound_at=s.now - timedelta(hours=5))


async def tasks_fire(s: Seed) -> Fired:
    task = TodoHqTask(workspace_id=s.ws.workspace_id, id=new_id(), title="Send the contract",
                      status=TaskStatus.TODO, due_date=s.now.date() - days(3))
    await s.add(task)
    return Fired("unassigned", "task", task.id)


async def tasks_quiet(s: Seed) -> None:
    w, today = s.ws.workspace_id, s.now.date()
    await s.add(
        TodoHqTask(workspace_id=w, title="Soon", due_date=today + days(1)),
        TodoHqTask(workspace_id=w, title="Today", due_date=today),
        TodoHqTask(workspace_id=w, title="Done", status=TaskStatus.DONE,
                   due_date=today - days(5), completed_at=s.now),
        TodoHqTask(workspace_id=w, title="Someday"),
    )


async def tasks_resolve(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.update(TodoHqTask, f.record_id, status=TaskStatus.DONE, completed_at=s.now)


async def tasks_change(s: Seed, f: Fired) -> None:
    await s.add(TodoHqTask(workspace_id=s.ws.workspace_id, title="Another",
                           due_date=s.now.date() - days(1)))


def agent_runs(s: Seed, agent_id: uuid.UUID, statuses: list[ExecutionStatus],
               age: float = 0) -> list[AgentExecution]:
    """Runs newest first: the first status is the latest run."""
    return [AgentExecution(workspace_id=s.ws.workspace_id, agent_id=agent_id, status=status,
                           created_at=s.now - days(age) - timedelta(hours=i + 1))
            for i, status in enumerate(statuses)]


F, OK = ExecutionStatus.FAILED, ExecutionStatus.COMPLETED


async def agents_fire(s: Seed) -> Fired:
    agent = Agent(workspace_id=s.ws.workspace_id, id=new_id(), name="Lead scorer")
    await s.add(agent)
    await s.add(*agent_runs(s, agent.id, [F, F, OK, F]))
    return Fired(str(agent.id), "agent", agent.id)


async def agents_quiet(s: Seed) -> None:
    agents = [Agent(workspace_id=s.ws.workspace_id, id=new_id(), name=f"Agent {i}")
              for i in range(3)]
    await s.add(*agents)
    await s.add(*agent_runs(s, agents[0].id, [OK, F, F, F]),
                *agent_runs(s, agents[1].id, [F, F, OK]),
                *agent_runs(s, agents[2].id, [F, F, F], age=10))


async def agents_resolve(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.add(AgentExecution(workspace_id=s.ws.workspace_id, agent_id=f.record_id,
                               status=OK, created_at=s.now - timedelta(minutes=5)))


def grid_runs(s: Seed, grid_id: uuid.UUID, statuses: list[GridRunStatus],
              age: float = 0) -> list[GridExecution]:
    return [GridExecution(workspace_id=s.ws.workspace_id, grid_id=grid_id, status=status,
                          created_at=s.now - days(age) - timedelta(hours=i + 1))
            for i, status in enumerate(statuses)]


GF, GOK = GridRunStatus.FAILED, GridRunStatus.COMPLETED


async def grids_fire(s: Seed) -> Fired:
    grid = GalaxyGrid(workspace_id=s.ws.workspace_id, id=new_id(), name="Invoice chaser")
    await s.add(grid)
    await s.add(*grid_runs(s, grid.id, [GF, GF, GF]))
    return Fired(str(grid.id), "grid", grid.id)


async def grids_quiet(s: Seed) -> None:
    grids = [GalaxyGrid(workspace_id=s.ws.workspace_id, id=new_id(), name=f"Grid {i}")
             for i in range(3)]
    await s.add(*grids)
    await s.add(*grid_runs(s, grids[0].id, [GOK, GF, GF, GF]),
                *grid_runs(s, grids[1].id, [GF, GF]),
                *grid_runs(s, grids[2].id, [GF, GF, GF], age=9))


async def grids_resolve(s: Seed, f: Fired) -> None:
    assert f.record_id
    await s.add(GridExecution(workspace_id=s.ws.workspace_id, grid_id=f.record_id,
                              status=GOK, created_at=s.now - timedelta(minutes=5)))


def search(s: Seed, query: str, results: int = 0, age: float = 0) -> NeptuneActionHistory:
    return NeptuneActionHistory(
        workspace_id=s.ws.workspace_id, id=new_id(), action_type="search_knowledge",
        status=ActionStatus.SUCCESS, success=True, input={"query": query},
        output={"results": [{"title": "x"}] * results}, created_at=s.now - days(age))


async def gaps_fire(s: Seed) -> Fired:
    first, second = search(s, "Refund policy "), search(s, "refund POLICY", age=2)
    await s.add(first, second)
    return Fired(content_hash("refund policy")[:24], ids=(first.id, second.id))


async def gaps_quiet(s: Seed) -> None:
    await s.add(search(s, "once only"),
                search(s, "found it", results=2), search(s, "found it", results=1),
                search(s, "long ago", age=20), search(s, "long ago", age=21))


async def gaps_resolve(s: Seed, f: Fired) -> None:
    for row_id in f.ids:
        await s.update(NeptuneActionHistory, row_id, created_at=s.now - days(30))


def usage(s: Seed, tokens: int, age: float = 0) -> UsageLedger:
    return UsageLedger(workspace_id=s.ws.workspace_id, id=new_id(), model="openai/gpt",
                       prompt_tokens=tokens, created_at=s.now - days(age))


async def budget_fire(s: Seed) -> Fired:
    row = usage(s, 8_500)
    await s.add(row)
    return Fired(s.now.date().isoformat(), ids=(row.id,))


async def budget_quiet(s: Seed) -> None:
    await s.add(usage(s, 7_000), usage(s, 9_000, age=1))


async def budget_resolve(s: Seed, f: Fired) -> None:
    s.budget = 100_000  # an admin raised the budget


async def budget_change(s: Seed, f: Fired) -> None:
    await s.add(usage(s, 2_000))


CASES = [
    Case("stalled_deals", stalled_fire, stalled_quiet, stalled_resolve, stalled_change),
    Case("deals_past_close", past_close_fire, past_close_quiet, past_close_resolve,
         past_close_change),
    Case("hot_leads_uncontacted", hot_lead_fire, hot_lead_quiet, hot_lead_resolve,
         hot_lead_change),
    Case("overdue_invoices", invoice_fire, invoice_quiet, invoice_resolve, invoice_change),
    Case("expenses_awaiting_approval", expense_fire, expense_quiet, expense_resolve,
         expense_change),
    Case("campaigns_below_median", below_fire, below_quiet, below_resolve, below_change),
    Case("campaigns_scheduled_incomplete", incomplete_fire, incomplete_quiet,
         incomplete_resolve, incomplete_change),
    Case("inbound_unanswered", unanswered_fire, unanswered_quiet, unanswered_resolve,
         unanswered_change),
    Case("overdue_tasks", tasks_fire, tasks_quiet, tasks_resolve, tasks_change),
    Case("failing_agents", agents_fire, agents_quiet, agents_resolve),
    Case("failing_grids", grids_fire, grids_quiet, grids_resolve),
    Case("knowledge_gaps", gaps_fire, gaps_quiet, gaps_resolve),
    Case("token_budget", budget_fire, budget_quiet, budget_resolve, budget_change),
    Case("best_month", best_month_fire, best_month_quiet, best_month_resolve,
         best_month_change),
]
CHANGEABLE = [c for c in CASES if c.change is not None]


def by_name(cases: list[Case]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("case", cases, ids=[c.detector for c in cases])


def test_every_detector_has_a_case() -> None:
    assert {c.detector for c in CASES} == set(DETECTORS)


@by_name(CASES)
async def test_fires(case: Case, seed: Seed) -> None:
    fired = await case.fire(seed)
    report = await seed.sweep(case.detector)
    assert report.failed == [] and report.found[case.detector] >= 1
    row = await seed.insight(f"{case.detector}:{fired.key}")
    assert row.status == InsightStatus.PENDING and row.detector == case.detector
    assert (row.record_type, row.record_id) == (fired.record_type, fired.record_id)
    assert row.title and row.expires_at is not None and row.expires_at > seed.now
    assert 0 <= row.priority <= 100


@by_name(CASES)
async def test_suggested_actions_are_valid_calls(case: Case, seed: Seed) -> None:
    """What act_on_insight would run is a real tool with arguments that tool accepts."""
    await case.fire(seed)
    await seed.sweep(case.detector)
    catalog = load_catalog()
    rows = await seed.insights(case.detector)
    assert rows
    for row in rows:
        for action in row.actions:
            tool = catalog.get(action["tool"])
            assert tool is not None, action
            parse_arguments(tool, action["arguments"])
            assert action["label"]


@by_name(CASES)
async def test_stays_silent_on_near_misses(case: Case, seed: Seed) -> None:
    await case.quiet(seed)
    report = await seed.sweep(case.detector)
    assert report.failed == [] and report.found[case.detector] == 0
    assert await seed.insights(case.detector) == []


@by_name(CASES)
async def test_deduplicates_across_sweeps(case: Case, seed: Seed) -> None:
    fired = await case.fire(seed)
    await seed.sweep(case.detector)
    first = await seed.insight(f"{case.detector}:{fired.key}")
    await seed.mark_seen(first.id)
    await seed.sweep(case.detector, at=seed.now + timedelta(minutes=30))
    again = await seed.insight(f"{case.detector}:{fired.key}")
    assert again.id == first.id and again.status == InsightStatus.SEEN
    assert len(await seed.insights(case.detector)) == len(
        {r.fingerprint for r in await seed.insights(case.detector)})


@by_name(CASES)
async def test_expires_when_the_situation_is_over(case: Case, seed: Seed) -> None:
    fired = await case.fire(seed)
    await seed.sweep(case.detector)
    await case.resolve(seed, fired)
    await seed.sweep(case.detector)
    row = await seed.insight(f"{case.detector}:{fired.key}")
    assert row.status == InsightStatus.EXPIRED


@by_name(CASES)
async def test_expires_when_its_time_is_up(case: Case, seed: Seed) -> None:
    """A sweep that no longer runs the detector still retires insights past `expires_at`."""
    fired = await case.fire(seed)
    await seed.sweep(case.detector)
    row = await seed.insight(f"{case.detector}:{fired.key}")
    assert row.expires_at is not None
    before = await seed.sweep("stalled_deals" if case.detector != "stalled_deals"
                              else "token_budget", at=row.expires_at - timedelta(seconds=1))
    assert before.expired == 0
    after = await seed.sweep("stalled_deals" if case.detector != "stalled_deals"
                             else "token_budget", at=row.expires_at)
    assert after.expired >= 1
    assert (await seed.insight(row.fingerprint)).status == InsightStatus.EXPIRED


@by_name(CASES)
async def test_dismissed_stays_dismissed_while_nothing_material_changes(
    case: Case, seed: Seed
) -> None:
    fired = await case.fire(seed)
    await seed.sweep(case.detector)
    row = await seed.insight(f"{case.detector}:{fired.key}")
    await seed.dismiss(row.id)
    for later in (timedelta(hours=1), days(3)):  # time passing is not a material change
        await seed.sweep(case.detector, at=seed.now + later)
        again = await seed.insight(row.fingerprint)
        assert again.status == InsightStatus.DISMISSED and again.dismissed_at is not None


@by_name(CHANGEABLE)
async def test_dismissed_comes_back_when_its_data_changes(case: Case, seed: Seed) -> None:
    assert case.change is not None
    fired = await case.fire(seed)
    await seed.sweep(case.detector)
    row = await seed.insight(f"{case.detector}:{fired.key}")
    await seed.dismiss(row.id)
    await case.change(seed, fired)
    await seed.sweep(case.detector)
    again = await seed.insight(row.fingerprint)
    assert again.id == row.id
    assert again.status == InsightStatus.PENDING and again.dismissed_at is None
    assert again.data_hash != row.data_hash
