"""Firing a scheduled campaign: the worker's handler for due work of kind `campaign`.

At `scheduled_at` the handler, in one transaction of the campaign's workspace:
1. claims the campaign (`scheduled` -> `active` only if it is still scheduled and due), so two
   workers that both saw it due fire it once, and a campaign paused or rescheduled meanwhile is
   left alone;
   An SMS campaign in a workspace with no SMS-capable number is paused instead, with the reason
   in its audit row (sending would fail for every recipient);
2. resolves the segment into `campaign_recipients` (contacts matching its rules now);
3. hands one message per pending recipient to the sender (email or SMS by campaign type; the
   default `OutboxSender` queues it in `outbound_messages`), keyed by campaign and contact so a
   repeat never queues twice; a contact without a usable address becomes a `failed` recipient
   with the reason;
4. stores the funnel counts in `campaigns.metrics`, marks the campaign `completed` (or `active`
   for kinds with nothing to deliver: social, ads, content go live and stay active) and writes
   the audit row.
A crash anywhere rolls the whole firing back; the campaign is still `scheduled` and the next
sweep fires it again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from store.models.crm import Contact
from store.models.marketing import Campaign, CampaignRecipient, CampaignStatus, CampaignType
from store.models.marketing import RecipientStatus as S
from store.models.neptune import OutboundChannel
from store.repositories.marketing import CampaignRepository
from store.tenancy import WorkspaceScope, scoped_session
from tools.audit import record_worker_change, snapshot
from tools.errors import ToolFailed
from tools.jobs import JobContext
from tools.marketing.support import CAMPAIGN_FIELDS
from tools.senders import (
    OutgoingMessage,
    Sender,
    contact_address,
    sender_in,
    sending_number,
)

DELIVERED_BY = {CampaignType.EMAIL: OutboundChannel.EMAIL, CampaignType.SMS: OutboundChannel.SMS}


async def fire_campaign(job: JobContext, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> None:
    """Send a due scheduled campaign to its segment, once (see the module docstring)."""
    scope = WorkspaceScope(workspace_id)
    async with scoped_session(job.sessions, scope) as session:
        campaign = await _claim(session, campaign_id, job)
        if campaign is None:
            return
        before = snapshot(campaign, CAMPAIGN_FIELDS) | {"status": CampaignStatus.SCHEDULED}
        repo = CampaignRepository(session, scope)
        channel = DELIVERED_BY.get(campaign.type)
        action, extra = "send", {}
        if channel is not None:
            try:
                origin = await sending_number(session, scope, channel)
            except ToolFailed as exc:
                # Nothing can go out until the workspace adds a number: pause, and say why.
                action, extra = "pause", {"reason": str(exc)}
                campaign = await repo.update(campaign.id, status=CampaignStatus.PAUSED)
            else:
                await repo.materialize_recipients(campaign.id)
                await _deliver(session, scope, campaign, channel, origin,
                               sender_in(job.services))
                await repo.refresh_metrics(campaign.id)
                campaign = await repo.update(campaign.id, status=CampaignStatus.COMPLETED,
                                             completed_at=job.now)
        await record_worker_change(session, scope, action, "campaign", campaign.id,
                                   before=before,
                                   after=snapshot(campaign, CAMPAIGN_FIELDS) | extra,
                                   job="campaign")


async def _claim(session: AsyncSession, campaign_id: uuid.UUID, job: JobContext) -> Campaign | None:
    """Move the campaign from scheduled to active if it is still scheduled and due."""
    stmt = (
        sa.update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SCHEDULED,
               Campaign.scheduled_at <= job.now)
        .values(status=CampaignStatus.ACTIVE, sent_at=job.now)
        .returning(Campaign)
        .execution_options(synchronize_session=False)
    )
    return (await session.scalars(stmt)).one_or_none()


async def _deliver(
    session: AsyncSession, scope: WorkspaceScope, campaign: Campaign, channel: OutboundChannel,
    origin: str | None, sender: Sender,
) -> None:
    """One message per pending recipient; each recipient ends `sent` or `failed`."""
    pending = await session.execute(
        sa.select(CampaignRecipient, Contact)
        .join(Contact, sa.and_(Contact.workspace_id == CampaignRecipient.workspace_id,
                               Contact.id == CampaignRecipient.contact_id))
        .where(CampaignRecipient.campaign_id == campaign.id,
               CampaignRecipient.status == S.PENDING)
        .order_by(CampaignRecipient.id)
    )
    body = message_body(campaign.content)
    for recipient, contact in pending.all():
        try:
            address = contact_address(contact, channel)
        except ToolFailed as exc:
            recipient.status, recipient.error_message = S.FAILED, str(exc)
            continue
        await sender.send(session, scope, OutgoingMessage(
            channel=channel, recipient=address, body=body, subject=campaign.subject,
            sender=origin, related_type="campaign", related_id=campaign.id,
            idempotency_key=f"campaign:{campaign.id}:{contact.id}",
        ))
        recipient.status, recipient.sent_at = S.SENT, campaign.sent_at
    await session.flush()


def message_body(content: Mapping[str, Any]) -> str:
    """The text a recipient reads: headline, body and call-to-action link, as stored by the
    campaign tools."""
    parts = [str(content[k]).strip() for k in ("headline", "body") if content.get(k)]
    if content.get("cta_url"):
        parts.append(str(content["cta_url"]))
    return "\n\n".join(parts) or "(no content)"
