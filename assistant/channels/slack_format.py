"""Slack, outbound formatting: the runtime's Markdown-ish text as Slack mrkdwn, and approval
cards as Block Kit.

The Slack prompt asks the model for mrkdwn already; this is the safety net for what models write
anyway (`**bold**`, `[text](url)`, `# headings`), and the escaping Slack requires (`&`, `<`, `>`
are control characters in mrkdwn).
"""

from __future__ import annotations

import re
from typing import Any

from assistant import events as ev

APPROVE, REJECT = "neptune_approve", "neptune_reject"
MAX_TEXT = 3000  # a section block's text limit; chat.update text is cut to the same size

_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)
_BULLET = re.compile(r"^(\s*)[-*]\s+", re.MULTILINE)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str) -> str:
    """Markdown habits turned into Slack mrkdwn, with Slack's control characters escaped."""
    out = escape(text)
    out = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", out)
    out = _BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", out)
    out = _HEADING.sub(lambda m: f"*{m.group(1)}*", out)
    out = _BULLET.sub(lambda m: f"{m.group(1)}• ", out)
    return _cut(out)


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def answer_blocks(text: str, approvals: list[ev.ApprovalRequired]) -> list[dict[str, Any]]:
    """The answer as a section, then one card per action awaiting approval."""
    blocks: list[dict[str, Any]] = []
    if text:
        blocks.append(_section(text))
    for approval in approvals:
        blocks.extend(approval_card(approval))
    return blocks


def approval_card(approval: ev.ApprovalRequired) -> list[dict[str, Any]]:
    value = str(approval.pending_action_id)
    return [
        _section(f":warning: *Approval needed* ({escape(approval.risk)} risk): "
                 f"{escape(approval.title)}"),
        {"type": "actions", "block_id": f"approval:{value}", "elements": [
            {"type": "button", "action_id": APPROVE, "value": value, "style": "primary",
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": REJECT, "value": value, "style": "danger",
             "text": {"type": "plain_text", "text": "Reject"}},
        ]},
    ]


def decided_blocks(blocks: list[dict[str, Any]], pending_id: str,
                   note: str) -> list[dict[str, Any]]:
    """The message's blocks with the decided card's buttons replaced by who decided what."""
    out: list[dict[str, Any]] = []
    for block in blocks:
        if block.get("type") == "actions" and block.get("block_id") == f"approval:{pending_id}":
            out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
        else:
            out.append(block)
    return out


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text)}}
