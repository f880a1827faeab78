"""The whole message path under load: in-memory transport -> Bot.handle (parse, handlers, one
transaction with the inbound record, the order and the reply row) -> outbox row queued.

Open loop: messages arrive at random (Poisson) times at the offered rate, 50 groups of 500
members, 1 in 200 a 500-line 接龙; each message's latency runs from its arrival to its reply
being queued (Bot.handle returning after the commit). Saturation: everything offered at once.
The machine's own limit is the raw database driver inserting order rows in bulk, measured in
the same run. After each run the stored orders are checked against what was sent.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.figures import Figure
from bot.app import Bot
from bot.core.config import DEMO_DIR, parse_config
from bot.core.messages import Incoming
from bot.harness import start_harness

TZ = ZoneInfo("Asia/Shanghai")
MORNING = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
GROUPS, MEMBERS = 50, 500
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"

# (text, sku, qty added) - what a message should add to its sender's order
ORDERS = [("西红柿2斤", "V01", 2), ("3号x2", "M01", 2), ("土豆 3斤", "V02", 3), ("草莓1盒", "F01", 1),
          ("要一箱牛奶", "D01", 1), ("大白菜1颗", "V03", 1), ("虾1斤", "S01", 1), ("豆腐2块", "T01", 2)]
TALK = ["谢谢团长", "今天的草莓甜吗？", "好的", "我的订单", "收到"]


@dataclass
class Load:
    messages: list[Incoming]
    expected: Counter[tuple[str, str]]  # (member, sku) -> qty


def make_load(count: int, seed: int = 7) -> Load:
    rng = random.Random(seed)
    rooms = [f"{40000 + g}@chatroom" for g in range(GROUPS)]
    chains = {room: [f"{i}. 住户{room[:5]}{i} 西红柿1斤" for i in range(1, 500)] for room in rooms}
    messages: list[Incoming] = []
    expected: Counter[tuple[str, str]] = Counter()
    for n in range(count):
        room = rng.choice(rooms)
        member = f"wxid_{room[:5]}_{rng.randrange(MEMBERS)}"
        if n % 200 == 199:  # a 500-line 接龙: the list so far plus the sender's new line
            lines = chains[room]
            lines.append(f"{len(lines) + 1}. 新{member[-6:]} 土豆2斤")
            text = "#接龙\n今日蔬菜\n\n" + "\n".join(lines)
            expected[(member, "V02")] += 2
        elif rng.random() < 0.8:
            text, sku, qty = rng.choice(ORDERS)
            expected[(member, sku)] += qty
        else:
            text = rng.choice(TALK)
        messages.append(Incoming(f"bench-{n}", member, member[-8:], text, MORNING, room))
    return Load(messages, expected)


def config_for(url: str, folder: Path, groups: int = GROUPS, name: str = "压测小铺") -> Any:
    raw = {
        "shop": {"name": name, "staff": ["wxid_owner"]},
        "database": {"url": url},
        "catalog": {"file": str(DEMO_DIR / "catalog.toml")},
        "group": [{"room": f"{40000 + g}@chatroom", "community": f"小区{g}", "delivery": "16:00-18:00"}
                  for g in range(groups)],
        "outbox": {"jitter": 0},
        "spreadsheet": {"path": str(folder / "orders-{date}.xlsx")},
    }
    return parse_config(raw, folder)


@asynccontextmanager
async def database(kind: str, folder: Path, template: str | None = None) -> AsyncIterator[str]:
    if kind == "sqlite":
        yield f"sqlite://{folder / f'bench-{uuid.uuid4().hex[:6]}.sqlite3'}"
        return
    import asyncpg

    name = f"gb_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        copied = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""  # (a cached history)
        await admin.execute(f'CREATE DATABASE "{name}"{copied}')
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def running_bot(url: str, folder: Path) -> AsyncIterator[Bot]:
    # The shop's time stands at 09:00: ordering is open; no jobs run.
    h = await start_harness(config_for(url, folder), MORNING, run_jobs=False)
    try:
        yield h.bot
    finally:
        await h.close()


async def check_orders(load: Load, handled: int) -> None:
    """The stored orders hold exactly what the handled messages asked for."""
    from models.tables import OrderLine

    stored: Counter[tuple[str, str]] = Counter()
    lines = OrderLine.filter(order__delivery_date=LOAD_DELIVERY)
    for member, sku, qty in await lines.values_list("order__member_id", "sku", "qty"):
        stored[(str(member), str(sku))] += int(qty)
    if handled == len(load.messages) and stored != load.expected:
        missing = (load.expected - stored) + (stored - load.expected)
        raise AssertionError(f"stored orders differ from what was sent: {list(missing.items())[:5]}")


async def open_loop(bot: Bot, load: Load, rate: float) -> tuple[list[float], float]:
    """Offer the messages at `rate` per second (Poisson arrivals); latencies (s) and the share
    of the offered rate handled: the time the arrivals took over the time until the last
    message was handled (random arrivals offer a little more or less than `rate`, so the rate
    offered is measured too)."""
    rng = random.Random(3)
    latencies: list[float] = []
    tasks = []

    async def one(msg: Incoming) -> None:
        arrived = time.perf_counter()
        await bot.handle(msg)
        latencies.append(time.perf_counter() - arrived)

    start = time.perf_counter()
    due = 0.0
    for msg in load.messages:
        due += rng.expovariate(rate)
        wait = start + due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(msg)))
    offered = time.perf_counter() - start  # the last arrival
    await asyncio.gather(*tasks)
    return latencies, offered / (time.perf_counter() - start)


async def saturate(bot: Bot, load: Load) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(bot.handle(msg) for msg in load.messages))
    return len(load.messages) / (time.perf_counter() - start)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] * 1000 if len(values) > 1 else 0.0


ROW = ("wxid_x", 1, "2026-12-02", "placed", "2026-12-01 01:00:00+00:00")
LOAD_DELIVERY = date(2026, 12, 2)  # what the load orders for
BIG_DAY = date(2026, 12, 3)  # a day of many lines, for the export under load


def big_day_rows(lines: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], Any]:
    """Members and orders of `lines` lines for BIG_DAY, and a function of the first order id
    giving the lines (Python values: each driver converts them)."""
    stamp = datetime(2026, 12, 2, 9, 0, tzinfo=TZ)
    members = lines // 2
    member_rows = [(f"big_{m}", f"住户{m}", f"{m % 30 + 1}栋{m % 900 + 101}", stamp, stamp, m % GROUPS + 1)
                   for m in range(members)]
    order_rows = [(f"big_{m}", m % GROUPS + 1, BIG_DAY, stamp, stamp) for m in range(members)]
    products = [("V01", "西红柿", "斤", Decimal("4.5")), ("V02", "土豆", "斤", Decimal("2.8")),
                ("M01", "黑猪五花肉", "斤", Decimal("32")), ("F01", "丹东草莓", "盒", Decimal("39.9"))]

    def line_rows(first: int) -> list[tuple[Any, ...]]:
        return [(first + i // 2, *products[(i % 2) + 2 * (i // 2 % 2)], Decimal(i % 5 + 1), stamp)
                for i in range(lines)]

    return member_rows, order_rows, line_rows


MEMBER_SQL = ("INSERT INTO member (id, name, points, first_seen, last_seen, home_id,"
              " referred_via) VALUES ({}, {}, 0, {}, {}, {}, '')")
CONTACT_SQL = ("INSERT INTO member_contact (member_id, community_id, address, phone, updated_at)"
               " VALUES ({}, {}, {}, '', {})")


def split_members(rows: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(id, name, address, first seen, last seen, home) rows as MEMBER_SQL's and CONTACT_SQL's
    (an address is kept per member and community: models.contacts)."""
    return [(m, n, s, t, h) for m, n, _, s, t, h in rows], [(m, h, a, s) for m, _, a, s, _, h in rows]
