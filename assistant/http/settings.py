"""HTTP configuration from the environment (`NEPTUNE_*`), with defaults a demo runs on.

Tokens: `NEPTUNE_JWT_SECRET` (HS256), or `NEPTUNE_JWT_PUBLIC_KEY_FILE` (RS256 PEM), or
`NEPTUNE_JWT_JWKS_FILE` (RS256, key chosen by `kid`). `NEPTUNE_API_SECRET` signs the short-lived
WebSocket tickets; all replicas need the same one. Slack and phone webhooks:
`NEPTUNE_SLACK_SIGNING_SECRET`, `NEPTUNE_TWILIO_AUTH_TOKEN` and `NEPTUNE_PUBLIC_URL` (the base
URL the provider calls, which its signature covers); the Slack replies' own settings are read
by the worker (`assistant.channels.slack_jobs.SlackSettings`). In development mode
(`NEPTUNE_DEV_MODE=1`) a missing secret is generated once into the data directory, so
`neptune token` and `neptune serve` agree without configuration.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from assistant.settings import split_commas
from store.errors import ConfigError
from store.models.core import SubscriptionTier

DEV_SECRET_FILE = "dev-api-secret"

DEFAULT_TIER_LIMITS = {
    SubscriptionTier.FREE: 120,
    SubscriptionTier.STARTER: 600,
    SubscriptionTier.PROFESSIONAL: 2_400,
    SubscriptionTier.ENTERPRISE: 12_000,
}


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEPTUNE_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_url: str | None = None
    dev_mode: bool = False
    data_dir: Path | None = None

    jwt_secret: SecretStr | None = None
    jwt_public_key_file: Path | None = None
    jwt_jwks_file: Path | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_workspace_claim: str = "workspace"
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=600)
    api_secret: SecretStr | None = None
    ws_ticket_seconds: int = Field(default=60, ge=5, le=3600)
    dev_token_hours: float = Field(default=12.0, gt=0)

    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    ws_max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    ws_send_buffer: int = Field(default=1000, ge=10)
    ws_heartbeat_seconds: float = Field(default=20.0, gt=0)

    rate_limits: dict[SubscriptionTier, int] = Field(
        default_factory=lambda: dict(DEFAULT_TIER_LIMITS))
    user_rate_limit: int = Field(default=120, ge=1)
    rate_burst_seconds: int = Field(default=10, ge=1)
    run_worker: bool | None = None
    event_relay: bool | None = None  # default: on with an external database (replicas)
    db_pool_size: int = Field(default=20, ge=2, le=1000)
    max_concurrent_turns: int = Field(default=32, ge=1, le=1000)

    # Channels (assistant/channels): Slack's signing secret; the Twilio/SignalWire auth token
    # that signs phone webhooks (checked against `public_url` + path when set, else the URL the
    # request arrived at); how long a call or SMS webhook waits for a turn before it answers
    # with a filler (providers give up after 15 seconds).
    slack_signing_secret: SecretStr | None = None
    twilio_auth_token: SecretStr | None = None
    # To text an answer that took longer than the SMS webhook could wait: the account (Twilio
    # AC..., SignalWire project id) and the REST API base (SignalWire:
    # https://<space>.signalwire.com/api/laml). Without an account the answer stays in Neptune.
    twilio_account_sid: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    voice_wait_seconds: float = Field(default=8.0, gt=0, le=14)
    sms_wait_seconds: float = Field(default=12.0, gt=0, le=14)

    _origins = field_validator("cors_origins", mode="before")(lambda value: split_commas(value))

    def secret_for_tickets(self) -> bytes:
        """The key that signs WebSocket tickets (and development tokens when no JWT secret)."""
        if self.api_secret is not None:
            return self.api_secret.get_secret_value().encode()
        if self.dev_mode and self.data_dir is not None:
            return _dev_secret(self.data_dir)
        print("neptune: NEPTUNE_API_SECRET is not set; WebSocket tickets are signed with a "
              "per-process key and work only on this replica", file=sys.stderr)
        return _process_secret

    def dev_jwt_secret(self) -> bytes:
        """The HS256 secret tokens are checked with: the configured one, or in development mode
        the generated one `neptune token` signs with."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value().encode()
        if self.dev_mode and self.data_dir is not None:
            return _dev_secret(self.data_dir)
        raise ConfigError("no token verification is configured: set NEPTUNE_JWT_SECRET, "
                          "NEPTUNE_JWT_PUBLIC_KEY_FILE or NEPTUNE_JWT_JWKS_FILE "
                          "(or NEPTUNE_DEV_MODE=1 for a generated development secret)")


_process_secret = secrets.token_bytes(32)


def _dev_secret(data_dir: Path) -> bytes:
    path = data_dir / DEV_SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()
