"""Database start-up and shut-down, and migrations (tortoise-orm's built-in migration system).

`open_database(url)` connects and applies every checked-in migration; `close_database()` closes.
New migrations: change models/tables.py, then `tortoise -c models.db.TORTOISE_ORM makemigrations`.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.connection import get_connection
from tortoise.migrations.executor import MigrationExecutor

log = logging.getLogger(__name__)


def _utc_text(value: datetime) -> str:
    return (value.astimezone(timezone.utc) if value.tzinfo else value).isoformat(" ")


# SQLite keeps datetimes as text, and tortoise writes them with whatever offset they carry;
# filters compare that text, so "04:00+00:00" and "11:59+08:00" would compare wrongly. Every
# aware datetime is written as UTC text instead (replacing the adapter tortoise registers).
import tortoise.backends.sqlite.executor  # noqa: E402,F401  (registers tortoise's adapters first)

sqlite3.register_adapter(datetime, _utc_text)

APP = "models"


def tortoise_config(url: str) -> dict[str, Any]:
    return {
        "connections": {"default": url},
        "apps": {
            APP: {
                "models": ["models.tables"],
                "default_connection": "default",
                "migrations": "models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# For tortoise's own CLI (makemigrations); the bot passes its configured URL instead.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")


async def open_database(url: str, migrate: bool = True) -> None:
    if url.startswith("sqlite://") and url != "sqlite://:memory:":
        Path(url.removeprefix("sqlite://")).parent.mkdir(parents=True, exist_ok=True)
    config = tortoise_config(url)
    # tortoise caches each table's INSERT by connection name and table, not by dialect: after
    # a database of another kind was open in this process (tests run SQLite, then PostgreSQL),
    # the cached SQL has the wrong placeholders. Forget it on every open.
    EXECUTOR_CACHE.clear()
    await Tortoise.init(config=config)
    if migrate:
        await apply_migrations(config)
    if url.startswith("sqlite://"):
        # WAL lets readers (the export, the web page) work while the bot writes.
        await get_connection("default").execute_script(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;"
        )


async def apply_migrations(config: dict[str, Any]) -> list[str]:
    """Apply the checked-in migrations that this database has not had; return their names."""
    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app_label}.{name}")
            log.info("migration applied: %s.%s", app_label, name)

    executor = MigrationExecutor(get_connection("default"), config["apps"])
    await executor.migrate(progress=progress)
    return applied


async def close_database() -> None:
    await Tortoise.close_connections()


def is_postgres() -> bool:
    """Whether the open database is PostgreSQL (rows are locked with FOR UPDATE there)."""
    return bool(get_connection("default").capabilities.dialect == "postgres")
