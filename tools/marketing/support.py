"""What the marketing tools need besides their repositories: audit snapshots, action-config
checks, membership checks and segment sizes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from store.errors import NotFound
from store.models.marketing import ActionType, SegmentRules
from store.repositories.marketing import CampaignRepository, SegmentRepository
from tools.context import ToolContext
from tools.errors import RetryableToolError

CAMPAIGN_FIELDS = (
    "name", "type", "status", "subject", "content", "segment_id", "channel_id", "scheduled_at",
    "budget_cents", "currency",
)
SEGMENT_FIELDS = ("name", "description", "rules", "contact_count", "is_active")
AUTOMATION_FIELDS = (
    "name", "description", "trigger_type", "trigger_config", "action_type", "action_config",
    "status",
)
SCORING_FIELDS = ("name", "field", "operator", "value", "points", "type", "priority", "is_active")
ROUTING_FIELDS = (
    "name", "conditions", "assign_to", "round_robin", "round_robin_users", "priority",
    "is_active",
)

#: For each action, groups of config keys of which at least one must be present, so a rule
#: cannot be saved in a shape the automation engine could never run.
REQUIRED_ACTION_KEYS: dict[ActionType, tuple[tuple[str, ...], ...]] = {
    ActionType.SEND_EMAIL: (("template", "subject"),),
    ActionType.SEND_SMS: (("body", "template"),),
    ActionType.CREATE_TASK: (("title",),),
    ActionType.UPDATE_FIELD: (("field",), ("value",)),
    ActionType.ADD_TAG: (("tag",),),
    ActionType.REMOVE_TAG: (("tag",),),
    ActionType.ADD_TO_CAMPAIGN: (("campaign_id",),),
    ActionType.CALL_WEBHOOK: (("url",),),
}


async def check_action_config(
    ctx: ToolContext, action: ActionType, config: Mapping[str, Any]
) -> None:
    """Refuse an automation action whose settings are missing what it needs."""
    for group in REQUIRED_ACTION_KEYS.get(action, ()):
        if not any(config.get(key) not in (None, "") for key in group):
            raise RetryableToolError(
                f"action {action.value} needs {' or '.join(group)} in action_config"
            )
    if action == ActionType.CALL_WEBHOOK and not str(config["url"]).startswith("https://"):
        raise RetryableToolError("call_webhook needs an https:// url")
    if action == ActionType.ADD_TO_CAMPAIGN:
        await CampaignRepository(ctx.session, ctx.scope).get(
            _uuid(config["campaign_id"], "campaign")
        )


def _uuid(value: Any, entity: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise NotFound(entity, str(value)) from exc


async def matching_contacts(ctx: ToolContext, rules: SegmentRules | Mapping[str, Any]) -> int:
    """How many contacts the rules hold for right now (nothing is stored)."""
    preview = await SegmentRepository(ctx.session, ctx.scope).preview(rules, sample_size=0)
    return preview.count
