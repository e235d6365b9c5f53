"""Deal tools: the sales pipeline. Deals live in `deals` (never in prospects or customers).

Moving a deal to a new open stage without an explicit probability sets that stage's usual
probability; closing it (won/lost) stamps the close date through the repository, and reopening
a closed deal clears the close date.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from store.models.crm import Deal, DealStage, Priority
from store.repositories.crm import ContactRepository, DealRepository, InteractionRepository
from tools.audit import record_change, snapshot
from tools.context import ToolContext
from tools.crm.common import (
    DEAL_FIELDS,
    STAGE_PROBABILITY,
    ContactOut,
    Currency,
    Cursor,
    DealOut,
    DeletedResult,
    InteractionOut,
    Money,
    check_members,
    cleared,
    currency_or_default,
    given,
    owner_ids,
    require_changes,
)
from tools.registry import Risk, tool
from tools.workspace import (
    major_units,
    require_member,
    to_cents,
    today,
    user_names,
    workspace_currency,
)

ENTITY = "deal"


class SearchDealsArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str = Field(
        default="", max_length=200, description="Text in the deal's name or notes, e.g. 'acme'."
    )
    stage: DealStage | None = Field(default=None, description="Only deals in this stage.")
    open_only: bool = Field(default=False, description="Only deals not yet won or lost.")
    contact_id: uuid.UUID | None = Field(default=None, description="Only this contact's deals.")
    owner_id: uuid.UUID | None = Field(
        default=None, description="Only deals owned by this member (user_id)."
    )
    mine: bool = Field(default=False, description="Only deals you own.")
    limit: int = Field(default=10, ge=1, le=50, description="Deals per page (1-50).")
    cursor: Cursor = None


class DealsResult(BaseModel):
    deals: list[DealOut]
    has_more: bool
    next_cursor: str | None


@tool(risk=Risk.LOW, examples=(
    "find the Acme deal", "show my open deals", "which deals are in negotiation?",
))
async def search_deals(ctx: ToolContext, args: SearchDealsArgs) -> DealsResult:
    """Search deals by text in name or notes, stage, open/closed, contact or owner; newest
    first. Values are in each deal's currency, major units."""
    owner = ctx.caller.user_id if args.mine else args.owner_id
    if args.owner_id is not None:
        await require_member(ctx, args.owner_id, former_ok=True)
    if args.contact_id is not None:
        await ContactRepository(ctx.session, ctx.scope).get(args.contact_id)
    page = await DealRepository(ctx.session, ctx.scope).search(
        args.query, stage=args.stage, open_only=args.open_only, contact_id=args.contact_id,
        owner_id=owner, limit=args.limit, cursor=args.cursor)
    names = await user_names(ctx, owner_ids(page.items))
    return DealsResult(deals=[DealOut.of(d, names) for d in page.items],
                       has_more=page.next_cursor is not None, next_cursor=page.next_cursor)


class DealIdArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    deal_id: uuid.UUID = Field(description="The deal's id, from search_deals.")


class DealDetail(BaseModel):
    deal: DealOut
    contact: ContactOut | None
    source: str | None
    notes: str | None
    lost_reason: str | None
    recent_interactions: list[InteractionOut] = Field(description="Last 5 about this deal.")


@tool(risk=Risk.LOW, examples=("tell me about the Acme renewal deal", "who owns this deal?"))
async def get_deal(ctx: ToolContext, args: DealIdArgs) -> DealDetail:
    """Get one deal with its contact, owner, notes and the last 5 interactions logged about it."""
    deal = await DealRepository(ctx.session, ctx.scope).get(args.deal_id)
    contact = (await ContactRepository(ctx.session, ctx.scope).find(deal.contact_id)
               if deal.contact_id else None)
    history = await InteractionRepository(ctx.session, ctx.scope).list(deal_id=deal.id, limit=5)
    names = await user_names(ctx, [deal.owner_id])
    return DealDetail(
        deal=DealOut.of(deal, names), contact=ContactOut.of(contact) if contact else None,
        source=deal.source, notes=deal.notes, lost_reason=deal.lost_reason,
        recent_interactions=[InteractionOut.of(i) for i in history.items],
    )


class PipelineArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    currency: Currency | None = Field(
        default=None, description="ISO currency to total, e.g. 'EUR'; default the workspace's."
    )


class StageOut(BaseModel):
    stage: DealStage
    deals: int
    value: Decimal
    weighted_value: Decimal = Field(description="Value times probability.")


