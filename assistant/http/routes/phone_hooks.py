"""Phone webhooks (Twilio, or SignalWire's compatible API): voice calls and SMS, as TwiML.

Every request is verified (`X-Twilio-Signature` over the URL the provider called plus the POST
parameters, with the `twilio` library) before its parameters are used; the called number
(`To`) decides the workspace, and nothing in the query string can change that (the query only
carries the call's step, and it is signed too). See `assistant.channels.voice` and `.sms`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request, Response

from assistant.channels import phone, sms, voice
from assistant.channels.common import phone_workspace
from assistant.http.dependencies import ServicesDep
from assistant.http.problems import Problem, problem_responses
from store.errors import InvalidArgument
from store.models.communications import ConversationChannel, to_e164
from store.tenancy import WorkspaceScope

router = APIRouter(prefix="/v1/channels/phone", tags=["channels"],
                   responses=problem_responses(400, 401, 404, 422))
XML = "application/xml"
TWIML: dict[int | str, dict[str, Any]] = {200: {"description": "TwiML", "content": {
    XML: {"schema": {"type": "string"}}}}}
Step = Annotated[int, Query(ge=0, le=100_000, description="The call's step (signed).")]


@dataclass(frozen=True)
class Webhook:
    form: dict[str, str]
    workspace_id: Any
    to: str
    caller_number: str

    @property
    def scope(self) -> WorkspaceScope:
        return WorkspaceScope(self.workspace_id)


def _url(request: Request, public_url: str | None) -> str:
    """The URL the provider called (and signed): behind a proxy, `NEPTUNE_PUBLIC_URL`."""
    if not public_url:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{public_url.rstrip('/')}{request.url.path}{query}"


def _bad(detail: str) -> Problem:
    return Problem(400, "Bad Request", detail, kind="bad-request")


async def webhook(request: Request, svc: ServicesDep) -> Webhook:
    token = svc.settings.twilio_auth_token
    if token is None:
        raise Problem(404, "Not Found", "phone webhooks are not configured here "
                      "(NEPTUNE_TWILIO_AUTH_TOKEN)", kind="not-configured")
    try:
        form = dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError as error:
        raise _bad("the body is not UTF-8 form data") from error
    # SignalWire's compatibility API signs the same way, in a header of its own name too.
    signature = (request.headers.get("x-twilio-signature")
                 or request.headers.get("x-signalwire-signature") or "")
    reason = phone.refusal(token.get_secret_value(), _url(request, svc.settings.public_url),
                           form, signature)
    if reason is not None:
        raise Problem(401, "Unauthorized", reason, kind="bad-signature")
    try:
        to = to_e164(form.get("To", ""))
    except InvalidArgument as error:
        raise _bad("`To` must be the E.164 number that was called") from error
    workspace_id = await phone_workspace(svc.deps.database.sessions, to)
    if workspace_id is None:
        raise Problem(404, "Not Found", f"no workspace has the number {to}", kind="not-found")
    try:
        caller_number = to_e164(form.get("From", ""))
    except InvalidArgument:
        caller_number = form.get("From", "") or "unknown"
    return Webhook(form, workspace_id, to, caller_number)


def _sid(hook: Webhook, name: str) -> str:
    sid = hook.form.get(name, "")
    if not sid:
        raise _bad(f"`{name}` is missing")
    return sid


async def _call(request: Request, svc: ServicesDep) -> tuple[voice.Call, dict[str, str]]:
    hook = await webhook(request, svc)
    sessions = svc.deps.database.sessions
    call_sid = _sid(hook, "CallSid")
    party = await phone.identify(sessions, hook.workspace_id, hook.caller_number, "voice")
    inbox = await phone.Inbox.open(sessions, hook.scope, party, ConversationChannel.CALL,
                                   f"call:{call_sid}", f"Call from {hook.caller_number}")
    call = voice.Call(svc.deps, hook.scope, call_sid, party, inbox,
                      await phone.workspace_name(sessions, hook.workspace_id),
                      svc.settings.voice_wait_seconds)
    return call, hook.form


def _xml(twiml: str) -> Response:
    return Response(twiml, media_type=XML)


@router.post("/voice", summary="A call arrives: greet and listen", responses=TWIML,
             response_class=Response)
async def incoming_call(request: Request, svc: ServicesDep) -> Response:
    call, _ = await _call(request, svc)
    return _xml(await voice.start(call))


@router.post("/voice/gather", summary="What the caller said at a step", responses=TWIML,
             response_class=Response)
async def call_speech(request: Request, svc: ServicesDep, step: Step) -> Response:
    call, form = await _call(request, svc)
    return _xml(await voice.gather(call, step, form.get("SpeechResult", ""),
                                   form.get("Digits", "")))


@router.post("/voice/silence", summary="Nothing was heard at a step", responses=TWIML,
             response_class=Response)
async def call_silence(request: Request, svc: ServicesDep, step: Step,
                       again: Annotated[int, Query(ge=0, le=1)] = 0) -> Response:
    call, _ = await _call(request, svc)
    return _xml(await voice.silence(call, step, again))


@router.post("/voice/result", summary="Collect the answer of a slow turn", responses=TWIML,
             response_class=Response)
async def call_result(request: Request, svc: ServicesDep, step: Step,
                      attempt: Annotated[int, Query(alias="try", ge=1, le=100)] = 1) -> Response:
    call, _ = await _call(request, svc)
    return _xml(await voice.collect(call, step, attempt))


@router.post("/voice/status", summary="The call's status callback (it ended)",
             responses=TWIML, response_class=Response)
async def call_status(request: Request, svc: ServicesDep) -> Response:
    call, form = await _call(request, svc)
    if form.get("CallStatus") in ("completed", "busy", "failed", "no-answer", "canceled"):
        await voice.ended(call, form["CallStatus"], form.get("CallDuration", ""))
    return _xml(sms.reply())


@router.post("/sms", summary="A text message arrives: answer it", responses=TWIML,
             response_class=Response)
async def incoming_sms(request: Request, svc: ServicesDep) -> Response:
    hook = await webhook(request, svc)
    sessions = svc.deps.database.sessions
    message_sid = _sid(hook, "MessageSid")
    party = await phone.identify(sessions, hook.workspace_id, hook.caller_number, "sms")
    inbox = await phone.Inbox.open(sessions, hook.scope, party, ConversationChannel.SMS,
                                   f"sms:{hook.caller_number}",
                                   f"Texts with {hook.caller_number}")
    text = sms.Text(svc.deps, hook.scope, message_sid, hook.to, hook.form.get("Body", ""),
                    party, inbox, svc.settings.sms_wait_seconds, _messaging(svc))
    return _xml(await sms.receive(text))


def _messaging(svc: ServicesDep) -> phone.MessagingApi | None:
    settings = svc.settings
    if not settings.twilio_account_sid or settings.twilio_auth_token is None:
        return None
    return phone.MessagingApi(settings.twilio_account_sid,
                              settings.twilio_auth_token.get_secret_value(),
                              settings.twilio_api_url)
