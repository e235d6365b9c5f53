"""Contact tools: find, read, create, change and delete people, and log what happened with them.

An interaction logged in the past (or now) counts as contact: it moves the contact's
`last_contacted_at` forward. One in the future is stored as scheduled and moves nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from store.errors import Conflict
from store.models.crm import Contact, ContactStatus, CrmInteraction, Direction, InteractionType
from store.repositories.crm import ContactRepository, DealRepository, InteractionRepository
from tools.audit import record_change, snapshot
from tools.context import ToolContext
from tools.crm.common import (
    CONTACT_FIELDS,
    INTERACTION_FIELDS,
    ContactOut,
    Cursor,
    DealOut,
    DeletedResult,
    Email,
    InteractionOut,
    Tags,
    check_members,
    cleared,
    given,
    require_changes,
)
from tools.registry import Risk, tool
from tools.workspace import user_names

ENTITY = "contact"


class SearchContactsArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str = Field(
        default="", max_length=200,
        description="Words to find in name, email, company or phone, e.g. 'ada acme'; "
                    "empty lists everyone (newest first).",
    )
    status: ContactStatus | None = Field(default=None, description="Only contacts in this status.")
    tag: str | None = Field(default=None, max_length=50, description="Only contacts with this tag.")
    limit: int = Field(default=10, ge=1, le=50, description="Contacts per page (1-50).")
    cursor: Cursor = None


class ContactsResult(BaseModel):
    contacts: list[ContactOut]
    has_more: bool
    next_cursor: str | None


@tool(risk=Risk.LOW, examples=(
    "find Ada Lovelace", "who do we know at Acme?", "show me our VIP contacts",
))
async def search_contacts(ctx: ToolContext, args: SearchContactsArgs) -> ContactsResult:
    """Search contacts (people) by words in their name, email, company or phone, optionally by
    status or tag. Every word must match. Use get_contact for one person's details and deals."""
    page = await ContactRepository(ctx.session, ctx.scope).search(
        args.query, status=args.status, tag=args.tag, limit=args.limit, cursor=args.cursor)
    return ContactsResult(contacts=[ContactOut.of(c) for c in page.items],
                          has_more=page.next_cursor is not None, next_cursor=page.next_cursor)


class ContactIdArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    contact_id: uuid.UUID = Field(description="The contact's id, from search_contacts.")


class ContactDetail(BaseModel):
    contact: ContactOut
    owner_name: str | None
    source: str | None
    deals: list[DealOut] = Field(description="Up to 10 of the contact's deals, newest first.")
    recent_interactions: list[InteractionOut] = Field(description="The last 5, newest first.")


@tool(risk=Risk.LOW, examples=(
    "tell me about Ada Lovelace", "what deals does this contact have?",
))
async def get_contact(ctx: ToolContext, args: ContactIdArgs) -> ContactDetail:
    """Get one contact with owner, their deals (up to 10) and last 5 interactions. For the full
    history use get_contact_timeline."""
    contact = await ContactRepository(ctx.session, ctx.scope).get(args.contact_id)
    deals = await DealRepository(ctx.session, ctx.scope).search(contact_id=contact.id, limit=10)
    history = await InteractionRepository(ctx.session, ctx.scope).timeline(contact.id, limit=5)
    names = await user_names(ctx, [contact.owner_id, *(d.owner_id for d in deals.items)])
    owner = names.get(contact.owner_id) if contact.owner_id else None
    return ContactDetail(
        contact=ContactOut.of(contact), owner_name=owner, source=contact.source,
        deals=[DealOut.of(d, names) for d in deals.items],
        recent_interactions=[InteractionOut.of(i) for i in history.items],
    )


class TimelineArgs(ContactIdArgs):
    limit: int = Field(default=20, ge=1, le=100, description="Interactions per page (1-100).")
    cursor: Cursor = None


class TimelineResult(BaseModel):
    contact: ContactOut
    interactions: list[InteractionOut] = Field(description="Newest first.")
    has_more: bool
    next_cursor: str | None


@tool(risk=Risk.LOW, examples=(
    "what did we last talk about with Ada?", "show the call history for this contact",
))
async def get_contact_timeline(ctx: ToolContext, args: TimelineArgs) -> TimelineResult:
    """List a contact's interactions (calls, emails, meetings, notes...), newest first, with
    subject, content and outcome. Use it to answer "what did we promise them"."""
    contact = await ContactRepository(ctx.session, ctx.scope).get(args.contact_id)
    page = await InteractionRepository(ctx.session, ctx.scope).timeline(
        contact.id, limit=args.limit, cursor=args.cursor)
    return TimelineResult(contact=ContactOut.of(contact),
                          interactions=[InteractionOut.of(i) for i in page.items],
                          has_more=page.next_cursor is not None, next_cursor=page.next_cursor)


