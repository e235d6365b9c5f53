"""Errors the store raises. Callers map them; nothing here knows about HTTP or the model."""

from __future__ import annotations

from uuid import UUID


class StoreError(Exception):
    """Base class for store errors."""


class NotFound(StoreError):
    """No such row in this workspace. Another workspace's id raises exactly this, too."""

    def __init__(self, entity: str, entity_id: UUID | str) -> None:
        super().__init__(f"{entity} {entity_id} not found")
        self.entity = entity
        self.entity_id = str(entity_id)


class InvalidArgument(StoreError):
    """A value the caller sent cannot be stored as it is (bad field, bad filter, bad cursor)."""


class Conflict(StoreError):
    """The change contradicts the data (a duplicate, a state that does not allow it)."""


class ConfigError(StoreError):
    """Configuration is missing or wrong; the message says what to do about it."""


class CryptoError(StoreError):
    """A ciphertext could not be decrypted: tampered, wrong workspace, or an unknown key id."""
