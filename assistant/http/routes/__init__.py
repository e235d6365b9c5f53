"""Every router of the app, in the order the OpenAPI document lists them."""

from __future__ import annotations

from fastapi import APIRouter

from assistant.http.routes import (
    approvals,
    channel_links,
    chat,
    health,
    keys,
    knowledge,
    openai_compat,
    phone_hooks,
    realtime,
    slack_hooks,
    web,
    workspace,
)

ROUTERS: list[APIRouter] = [
    health.router, chat.router, realtime.router, approvals.router, workspace.router,
    knowledge.router, keys.router, openai_compat.router, slack_hooks.router, phone_hooks.router,
    channel_links.router,
    web.router,
]
