"""Tools the runtime tests use: small, real (they read and write the store), in a registry of
their own so the runtime is tested independently of the domain catalogue."""

from __future__ import annotations

import asyncio
import uuid

from pydantic import BaseModel, ConfigDict, Field

from store.models.core import MemberRole
from store.repositories.crm import ContactRepository
from tools.audit import record_change
from tools.context import ToolContext
from tools.registry import Risk, ToolRegistry

registry = ToolRegistry()
SESSIONS_SEEN: list[int] = []


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NoArgs(Frozen):
    pass


class CountResult(Frozen):
    contacts: int


class EchoArgs(Frozen):
    word: str = Field(min_length=1, max_length=40, description="The word to echo back.")
    delay: float = Field(default=0.0, ge=0, le=2, description="Seconds to wait first.")


class EchoResult(Frozen):
    word: str


class AddContactArgs(Frozen):
    first_name: str = Field(min_length=1, max_length=80, description="First name.")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="Email address.")


class ContactResult(Frozen):
    id: uuid.UUID
    first_name: str


class DeleteArgs(Frozen):
    contact_id: uuid.UUID = Field(description="Id of the contact to delete.")


class Deleted(Frozen):
    deleted: bool


@registry.tool(risk=Risk.LOW)
async def count_contacts(ctx: ToolContext, args: NoArgs) -> CountResult:
    """Count the contacts in the workspace."""
    return CountResult(contacts=await ContactRepository(ctx.session, ctx.scope).count())


@registry.tool(risk=Risk.LOW)
async def echo(ctx: ToolContext, args: EchoArgs) -> EchoResult:
    """Echo a word back after an optional delay."""
    SESSIONS_SEEN.append(id(ctx.session))
    await asyncio.sleep(args.delay)
    return EchoResult(word=args.word)


@registry.tool(risk=Risk.MEDIUM, title="Add contact {first_name}")
async def add_contact(ctx: ToolContext, args: AddContactArgs) -> ContactResult:
    """Add a contact to the CRM."""
    row = await ContactRepository(ctx.session, ctx.scope).create(
        first_name=args.first_name, email=args.email)
    await record_change(ctx, "create", "contact", row.id, after={"first_name": args.first_name})
    return ContactResult(id=row.id, first_name=row.first_name or "")


@registry.tool(risk=Risk.CRITICAL, role=MemberRole.ADMIN)
async def delete_contact(ctx: ToolContext, args: DeleteArgs) -> Deleted:
    """Delete a contact for good."""
    await ContactRepository(ctx.session, ctx.scope).delete(args.contact_id)
    return Deleted(deleted=True)


@registry.tool(risk=Risk.LOW)
async def explode(ctx: ToolContext, args: NoArgs) -> CountResult:
    """A tool with a bug in it."""
    raise RuntimeError("boom")
