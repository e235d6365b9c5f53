"""Prospect tools: early opportunities, their stages, and turning a won one into a customer.

Converting is one transaction: a customer row is created from the prospect (and its contact's
email, phone and company), the prospect moves to won and points at the customer, and the
contact becomes a customer. Converting an already converted prospect returns that customer
and says so, so a retried call never creates a second one.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from store.errors import Conflict
from store.models.crm import Contact, ContactStatus, CustomerStatus, Prospect, ProspectStage
from store.repositories.crm import ContactRepository, CustomerRepository, ProspectRepository
from tools.audit import record_change, snapshot
from tools.context import ToolContext
from tools.crm.common import (
    CONTACT_FIELDS,
    CUSTOMER_FIELDS,
    PROSPECT_FIELDS,
    PROSPECT_PROBABILITY,
    Currency,
    CustomerOut,
    Email,
    Money,
    ProspectOut,
    append_note,
    check_members,
    currency_or_default,
    given,
)
from tools.registry import Risk, tool
from tools.workspace import count_rows, to_cents, today

ENTITY = "prospect"


class ListProspectsArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: ProspectStage | None = Field(default=None, description="Only prospects in this stage.")
    open_only: bool = Field(default=False, description="Leave out won and lost prospects.")
    mine: bool = Field(default=False, description="Only prospects you own.")
    limit: int = Field(default=20, ge=1, le=100, description="Prospects per page (1-100).")
    offset: int = Field(default=0, ge=0, le=10_000, description="Skip this many (paging).")


class ProspectsResult(BaseModel):
    prospects: list[ProspectOut]
    total: int = Field(description="Prospects matching the filters.")


def _prospect_filters(ctx: ToolContext, args: ListProspectsArgs) -> list[Any]:
    where: list[Any] = []
    if args.stage is not None:
        where.append(Prospect.stage == args.stage)
    if args.open_only:
        where.append(Prospect.stage.not_in([ProspectStage.WON, ProspectStage.LOST]))
    if args.mine:
        where.append(Prospect.owner_id == ctx.caller.user_id)
    return where


@tool(risk=Risk.LOW, examples=("list our prospects", "which prospects are qualified?"))
async def list_prospects(ctx: ToolContext, args: ListProspectsArgs) -> ProspectsResult:
    """List prospects (early opportunities before they are customers), newest first, filtered
    by stage, open/closed or your own. Values are major units of each prospect's currency."""
    stmt = ProspectRepository(ctx.session, ctx.scope).select().where(
        *_prospect_filters(ctx, args))
    rows = await ctx.session.scalars(
        stmt.order_by(Prospect.created_at.desc(), Prospect.id).limit(args.limit)
        .offset(args.offset))
    return ProspectsResult(prospects=[ProspectOut.of(p) for p in rows],
                           total=await count_rows(ctx, stmt))


class CreateProspectArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        min_length=1, max_length=200, description="Prospect name, e.g. 'Acme expansion'."
    )
    contact_id: uuid.UUID | None = Field(default=None, description="The main contact's id.")
    stage: ProspectStage = Field(default=ProspectStage.NEW, description="Starting stage.")
    value: Money = Field(
        default=Decimal(0), description="Estimated value in major units, e.g. 5000."
    )
    currency: Currency | None = Field(
        default=None, description="ISO currency, e.g. 'USD'; default the workspace's."
    )
    probability: int | None = Field(
        default=None, ge=0, le=100, description="Percent chance; default by stage."
    )
    expected_close_date: date | None = Field(default=None, description="YYYY-MM-DD.")
    owner_id: uuid.UUID | None = Field(default=None, description="Owner's user_id; default you.")
    source: str | None = Field(default=None, max_length=100, description="e.g. 'trade show'.")
    notes: str | None = Field(default=None, max_length=10_000, description="Free-text notes.")


class ProspectResult(BaseModel):
    prospect: ProspectOut


@tool(
    risk=Risk.MEDIUM, title="Create prospect {name}",
    examples=("add Acme as a prospect, worth about 20k", "new prospect from the trade show"),
)
async def create_prospect(ctx: ToolContext, args: CreateProspectArgs) -> ProspectResult:
    """Create a prospect: an early opportunity not yet a customer (use create_deal for a
    concrete sale in the pipeline). Owner defaults to you; probability to the stage's usual."""
    values = given(args, "value")
    await check_members(ctx, values, "owner_id")
    if args.contact_id is not None:
        await ContactRepository(ctx.session, ctx.scope).get(args.contact_id)
    values.update(stage=args.stage, value_cents=to_cents(args.value),
                  currency=await currency_or_default(ctx, args.currency))
    values.setdefault("owner_id", ctx.caller.user_id)
    values.setdefault("probability", PROSPECT_PROBABILITY[args.stage])
    prospect = await ProspectRepository(ctx.session, ctx.scope).create(**values)
    await record_change(ctx, "create", ENTITY, prospect.id,
                        after=snapshot(prospect, PROSPECT_FIELDS))
    return ProspectResult(prospect=ProspectOut.of(prospect))


class UpdateProspectStageArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prospect_id: uuid.UUID = Field(description="The prospect, from list_prospects.")
    stage: ProspectStage = Field(description="The new stage.")
    probability: int | None = Field(
        default=None, ge=0, le=100, description="Percent chance; default by stage."
    )
    note: str | None = Field(
        default=None, max_length=2000, description="Why it moved, e.g. 'chose a competitor'; "
                                                   "added to the prospect's notes with the date.",
    )


