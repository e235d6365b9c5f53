"""SMS: a text message runs a turn and the answer comes back as TwiML `<Message>`s.

A member's texts to one workspace number are one Neptune conversation (`sms:<To>:<From>`) and
one inbox conversation (`sms:<From>`). When the conversation has an action waiting for a
decision, a reply of YES or NO decides it through `assistant.decisions`. A text from a contact
or a stranger lands in the inbox for the team and gets no automatic reply.

Long answers are split at paragraph, line or sentence boundaries into messages of at most
`MAX_MESSAGE` characters (the provider's limit for one message body). A turn slower than
`sms_wait_seconds` is told so; it keeps running, and its answer is texted through the provider's
REST API when an account is configured (`NEPTUNE_TWILIO_ACCOUNT_SID`), and is in the member's
Neptune conversation and in the inbox either way.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from twilio.twiml.messaging_response import MessagingResponse  # type: ignore[import-untyped]

from assistant.approvals import ApprovalRefused
from assistant.channels.common import Answer, Sessions, answer_of, split_text
from assistant.channels.phone import (
    Handoff,
    Inbox,
    MessagingApi,
    Party,
    answered,
    arrive,
    failed,
    plain,
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
from store.models.channels import DeliveryChannel
from store.repositories.ai import ConversationRepository
from store.tenancy import WorkspaceScope, scoped_session
from tools.context import Caller

log = logging.getLogger(__name__)
MAX_MESSAGE = 1600
SLOW = "I'm still working on that; the answer will be in your Neptune conversations."
SLOW_TEXTED = "I'm still working on that; I'll text you the answer."
CONFIRM = "Reply YES to confirm or NO to cancel."


@dataclass(frozen=True)
class Text:
    """One inbound SMS webhook."""

    deps: RuntimeDeps
    scope: WorkspaceScope
    message_sid: str
    to: str
    body: str
    party: Party
    inbox: Inbox
    wait: float
    api: MessagingApi | None = None

    @property
    def sessions(self) -> Sessions:
        return self.deps.database.sessions


def reply(*texts: str) -> str:
    response = MessagingResponse()
    for text in texts:
        for piece in split_text(text, MAX_MESSAGE):
            response.message(piece)
    return str(response)


async def receive(sms: Text) -> str:
    """Answer the text (or repeat the first answer to a retried webhook)."""
    arrival = await arrive(sms.sessions, sms.scope, DeliveryChannel.SMS, sms.message_sid,
                           {"body": sms.body})
    if not arrival.fresh:
        return arrival.stored or reply()
    await sms.inbox.inbound(sms.body, sms.message_sid)
    caller = sms.party.caller
    if caller is None or not sms.body.strip():
        twiml = reply()
        await answered(sms.sessions, sms.scope, arrival.delivery.id, twiml)
        return twiml
    handoff = Handoff()
    done = await within(_answer(sms, caller, arrival.delivery.id, handoff), sms.wait)
    if done is not None:
        return done
    if handoff.twiml is not None:  # it finished just as the wait ran out
        return handoff.twiml
    handoff.late = True
    return reply(SLOW_TEXTED if sms.api is not None else SLOW)


async def _answer(sms: Text, caller: Caller, delivery_id: uuid.UUID, handoff: Handoff) -> str:
    try:
        answer = await _run(sms, caller)
        text = plain(answer.text) or ("" if answer.approvals else "Done.")
        if answer.error and not answer.text:
            text = f"Sorry, I couldn't finish that: {answer.error}"
        if answer.approvals:
            text = f"{text}\n\n{answer.approvals[0].title}? {CONFIRM}".strip()
        twiml = reply(text)
        await sms.inbox.outbound(text, f"{sms.message_sid}:reply")
        handoff.twiml = twiml
        sent = await _text_later(sms, text) if handoff.late else []
    except Exception as error:
        log.exception("sms %s failed", sms.message_sid)
        await failed(sms.sessions, sms.scope, delivery_id, repr(error))
        return reply("Sorry, something went wrong. Please try again.")
    await answered(sms.sessions, sms.scope, delivery_id, twiml, sent_later=sent)
    return twiml


async def _text_later(sms: Text, text: str) -> list[str]:
    """The answer as messages sent through the provider's API (the webhook already answered)."""
    if sms.api is None:
        return []
    return [await sms.api.send(sms.to, sms.party.number, piece)
            for piece in split_text(text, MAX_MESSAGE)]


async def _run(sms: Text, caller: Caller) -> Answer:
    async with scoped_session(sms.sessions, caller.scope) as session:
        row = await ConversationRepository(session, caller.scope).open_for_key(
            f"sms:{sms.to}:{sms.party.number}", channel=Channel.SMS, user_id=caller.user_id,
            title=f"Texts with {sms.party.number}",
            context={"inbox_conversation_id": str(sms.inbox.conversation_id)})
    pending = await waiting_approval(sms.sessions, caller, row.id)
    verdict = yes_or_no(sms.body)
    if pending is not None and verdict is not None:
        return await _decided(sms, caller, pending.id, verdict)
    try:
        turn = await Runtime(sms.deps).send(caller, row.id, sms.body)
    except (ConversationBusy, InvalidArgument) as refused:
        return Answer(error=str(refused))
    return await answer_of(turn)


async def _decided(sms: Text, caller: Caller, pending_id: uuid.UUID, approve: bool) -> Answer:
    answer = Answer()
    try:
        decision = await decide(sms.deps, caller, pending_id, approve=approve)
    except (ApprovalRefused, NotFound):
        answer.texts[pending_id] = "You can't decide that action; someone else has to."
        return answer
    except Conflict:
        answer.texts[pending_id] = "That action was already decided, or it expired."
        return answer
    if decision.turn is not None:
        return await answer_of(decision.turn)
    answer.texts[pending_id] = "Done." if approve else "Cancelled."
    return answer
