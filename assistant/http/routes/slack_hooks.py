"""Slack's webhooks: the Events API, interactivity (approval buttons) and `/neptune`.

Each request is verified over its raw body before anything is parsed, then normalised and
queued (`assistant.channels.slack`); the worker answers in Slack. Slack wants a reply within
three seconds, so nothing here waits for a model. The workspace is the one connected to the
signed team id; a team connected to none is acknowledged and ignored (Slack would otherwise
retry), and told so where Slack shows the reply (commands, clicks).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request

from assistant.channels import slack
from assistant.http.dependencies import ServicesDep
from assistant.http.problems import Problem, problem_responses

router = APIRouter(prefix="/v1/channels/slack", tags=["channels"],
                   responses=problem_responses(400, 401, 404))
NOT_CONNECTED = "This Slack workspace is not connected to Neptune yet; ask a Neptune admin."


async def verified_body(request: Request, svc: ServicesDep) -> bytes:
    """The raw body, once Slack's signature over it checks out; 401 otherwise (404 when this
    server has no Slack signing secret: the channel is off)."""
    secret = svc.settings.slack_signing_secret
    if secret is None:
        raise Problem(404, "Not Found", "Slack is not configured here "
                      "(NEPTUNE_SLACK_SIGNING_SECRET)", kind="not-configured")
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    reason = slack.refusal(secret.get_secret_value(), body, headers, time.time())
    if reason is not None:
        raise Problem(401, "Unauthorized", reason, kind="bad-signature")
    return body


def _bad(detail: str) -> Problem:
    return Problem(400, "Bad Request", detail, kind="bad-request")


def _form(body: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError as error:
        raise _bad("the body is not UTF-8 form data") from error


@router.post("/events", summary="Slack Events API (app_mention, direct messages)")
async def events(request: Request, svc: ServicesDep) -> dict[str, Any]:
    body = await verified_body(request, svc)
    try:
        envelope = json.loads(body)
    except ValueError as error:
        raise _bad("the body is not JSON") from error
    if not isinstance(envelope, dict):
        raise _bad("the body is not a JSON object")
    if envelope.get("type") == "url_verification":
        return {"challenge": str(envelope.get("challenge", ""))}
    if envelope.get("type") != "event_callback":
        return {"ok": True}
    event_id = envelope.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise _bad("an event_callback needs an event_id")
    message = slack.message_of(envelope)
    if message is None:
        return {"ok": True}
    queued = await slack.enqueue(svc.deps.database.sessions, message, slack.message_key(message))
    return {"ok": True, "queued": queued.fresh}


@router.post("/interactivity", summary="Slack interactivity (approval buttons)")
async def interactivity(request: Request, svc: ServicesDep) -> dict[str, Any]:
    payload = slack.interaction_payload(_form(await verified_body(request, svc)))
    if not payload:
        raise _bad("an interaction needs a JSON `payload` field")
    action = slack.action_of(payload)
    if action is None:
        return {"ok": True}
    key = f"action:{payload.get('trigger_id') or action.action_ts or action.message_ts}"
    queued = await slack.enqueue(svc.deps.database.sessions, action, key)
    if queued.workspace_id is None:
        return {"response_type": "ephemeral", "replace_original": False, "text": NOT_CONNECTED}
    return {"ok": True}


@router.post("/commands", summary="The /neptune slash command")
async def commands(request: Request, svc: ServicesDep) -> dict[str, Any]:
    form = _form(await verified_body(request, svc))
    command = slack.command_of(form)
    if command is None:
        raise _bad("a slash command needs team_id, channel_id and user_id")
    key = f"command:{form.get('trigger_id') or form.get('response_url') or time.time_ns()}"
    queued = await slack.enqueue(svc.deps.database.sessions, command, key)
    if queued.workspace_id is None:
        return {"response_type": "ephemeral", "text": NOT_CONNECTED}
    if not command.text:
        return {"response_type": "ephemeral",
                "text": "Ask me something: `/neptune how many open deals?`"}
    return {"response_type": "ephemeral", "text": "On it; I'll answer in a thread."}
