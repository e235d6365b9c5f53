"""Marketing detectors: campaigns doing clearly worse than the workspace's own median, and
campaigns scheduled to go out without a segment or (for email) a subject."""

from __future__ import annotations

import statistics
from typing import Any

import sqlalchemy as sa

from assistant.insights.model import DetectorContext, Finding, Suggested, clamp_priority
from assistant.insights.registry import detector
from store.models.ai import InsightType
from store.models.marketing import Campaign, CampaignStatus, CampaignType
from store.repositories.marketing import CampaignRepository

MIN_SENT = 20
MIN_PEERS = 3
BELOW_SHARE = 0.7  # "below the median" means under 70% of it, not merely the lower half
MAX_FINDINGS = 50


def open_rate(metrics: dict[str, Any]) -> float | None:
    """Opens per delivered (or sent) message; None for campaigns too small to judge."""
    sent = int(metrics.get("sent") or 0)
    base = int(metrics.get("delivered") or 0) or sent
    if sent < MIN_SENT or base <= 0:
        return None
    return int(metrics.get("opened") or 0) / base


@detector("campaigns_below_median")
async def campaigns_below_median(ctx: DetectorContext) -> list[Finding]:
    """Sent campaigns whose open rate is under 70% of the workspace's median."""
    stmt = CampaignRepository(ctx.session, ctx.scope).select().where(
        Campaign.status.in_((CampaignStatus.ACTIVE, CampaignStatus.COMPLETED)))
    rated = [(c, r) for c in await ctx.session.scalars(stmt)
             if (r := open_rate(c.metrics or {})) is not None]
    if len(rated) < MIN_PEERS:
        return []
    median = statistics.median(r for _, r in rated)
    weak = sorted((cr for cr in rated if cr[1] < median * BELOW_SHARE), key=lambda cr: cr[1])
    return [_below(c, rate, median) for c, rate in weak[:MAX_FINDINGS]]


def _below(campaign: Campaign, rate: float, median: float) -> Finding:
    gap = median - rate
    return Finding(
        key=str(campaign.id), type=InsightType.RECOMMENDATION,
        priority=clamp_priority(40 + gap * 100),
        title=f"{campaign.name} opens at {rate:.0%}, below your median of {median:.0%}",
        description=f"{campaign.name} is opened by {rate:.0%} of recipients; your campaigns' "
                    f"median is {median:.0%}. Its subject line or audience may be the reason.",
        state={"rate": round(rate * 20), "median": round(median * 20)},
        data={"campaign": campaign.name, "open_rate": round(rate, 4),
              "median_open_rate": round(median, 4), "subject": campaign.subject},
        record_type="campaign", record_id=campaign.id,
        actions=(Suggested("get_campaign_metrics", {"campaign_id": str(campaign.id)},
                           "Look at the campaign's funnel"),),
    )


@detector("campaigns_scheduled_incomplete")
async def campaigns_scheduled_incomplete(ctx: DetectorContext) -> list[Finding]:
    """Scheduled campaigns with no segment to send to, or emails with no subject."""
    no_subject = sa.and_(Campaign.type == CampaignType.EMAIL,
                         sa.func.coalesce(sa.func.trim(Campaign.subject), "") == "")
    stmt = CampaignRepository(ctx.session, ctx.scope).select().where(
        Campaign.status == CampaignStatus.SCHEDULED,
        sa.or_(Campaign.segment_id.is_(None), no_subject),
    ).order_by(Campaign.scheduled_at).limit(MAX_FINDINGS)
    return [_incomplete(ctx, c) for c in await ctx.session.scalars(stmt)]


def _missing(campaign: Campaign) -> list[str]:
    missing = [] if campaign.segment_id else ["segment"]
    if campaign.type == CampaignType.EMAIL and not (campaign.subject or "").strip():
        missing.append("subject")
    return missing


def _incomplete(ctx: DetectorContext, campaign: Campaign) -> Finding:
    missing = _missing(campaign)
    when = campaign.scheduled_at.isoformat() if campaign.scheduled_at else "soon"
    hours = (campaign.scheduled_at - ctx.now).total_seconds() / 3600 \
        if campaign.scheduled_at else 0
    return Finding(
        key=str(campaign.id), type=InsightType.WARNING,
        priority=clamp_priority(85 - max(0, hours) / 4),
        title=f"{campaign.name} is scheduled without a {' or '.join(missing)}",
        description=f"{campaign.name} goes out {when} but has no {' and no '.join(missing)}. "
                    "Pause it until it is complete.",
        state={"missing": missing, "scheduled_at": when},
        data={"campaign": campaign.name, "missing": missing, "scheduled_at": when},
        record_type="campaign", record_id=campaign.id,
        expires_at=campaign.scheduled_at if hours > 0 else None,
        actions=(Suggested("pause_campaign", {"campaign_id": str(campaign.id)},
                           "Pause the campaign"),),
    )
