"""AES-256-GCM for secrets at rest (provider keys, OAuth tokens).

Envelope: b"NEP1" | len(key id) (1 byte) | key id (ascii) | 96-bit random nonce | ciphertext+tag.
The associated data binds a ciphertext to its workspace and purpose ("provider:openai",
"oauth:access"), so a row copied into another workspace or column does not decrypt.

The keyring comes from NEPTUNE_MASTER_KEYS (`kid:base64(32 bytes)`, comma-separated, newest
last). Decryption accepts any known key id; encryption always uses the newest, and
`rotate()` re-encrypts an envelope under the newest key.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from store.errors import ConfigError, CryptoError

MAGIC = b"NEP1"
NONCE_BYTES = 12
KEY_BYTES = 32
DEV_KEY_FILE = "dev-master.key"
HOW_TO_MAKE_A_KEY = (
    "generate one with `neptune keys generate` and set NEPTUNE_MASTER_KEYS=<kid>:<key>, "
    "or set NEPTUNE_DEV_MODE=1 for a local development key"
)


def associated_data(workspace_id: UUID, purpose: str) -> bytes:
    return f"neptune|{workspace_id}|{purpose}".encode()


def new_key_spec(key_id: str | None = None) -> str:
    """A fresh `kid:base64key` entry for NEPTUNE_MASTER_KEYS."""
    kid = key_id or f"k{secrets.token_hex(4)}"
    return f"{kid}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


@dataclass(frozen=True)
class Keyring:
    keys: dict[str, bytes]
    current: str

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        keys: dict[str, bytes] = {}
        current = ""
        for entry in (e.strip() for e in spec.split(",") if e.strip()):
            kid, sep, material = entry.partition(":")
            if not sep or not kid or not kid.isascii() or len(kid) > 64:
                raise ConfigError(f"NEPTUNE_MASTER_KEYS entry {kid!r} is not `kid:base64key`")
            try:
                key = base64.b64decode(material, validate=True)
            except ValueError:
                raise ConfigError(f"NEPTUNE_MASTER_KEYS key {kid!r} is not valid base64") from None
            if len(key) != KEY_BYTES:
                raise ConfigError(
                    f"NEPTUNE_MASTER_KEYS key {kid!r} must be 32 bytes, not {len(key)}"
                )
            keys[kid] = key
            current = kid
        if not keys:
            raise ConfigError(f"NEPTUNE_MASTER_KEYS is empty; {HOW_TO_MAKE_A_KEY}")
        return cls(keys=keys, current=current)

    def encrypt(self, plaintext: bytes, workspace_id: UUID, purpose: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current]).encrypt(
            nonce, plaintext, associated_data(workspace_id, purpose)
        )
        kid = self.current.encode()
        return MAGIC + bytes([len(kid)]) + kid + nonce + sealed

    def decrypt(self, envelope: bytes, workspace_id: UUID, purpose: str) -> bytes:
        kid, nonce, sealed = self._open(envelope)
        key = self.keys.get(kid)
        if key is None:
            raise CryptoError(f"ciphertext was sealed with unknown key id {kid!r}")
        try:
            return AESGCM(key).decrypt(nonce, sealed, associated_data(workspace_id, purpose))
        except InvalidTag:
            raise CryptoError(
                "ciphertext failed authentication (tampered, or wrong workspace)"
            ) from None

    def encrypt_text(self, text: str, workspace_id: UUID, purpose: str) -> bytes:
        return self.encrypt(text.encode(), workspace_id, purpose)

    def decrypt_text(self, envelope: bytes, workspace_id: UUID, purpose: str) -> str:
        return self.decrypt(envelope, workspace_id, purpose).decode()

    def rotate(self, envelope: bytes, workspace_id: UUID, purpose: str) -> bytes:
        """The same secret sealed under the newest key (unchanged if it already is)."""
        if key_id_of(envelope) == self.current:
            return envelope
        return self.encrypt(self.decrypt(envelope, workspace_id, purpose), workspace_id, purpose)

    @staticmethod
    def _open(envelope: bytes) -> tuple[str, bytes, bytes]:
        if len(envelope) < 6 or not envelope.startswith(MAGIC):
            raise CryptoError("not a Neptune ciphertext")
        size = envelope[4]
        kid_end = 5 + size
        if len(envelope) < kid_end + NONCE_BYTES + 16:
            raise CryptoError("truncated ciphertext")
        kid = envelope[5:kid_end].decode("ascii", errors="replace")
        return kid, envelope[kid_end : kid_end + NONCE_BYTES], envelope[kid_end + NONCE_BYTES :]


def key_id_of(envelope: bytes) -> str:
    return Keyring._open(envelope)[0]


def load_keyring(master_keys: str | None, *, dev_mode: bool, data_dir: Path) -> Keyring:
    """The configured keyring; in dev mode a key generated once into the data dir."""
    if master_keys:
        return Keyring.parse(master_keys)
    if not dev_mode:
        raise ConfigError(f"NEPTUNE_MASTER_KEYS is not set; {HOW_TO_MAKE_A_KEY}")
    path = data_dir / DEV_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(new_key_spec("dev1"))
            print(f"neptune: development master key written to {path}", file=sys.stderr)
    return Keyring.parse(path.read_text().strip())
