"""Voice: a phone call with Neptune, as TwiML.

The call is a loop of webhooks, numbered by `step`:

    /voice                    greet, then <Gather input="speech"> (action: gather?step=1)
    /voice/gather?step=N      the recognised speech runs a turn; <Say> the answer, gather N+1
    /voice/silence?step=N     nothing heard: re-prompt once (again=1), then say goodbye
    /voice/result?step=N      a turn slower than `voice_wait_seconds` answered with a filler and
                              a <Redirect> here; the answer is collected from its delivery
    /voice/status             the provider's status callback: the call ended

Every <Gather> is followed by a <Redirect> to `silence`, which the provider follows when the
caller says nothing. When a turn ends waiting for an approval, the caller is asked to say yes
or no (or press 1 or 2); the next gather decides it through `assistant.decisions`. The call is
one Neptune conversation (`voice:<CallSid>`), answered in the voice style, and one inbox
conversation (`call:<CallSid>`) with what was said on both sides.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from twilio.twiml.voice_response import Gather, VoiceResponse  # type: ignore[import-untyped]

from assistant.approvals import ApprovalRefused
from assistant.channels.common import Answer, Sessions, answer_of
from assistant.channels.phone import (
    Inbox,
    Party,
    answered,
    arrive,
    await_answer,
    failed,
    spoken,
    waiting_approval,
    within,
    yes_or_no,
)
from assistant.decisions import decide
from assistant.deps import RuntimeDeps
from assistant.locks import ConversationBusy
from assistant.runtime import Runtime
from store.errors import Conflict, InvalidArgument, NotFound
from store.models.ai import Channel
from store.models.channels import DeliveryChannel, DeliveryStatus
from store.repositories.ai import ConversationRepository
from store.tenancy import WorkspaceScope, scoped_session
from tools.context import Caller

log = logging.getLogger(__name__)
BASE = "/v1/channels/phone/voice"
VOICE = DeliveryChannel.VOICE
MAX_COLLECTS = 6
ASK_AGAIN = "Are you still there? What can I do for you?"
GOODBYE = "I didn't hear anything, so I'll hang up now. Goodbye."
FILLER = "One moment, I'm working on that."
CONFIRM = ("Say yes to confirm, or no to cancel. You can also press 1 to confirm, "
           "or 2 to cancel.")


@dataclass(frozen=True)
class Call:
    """One webhook of a call: who, where, and what the runtime needs."""

    deps: RuntimeDeps
    scope: WorkspaceScope
    call_sid: str
    party: Party
    inbox: Inbox
    workspace_name: str
    wait: float

    @property
    def sessions(self) -> Sessions:
        return self.deps.database.sessions


def listen(response: VoiceResponse, step: int, *, prompt: str | None = None,
           confirm: bool = False, again: int = 0) -> VoiceResponse:
    """Gather speech (and a key press when confirming) into `gather?step=N`; on silence, the
    provider falls through to the redirect."""
    gather = Gather(input="speech dtmf" if confirm else "speech",
                    action=f"{BASE}/gather?step={step}", method="POST",
                    speech_timeout="auto", timeout=6, **({"num_digits": 1} if confirm else {}))
    if prompt:
        gather.say(prompt)
    response.append(gather)
    response.redirect(f"{BASE}/silence?step={step}&again={again}", method="POST")
    return response


def goodbye(text: str) -> str:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)


async def start(call: Call) -> str:
    """The call arrives: greet a member and listen; anyone else is told and the call noted."""
    key = f"{call.call_sid}:0:start"
    arrival = await arrive(call.sessions, call.scope, VOICE, key, {})
    if not arrival.fresh:
        return arrival.stored or await _replay(call, key)
    await call.inbox.inbound(f"Incoming call from {call.party.number}",
                             f"{call.call_sid}:start", event="call.started")
    if call.party.caller is None:
        twiml = goodbye(f"Thanks for calling {call.workspace_name}. This line is for team "
                        "members. We've noted your call. Goodbye.")
    else:
        await _conversation(call, call.party.caller)
        response = VoiceResponse()
        response.say(f"Hi, this is Neptune for {call.workspace_name}. How can I help?")
        twiml = str(listen(response, 1))
    await answered(call.sessions, call.scope, arrival.delivery.id, twiml)
    return twiml


async def gather(call: Call, step: int, speech: str, digits: str) -> str:
    """What the caller said (or pressed) at `step`."""
    key = f"{call.call_sid}:{step}:gather"
    arrival = await arrive(call.sessions, call.scope, VOICE, key, {"speech": speech,
                                                                  "digits": digits})
    if not arrival.fresh:
        return arrival.stored or await collect(call, step, 1)
    caller = call.party.caller
    if caller is None:
        twiml = goodbye("Sorry, this line is for team members. Goodbye.")
    elif not (speech.strip() or digits.strip()):
        twiml = str(listen(_say(ASK_AGAIN), step, again=1))
    else:
        await call.inbox.inbound(speech.strip() or f"(pressed {digits})", f"{call.call_sid}:{step}")
        done = await within(_answer(call, caller, step, speech, digits, arrival.delivery.id),
                            call.wait)
        if done is not None:
            return done
        response = _say(FILLER)
        response.redirect(f"{BASE}/result?step={step}&try=1", method="POST")
        return str(response)
    await answered(call.sessions, call.scope, arrival.delivery.id, twiml)
    return twiml


async def collect(call: Call, step: int, attempt: int) -> str:
    """The answer of a slow turn at `step`, once it is there (any replica may have run it)."""
    key = f"{call.call_sid}:{step}:gather"
    row = await await_answer(call.sessions, call.scope, VOICE, key, call.wait)
    if row is not None and row.status == DeliveryStatus.DONE and row.result.get("twiml"):
        return str(row.result["twiml"])
    if row is not None:  # failed
        return str(listen(_say("Sorry, something went wrong. Please say that again."), step))
    if attempt >= MAX_COLLECTS:
        return goodbye("Sorry, this is taking too long. You'll find the answer in your "
                       "Neptune conversations. Goodbye.")
    response = _say("Still working on it.")
    response.redirect(f"{BASE}/result?step={step}&try={attempt + 1}", method="POST")
    return str(response)


async def silence(call: Call, step: int, again: int) -> str:
    """Nothing was heard: ask once more, then say goodbye and hang up."""
    key = f"{call.call_sid}:{step}:silence:{again}"
    arrival = await arrive(call.sessions, call.scope, VOICE, key, {})
    if not arrival.fresh:
        return arrival.stored or await _replay(call, key)
    twiml = goodbye(GOODBYE) if again else str(listen(_say(ASK_AGAIN), step, again=1))
    await answered(call.sessions, call.scope, arrival.delivery.id, twiml)
    return twiml


async def ended(call: Call, status: str, duration: str) -> None:
    """The status callback: the call is over (hung up by either side)."""
    await call.inbox.inbound(f"Call ended ({status}, {duration or '0'} seconds)",
                             f"{call.call_sid}:ended", event="call.ended", status=status)


async def _replay(call: Call, key: str) -> str:
    """The answer to the first delivery of a retried webhook that is still being answered."""
    row = await await_answer(call.sessions, call.scope, VOICE, key, call.wait)
    if row is not None and row.result.get("twiml"):
        return str(row.result["twiml"])
    return goodbye("Sorry, something went wrong. Please call again.")


def _say(text: str) -> VoiceResponse:
    response = VoiceResponse()
    response.say(text)
    return response


async def _conversation(call: Call, caller: Caller) -> uuid.UUID:
    async with scoped_session(call.sessions, caller.scope) as session:
        row = await ConversationRepository(session, caller.scope).open_for_key(
            f"voice:{call.call_sid}", channel=Channel.VOICE, user_id=caller.user_id,
            title=f"Call from {call.party.number}",
            context={"inbox_conversation_id": str(call.inbox.conversation_id)})
    return row.id


async def _answer(call: Call, caller: Caller, step: int, speech: str, digits: str,
                  delivery_id: uuid.UUID) -> str:
    """Run the turn (or the decision) to its end, store the TwiML on the delivery, return it."""
    try:
        answer = await _run(call, caller, speech, digits)
        text = spoken(answer.text) or ("" if answer.approvals else "Done.")
        if answer.error and not answer.text:
            text = "Sorry, I couldn't finish that."
        if answer.approvals:
            text = f"{text} {answer.approvals[0].title}. {CONFIRM}".strip()
        twiml = str(listen(_say(text), step + 1, confirm=bool(answer.approvals)))
        await call.inbox.outbound(text, f"{call.call_sid}:{step}:reply")
    except Exception as error:
        log.exception("voice step %s of call %s failed", step, call.call_sid)
        await failed(call.sessions, call.scope, delivery_id, repr(error))
        return str(listen(_say("Sorry, something went wrong. Please try again."), step + 1))
    await answered(call.sessions, call.scope, delivery_id, twiml)
    return twiml


async def _run(call: Call, caller: Caller, speech: str, digits: str) -> Answer:
    conversation_id = await _conversation(call, caller)
    pending = await waiting_approval(call.sessions, caller, conversation_id)
    verdict = yes_or_no(digits or speech)
    if pending is not None and verdict is not None:
        return await _decided(call, caller, pending.id, verdict)
    try:
        turn = await Runtime(call.deps).send(caller, conversation_id, speech or digits)
    except (ConversationBusy, InvalidArgument) as refused:
        return Answer(texts={}, error=str(refused))
    return await answer_of(turn)


async def _decided(call: Call, caller: Caller, pending_id: uuid.UUID, approve: bool) -> Answer:
    try:
        decision = await decide(call.deps, caller, pending_id, approve=approve)
    except (ApprovalRefused, NotFound):
        return _said("You can't decide that action; someone else has to.")
    except Conflict:
        return _said("That action was already decided, or it expired.")
    if decision.turn is not None:
        return await answer_of(decision.turn)
    return _said("Done." if approve else "Cancelled.")


def _said(text: str) -> Answer:
    answer = Answer()
    answer.texts[uuid.uuid4()] = text
    return answer
