"""Stock per delivery day: never oversold, also under concurrent orders; sold-out said once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from models.stock import stock_left
from models.tables import OrderLine, StockDay
from tests.conftest import MORNING, ROOM_A, ROOM_B, Harness, make_config, start_harness

CATALOG = """
[[product]]
sku = "F01"
name = "丹东草莓"
aliases = ["草莓"]
unit = "盒"
price = 39.9
stock = 5

[[product]]
sku = "V01"
name = "西红柿"
unit = "斤"
price = 4.5
"""


@pytest.fixture
async def shop(tmp_path: Path, db_url: str) -> AsyncIterator[Harness]:
    (tmp_path / "catalog.toml").write_text(CATALOG, encoding="utf-8")
    h = await start_harness(make_config(tmp_path, db_url, catalog={"file": "catalog.toml"}), MORNING)
    try:
        yield h
    finally:
        await h.bot.close()


async def taken() -> Decimal:
    return sum((line.qty for line in await OrderLine.filter(sku="F01")), Decimal(0))


async def test_what_is_left_is_taken_and_the_member_is_told(shop: Harness) -> None:
    await shop.say("草莓3盒", sender="a")
    await shop.flush()
    await shop.say("草莓4盒", sender="b")
    await shop.flush()
    await shop.say("草莓1盒", sender="c")
    await shop.flush()
    assert await taken() == 5
    b_reply, c_reply = shop.texts(room=ROOM_A)[1], shop.texts(room=ROOM_A)[-1]
    assert "丹东草莓只剩2盒，已为您记下2盒" in b_reply
    assert "丹东草莓已售完，没有记下" in c_reply
    sold_out = [t for t in shop.texts() if "今天已售完" in t]
    assert len(sold_out) == 2  # once, in each group
    assert {s.message.room for s in shop.transport.sent if "今天已售完" in s.message.text} == {ROOM_A, ROOM_B}


async def test_cancelling_and_lowering_give_stock_back(shop: Harness) -> None:
    await shop.say("草莓5盒", sender="a")
    await shop.say("草莓改成2盒", sender="a")
    await shop.say("草莓3盒", sender="b")
    assert await taken() == 5
    await shop.say("取消订单", sender="b")
    assert await taken() == 2
    left = await stock_left(shop.bot.services.offer, (await StockDay.get()).delivery_date)
    assert left == {"F01": Decimal(3)}


async def test_concurrent_orders_never_oversell(tmp_path: Path, db_url: str) -> None:
    """Thirty members in ten groups order at the same moment. Groups are handled concurrently,
    so on PostgreSQL these are concurrent transactions; the row lock lets exactly 5 through."""
    (tmp_path / "catalog.toml").write_text(CATALOG, encoding="utf-8")
    rooms = [f"3000{i}@chatroom" for i in range(10)]
    groups = [{"room": r, "community": f"小区{i}", "delivery": "16:00-18:00"} for i, r in enumerate(rooms)]
    config = make_config(tmp_path, db_url, catalog={"file": "catalog.toml"}, group=groups)
    shop = await start_harness(config, MORNING)
    try:
        results = await asyncio.gather(*(
            shop.say("草莓1盒", sender=f"m{i}", room=rooms[i % 10]) for i in range(30)
        ))
        assert all(results)
        assert await taken() == 5
        assert await OrderLine.filter(sku="F01").count() == 5
        assert (await StockDay.get(sku="F01")).taken == 5
        await shop.flush()
        assert sum(t.count("丹东草莓已售完，没有记下") for t in shop.texts()) == 25
        assert sum("今天已售完" in t for t in shop.texts()) == 10  # once, in each group
    finally:
        await shop.bot.close()


async def test_unlimited_products_are_not_counted(shop: Harness) -> None:
    await shop.say("西红柿100斤")
    assert await StockDay.all().count() == 0
    assert (await OrderLine.get(sku="V01")).qty == 100


async def test_the_daily_post_shows_what_is_left(tmp_path: Path, db_url: str) -> None:
    from datetime import datetime, timedelta

    from tests.conftest import SHANGHAI

    (tmp_path / "catalog.toml").write_text(CATALOG, encoding="utf-8")
    config = make_config(tmp_path, db_url, catalog={"file": "catalog.toml"})
    h = await start_harness(config, MORNING, run_jobs=True)
    try:
        await h.say("草莓2盒")
        # Tomorrow's post: a new delivery date, full stock again.
        await h.advance_to(datetime(2026, 12, 2, 8, 0, 5, tzinfo=SHANGHAI) + timedelta(seconds=1))
        post = next(t for t in h.texts(room=ROOM_A) if "12月2日今日团购" in t)
        assert "1号 丹东草莓 ¥39.90/盒（剩5盒）" in post
    finally:
        await h.bot.close()
