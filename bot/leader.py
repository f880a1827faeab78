"""One process sends: WeChat's pace limits are per account, so with two bot processes on one
PostgreSQL database exactly one runs the outbox sender and the scheduler, the holder of a
session advisory lock. The lock goes with its connection, so a crashed leader's lock is
released by PostgreSQL and another process takes over. SQLite: one process, always leader.

The leader proves it still holds the lock before each send (`Leadership.holds`): when the
lock's connection dies, PostgreSQL releases the lock and another process may take it at once,
so the old leader stops sending there and then, and waits to lead again (bot.leading).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger(__name__)

LEADER_KEY = 0x67620001
STARTUP_KEY = 0x67620002
PROVE_TIMEOUT = 2.0  # seconds the proof that the lock is still held may take


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def _asyncpg_url(url: str) -> str:
    parts = urlsplit(url)  # tortoise's own query parameters (minsize, ...) mean nothing to asyncpg
    return urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))


class Leadership:
    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self._connection: Any = None
        # One question at a time on the lock's connection: asyncpg refuses a second while the
        # first is in flight, and a refusal would read as "lost the lock" (the sender's proof
        # before a send can meet the leading loop's own check).
        self._asking = asyncio.Lock()

    async def try_acquire(self) -> bool:
        if not _is_postgres(self.url):
            return True
        import asyncpg

        async with self._asking:
            if self._connection is None:
                self._connection = await asyncpg.connect(_asyncpg_url(self.url))
            got = await self._connection.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_KEY)
        return bool(got)

    async def holds(self) -> bool:
        """Whether this process holds the lock now, asked of PostgreSQL on the lock's own
        connection (a dead connection, or no answer in time, is a no)."""
        if not _is_postgres(self.url):
            return True
        connection = self._connection
        if connection is None or connection.is_closed():
            return False
        async def ask() -> Any:
            async with self._asking:
                return await connection.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid() AND classid = $1 AND objid = $2 AND objsubid = 1)",
                    LEADER_KEY >> 32, LEADER_KEY & 0xFFFFFFFF)

        try:
            held = await asyncio.wait_for(ask(), PROVE_TIMEOUT)
        except Exception:  # noqa: BLE001 - any failure means it cannot prove it
            log.warning("could not prove this process holds the leader's lock", exc_info=True)
            return False
        return bool(held)

    async def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._connection.close(), PROVE_TIMEOUT)
            if not self._connection.is_closed():
                self._connection.terminate()
            self._connection = None


@contextlib.asynccontextmanager
async def startup_lock(database_url: str) -> AsyncIterator[None]:
    """Start-up (migrations, syncing the config) one process at a time: a PostgreSQL advisory
    lock, or for a SQLite file an OS lock on a file beside it."""
    if not _is_postgres(database_url):
        async with _file_lock(database_url):
            yield
        return
    import asyncpg

    connection = await asyncpg.connect(_asyncpg_url(database_url))
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", STARTUP_KEY)
        yield
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def _file_lock(database_url: str) -> AsyncIterator[None]:
    path = database_url.removeprefix("sqlite://")
    try:
        import fcntl
    except ImportError:  # not POSIX: one process per SQLite file is the rule there
        fcntl = None  # type: ignore[assignment]
    if fcntl is None or path == ":memory:":
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "a+b") as handle:
        await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
