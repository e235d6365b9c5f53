"""Store configuration, read from the environment once.

NEPTUNE_DATABASE_URL      the owner/migration connection (any postgresql:// URL); unset means
                          an embedded server in NEPTUNE_DATA_DIR.
NEPTUNE_APP_DATABASE_URL  the service connection; defaults to the same server and database
                          as role `neptune_app` (password NEPTUNE_APP_DB_PASSWORD, if any).
NEPTUNE_DATA_DIR          where the embedded server and dev key live (default: user data dir).
NEPTUNE_MASTER_KEYS       the keyring, `kid:base64key[,kid:base64key...]`, newest last.
NEPTUNE_DEV_MODE          1 allows a generated development key stored in the data dir.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import sqlalchemy as sa
from sqlalchemy.engine import URL

from store.errors import ConfigError

OWNER_ROLE = "neptune_owner"
SERVICE_GROUP = "neptune_service"
APP_ROLE = "neptune_app"
DATABASE_NAME = "neptune"


@dataclass(frozen=True)
class StoreSettings:
    database_url: str | None
    app_database_url: str | None
    app_db_password: str | None
    data_dir: Path
    master_keys: str | None
    dev_mode: bool

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> StoreSettings:
        env = dict(os.environ if env is None else env)
        data_dir = env.get("NEPTUNE_DATA_DIR") or platformdirs.user_data_dir("neptune")
        return cls(
            database_url=env.get("NEPTUNE_DATABASE_URL") or None,
            app_database_url=env.get("NEPTUNE_APP_DATABASE_URL") or None,
            app_db_password=env.get("NEPTUNE_APP_DB_PASSWORD") or None,
            data_dir=Path(data_dir).expanduser(),
            master_keys=env.get("NEPTUNE_MASTER_KEYS") or None,
            dev_mode=env.get("NEPTUNE_DEV_MODE", "").lower() in ("1", "true", "yes"),
        )

    @property
    def embedded(self) -> bool:
        return self.database_url is None


def parse_database_url(raw: str, variable: str = "NEPTUNE_DATABASE_URL") -> URL:
    """A postgresql URL as an asyncpg SQLAlchemy URL, or a ConfigError saying what is wrong."""
    hint = f"{variable} must look like postgresql://user:password@host:5432/dbname"
    try:
        url = sa.make_url(raw)
    except Exception as exc:  # SQLAlchemy raises ArgumentError and ValueError here
        raise ConfigError(f"{variable} is malformed ({exc}); {hint}") from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigError(f"{variable} is not a PostgreSQL URL ({url.drivername}); {hint}")
    if not url.database:
        raise ConfigError(f"{variable} names no database; {hint}")
    try:
        port = url.port
    except ValueError:
        raise ConfigError(f"{variable} has an invalid port; {hint}") from None
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"{variable} has an invalid port {port}; {hint}")
    return url.set(drivername="postgresql+asyncpg")


def app_url_for(owner_url: URL, settings: StoreSettings) -> URL:
    """The service role's URL: explicit, or the owner's server and database as neptune_app."""
    if settings.app_database_url:
        return parse_database_url(settings.app_database_url, "NEPTUNE_APP_DATABASE_URL")
    return owner_url.set(username=APP_ROLE, password=settings.app_db_password)
