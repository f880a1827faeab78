"""A day with more orders than one statement takes parameters (asyncpg: 32,767), through the
cut-off, delivery and the export (issue 21: no IN list without a bound). The bound is lowered
for the test (every IN list is sliced by models.rows.chunks), and a statement with more
parameters than it allows fails the test: a list that is not sliced shows at 3,000 orders as it
would at 33,000, in seconds."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from tortoise.connection import get_connection

from models.db import close_database, open_database
from tests.conftest import COMMUNITIES_SQL, MORNING, make_config

ORDERS = 3_000  # one order per member
BOUND = 1_000  # values per IN list, for the test
MOST = 2 * BOUND  # parameters a statement may carry here (the real ones: 5,000 and 32,767)
DELIVERY = MORNING.date() + dt.timedelta(days=1)

DAY = f"""
INSERT INTO member (id, name, points, first_seen, last_seen, home_id, referred_via)
SELECT 'm' || n, '住户' || n, 0, now(), now(), 1 + n % 2, '' FROM generate_series(0, {ORDERS - 1}) n;
INSERT INTO orders (member_id, community_id, delivery_date, status, groupbuy_no, created_at, updated_at)
SELECT 'm' || n, 1 + n % 2, DATE '{DELIVERY}', 'placed', 0, now(), now() FROM generate_series(0, {ORDERS - 1}) n;
INSERT INTO order_line (order_id, sku, name, unit, price, qty, note, status, updated_at)
SELECT id, 'V01', '西红柿', '斤', 4.5, 2, '', 'placed', now() FROM orders;
ANALYZE;
"""


class Outbox:
    def __init__(self) -> None:
        self.sent: list[object] = []

    async def put(self, message: object) -> int | None:
        self.sent.append(message)
        return None


@pytest.fixture
async def big_day(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[int]]:
    import models.rows
    from tortoise.backends.asyncpg.client import AsyncpgDBClient

    monkeypatch.setattr(models.rows, "IN_MAX", BOUND)
    largest: list[int] = [0]
    for name in ("execute_query", "execute_query_dict"):
        method = getattr(AsyncpgDBClient, name)

        def bounded(method: Any) -> Any:
            async def run(client: Any, query: str, values: list[Any] | None = None) -> Any:
                largest[0] = max(largest[0], len(values or ()))
                assert len(values or ()) <= MOST, f"{len(values or ())} parameters: {query[:300]}"
                return await method(client, query, values)
            return run

        monkeypatch.setattr(AsyncpgDBClient, name, bounded(method))
    await open_database(pg_url)
    try:
        await get_connection("default").execute_script(COMMUNITIES_SQL + DAY)
        yield largest
    finally:
        await close_database()


async def test_the_cut_off_delivery_and_export_of_a_day_beyond_one_statements_parameters(
        big_day: list[int], tmp_path: Path) -> None:
    from handlers.announcements import post_summaries
    from models.delivery import deliver
    from models.points import Rewards
    from models.settlement import settle_day
    from models.spreadsheet import export_delivery_date
    from models.tables import Order, OrderLine, Settlement

    config = make_config(tmp_path, "sqlite://:memory:")
    now = MORNING.replace(hour=20)
    outbox = Outbox()
    await post_summaries(DELIVERY, outbox)  # the cut-off: each group's list
    assert len(outbox.sent) == 2 and f"共{ORDERS // 2}单" in str(outbox.sent[0])
    settled = await settle_day(DELIVERY, config.wallet, outbox, now)
    assert len(settled) == ORDERS and await Settlement.filter(due=9).count() == ORDERS
    path = await export_delivery_date(tmp_path / "day.xlsx", DELIVERY, config.timezone, order_date=MORNING.date())
    book = load_workbook(path, read_only=True)
    try:
        assert sum(1 for _ in book["订单"].iter_rows()) == ORDERS + 1
    finally:
        book.close()
    done = await deliver(DELIVERY, None, Rewards.of(config), now + dt.timedelta(days=1), outbox)
    assert len(done.orders) == ORDERS and len(done.dues) == ORDERS
    assert await Order.filter(status="delivered").count() == ORDERS
    assert await OrderLine.filter(status="delivered").count() == ORDERS
    assert BOUND <= big_day[0] <= MOST  # the lists were sliced, and the slices used
