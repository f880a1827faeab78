"""Database start-up and shut-down, and migrations (tortoise-orm's built-in migration system).

`open_database(url)` connects and applies every checked-in migration; `close_database()` closes.
New migrations: change models/tables.py, then `tortoise -c models.db.TORTOISE_ORM makemigrations`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.connection import get_connection, get_connections
from tortoise.exceptions import DBConnectionError
from tortoise.migrations.executor import MigrationExecutor
from tortoise.transactions import in_transaction

from bot.core.config import ConfigError

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


class DatabaseError(ConfigError):
    """The configured database cannot be opened; the message says which and why, in one line."""


async def open_database(url: str, migrate: bool = True) -> None:
    """Connect and migrate; DatabaseError (one line, no password) if it cannot be opened."""
    try:
        await _open(url, migrate)
    except Exception as error:
        with contextlib.suppress(Exception):
            await Tortoise.close_connections()
        raise cannot_open(url, error) from error


def cannot_open(url: str, error: Exception) -> Exception:
    """The error to raise for `error` met while opening `url`: a DatabaseError in one line
    when it means the database cannot be opened; else `error` itself (a fault of ours)."""
    if isinstance(error, DatabaseError):
        return error
    reason = _why(error)
    if reason is None:
        return error
    return DatabaseError(f'[database] url: cannot open "{_shown(url)}": {reason}')


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return url if parts.password is None else url.replace(f":{parts.password}@", ":***@", 1)


def _why(error: BaseException) -> str | None:
    """What a newcomer can act on, for the errors that mean the database cannot be opened."""
    if isinstance(error, asyncpg.exceptions.InvalidCatalogNameError):
        return f"{error} (create it first, e.g. createdb)"
    if isinstance(error, asyncpg.exceptions.PostgresError):  # a wrong user or password, ...
        return str(error)
    if isinstance(error, (ConnectionError, socket.gaierror, TimeoutError)):
        return f"the server does not answer ({error.strerror or error})" if isinstance(error, OSError) \
            else "the server does not answer in time"
    if isinstance(error, sqlite3.Error) or isinstance(error, OSError):
        return str(getattr(error, "strerror", None) or error)
    if isinstance(error, DBConnectionError):
        return str(error)
    if error.__cause__ is not None or error.__context__ is not None:
        return _why(error.__cause__ or error.__context__)  # type: ignore[arg-type]
    return None


SQLITE_CACHE_KB = 64 * 1024


async def _open(url: str, migrate: bool) -> None:
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
        # WAL lets readers (the export, the web page) work while the bot writes. The page cache
        # (2 MB by default) holds the hot pages of a year's indexes (issue 21): with the default,
        # every insert into a big table's index read its pages back from the OS.
        await get_connection("default").execute_script(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;"
            f"PRAGMA cache_size=-{SQLITE_CACHE_KB};"
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


async def pending_migrations(config: dict[str, Any]) -> list[str]:
    """The checked-in migrations this database has not had yet (nothing is applied)."""
    executor = MigrationExecutor(get_connection("default"), config["apps"])
    return [f"{step.migration.app_label}.{step.migration.name}" for step in await executor.plan()
            if not step.backward]


async def wipe() -> None:
    """Every table of the bot's models emptied, ids counting from 1 again (a replay's own
    database, before it replays again: never the shop's)."""
    tables = [model._meta.db_table for model in Tortoise.apps[APP].values()]
    connection = get_connection("default")
    if is_postgres():
        quoted = ", ".join(f'"{table}"' for table in tables)
        await connection.execute_script(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
        return
    script = "".join(f'DELETE FROM "{table}";' for table in tables)
    await connection.execute_script(f"PRAGMA foreign_keys=OFF;{script}PRAGMA foreign_keys=ON;")
    if await connection.execute_query_dict("SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'"):
        await connection.execute_script("DELETE FROM sqlite_sequence;")


async def close_database() -> None:
    await Tortoise.close_connections()


def is_postgres() -> bool:
    """Whether the open database is PostgreSQL (rows are locked with FOR UPDATE there)."""
    return bool(get_connection("default").capabilities.dialect == "postgres")


@contextlib.asynccontextmanager
async def transaction() -> AsyncIterator[BaseDBAsyncClient]:
    """`tortoise.transactions.in_transaction()` (a savepoint inside another transaction),
    safe when the connection is lost as it begins.

    tortoise makes the new transaction this task's connection before it sends BEGIN; when the
    BEGIN fails (PostgreSQL terminated the connection, the server restarted) it neither undoes
    that nor gives the connection back. Every later transaction of the task would then be a
    savepoint on the dead connection, failing for ever: the writer would never write again.
    This undoes what the failed start did, so the next transaction takes a fresh connection.
    """
    context = in_transaction()
    try:
        client = await context.__aenter__()
    except BaseException:
        await _abandon(context, started=False)
        raise
    try:
        try:
            yield client
        except BaseException as error:
            await context.__aexit__(type(error), error, error.__traceback__)
            raise
        await context.__aexit__(None, None, None)
    except BaseException:
        # The end can fail on a lost connection too (its ROLLBACK, or giving the connection
        # back), before tortoise resets the task's connection: undo what is still left.
        await _abandon(context, started=True)
        raise


async def _abandon(context: Any, started: bool) -> None:
    """Undo a transaction that failed to start or to end: the task's connection as it was,
    the pooled connection back to its pool, SQLite's transaction lock released (each only
    if it is still to do)."""
    token = getattr(context, "token", None)
    if token is None:
        return  # it failed before it took anything (or it was a savepoint: nothing to undo)
    with contextlib.suppress(Exception):
        get_connections().reset(token)
    client: Any = getattr(context, "client", None)
    pool = getattr(getattr(client, "_parent", None), "_pool", None)
    connection = getattr(client, "_connection", None)
    if pool is not None and connection is not None:
        with contextlib.suppress(Exception):
            await pool.release(connection)
    lock = getattr(context, "_trxlock", None)
    if not started and lock is not None and lock.locked():
        lock.release()  # taken for the BEGIN that failed (once started, its end releases it)


# What says the database went away (not that a statement was wrong), and what says
# PostgreSQL rolled a transaction back so that another could go on (a deadlock).
_LOST = (ConnectionError, socket.gaierror, TimeoutError, DBConnectionError,
         asyncpg.exceptions.InterfaceError, asyncpg.exceptions.InternalClientError,
         asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError,
         asyncpg.exceptions.InvalidCatalogNameError)
_TRANSIENT = (asyncpg.exceptions.TransactionRollbackError, asyncpg.exceptions.LockNotAvailableError)


def _caused_by(error: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether `error`, or an error it was raised from or while handling, is one of `kinds`."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kinds):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def connection_lost(error: BaseException) -> bool:
    """Whether `error` (or what caused it) says the database went away, rather than that a
    statement was wrong: the work is worth doing again once it is back."""
    return _caused_by(error, _LOST)


def transient(error: BaseException) -> bool:
    """A deadlock or a serialisation failure: PostgreSQL rolled the transaction back so that
    another could go on; the same work done again succeeds."""
    return _caused_by(error, _TRANSIENT)


async def ping(timeout: float = 2.0) -> str | None:
    """None if the database answers a query within `timeout` seconds; else what went wrong."""
    try:
        await asyncio.wait_for(get_connection("default").execute_query("SELECT 1"), timeout)
    except Exception as error:  # noqa: BLE001 - any reason is the answer
        return f"{type(error).__name__}: {error}"[:200] or type(error).__name__
    return None