# -- writes -----------------------------------------------------------------------------------


class ContactFields(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    first_name: str | None = Field(default=None, max_length=100, description="First name.")
    last_name: str | None = Field(default=None, max_length=100, description="Last name.")
    email: Email | None = Field(default=None, description="Email address, e.g. 'ada@acme.com'.")
    phone: str | None = Field(
        default=None, max_length=40, description="Phone number, ideally E.164 ('+14155550100')."
    )
    company: str | None = Field(default=None, max_length=200, description="Company name.")
    job_title: str | None = Field(default=None, max_length=200, description="Job title.")
    source: str | None = Field(
        default=None, max_length=100, description="Where they came from, e.g. 'webinar'."
    )
    tags: Tags | None = Field(default=None, description="Tags; on update, replaces all tags.")
    owner_id: uuid.UUID | None = Field(
        default=None, description="user_id of the team member who owns the contact."
    )


class CreateContactArgs(ContactFields):
    status: ContactStatus = Field(default=ContactStatus.LEAD, description="Lifecycle status.")

    @model_validator(mode="after")
    def _named(self) -> CreateContactArgs:
        if not (self.first_name or self.last_name or self.email):
            raise ValueError("give at least a name or an email")
        return self


class ContactResult(BaseModel):
    contact: ContactOut


async def _check_email_free(
    ctx: ToolContext, email: str | None, contact_id: uuid.UUID | None = None
) -> None:
    if email is None:
        return
    existing = await ContactRepository(ctx.session, ctx.scope).by_email(email)
    if existing is not None and existing.id != contact_id:
        raise Conflict(f"contact {existing.full_name!r} ({existing.id}) already has email {email};"
                       " update that contact instead")


@tool(
    risk=Risk.MEDIUM, title="Create a contact",
    examples=("add Ada Lovelace from Analytical Engines, ada@ae.com",
              "save a new lead: Bob Stone, +1 415 555 0100"),
)
async def create_contact(ctx: ToolContext, args: CreateContactArgs) -> ContactResult:
    """Create a contact (a person). Needs a name or an email; the owner defaults to you and the
    status to lead. Refuses an email another contact already has: update that one instead."""
    values = given(args)
    await check_members(ctx, values, "owner_id")
    await _check_email_free(ctx, args.email)
    values.setdefault("owner_id", ctx.caller.user_id)
    values["status"] = args.status
    contact = await ContactRepository(ctx.session, ctx.scope).create(**values)
    await record_change(ctx, "create", ENTITY, contact.id,
                        after=snapshot(contact, CONTACT_FIELDS))
    return ContactResult(contact=ContactOut.of(contact))


ContactClearable = Literal["email", "phone", "company", "job_title", "source", "owner_id"]


class UpdateContactArgs(ContactFields):
    contact_id: uuid.UUID = Field(description="The contact to change, from search_contacts.")
    status: ContactStatus | None = Field(default=None, description="New lifecycle status.")
    clear: tuple[ContactClearable, ...] = Field(
        default=(), description="Fields to empty, e.g. ['phone']; omitted fields stay as they are."
    )


@tool(
    risk=Risk.MEDIUM, title="Update contact {contact_id}",
    examples=("Ada's new email is ada@newco.com", "mark Bob Stone as a customer",
              "tag Ada as vip"),
)
async def update_contact(ctx: ToolContext, args: UpdateContactArgs) -> ContactResult:
    """Change a contact's fields. Only fields you give change; `clear` empties optional fields.
    `tags` replaces the whole tag list (read the contact first to add one)."""
    repo = ContactRepository(ctx.session, ctx.scope)
    contact = await repo.get(args.contact_id)
    values = require_changes({**given(args, "contact_id", "clear"), **cleared(args.clear)})
    await check_members(ctx, values, "owner_id")
    await _check_email_free(ctx, values.get("email"), contact.id)
    before = snapshot(contact, CONTACT_FIELDS)
    contact = await repo.update(contact.id, **values)
    await record_change(ctx, "update", ENTITY, contact.id, before=before,
                        after=snapshot(contact, CONTACT_FIELDS))
    return ContactResult(contact=ContactOut.of(contact))


class LogInteractionArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    contact_id: uuid.UUID = Field(description="Who it was with, from search_contacts.")
    type: InteractionType = Field(description="call, email, meeting, note, task, sms, ...")
    summary: str = Field(
        min_length=1, max_length=10_000, description="What was said or done, in a few sentences."
    )
    subject: str | None = Field(default=None, max_length=200, description="A short title.")
    direction: Direction | None = Field(
        default=None, description="inbound (they reached us) or outbound (we reached them)."
    )
    outcome: str | None = Field(
        default=None, max_length=200, description="Result, e.g. 'positive', 'follow_up'."
    )
    duration_minutes: int | None = Field(
        default=None, ge=0, le=1440, description="Length of a call or meeting in minutes."
    )
    occurred_at: AwareDatetime | None = Field(
        default=None, description="When it happened (ISO 8601 with timezone); default now. "
                                  "A future time records a scheduled interaction.",
    )
    deal_id: uuid.UUID | None = Field(default=None, description="The deal it was about, if any.")


class InteractionResult(BaseModel):
    interaction: InteractionOut
    contact: ContactOut


def _interaction_values(ctx: ToolContext, args: LogInteractionArgs) -> dict[str, object]:
    now = datetime.now(UTC)
    when = args.occurred_at or now
    scheduled = when > now
    return {
        "contact_id": args.contact_id, "deal_id": args.deal_id, "type": args.type,
        "direction": args.direction, "subject": args.subject, "content": args.summary,
        "outcome": args.outcome, "user_id": ctx.caller.user_id,
        "duration_seconds": args.duration_minutes * 60 if args.duration_minutes is not None
        else None,
        "scheduled_at": when if scheduled else None, "completed_at": None if scheduled else when,
    }


async def _mark_contacted(ctx: ToolContext, contact: Contact, when: datetime | None) -> Contact:
    """Move `last_contacted_at` forward (never back) to a completed interaction's time."""
    if when is None or (contact.last_contacted_at and contact.last_contacted_at >= when):
        return contact
    before = snapshot(contact, ["last_contacted_at"])
    contact = await ContactRepository(ctx.session, ctx.scope).update(
        contact.id, last_contacted_at=when)
    await record_change(ctx, "update", ENTITY, contact.id, before=before,
                        after=snapshot(contact, ["last_contacted_at"]))
    return contact


@tool(
    risk=Risk.MEDIUM, title="Log {type} with contact {contact_id}",
    examples=("log a call with Ada: she wants a proposal by Friday",
              "note that Bob emailed asking about pricing",
              "I met the Acme team today for an hour, went well"),
)
async def log_interaction(ctx: ToolContext, args: LogInteractionArgs) -> InteractionResult:
    """Record a call, email, meeting, note or message with a contact (optionally about one of
    their deals). Past or present interactions update the contact's last-contacted time; a
    future `occurred_at` records it as scheduled. This logs; it sends nothing."""
    contact = await ContactRepository(ctx.session, ctx.scope).get(args.contact_id)
    if args.deal_id is not None:
        await DealRepository(ctx.session, ctx.scope).get(args.deal_id)
    row: CrmInteraction = await InteractionRepository(ctx.session, ctx.scope).create(
        **_interaction_values(ctx, args))
    await record_change(ctx, "create", "crm_interaction", row.id,
                        after=snapshot(row, INTERACTION_FIELDS))
    contact = await _mark_contacted(ctx, contact, row.completed_at)
    return InteractionResult(interaction=InteractionOut.of(row), contact=ContactOut.of(contact))


@tool(
    risk=Risk.CRITICAL, title="Delete contact {contact_id}",
    examples=("delete the contact Bob Stone", "remove this duplicate contact"),
)
async def delete_contact(ctx: ToolContext, args: ContactIdArgs) -> DeletedResult:
    """Permanently delete a contact and their interaction history; their deals and prospects
    stay but lose the link. Cannot be undone. To keep history, set status inactive instead."""
    repo = ContactRepository(ctx.session, ctx.scope)
    contact = await repo.get(args.contact_id)
    interactions = await InteractionRepository(ctx.session, ctx.scope).count(
        contact_id=contact.id)
    before = {**snapshot(contact, CONTACT_FIELDS), "interactions": interactions}
    await repo.delete(contact.id)
    await record_change(ctx, "delete", ENTITY, contact.id, before=before)
    return DeletedResult(deleted_id=contact.id, name=contact.full_name,
                         detail=f"{interactions} interaction(s) deleted with the contact")
