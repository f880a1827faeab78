"""The hot and staff paths on a year of history, on PostgreSQL (issue 21): every query they
really send (recorded as they run) is planned with EXPLAIN, and none reads a table that grows
with history from end to end. A dropped index is caught: the check itself is tested."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.connection import get_connection

from bot.core.clock import VirtualClock
from models.db import close_database, open_database
from tests.conftest import COMMUNITIES_SQL, MORNING, ROOM_A, make_config

# Tables that grow with every day the shop runs. Those that grow only with members (member,
# member_contact) or stay small (community, product, groupbuy, job_run) may be read whole.
GROWING = {"orders", "order_line", "inbound_message", "outbox_message", "point_entry", "wallet_entry",
           "order_settlement", "stock_day", "coupon", "product_ask", "point_draw", "campaign_member"}
DAYS, ORDERS_A_DAY, MEMBERS = 365, 150, 3000
WASTE = 2000  # rows an index found and a filter threw away: a day's worth is 150 orders
TODAY = MORNING.date()
DELIVERY = TODAY + dt.timedelta(days=1)

HISTORY = f"""
INSERT INTO member (id, name, points, first_seen, last_seen, home_id, referrer_id, referred_via)
SELECT 'm' || n, '住户' || n, n % 50, now() - interval '400 days', now(), 1 + n % 2,
       CASE WHEN n % 8 = 0 AND n > 0 THEN 'm' || (n / 8) END, CASE WHEN n % 8 = 0 AND n > 0 THEN 'code' ELSE '' END
FROM generate_series(0, {MEMBERS - 1}) n;
INSERT INTO member_contact (member_id, community_id, address, phone, updated_at)
SELECT 'm' || n, 1 + n % 2, (n % 30 + 1) || '栋' || (n % 900 + 101), '', now() FROM generate_series(0, {MEMBERS - 1}) n;
INSERT INTO groupbuy (id, sku, size, price, state, deadline, community_id, opened_by, name, unit, delivery_date,
                      created_at, closed_at)
SELECT 1 + d, 'F01', 3, 29.9, 'succeeded', now() - (d || ' days')::interval, 1 + d % 2, 'm' || d, '丹东草莓', '盒',
       DATE '{DELIVERY}' - d, now() - (d || ' days')::interval - interval '2 hours', now() - (d || ' days')::interval
FROM generate_series(0, {DAYS - 1}) d;
INSERT INTO groupbuy_participant (groupbuy_id, member_id, community_id, joined_at)
SELECT 1 + d, 'm' || ((d * 3 + k) % {MEMBERS}), 1 + d % 2, now() - (d || ' days')::interval
FROM generate_series(0, {DAYS - 1}) d, generate_series(0, 2) k;
INSERT INTO orders (member_id, community_id, delivery_date, status, groupbuy_no, created_at, updated_at)
SELECT 'm' || ((d * {ORDERS_A_DAY} + k) % {MEMBERS}), 1 + ((d * {ORDERS_A_DAY} + k) % {MEMBERS}) % 2,
       DATE '{DELIVERY}' - d, CASE WHEN d = 0 THEN 'placed' ELSE 'delivered' END,
       CASE WHEN k % 50 = 0 THEN 1 + d ELSE 0 END, now() - (d || ' days')::interval, now() - (d || ' days')::interval
FROM generate_series(0, {DAYS - 1}) d, generate_series(0, {ORDERS_A_DAY - 1}) k;
INSERT INTO order_line (order_id, sku, name, unit, price, qty, note, status, updated_at)
SELECT o.id, s.sku, s.sku, '斤', 4.5, 2, '', o.status, now()
FROM orders o, (VALUES ('V01'), ('F01')) AS s(sku);
INSERT INTO point_entry (member_id, delta, balance, remaining, reason, source, created_at)
SELECT o.member_id, 10, 10, 10, '订单积分', 'order:' || o.id, now() FROM orders o
UNION ALL  -- and as many spent (a year holds about 40 entries per member)
SELECT o.member_id, -10, 0, 0, '积分抵扣', 'redeem:' || o.id, now() FROM orders o;
INSERT INTO outbox_message (room, "to", text, mentions, broadcast, status, created_at, sent_at, attempts)
SELECT '{ROOM_A}', NULL, '已记下', '[]', FALSE, 'sent', now() - (n || ' seconds')::interval,
       now() - (n || ' seconds')::interval, 0
FROM generate_series(1, {DAYS * ORDERS_A_DAY}) n;
INSERT INTO order_settlement (order_id, total, discount, wallet_paid, due, settled_at, updated_at)
SELECT id, 18, 0, 0, 18, now(), now() FROM orders WHERE status = 'delivered';
INSERT INTO wallet_entry (member_id, delta, principal, bonus, balance, principal_after, reason, source, actor,
                          created_at, order_id)
SELECT member_id, -18, -18, 0, 100, 100, '订单支付', 'pay:' || id, 'cutoff', created_at - (id || ' minutes')::interval,
       id FROM orders WHERE id % 4 = 0