@tool(
    risk=Risk.MEDIUM, title="Move prospect {prospect_id} to {stage}",
    examples=("Acme prospect is now qualified", "mark the Initech prospect as lost: no budget"),
)
async def update_prospect_stage(
    ctx: ToolContext, args: UpdateProspectStageArgs
) -> ProspectResult:
    """Move a prospect to another stage (new, contacted, qualified, proposal, negotiation, won,
    lost), optionally with a note on why. To make a won prospect a customer, use
    convert_prospect_to_customer."""
    repo = ProspectRepository(ctx.session, ctx.scope)
    prospect = await repo.get(args.prospect_id)
    if prospect.converted_customer_id is not None and args.stage != ProspectStage.WON:
        raise Conflict("this prospect was converted to a customer; its stage stays won")
    values: dict[str, Any] = {
        "stage": args.stage,
        "probability": args.probability if args.probability is not None
        else PROSPECT_PROBABILITY[args.stage],
    }
    if args.note:
        values["notes"] = append_note(prospect.notes, args.note, today())
    before = snapshot(prospect, PROSPECT_FIELDS)
    prospect = await repo.update(prospect.id, **values)
    await record_change(ctx, "stage_change", ENTITY, prospect.id, before=before,
                        after=snapshot(prospect, PROSPECT_FIELDS))
    return ProspectResult(prospect=ProspectOut.of(prospect))


class ConvertProspectArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prospect_id: uuid.UUID = Field(description="The prospect to convert, from list_prospects.")
    customer_name: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="Customer name; default the contact's company, else the prospect's name.",
    )
    email: Email | None = Field(default=None, description="Billing email; default the contact's.")
    phone: str | None = Field(
        default=None, max_length=40, description="Phone; default the contact's."
    )


class ConvertResult(BaseModel):
    customer: CustomerOut
    prospect: ProspectOut
    already_converted: bool = Field(
        description="True when the prospect had been converted before; nothing new was created."
    )


def _customer_values(
    ctx: ToolContext, prospect: Prospect, contact: Contact | None, args: ConvertProspectArgs
) -> dict[str, Any]:
    company = contact.company if contact else None
    return {
        "name": args.customer_name or company or prospect.name,
        "email": args.email or (contact.email if contact else None),
        "phone": args.phone or (contact.phone if contact else None),
        "company": company, "status": CustomerStatus.ACTIVE, "currency": prospect.currency,
        "assigned_to": prospect.owner_id or ctx.caller.user_id,
        "notes": f"Converted from prospect {prospect.name!r}.",
    }


async def _contact_becomes_customer(ctx: ToolContext, contact: Contact | None) -> None:
    if contact is None or contact.status == ContactStatus.CUSTOMER:
        return
    before = snapshot(contact, CONTACT_FIELDS)
    contact = await ContactRepository(ctx.session, ctx.scope).update(
        contact.id, status=ContactStatus.CUSTOMER)
    await record_change(ctx, "update", "contact", contact.id, before=before,
                        after=snapshot(contact, CONTACT_FIELDS))


async def _already_converted(ctx: ToolContext, prospect: Prospect) -> ConvertResult | None:
    if prospect.converted_customer_id is None:
        return None
    customer = await CustomerRepository(ctx.session, ctx.scope).get(
        prospect.converted_customer_id)
    return ConvertResult(customer=CustomerOut.of(customer), prospect=ProspectOut.of(prospect),
                         already_converted=True)


@tool(
    risk=Risk.MEDIUM, title="Convert prospect {prospect_id} to a customer",
    examples=("Acme signed, make them a customer", "convert the Globex prospect"),
)
async def convert_prospect_to_customer(
    ctx: ToolContext, args: ConvertProspectArgs
) -> ConvertResult:
    """Turn a prospect into a customer: creates the customer (name, email, phone and company
    from the prospect's contact unless given), marks the prospect won and linked, and sets the
    contact's status to customer. A lost prospect must be moved to another stage first."""
    repo = ProspectRepository(ctx.session, ctx.scope)
    prospect = await repo.get(args.prospect_id)
    earlier = await _already_converted(ctx, prospect)
    if earlier is not None:
        return earlier
    if prospect.stage == ProspectStage.LOST:
        raise Conflict("this prospect is lost; move it to an open stage before converting it")
    contact = (await ContactRepository(ctx.session, ctx.scope).find(prospect.contact_id)
               if prospect.contact_id else None)
    customer = await CustomerRepository(ctx.session, ctx.scope).create(
        **_customer_values(ctx, prospect, contact, args))
    await record_change(ctx, "create", "customer", customer.id,
                        after=snapshot(customer, CUSTOMER_FIELDS))
    before = snapshot(prospect, PROSPECT_FIELDS)
    prospect = await repo.update(prospect.id, stage=ProspectStage.WON, probability=100,
                                 converted_customer_id=customer.id)
    await record_change(ctx, "convert", ENTITY, prospect.id, before=before,
                        after=snapshot(prospect, PROSPECT_FIELDS))
    await _contact_becomes_customer(ctx, contact)
    return ConvertResult(customer=CustomerOut.of(customer), prospect=ProspectOut.of(prospect),
                         already_converted=False)
