"""Member facts and segments at a shop's full size: 100,000 members with 2 million orders (one
line each) over two years. `segments_sweep_100k_s`: the nightly sweep rewriting every member's
facts (models.facts); `segments_reply_s`: the counts `/分层` reads, and `segments_list_s`: one
segment's members (`/分层 沉默`, models.segments), both on SQLite and PostgreSQL. --quick: 10,000 members, 200,000 orders."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.figures import Figure, on_each_database
from bench.pipeline import GROUPS, TZ, database, running_bot

ORDERS_EACH = 20
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=TZ)


def history(members: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Members, their orders (every ~36 days, shifted per member) and one line per order."""
    stamp = datetime(2024, 12, 1, 9, 0, tzinfo=TZ)
    member_rows = [(f"hist_{m}", f"住户{m}", f"{m % 30 + 1}栋{m % 900 + 101}", stamp, stamp, m % GROUPS + 1)
                   for m in range(members)]
    order_rows, line_rows = [], []
    for m in range(members):
        for n in range(ORDERS_EACH):
            at = stamp + timedelta(days=n * 36 + m % 30, hours=m % 10)
            order_rows.append((f"hist_{m}", m % GROUPS + 1, at.date() + timedelta(days=1), at, at))
    for i in range(len(order_rows)):
        line_rows.append((i + 1, "V01", "西红柿", "斤", Decimal("4.5"), Decimal(i % 5 + 1), stamp))
    return member_rows, order_rows, line_rows


async def build(kind: str, url: str, members: int) -> None:
    from bench.pipeline import CONTACT_SQL, LINE_SQL, MEMBER_SQL, ORDER_SQL, split_members

    everyone, order_rows, line_rows = history(members)
    member_rows, contact_rows = split_members(everyone)
    if kind == "sqlite":
        con = sqlite3.connect(url.removeprefix("sqlite://"))
        con.executemany(MEMBER_SQL.format(*"?????"), member_rows)
        con.executemany(CONTACT_SQL.format(*"????"), contact_rows)
        con.executemany(ORDER_SQL.format(*"?????"), order_rows)
        con.executemany(LINE_SQL.format(*"???????"), line_rows)
        con.commit()
        con.close()
        return
    import asyncpg

    pg = await asyncpg.connect(url.replace("postgres://", "postgresql://"))
    try:
        marks = [f"${i}" for i in range(1, 8)]
        await pg.executemany(MEMBER_SQL.format(*marks), member_rows)
        await pg.executemany(CONTACT_SQL.format(*marks), contact_rows)
        # COPY writes no column defaults: every column that has none in the database is given.
        await pg.copy_records_to_table(
            "orders", columns=["member_id", "community_id", "delivery_date", "status", "groupbuy_no", "created_at",
                               "updated_at"], records=[(m, c, d, "placed", 0, a, u) for m, c, d, a, u in order_rows])
        await pg.copy_records_to_table(
            "order_line", columns=["order_id", "sku", "name", "unit", "price", "qty", "note", "status", "updated_at"],
            records=[(o, s, n, u, p, q, "", "placed", t) for o, s, n, u, p, q, t in line_rows])
    finally:
        await pg.close()


async def measure(kind: str, quick: bool) -> list[Figure]:
    from models.facts import refresh_facts
    from models.segments import SILENT, census, member_facts

    members = 10_000 if quick else 100_000
    size = f"{members // 1000}k"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        async with database(kind, folder) as url, running_bot(url, folder) as bot:
            await build(kind, url, members)
            started = time.perf_counter()
            done = await refresh_facts(NOW, TZ)
            sweep = time.perf_counter() - started
            if done != members:
                raise AssertionError(f"facts for {done} of {members} members")
            today, bounds, staff = date(2026, 12, 1), bot.config.segments.days, bot.config.shop.staff
            started = time.perf_counter()
            counted = await census(today, TZ, bounds, staff)
            reply = time.perf_counter() - started
            if counted.members != members:
                raise AssertionError(f"segments of {counted.members} of {members} members")
            started = time.perf_counter()
            silent = await member_facts(today, TZ, bounds, staff, SILENT)
            listed = time.perf_counter() - started
            if len(silent) != counted.total[SILENT]:
                raise AssertionError(f"{len(silent)} silent members listed, {counted.total[SILENT]} counted")
    return [Figure(f"segments_sweep_{size}_s[{kind}]", round(sweep, 2), "s", "<= 60" if not quick else "reported"),
            Figure(f"segments_reply_{size}_s[{kind}]", round(reply, 2), "s", "reported"),
            Figure(f"segments_list_{size}_s[{kind}]", round(listed, 2), "s", "reported")]


def run(quick: bool) -> list[Figure]:
    return on_each_database("segments", measure, quick)
