"""The staff dashboard of a shop a year old (issue 19): 20 groups, 20,000 members, 2,000 orders a
day for 365 days (730,000 orders, about 1.7 million lines), written straight into the database.

`dashboard_today_ms` and `dashboard_days_ms` (30 days) / `dashboard_days90_ms`: the median time
of the page over HTTP, through the bot's own server and its sign-in session, while today's
orders keep coming (one more order between two requests, so the days page always has a changed
day to work out again). Before them, `dashboard_days_first_s`: the first time the 90 days are
worked out on this history (what the nightly job does once; after it only changed days are).
--quick: 30 days of history."""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from bench.figures import Figure, on_each_database
from bench.pipeline import TZ, config_for, database
from bot.core.clock import VirtualClock

GROUPS, MEMBERS, PER_DAY = 20, 20_000, 2_000
TODAY = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=TZ)
PRODUCTS = [("V01", "西红柿", "斤", Decimal("4.5")), ("V02", "土豆", "斤", Decimal("2.8")),
            ("M01", "黑猪五花肉", "斤", Decimal("32")), ("F01", "丹东草莓", "盒", Decimal("39.9")),
            ("D01", "纯牛奶", "箱", Decimal("55")), ("V03", "大白菜", "颗", Decimal("3.5"))]
RUNS = 9
CHUNK = 50_000


def _orders(days: int) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    """(order, its lines) for each day up to today, oldest first: each member every 10 days;
    today's orders are placed until 15:00, the past ones delivered."""
    for back in range(days - 1, -1, -1):
        day = TODAY - timedelta(days=back)
        count = PER_DAY * 15 // 24 if back == 0 else PER_DAY  # today: the orders by 15:00
        for k in range(count):
            member = (day.toordinal() * PER_DAY + k) % MEMBERS
            at = datetime(day.year, day.month, day.day, 8, 0, tzinfo=TZ) + timedelta(seconds=k * 20)
            status = "placed" if back == 0 else "delivered"
            changed = at if back == 0 else at + timedelta(days=1, hours=10)
            lines = [(p[0], p[1], p[2], p[3], Decimal(1 + (k + n) % 3), changed)
                     for n, p in enumerate(PRODUCTS[(k + j) % len(PRODUCTS)] for j in range(2 + (k % 5 == 0)))]
            yield (f"m{member}", member % GROUPS + 1, day + timedelta(days=1), status, at, changed), lines


async def build(kind: str, url: str, days: int) -> int:
    """The history, in chunks (a year of rows is too many to hold at once); how many orders."""
    stamp = datetime(2025, 12, 1, 9, 0, tzinfo=TZ)
    members = [(f"m{m}", f"住户{m}", f"{m % 30 + 1}栋{m % 900 + 101}", stamp, stamp, m % GROUPS + 1)
               for m in range(MEMBERS)]
    orders: list[tuple[Any, ...]] = []
    lines: list[tuple[Any, ...]] = []
    written = 0
    pg: Any = None
    con: sqlite3.Connection | None = None
    if kind == "sqlite":
        con = sqlite3.connect(url.removeprefix("sqlite://"))
        con.executemany("INSERT INTO member (id, name, points, first_seen, last_seen, home_id,"
                        " referred_via) VALUES (?, ?, 0, ?, ?, ?, '')",
                        [(m, n, s.isoformat(), s.isoformat(), h) for m, n, _, s, _, h in members])
        con.executemany("INSERT INTO member_contact (member_id, community_id, address, phone, updated_at)"
                        " VALUES (?, ?, ?, '', ?)", [(m, h, a, s.isoformat()) for m, _, a, s, _, h in members])
    else:
        import asyncpg

        pg = await asyncpg.connect(url.replace("postgres://", "postgresql://"))
        await pg.copy_records_to_table("member", columns=["id", "name", "points", "first_seen",
                                                          "last_seen", "home_id", "referred_via"],
                                       records=[(m, n, 0, s, s, h, "") for m, n, _, s, _, h in members])
        await pg.copy_records_to_table("member_contact", columns=["member_id", "community_id", "address", "phone",
                                                                  "updated_at"],
                                       records=[(m, h, a, "", s) for m, _, a, s, _, h in members])

    async def flush() -> None:
        nonlocal written
        if con is not None:
            con.executemany("INSERT INTO orders (member_id, community_id, delivery_date, status, groupbuy_no,"
                            " created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)",
                            [(m, c, d.isoformat(), s, a.isoformat(), u.isoformat()) for m, c, d, s, a, u in orders])
            con.executemany("INSERT INTO order_line (order_id, sku, name, unit, price, qty, note, status, updated_at)"
                            " VALUES (?, ?, ?, ?, ?, ?, '', 'placed', ?)",
                            [(o, s, n, u, str(p), str(q), t.isoformat()) for o, s, n, u, p, q, t in lines])
            con.commit()
        else:
            await pg.copy_records_to_table("orders", columns=["member_id", "community_id", "delivery_date", "status",
                                                              "groupbuy_no", "created_at", "updated_at"],
                                           records=[(m, c, d, s, 0, a, u) for m, c, d, s, a, u in orders])
            await pg.copy_records_to_table("order_line", columns=["order_id", "sku", "name", "unit", "price", "qty",
                                                                  "note", "status", "updated_at"],
                                           records=[(o, s, n, u, p, q, "", "placed", t) for o, s, n, u, p, q, t in lines])
        written += len(orders)
        orders.clear()
        lines.clear()

    try:
        for order, order_lines in _orders(days):
            orders.append(order)
            number = written + len(orders)  # ids are given in order, from 1, on an empty table
            lines.extend((number, *line) for line in order_lines)
            if len(orders) >= CHUNK:
                await flush()
        await flush()
        if pg is not None:
            await pg.execute("ANALYZE")
        elif con is not None:
            con.execute("ANALYZE")
            con.commit()
    finally:
        if con is not None:
            con.close()
        if pg is not None:
            await pg.close()
    return written


