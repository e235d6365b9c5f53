"""When a workspace's insights are swept besides the periodic interval: right after a tool
that changes what the detectors look at commits (a deal changed stage, an invoice was created).

The action-history row of such a call is what makes the workspace due
(`neptune_due_insight_sweeps` compares it with the last sweep), so nothing is lost when no
worker is listening; `nudge_after` only wakes a worker now instead of at its next sweep.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from tools.jobs import notify_due

SWEEP_KIND = "insights"
TRIGGER_TOOLS: frozenset[str] = frozenset({
    "create_deal", "update_deal", "delete_deal", "create_invoice", "send_invoice",
    "record_payment", "cancel_invoice", "approve_expense", "reject_expense", "submit_expense",
    "create_campaign", "schedule_campaign", "update_campaign", "pause_campaign", "create_task",
    "update_task", "reply_to_conversation", "assign_conversation", "create_contact",
    "update_contact", "log_interaction",
})


def triggers_sweep(succeeded: Iterable[str]) -> bool:
    return any(name in TRIGGER_TOOLS for name in succeeded)


async def nudge_after(
    session: AsyncSession, workspace_id: uuid.UUID, succeeded: Iterable[str]
) -> bool:
    """Wake the worker (on commit) when one of the tools that just succeeded is a trigger."""
    if not triggers_sweep(succeeded):
        return False
    await notify_due(session, SWEEP_KIND, workspace_id)
    return True