class PipelineResult(BaseModel):
    currency: str
    stages: list[StageOut] = Field(description="In pipeline order.")
    open_deals: int
    open_value: Decimal
    open_weighted_value: Decimal


@tool(risk=Risk.LOW, examples=(
    "how does the pipeline look?", "what's our weighted pipeline?", "pipeline in EUR",
))
async def get_pipeline_summary(ctx: ToolContext, args: PipelineArgs) -> PipelineResult:
    """Summarise the deal pipeline per stage: number of deals, total value and
    probability-weighted value (major units), plus open totals. Deals in other currencies are
    not converted: ask per currency."""
    currency = await currency_or_default(ctx, args.currency)
    summary = await DealRepository(ctx.session, ctx.scope).pipeline_summary(currency)
    stages = [StageOut(stage=s.stage, deals=s.count, value=major_units(s.value_cents),
                       weighted_value=major_units(s.weighted_cents)) for s in summary]
    open_rows = [s for s in summary if s.stage.is_open]
    return PipelineResult(
        currency=currency, stages=stages, open_deals=sum(s.count for s in open_rows),
        open_value=major_units(sum(s.value_cents for s in open_rows)),
        open_weighted_value=major_units(sum(s.weighted_cents for s in open_rows)),
    )


class ClosingSoonArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    days: int = Field(default=30, ge=1, le=365, description="Look this many days ahead (1-365).")
    include_overdue: bool = Field(
        default=True, description="Also list open deals whose expected close date has passed."
    )
    limit: int = Field(default=20, ge=1, le=100, description="Most deals per list (1-100).")


class ClosingSoonResult(BaseModel):
    closing: list[DealOut] = Field(description="Open deals closing in the window, soonest first.")
    closing_total: int
    overdue: list[DealOut] = Field(description="Open deals past their expected close date.")
    overdue_total: int


@tool(risk=Risk.LOW, examples=(
    "which deals close this month?", "deals closing in the next two weeks",
    "any deals slipping past their close date?",
))
async def get_deals_closing_soon(ctx: ToolContext, args: ClosingSoonArgs) -> ClosingSoonResult:
    """List open deals expected to close between today and `days` from now (soonest first),
    and optionally open deals already past their expected close date."""
    repo = DealRepository(ctx.session, ctx.scope)
    closing = await repo.closing_within(args.days, today=today())
    overdue = await repo.past_expected_close(today=today()) if args.include_overdue else []
    names = await user_names(ctx, owner_ids([*closing, *overdue]))
    return ClosingSoonResult(
        closing=[DealOut.of(d, names) for d in closing[: args.limit]], closing_total=len(closing),
        overdue=[DealOut.of(d, names) for d in overdue[: args.limit]], overdue_total=len(overdue),
    )


# -- writes -----------------------------------------------------------------------------------


