"""Conversations as their owner sees them: create, list by latest activity, read with messages
and tool calls, rename, pin, archive, delete. A conversation belongs to one member; anyone
else's id behaves exactly like an id that does not exist."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from store.db import Database
from store.errors import NotFound
from store.models.ai import AiConversation, AiMessage, Channel, NeptuneActionHistory
from store.pagination import Page
from store.repositories.ai import (
    ActionHistoryRepository,
    ConversationRepository,
    MessageRepository,
)
from store.tenancy import scoped_session
from tools.context import Caller


@dataclass(frozen=True)
class ConversationDetail:
    conversation: AiConversation
    messages: list[AiMessage]
    tool_calls: list[NeptuneActionHistory]


class Conversations:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def create(self, caller: Caller, *, title: str | None = None,
                     model: str | None = None) -> AiConversation:
        async with self._session(caller) as session:
            row: AiConversation = await ConversationRepository(session, caller.scope).create(
                user_id=caller.user_id, title=(title or "").strip() or None, model=model,
                channel=Channel(caller.channel) if caller.channel in set(Channel) else
                Channel.API,
            )
            return row

    async def list(self, caller: Caller, *, archived: bool | None = False, limit: int = 20,
                   cursor: str | None = None) -> Page[AiConversation]:
        async with self._session(caller) as session:
            return await ConversationRepository(session, caller.scope).recent(
                user_id=caller.user_id, archived=archived, limit=limit, cursor=cursor)

    async def get(self, caller: Caller, conversation_id: uuid.UUID) -> ConversationDetail:
        async with self._session(caller) as session:
            conversation = await self._own(session, caller, conversation_id)
            messages = await MessageRepository(session, caller.scope).in_order(conversation_id)
            calls = await ActionHistoryRepository(session, caller.scope).for_conversation(
                conversation_id)
            return ConversationDetail(conversation, messages, calls)

    async def owned(self, caller: Caller, conversation_id: uuid.UUID) -> AiConversation:
        """The conversation if it is the caller's; NotFound otherwise (another workspace's, or
        another member's, exactly like an id that does not exist)."""
        async with self._session(caller) as session:
            return await self._own(session, caller, conversation_id)

    async def rename(self, caller: Caller, conversation_id: uuid.UUID,
                     title: str) -> AiConversation:
        async with self._session(caller) as session:
            await self._own(session, caller, conversation_id)
            return await ConversationRepository(session, caller.scope).rename(
                conversation_id, title)

    async def pin(self, caller: Caller, conversation_id: uuid.UUID,
                  pinned: bool = True) -> AiConversation:
        async with self._session(caller) as session:
            await self._own(session, caller, conversation_id)
            return await ConversationRepository(session, caller.scope).pin(
                conversation_id, pinned)

    async def archive(self, caller: Caller, conversation_id: uuid.UUID,
                      archived: bool = True) -> AiConversation:
        async with self._session(caller) as session:
            await self._own(session, caller, conversation_id)
            repo = ConversationRepository(session, caller.scope)
            if archived:
                return await repo.archive(conversation_id)
            return await repo.unarchive(conversation_id)

    async def delete(self, caller: Caller, conversation_id: uuid.UUID) -> None:
        """Delete the conversation and its messages and events; the action history (the audit
        trail of what Neptune did) outlives it, with the conversation reference cleared."""
        async with self._session(caller) as session:
            await self._own(session, caller, conversation_id)
            await ConversationRepository(session, caller.scope).delete(conversation_id)

    @staticmethod
    async def _own(session: AsyncSession, caller: Caller,
                   conversation_id: uuid.UUID) -> AiConversation:
        row = await ConversationRepository(session, caller.scope).get(conversation_id)
        if row.user_id not in (None, caller.user_id):
            raise NotFound("ai_conversation", conversation_id)
        return row

    def _session(self, caller: Caller) -> AbstractAsyncContextManager[AsyncSession]:
        return scoped_session(self.database.sessions, caller.scope)
