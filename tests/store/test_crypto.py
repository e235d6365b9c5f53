"""AES-256-GCM envelopes, keyring parsing, rotation, and provider keys at rest."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from store.bootstrap import DatabaseUrls
from store.crypto import Keyring, key_id_of, load_keyring, new_key_spec
from store.errors import ConfigError, CryptoError, InvalidArgument, NotFound
from store.maintenance import rotate_secrets
from store.provider_keys import ProviderKeys
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace

WS = uuid.uuid4()


def test_round_trip_binds_workspace_and_purpose() -> None:
    ring = Keyring.parse(new_key_spec("a"))
    sealed = ring.encrypt(b"sk-secret", WS, "provider:openai")
    assert b"sk-secret" not in sealed and key_id_of(sealed) == "a"
    assert ring.decrypt(sealed, WS, "provider:openai") == b"sk-secret"
    assert ring.encrypt(b"sk-secret", WS, "provider:openai") != sealed  # fresh nonce
    with pytest.raises(CryptoError, match="authentication"):
        ring.decrypt(sealed, uuid.uuid4(), "provider:openai")
    with pytest.raises(CryptoError, match="authentication"):
        ring.decrypt(sealed, WS, "provider:anthropic")


@pytest.mark.parametrize("position", [-1, -20, 20])
def test_any_flipped_bit_fails(position: int) -> None:
    ring = Keyring.parse(new_key_spec("a"))
    sealed = bytearray(ring.encrypt(b"payload", WS, "p"))
    sealed[position] ^= 0x01
    with pytest.raises(CryptoError):
        ring.decrypt(bytes(sealed), WS, "p")


def test_unknown_key_id_and_garbage_fail_loudly() -> None:
    old = Keyring.parse(new_key_spec("old"))
    other = Keyring.parse(new_key_spec("new"))
    with pytest.raises(CryptoError, match="unknown key id 'old'"):
        other.decrypt(old.encrypt(b"x", WS, "p"), WS, "p")
    with pytest.raises(CryptoError, match="not a Neptune ciphertext"):
        other.decrypt(b"plain text", WS, "p")
    with pytest.raises(CryptoError, match="truncated"):
        other.decrypt(b"NEP1\x03new123", WS, "p")


def test_rotation_decrypts_old_and_seals_with_newest() -> None:
    first = new_key_spec("k1")
    old_ring = Keyring.parse(first)
    sealed = old_ring.encrypt(b"token", WS, "oauth:access")
    ring = Keyring.parse(f"{first},{new_key_spec('k2')}")
    assert ring.current == "k2"
    assert ring.decrypt(sealed, WS, "oauth:access") == b"token"
    rotated = ring.rotate(sealed, WS, "oauth:access")
    assert key_id_of(rotated) == "k2" and ring.rotate(rotated, WS, "oauth:access") is rotated
    assert ring.decrypt(rotated, WS, "oauth:access") == b"token"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "empty"),
        ("nokey", "kid:base64key"),
        ("a:!!!", "base64"),
        ("a:c2hvcnQ=", "32 bytes"),
    ],
)
def test_bad_keyrings_are_config_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Keyring.parse(spec)


def test_missing_key_refused_outside_dev_mode(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neptune keys generate"):
        load_keyring(None, dev_mode=False, data_dir=tmp_path)
    ring = load_keyring(None, dev_mode=True, data_dir=tmp_path)
    assert load_keyring(None, dev_mode=True, data_dir=tmp_path).keys == ring.keys
    assert (tmp_path / "dev-master.key").stat().st_mode & 0o077 == 0


async def test_provider_keys_are_sealed_masked_and_rotated(
    sessions: async_sessionmaker[AsyncSession], make_workspace: MakeWorkspace, db_urls: DatabaseUrls
) -> None:
    first = new_key_spec("r1")
    ws, other = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        keys = ProviderKeys(s, ws.scope, Keyring.parse(first))
        masked = await keys.add("OpenAI", "sk-live-1234567890abcd", created_by=ws.user_id)
        assert masked.masked == "••••abcd" and "sk-live" not in repr(masked)
        with pytest.raises(InvalidArgument, match="unknown provider"):
            await keys.add("nope", "sk-live-1234567890abcd")
        stored = await s.scalar(sa.text("SELECT encrypted_key FROM workspace_api_keys"))
        assert b"sk-live" not in stored
    async with scoped_session(sessions, other.scope) as s:
        with pytest.raises(NotFound):
            await ProviderKeys(s, other.scope, Keyring.parse(first)).get(masked.id)
        assert await ProviderKeys(s, other.scope, Keyring.parse(first)).reveal("openai") is None
    ring = Keyring.parse(f"{first},{new_key_spec('r2')}")
    owner = create_async_engine(db_urls.owner)
    try:
        assert await rotate_secrets(owner, ring, workspace_id=ws.workspace_id) == 1
    finally:
        await owner.dispose()
    async with scoped_session(sessions, ws.scope) as s:
        keys = ProviderKeys(s, ws.scope, Keyring.parse(f"{first},{new_key_spec('r2')}"))
        with pytest.raises(CryptoError):  # r2 in this ring is a different key than the one used
            await keys.reveal("openai")
        assert await ProviderKeys(s, ws.scope, ring).reveal("openai") == "sk-live-1234567890abcd"
        await keys.delete(masked.id)
        assert await keys.list() == []