class DealFields(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    value: Money | None = Field(
        default=None, description="Deal value in major units, e.g. 12000.50 (two decimals max)."
    )
    currency: Currency | None = Field(
        default=None, description="ISO currency, e.g. 'USD'; default the workspace's."
    )
    probability: int | None = Field(
        default=None, ge=0, le=100, description="Percent chance to win; default by stage."
    )
    expected_close_date: date | None = Field(
        default=None, description="Expected close date, YYYY-MM-DD."
    )
    contact_id: uuid.UUID | None = Field(default=None, description="The main contact's id.")
    owner_id: uuid.UUID | None = Field(
        default=None, description="user_id of the member who owns the deal."
    )
    priority: Priority | None = Field(default=None, description="low, medium, high or critical.")
    source: str | None = Field(
        default=None, max_length=100, description="Where it came from, e.g. 'referral'."
    )
    notes: str | None = Field(default=None, max_length=10_000, description="Free-text notes.")


class CreateDealArgs(DealFields):
    title: str = Field(min_length=1, max_length=200, description="Deal name, e.g. 'Acme renewal'.")
    stage: DealStage = Field(default=DealStage.QUALIFICATION, description="Pipeline stage.")


class DealResult(BaseModel):
    deal: DealOut


async def _deal_values(
    ctx: ToolContext, args: CreateDealArgs | UpdateDealArgs, *exclude: str
) -> dict[str, Any]:
    """Store columns from the given arguments: value in cents, people and contact checked."""
    values = given(args, "value", "title", *exclude)
    if args.value is not None:
        values["value_cents"] = to_cents(args.value)
    if args.title is not None:
        values["name"] = args.title
    await check_members(ctx, values, "owner_id")
    if values.get("contact_id") is not None:
        await ContactRepository(ctx.session, ctx.scope).get(values["contact_id"])
    return values


@tool(
    risk=Risk.MEDIUM, title="Create deal {title}",
    examples=("open a 12k deal with Acme", "create a deal for Globex, $40,000, closing March 31",
              "new deal: Initech pilot, in discovery"),
)
async def create_deal(ctx: ToolContext, args: CreateDealArgs) -> DealResult:
    """Create a deal in the sales pipeline. Value is in major units of the currency (default
    the workspace's); the owner defaults to you; probability defaults to the stage's usual
    value. Link the contact with contact_id (find it with search_contacts first)."""
    values = {**await _deal_values(ctx, args), "stage": args.stage}
    values.setdefault("owner_id", ctx.caller.user_id)
    values.setdefault("currency", await workspace_currency(ctx))
    values.setdefault("probability", STAGE_PROBABILITY[args.stage])
    deal = await DealRepository(ctx.session, ctx.scope).create(**values)
    await record_change(ctx, "create", ENTITY, deal.id, after=snapshot(deal, DEAL_FIELDS))
    return DealResult(deal=DealOut.of(deal, await user_names(ctx, [deal.owner_id])))


DealClearable = Literal["expected_close_date", "contact_id", "owner_id", "notes", "source"]


class UpdateDealArgs(DealFields):
    deal_id: uuid.UUID = Field(description="The deal to change, from search_deals.")
    title: str | None = Field(default=None, min_length=1, max_length=200, description="New name.")
    stage: DealStage | None = Field(default=None, description="Move to this pipeline stage.")
    lost_reason: str | None = Field(
        default=None, max_length=500, description="Why it was lost (with stage closed_lost)."
    )
    clear: tuple[DealClearable, ...] = Field(
        default=(), description="Fields to empty, e.g. ['expected_close_date']."
    )


def _stage_defaults(deal: Deal, values: dict[str, Any]) -> dict[str, Any]:
    """Usual probability for a new open stage; reopening a closed deal clears its close date."""
    stage = values.get("stage")
    if stage is None or stage == deal.stage or not stage.is_open:
        return values
    values.setdefault("probability", STAGE_PROBABILITY[stage])
    if not deal.stage.is_open:
        values["actual_close_date"] = None
    return values


@tool(
    risk=Risk.MEDIUM, title="Update deal {deal_id}",
    examples=("move the Acme deal to negotiation", "we won the Globex deal",
              "push the Initech close date to June 30", "the Acme deal is now worth 15k"),
)
async def update_deal(ctx: ToolContext, args: UpdateDealArgs) -> DealResult:
    """Change a deal: stage (closed_won / closed_lost close it), value, close date, owner,
    probability, contact, priority, name or notes. Only fields you give change; `clear` empties
    optional ones."""
    repo = DealRepository(ctx.session, ctx.scope)
    deal = await repo.get(args.deal_id)
    values = await _deal_values(ctx, args, "deal_id", "clear")
    values = _stage_defaults(deal, require_changes({**values, **cleared(args.clear)}))
    before = snapshot(deal, DEAL_FIELDS)
    moved = "stage" in values and values["stage"] != deal.stage
    deal = await repo.update(deal.id, **values)
    await record_change(ctx, "stage_change" if moved else "update", ENTITY, deal.id,
                        before=before, after=snapshot(deal, DEAL_FIELDS))
    return DealResult(deal=DealOut.of(deal, await user_names(ctx, [deal.owner_id])))


@tool(
    risk=Risk.CRITICAL, title="Delete deal {deal_id}",
    examples=("delete the Initech pilot deal", "remove this duplicate deal"),
)
async def delete_deal(ctx: ToolContext, args: DealIdArgs) -> DeletedResult:
    """Permanently delete a deal. Interactions logged about it stay with their contact. Cannot
    be undone; to keep the record, move it to closed_lost instead."""
    repo = DealRepository(ctx.session, ctx.scope)
    deal = await repo.get(args.deal_id)
    before = snapshot(deal, DEAL_FIELDS)
    await repo.delete(deal.id)
    await record_change(ctx, "delete", ENTITY, deal.id, before=before)
    return DeletedResult(deleted_id=deal.id, name=deal.name,
                         detail="interactions about the deal were kept and unlinked")
