"""Shared fixtures: a database on SQLite and on PostgreSQL, a bot on a virtual clock, no network.

Every test that takes `db_url` runs twice, once per database. PostgreSQL tests get a database
of their own (created and dropped around the test). Under CI=true an unreachable PostgreSQL
fails those tests; elsewhere it skips them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import Bot
from bot.core.config import DEMO_DIR, Config, parse_config
from bot.harness import Harness
from bot.harness import start_harness as harness_at
from models.contacts import Contact

PG_HOST = os.environ.get("GROUPBUY_TEST_PG_HOST", "127.0.0.1")
PG_ADMIN_URL = f"postgres://postgres@{PG_HOST}:5432/test"
IN_CI = os.environ.get("CI", "").lower() == "true"
SHANGHAI = ZoneInfo("Asia/Shanghai")
ROOM_A = "20001@chatroom"
ROOM_B = "20002@chatroom"
# The config's two communities as rows, for tests that write a history straight into the database.
COMMUNITIES_SQL = (f"INSERT INTO community (id, room, name, delivery_slot, config_slot, active) VALUES "
                   f"(1, '{ROOM_A}', '阳光花园', '16:00-18:00', '', TRUE), "
                   f"(2, '{ROOM_B}', '桂花苑', '09:00-11:00', '', TRUE);\n")
STAFF = "wxid_owner"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


# -- no network beyond this machine -------------------------------------------------------


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that tries to reach beyond loopback fails at once (not after a time-out)."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise OSError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


# -- databases ----------------------------------------------------------------------------


async def _pg_admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"), timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "empty_database: the PostgreSQL database starts without tables")
    config.addinivalue_line("markers", "batch_rollback: the test makes a batch of messages roll back on purpose")


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    empty = request.node.get_closest_marker("empty_database") is not None
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        if not empty:
            shutil.copyfile(await _sqlite_template(request.config), path)
        yield f"sqlite://{path}"
        return
    async for url in _postgres_database(empty=empty):
        yield url


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A PostgreSQL database of the test's own (for what only PostgreSQL is meant to do)."""
    async for url in _postgres_database():
        yield url


# A database migrated once per test process; each test's database is a copy of it (CREATE
# DATABASE ... TEMPLATE, or a copied SQLite file), much faster than migrating per test.
_TEMPLATE: list[str] = []
_SQLITE_TEMPLATE: list[Path] = []


async def _sqlite_template(config: pytest.Config) -> Path:
    if not _SQLITE_TEMPLATE:
        from models.db import close_database, open_database

        folder = config._tmp_path_factory.mktemp("template")  # type: ignore[attr-defined]
        path = folder / "template.sqlite3"
        await open_database(f"sqlite://{path}")
        await close_database()
        _SQLITE_TEMPLATE.append(path)
    return _SQLITE_TEMPLATE[0]


async def _template() -> str:
    if not _TEMPLATE:
        from models.db import close_database, open_database

        name = f"gb_tmpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        await _pg_admin(f'CREATE DATABASE "{name}"')
        await open_database(f"postgres://postgres@{PG_HOST}:5432/{name}")
        await close_database()
        _TEMPLATE.append(name)
    return _TEMPLATE[0]


@pytest.fixture(scope="session", autouse=True)
def _drop_template() -> Iterator[None]:
    yield
    for name in _TEMPLATE:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _postgres_database(empty: bool = False) -> AsyncIterator[str]:
    name = f"gb_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        template = "" if empty else f' TEMPLATE "{await _template()}"'
        await _pg_admin(f'CREATE DATABASE "{name}"{template}')
    except (OSError, asyncio.TimeoutError, Exception) as error:  # noqa: BLE001 - any reason
        if IN_CI:
            pytest.fail(f"PostgreSQL at {PG_HOST}:5432 is required under CI=true: {error}")
        pytest.skip(f"PostgreSQL unreachable: {error}")
    try:
        yield f"postgres://postgres@{PG_HOST}:5432/{name}"
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- config -------------------------------------------------------------------------------


def raw_config(db_url: str = "sqlite://:memory:", **sections: dict[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "shop": {"name": "测试小铺", "timezone": "Asia/Shanghai", "staff": [STAFF]},
        "database": {"url": db_url},
        "catalog": {"file": str(DEMO_DIR / "catalog.toml")},
        "group": [
            {"room": ROOM_A, "community": "阳光花园", "delivery": "16:00-18:00"},
            {"room": ROOM_B, "community": "桂花苑", "delivery": "09:00-11:00"},
        ],
        "schedule": {"daily_post": "08:00", "cutoff": "20:00", "delivery_days": 1,
                     "delivery_notice": "15:00"},
        "outbox": {"jitter": 0},
    }
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values} if isinstance(values, dict) else values
    return raw


def make_config(tmp_path: Path, db_url: str, **sections: dict[str, Any]) -> Config:
    return parse_config(raw_config(db_url, **sections), tmp_path)


# -- a bot on a virtual clock ----------------------------------------------------------------


async def start_harness(config: Config, start: datetime, run_jobs: bool = False) -> Harness:
    """The bot at `start`, its members speaking in ROOM_A unless told; jobs off unless asked."""
    return await harness_at(config, start, run_jobs=run_jobs, seed=1, room=ROOM_A)


MORNING = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)


@pytest.fixture
async def harness(tmp_path: Path, db_url: str) -> AsyncIterator[Harness]:
    """The bot on `db_url`, at 09:00 on an ordering day, with scheduled jobs off."""
    h = await start_harness(make_config(tmp_path, db_url), MORNING)
    try:
        yield h
    finally:
        await h.bot.close()


@pytest.fixture(autouse=True)
def no_batch_rolled_back(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of messages rolled back (and handled one by one) fails the test when its bot
    closes, unless the test is marked `batch_rollback`: the fallback must not hide a fault of
    the batch path."""
    if request.node.get_closest_marker("batch_rollback") is not None:
        return
    close = Bot.close

    async def checked_close(bot: Bot) -> None:
        await close(bot)
        assert not bot.rolled_back, f"batches rolled back: {bot.rolled_back}"

    monkeypatch.setattr(Bot, "close", checked_close)


SAMPLE = Path(__file__).resolve().parents[1] / "docs" / "sample"  # shipped: always here


@pytest.fixture
def sample_data() -> Path:
    return SAMPLE


@pytest.fixture
def shared_data() -> Iterator[Path]:
    """The acceptance data CI provides beside the clone (its own copy may be newer than ours)."""
    data = SHARED / "data"
    if not data.is_dir():
        if IN_CI:
            pytest.fail(f"{data} is missing: CI runs with ../shared beside the repo")
        pytest.skip("../shared is not beside this checkout")
    yield data


async def contact_in(member: str, room: str) -> Contact:
    """What the member's orders in this room's community are delivered with."""
    from models.contacts import Contacts
    from models.tables import Community

    community = await Community.get(room=room)
    return (await Contacts.read([member])).of(member, community.id)