UNION ALL
SELECT 'm' || (n % {MEMBERS}), 200, 200, 0, 200, 200, '充值', 'top:' || n, 'staff', now() - (n || ' hours')::interval, NULL
FROM generate_series(1, {DAYS * 24}) n;
INSERT INTO stock_day (sku, delivery_date, taken, sold_out_announced)
SELECT s.sku, DATE '{DELIVERY}' - d, 1, FALSE FROM generate_series(0, {DAYS - 1}) d, (VALUES ('F01'), ('M01')) AS s(sku);
ANALYZE;
"""


class Recorder:
    """Every SELECT the bot sends while recording, with its parameters."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, list[Any]]] = []
        self.reports: dict[str, list[tuple[str, list[Any]]]] = {}  # staff reports of all time, by name
        self.on = False
        self.report = ""  # recording a report's queries

    def wrap(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        recorder = self

        async def recorded(client: Any, query: str, values: list[Any] | None = None) -> Any:
            if recorder.on and query.lstrip().upper().startswith("SELECT"):
                kept = recorder.reports.setdefault(recorder.report, []) if recorder.report else recorder.queries
                kept.append((query, list(values or [])))
            return await method(client, query, values)

        return recorded


@pytest.fixture
async def history(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Recorder]:
    recorder = Recorder()
    monkeypatch.setattr(AsyncpgDBClient, "execute_query", recorder.wrap(AsyncpgDBClient.execute_query))
    monkeypatch.setattr(AsyncpgDBClient, "execute_query_dict", recorder.wrap(AsyncpgDBClient.execute_query_dict))
    await open_database(pg_url)
    try:
        await get_connection("default").execute_script(COMMUNITIES_SQL + HISTORY)
        yield recorder
    finally:
        await close_database()


async def whole_reads(queries: list[tuple[str, list[Any]]]) -> list[str]:
    """The growing tables each query reads end to end (a Seq Scan, an index scan with no
    condition, or one whose rows are mostly thrown away), as "table: query" (run with EXPLAIN
    ANALYZE: the rows are the ones really read)."""
    db = get_connection("default")
    found = []
    for query, values in queries:
        [row] = await db.execute_query_dict(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}", values)
        plan = row["QUERY PLAN"]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        stack = [plan[0]["Plan"]]
        while stack:
            node = stack.pop()
            stack += node.get("Plans", [])
            whole = node["Node Type"] == "Seq Scan" or (  # an index walked end to end is no better,
                node["Node Type"] in ("Index Scan", "Index Only Scan") and "Index Cond" not in node) or (
                node.get("Rows Removed by Filter", 0) > WASTE)  # nor one that finds history to throw away
            if whole and node.get("Relation Name") in GROWING:
                found.append(f"{node['Relation Name']}: {query[:300]}")
    return found


async def run_the_paths(tmp_path: Path, recorder: Recorder) -> list[tuple[str, list[Any]]]:
    """What members and staff do on an ordinary day of that year, recorded."""
    from handlers.points import points_text
    from models.catalog import load_catalog
    from models.contacts import Contacts
    from models.facts import refresh_facts
    from models.funnel import groupbuy_figures, inviter_figures
    from models.orderbook import OrderBook
    from models.orders import member_orders, orders_for_delivery
    from models.points import Rewards
    from models.spreadsheet import export_delivery_date
    from models.stock import StockRows
    from models.tables import Member
    from bot.core.messages import Incoming
    from bot.outbox import Outbox
    from bot.pacing import Pacer

    config = make_config(tmp_path, "sqlite://:memory:")
    _, products = load_catalog(config.catalog_path)
    now = MORNING + dt.timedelta(hours=1)
    await refresh_facts(now, config.timezone)  # last night's sweep (models.facts)
    recorder.on = True
    try:
        senders = [f"m{n}" for n in random.Random(1).sample(range(MEMBERS), 40)]
        book = OrderBook(config, products, now, lock=True)
        await book.load([Incoming(f"x{n}", sender, sender, "西红柿1斤", now, ROOM_A)
                         for n, sender in enumerate(senders)])  # a batch of chat orders
        await member_orders("m7", since=TODAY)  # 我的订单
        await member_orders("m7", DELIVERY)
        await orders_for_delivery(DELIVERY)  # /汇总, the cut-off
        stock = StockRows(DELIVERY)
        await stock.read(products)
        member = await Member.get(id="m8")
        await points_text(member, VirtualClock(now), config, Rewards.of(config))  # 积分
        await Contacts.read(senders)
        await export_delivery_date(tmp_path / "day.xlsx", DELIVERY, config.timezone, order_date=TODAY)  # /导出
        # /邀请统计 reads the member facts the nightly sweep keeps (models.facts), not the
        # orders; /拼团统计 reads what it counts: a few grouped reads, not a query per
        # inviter, order or group-buy.
        recorder.report = "/邀请统计"
        await inviter_figures(now, config.timezone)
        recorder.report = "/拼团统计"
        await groupbuy_figures(config.shop.staff, now)
        recorder.report = ""

        async def send(_: Any) -> None:
            return None

        outbox = Outbox(send, Pacer(config.outbox, config.timezone), VirtualClock(now))
        await outbox.restore()  # at start: the pace of the last minute's sends
        await outbox.pending()
    finally:
        recorder.on = False
    return recorder.queries


async def test_no_hot_or_staff_query_reads_a_growing_table_whole(history: Recorder, tmp_path: Path) -> None:
    queries = await run_the_paths(tmp_path, history)
    assert len(queries) >= 15  # the paths were really run
    assert len(history.reports["/邀请统计"]) <= 10, [q for q, _ in history.reports["/邀请统计"]]
    assert await whole_reads(history.reports["/邀请统计"]) == []  # (a year of history: it reads a day's)
    assert len(history.reports["/拼团统计"]) <= 4 + 5 * 20  # a few per group-buy shown (20 at most)
    found = await whole_reads(queries)
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(("table", "columns"), [
    ("orders", "(delivery_date, status)"),  # a day's orders: the cut-off, /汇总, the export
    ("outbox_message", "(status, sent_at)"),  # the last minute's sends, at start
    ("wallet_entry", "(created_at)"),  # a day's top-ups and refunds, in the export
    ("stock_day", "(delivery_date)"),  # a day's stock rows
    ("point_entry", "(source)"),  # /邀请统计: the referral rewards of the members brought
])
async def test_a_dropped_index_is_caught(history: Recorder, tmp_path: Path, table: str, columns: str) -> None:
    """The check itself, and what each index is for: without it, the paths read that table
    from the whole year."""
    queries = await run_the_paths(tmp_path, history)
    db = get_connection("default")
    [index] = await db.execute_query_dict(
        f"SELECT indexname FROM pg_indexes WHERE tablename = '{table}' AND indexdef LIKE '%{columns}'")
    await db.execute_query(f'DROP INDEX "{index["indexname"]}"')
    await db.execute_query(f"ANALYZE {table}")
    found = await whole_reads(queries + history.reports["/邀请统计"])
    assert any(f.startswith(f"{table}: ") for f in found), found



SQLITE_HISTORY = f"""
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {MEMBERS - 1})
INSERT INTO member (id, name, points, first_seen, last_seen, home_id, referred_via)
SELECT 'm' || i, '住户' || i, 0, '2025-11-01 00:00:00+00:00', '2026-12-01 00:00:00+00:00', 1 + i % 2, '' FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {DAYS * ORDERS_A_DAY - 1})
INSERT INTO orders (member_id, community_id, delivery_date, status, groupbuy_no, created_at, updated_at)
SELECT 'm' || (i % {MEMBERS}), 1 + (i % {MEMBERS}) % 2, date('{DELIVERY}', '-' || (i / {ORDERS_A_DAY}) || ' days'),
       'delivered', 0, strftime('%Y-%m-%d %H:%M:%S+00:00', '{TODAY} 01:00:00', '-' || (i / {ORDERS_A_DAY}) || ' days'),
       strftime('%Y-%m-%d %H:%M:%S+00:00', '{TODAY} 01:00:00', '-' || (i / {ORDERS_A_DAY}) || ' days') FROM n;
ANALYZE;
"""


async def test_sqlite_seeks_the_orders_changed_since_a_mark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite plans on its own: asked for the DISTINCT members (or dates) of the orders changed
    since the facts' mark, it walked the whole member (or date) index of a year of orders
    rather than seek the changes by updated_at. What the sweeps and the dashboard send now is
    a search, never a scan of orders."""
    from tortoise.backends.sqlite.client import SqliteClient

    from models.dashboard import days
    from models.facts import changed_since

    recorder = Recorder()
    monkeypatch.setattr(SqliteClient, "execute_query", recorder.wrap(SqliteClient.execute_query))
    monkeypatch.setattr(SqliteClient, "execute_query_dict", recorder.wrap(SqliteClient.execute_query_dict))
    await open_database(f"sqlite://{tmp_path / 'year.sqlite3'}")
    try:
        db = get_connection("default")
        await db.execute_script(COMMUNITIES_SQL + SQLITE_HISTORY)
        mark = dt.datetime.combine(TODAY, dt.time(0), tzinfo=dt.UTC)
        await db.execute_query("INSERT INTO job_run (job, due_at, ran_at) VALUES ('day_figures_mark', ?, ?)",
                               [mark.isoformat(" "), mark.isoformat(" ")])
        recorder.on = True
        assert len(await changed_since(mark)) == ORDERS_A_DAY  # the last day's orders
        await days(DELIVERY - dt.timedelta(days=29), DELIVERY, mark)
        recorder.on = False
        scans = []
        for query, values in recorder.queries:
            if "orders" not in query or "LIMIT" in query:  # (the latest change: one row off an index's end)
                continue
            for row in await db.execute_query_dict(f"EXPLAIN QUERY PLAN {query}", values):
                if str(row["detail"]).startswith("SCAN orders"):
                    scans.append(f"{row['detail']}: {query[:200]}")
        assert scans == [], "\n".join(scans)
        assert any("updated_at" in q for q, _ in recorder.queries)  # the changed orders were sought
    finally:
        await close_database()