ORDER_SQL = ("INSERT INTO orders (member_id, community_id, delivery_date, status, groupbuy_no,"
             " created_at, updated_at) VALUES ({}, {}, {}, 'placed', 0, {}, {})")
LINE_SQL = ("INSERT INTO order_line (order_id, sku, name, unit, price, qty, note, status, updated_at)"
            " VALUES ({}, {}, {}, {}, {}, {}, '', 'placed', {})")


async def build_big_day(kind: str, url: str, lines: int) -> None:
    """Orders of `lines` lines for BIG_DAY, written straight into the bot's database."""
    members, orders, line_rows = big_day_rows(lines)
    if kind == "sqlite":
        con = sqlite3.connect(url.removeprefix("sqlite://"))  # models.db's adapters write the values
        people, contacts = split_members(members)
        con.executemany(MEMBER_SQL.format(*"?????"), people)
        con.executemany(CONTACT_SQL.format(*"????"), contacts)
        con.executemany(ORDER_SQL.format(*"?????"), orders)
        first = con.execute("SELECT MIN(id) FROM orders WHERE delivery_date = ?", (BIG_DAY,)).fetchone()[0]
        con.executemany(LINE_SQL.format(*"???????"), line_rows(first))
        con.commit()
        con.close()
        return
    import asyncpg

    pg = await asyncpg.connect(url.replace("postgres://", "postgresql://"))
    try:
        marks = [f"${i}" for i in range(1, 8)]
        people, contacts = split_members(members)
        await pg.executemany(MEMBER_SQL.format(*marks), people)
        await pg.executemany(CONTACT_SQL.format(*marks), contacts)
        await pg.executemany(ORDER_SQL.format(*marks), orders)
        first = await pg.fetchval("SELECT MIN(id) FROM orders WHERE delivery_date = $1", BIG_DAY)
        await pg.executemany(LINE_SQL.format(*marks), line_rows(first))
    finally:
        await pg.close()


