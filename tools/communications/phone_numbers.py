"""The workspace's phone numbers: which ones it has and what each can do."""

from __future__ import annotations

import uuid
from decimal import Decimal

import sqlalchemy as sa
from pydantic import BaseModel, Field

from store.models.communications import PhoneNumberStatus, WorkspacePhoneNumber
from store.repositories.communications import PhoneNumberRepository
from tools.communications.common import ARGS
from tools.context import ToolContext
from tools.registry import Risk, tool


class ListPhoneNumbersArgs(BaseModel):
    model_config = ARGS

    status: PhoneNumberStatus | None = Field(
        default=None, description="Only numbers in this state, e.g. 'active'."
    )
    capability: str | None = Field(
        default=None, pattern="^(voice|sms|mms)$",
        description="Only numbers that can do this: voice, sms or mms.",
    )
    limit: int = Field(default=20, ge=1, le=50, description="Most numbers to return (1-50).")


class PhoneNumberOut(BaseModel):
    id: uuid.UUID
    phone_number: str
    friendly_name: str | None
    provider: str
    status: PhoneNumberStatus
    voice: bool
    sms: bool
    mms: bool
    monthly_price: Decimal = Field(description="Major units of `currency`, e.g. 1.15.")
    currency: str


class PhoneNumberList(BaseModel):
    numbers: list[PhoneNumberOut]
    total: int


def _number_out(row: WorkspacePhoneNumber) -> PhoneNumberOut:
    caps = row.capabilities
    return PhoneNumberOut(
        id=row.id, phone_number=row.phone_number, friendly_name=row.friendly_name,
        provider=row.provider.value, status=row.status, voice=bool(caps.get("voice")),
        sms=bool(caps.get("sms")), mms=bool(caps.get("mms")),
        monthly_price=Decimal(row.monthly_price_cents) / 100, currency=row.currency,
    )


@tool(
    risk=Risk.LOW,
    examples=("what phone numbers do we have?", "which number can send texts?"),
)
async def list_phone_numbers(ctx: ToolContext, args: ListPhoneNumbersArgs) -> PhoneNumberList:
    """List the workspace's phone numbers with what each can do (voice, SMS, MMS), their status
    and monthly price."""
    numbers = PhoneNumberRepository(ctx.session, ctx.scope)
    where: list[sa.ColumnElement[bool]] = []
    if args.status is not None:
        where.append(WorkspacePhoneNumber.status == args.status)
    if args.capability is not None:
        where.append(WorkspacePhoneNumber.capabilities[args.capability].as_boolean())
    stmt = numbers.select().where(*where).order_by(WorkspacePhoneNumber.phone_number)
    rows = list(await ctx.session.scalars(stmt))
    return PhoneNumberList(numbers=[_number_out(r) for r in rows[:args.limit]], total=len(rows))