async def _one_more_order(kind: str, url: str, n: int, now: datetime) -> None:
    """An order for today arrives (written as the bot's would be): the days page has a changed day."""
    from models.rows import Statement

    sql = Statement()
    rows = await sql.rows(
        f"INSERT INTO orders (member_id, community_id, delivery_date, status, groupbuy_no, created_at, updated_at) "
        f"VALUES ({sql.mark(f'm{n}')}, {sql.mark(n % GROUPS + 1)}, {sql.mark(TODAY + timedelta(days=1))}, 'placed', "
        f"{sql.mark(1000 + n)}, {sql.mark(now)}, {sql.mark(now)}) RETURNING id")
    sql = Statement()
    await sql.rows(f"INSERT INTO order_line (order_id, sku, name, unit, price, qty, note, status, updated_at) VALUES "
                   f"({sql.mark(rows[0]['id'])}, 'V01', '西红柿', '斤', {sql.mark(Decimal('4.5'))}, {sql.mark(Decimal(2))},"
                   f" '', 'placed', {sql.mark(now)})")


async def measure(kind: str, quick: bool) -> list[Figure]:
    from bot.web import create_app
    from models.dashboard import day_range, days
    from models.signin import open_session

    history = 30 if quick else 365
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        async with database(kind, folder) as url:
            config = config_for(url, folder, GROUPS, "一年小铺")
            clock = VirtualClock(NOW)
            client = TestClient(TestServer(create_app(config, clock, run_scheduler=False), host="127.0.0.1"),
                                cookie_jar=aiohttp.CookieJar(unsafe=True))
            await client.start_server()
            try:
                orders = await build(kind, url, history)
                started = time.perf_counter()
                await days(*day_range(TODAY + timedelta(days=1), 90), clock.now())
                first = time.perf_counter() - started
                client.session.cookie_jar.update_cookies(
                    {"groupbuy_dash": await open_session("wxid_owner", clock.now(), 12)})
                timings: dict[str, list[float]] = {"today": [], "days": [], "days?n=90": []}
                arrived = 0
                for _ in range(RUNS):
                    for page, taken in timings.items():
                        clock.advance(10)
                        arrived += 1
                        await _one_more_order(kind, url, arrived, clock.now())
                        started = time.perf_counter()
                        response = await client.get(f"/dash/{page}")
                        body = await response.text()
                        taken.append(time.perf_counter() - started)
                        if response.status != 200 or ("<svg" not in body and page != "today"):
                            raise AssertionError(f"/dash/{page}: {response.status} {body[:200]}")
            finally:
                await client.close()
    median = {page: round(statistics.median(t) * 1000, 1) for page, t in timings.items()}
    target = "reported" if quick else "<= 300"
    size = f"{orders:,} orders"
    return [Figure(f"dashboard_today_ms[{kind}]", median["today"], "ms", target, size),
            Figure(f"dashboard_days_ms[{kind}]", median["days"], "ms", target, size),
            Figure(f"dashboard_days90_ms[{kind}]", median["days?n=90"], "ms", target, size),
            Figure(f"dashboard_days_first_s[{kind}]", round(first, 2), "s", "reported", size)]


def run(quick: bool) -> list[Figure]:
    return on_each_database("dashboard", measure, quick)
