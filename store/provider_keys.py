"""Workspace provider keys: sealed on write, masked in listings, revealed only to the gateway."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from store.crypto import Keyring
from store.errors import InvalidArgument, NotFound
from store.models.core import WorkspaceApiKey
from store.repositories.base import utcnow
from store.repositories.core import ProviderKeyRepository
from store.tenancy import WorkspaceScope

PROVIDERS = frozenset(
    {
        "openai",
        "anthropic",
        "google",
        "gemini",
        "mistral",
        "groq",
        "cohere",
        "azure",
        "openrouter",
        "deepseek",
        "xai",
        "together_ai",
        "ollama",
    }
)


@dataclass(frozen=True)
class MaskedKey:
    """What a listing shows: never the key, only its last four characters."""

    id: uuid.UUID
    provider: str
    name: str
    masked: str
    is_active: bool
    last_used_at: datetime | None
    created_at: datetime


def purpose_for(provider: str) -> str:
    return f"provider:{provider}"


class ProviderKeys:
    """Add, list (masked), delete and reveal a workspace's own provider keys."""

    def __init__(self, session: AsyncSession, scope: WorkspaceScope, keyring: Keyring) -> None:
        self.repo = ProviderKeyRepository(session, scope)
        self.scope = scope
        self.keyring = keyring

    async def add(
        self,
        provider: str,
        secret: str,
        *,
        name: str | None = None,
        created_by: uuid.UUID | None = None,
    ) -> MaskedKey:
        provider = provider.strip().lower()
        if provider not in PROVIDERS:
            raise InvalidArgument(f"unknown provider {provider!r}; one of {sorted(PROVIDERS)}")
        secret = secret.strip()
        if len(secret) < 8:
            raise InvalidArgument("the key is too short to be a provider key")
        sealed = self.keyring.encrypt_text(secret, self.scope.workspace_id, purpose_for(provider))
        row = await self.repo.create(
            provider=provider,
            name=name or f"{provider} key",
            encrypted_key=sealed,
            key_id=self.keyring.current,
            last_four=secret[-4:],
            created_by=created_by,
        )
        return self._mask(row)

    async def list(self) -> list[MaskedKey]:
        page = await self.repo.list(limit=200)
        return [self._mask(row) for row in page.items]

    async def delete(self, key_id: uuid.UUID) -> None:
        await self.repo.delete(key_id)

    async def reveal(self, provider: str) -> str | None:
        """The newest active key for `provider`, decrypted, or None; stamps last use."""
        rows = await self.repo._all(
            WorkspaceApiKey.provider == provider,
            WorkspaceApiKey.is_active.is_(True),
            order_by=[WorkspaceApiKey.created_at.desc()],
            limit=1,
        )
        if not rows:
            return None
        row = rows[0]
        row.last_used_at = utcnow()
        return self.keyring.decrypt_text(
            row.encrypted_key, self.scope.workspace_id, purpose_for(provider)
        )

    async def get(self, key_id: uuid.UUID) -> MaskedKey:
        row = await self.repo.find(key_id)
        if row is None:
            raise NotFound("provider key", key_id)
        return self._mask(row)

    @staticmethod
    def _mask(row: WorkspaceApiKey) -> MaskedKey:
        return MaskedKey(
            row.id,
            row.provider,
            row.name,
            f"••••{row.last_four}",
            row.is_active,
            row.last_used_at,
            row.created_at,
        )