async def export_under_load(bot: Bot, load: Load, rate: float) -> tuple[list[float], float]:
    """Offer `load` at `rate` while the big day's workbook is written; latencies of the
    messages that arrived while the export ran, and how long the export took."""
    started = time.perf_counter()
    export = asyncio.create_task(bot.export(BIG_DAY))
    latencies: list[float] = []
    rng = random.Random(4)
    tasks = []

    async def one(msg: Incoming) -> None:
        arrived = time.perf_counter()
        await bot.handle(msg)
        latencies.append(time.perf_counter() - arrived)

    due = 0.0
    for msg in load.messages:
        if export.done():
            break
        due += rng.expovariate(rate)
        wait = started + due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(msg)))
    path = await export
    seconds = time.perf_counter() - started
    await asyncio.gather(*tasks)
    if path is None:
        raise RuntimeError("the workbook was not written")
    return latencies, seconds


async def raw_insert_rate(kind: str, url: str, rows: int = 50_000) -> float:
    """The driver alone: order rows inserted in bulk in one transaction (best of three)."""
    best = 0.0
    for _ in range(3):
        if kind == "sqlite":
            con = sqlite3.connect(url.removeprefix("sqlite://") + ".raw")
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("CREATE TABLE IF NOT EXISTS o (member_id TEXT, community_id INT, delivery_date TEXT,"
                        " status TEXT, created_at TEXT)")
            start = time.perf_counter()
            con.executemany("INSERT INTO o VALUES (?,?,?,?,?)", [ROW] * rows)
            con.commit()
            best = max(best, rows / (time.perf_counter() - start))
            con.close()
        else:
            import asyncpg

            con = await asyncpg.connect(url.replace("postgres://", "postgresql://"))
            await con.execute("CREATE TABLE IF NOT EXISTS o (member_id TEXT, community_id INT,"
                              " delivery_date TEXT, status TEXT, created_at TEXT)")
            start = time.perf_counter()
            async with con.transaction():
                await con.executemany("INSERT INTO o VALUES ($1,$2,$3,$4,$5)", [ROW] * rows)
            best = max(best, rows / (time.perf_counter() - start))
            await con.close()
    return best


async def measure(kind: str, quick: bool) -> list[Figure]:
    seconds = 2 if quick else 10  # a 1 s run is too short: the last replies' tail weighs 3 %
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        async with database(kind, folder) as url, running_bot(url, folder) as bot:
            load = make_load(1000 * seconds)
            latencies, achieved = await open_loop(bot, load, 1000)
            await check_orders(load, len(latencies))
            figures.append(Figure(f"pipeline_sustained_p99_ms[{kind}]", round(p99(latencies), 1), "ms", "<= 50"))
            figures.append(Figure(f"pipeline_achieved_pct[{kind}]", round(100 * achieved, 1), "%", ">= 99"))
        async with database(kind, folder) as url, running_bot(url, folder) as bot:
            load = make_load(300 if quick else 1000, seed=5)  # a lighter load, for comparison
            latencies, _ = await open_loop(bot, load, 100)
            await check_orders(load, len(latencies))
            figures.append(Figure(f"pipeline_p99_ms_at_100_per_s[{kind}]", round(p99(latencies), 1), "ms",
                                  "reported"))
        async with database(kind, folder) as url, running_bot(url, folder) as bot:
            load = make_load(3000 if quick else 10_000, seed=11)
            rate = await saturate(bot, load)
            await check_orders(load, len(load.messages))
            limit = await raw_insert_rate(kind, url)
            figures.append(Figure(f"pipeline_max_msgs_per_s[{kind}]", round(rate), "msgs/s", ">= 3000",
                                  f"{limit:,.0f} rows/s"))
            figures.append(Figure(f"pipeline_vs_limit[{kind}]", round(rate / limit, 4), "ratio", "reported"))
        async with database(kind, folder) as url, running_bot(url, folder) as bot:
            lines = 10_000 if quick else 100_000
            await build_big_day(kind, url, lines)
            latencies, took = await export_under_load(bot, make_load(100_000, seed=9), 200)
            figures.append(Figure(f"export_during_load_p99_ms[{kind}]", round(p99(latencies), 1), "ms",
                                  "<= 100", f"{lines:,} lines in {took:.1f} s"))
    return figures


def run(quick: bool) -> list[Figure]:
    figures = []
    for kind in ("sqlite", "postgres"):
        try:
            figures.extend(asyncio.run(measure(kind, quick)))
        except OSError as error:  # no PostgreSQL here
            print(f"pipeline on {kind}: skipped ({error})", file=sys.stderr)
    return figures
