"""`gateway migrate [SERVICE...]`: apply the services' database schemas, then exit.

In production the services start with `GATEWAY_MIGRATE_ON_START=false` and a
Job runs this command once per release, so that pods do not race to change
the schema at every start. Each service registers its migration under the
`gateway.migrations` entry point group; this command imports no service code
of its own. Every schema file is idempotent, so running it again is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from importlib.metadata import EntryPoint, entry_points

from gateway_cli import logs
from gateway_cli.settings import read_settings

MIGRATIONS_GROUP = "gateway.migrations"

MigrateFunction = Callable[[], Awaitable[None]]

logger = logging.getLogger("gateway_cli.migrate")


def installed_migrations() -> dict[str, EntryPoint]:
    return {point.name: point for point in entry_points(group=MIGRATIONS_GROUP)}


def run_migrate(services: list[str]) -> int:
    settings = read_settings("gateway migrate")
    logs.configure("migrate", settings.log_format, settings.log_level)
    installed = installed_migrations()
    unknown = [name for name in services if name not in installed]
    if unknown:
        raise SystemExit(
            f"No schema to apply for {', '.join(unknown)}; "
            f"services with a schema here: {', '.join(sorted(installed)) or 'none'}."
        )

    chosen = services or sorted(installed)
    try:
        asyncio.run(_migrate_all([(name, installed[name].load()) for name in chosen]))
    except Exception:
        logger.critical("Migration failed; the schemas applied before the failure stay applied", exc_info=True)
        return 1
    return 0


async def _migrate_all(migrations: list[tuple[str, MigrateFunction]]) -> None:
    for name, migrate in migrations:
        logger.info("Applying the %s schema", name)
        await migrate()
        logger.info("Applied the %s schema", name)
