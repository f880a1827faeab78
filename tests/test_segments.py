"""Segments (docs/CONTRACTS.md section 8): recency on the shop's calendar, each boundary,
cancelled orders and staff left out; /分层, /分层 <segment>, /发券 to a segment."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.harness import Harness
from models.segments import ACTIVE, DORMANT, LOST, NEAR_DORMANT, NEW, SILENT, member_facts, segment_of
from models.tables import Community, Coupon, Member, Order, OrderLine
from tests.conftest import MORNING, ROOM_A, ROOM_B, SHANGHAI, STAFF, make_config, start_harness

TODAY = MORNING.date()  # 2026-12-01
BOUNDS = (90, 180, 365, 730)


@pytest.mark.parametrize(("days", "segment"), [
    (0, ACTIVE), (89, ACTIVE), (90, SILENT), (179, SILENT), (180, NEAR_DORMANT), (364, NEAR_DORMANT),
    (365, DORMANT), (729, DORMANT), (730, LOST), (5000, LOST), (None, NEW)])
def test_each_boundary(days: int | None, segment: str) -> None:
    last = TODAY - dt.timedelta(days=days) if days is not None else None
    assert segment_of(last, TODAY, BOUNDS) == segment


@pytest.fixture
async def shop(tmp_path: Path, db_url: str) -> Harness:
    config = make_config(tmp_path, db_url, coupon=[{"id": "back5", "name": "回来5元券", "off": 5, "valid": "7天"}])
    h = await start_harness(config, MORNING)
    try:
        yield h
    finally:
        await h.bot.close()


async def member_with_order(member: str, name: str, at: dt.datetime, room: str = ROOM_A,
                            status: str = "placed", amount: int = 10) -> None:
    community = await Community.get(room=room)
    await Member.get_or_create(id=member, defaults={"name": name, "first_seen": at, "last_seen": at,
                                                    "home": community})
    order = await Order.create(member_id=member, community=community, delivery_date=at.date(), status=status,
                               created_at=at, updated_at=at)
    await OrderLine.create(order=order, sku="V01", name="西红柿", unit="斤", price=amount, qty=1, updated_at=at)


async def test_segments_follow_the_last_order_on_the_shops_calendar(shop: Harness) -> None:
    local = dt.datetime.combine(TODAY, dt.time(0, 30), tzinfo=SHANGHAI)
    await member_with_order("a", "阿明", local - dt.timedelta(days=89))  # 00:30 local: the UTC date is a day earlier
    await member_with_order("b", "小周", local - dt.timedelta(days=120), room=ROOM_B)
    await member_with_order("b", "小周", local - dt.timedelta(days=20), room=ROOM_B, status="cancelled")
    await member_with_order("c", "陈哥", local - dt.timedelta(days=400))
    await member_with_order("d", "老王", local - dt.timedelta(days=800))
    await member_with_order(STAFF, "店长", local - dt.timedelta(days=200))
    await shop.say("你好", sender="n", name="新来的")
    facts = {f.member_id: f for f in await member_facts(TODAY, SHANGHAI, BOUNDS, (STAFF,))}
    assert {m: f.segment for m, f in facts.items()} == {"a": ACTIVE, "b": SILENT, "c": DORMANT, "d": LOST, "n": NEW}
    assert (facts["b"].orders, str(facts["b"].spend), facts["b"].community) == (1, "10.00", "桂花苑")

    await shop.say("/分层", sender=STAFF, room=None)
    await shop.say("/分层 沉默", sender=STAFF, room=None)
    await shop.say("/分层 大客户", sender=STAFF, room=None)
    await shop.say("/分层", sender="a", room=None)
    await shop.flush()
    counts, silent, unknown = shop.texts(to=STAFF)[-3:]
    assert "共5人" in counts and "新成员1 活跃1 沉默1 濒临睡眠0 休眠1 流失1" in counts
    assert "阳光花园：新成员1 活跃1 休眠1 流失1" in counts and "桂花苑：沉默1" in counts
    assert silent == f"【沉默】1人：\n小周（桂花苑）最后下单{TODAY - dt.timedelta(days=120):%Y-%m-%d}，1单，消费¥10.00"
    assert "没有“大客户”这一层" in unknown
    assert "只有店员可以用" in shop.texts(to="a")[-1]


async def test_a_coupon_to_a_segment_reaches_each_of_its_members_once(shop: Harness) -> None:
    local = MORNING
    for n in range(3):
        await member_with_order(f"s{n}", f"沉{n}", local - dt.timedelta(days=100 + n))
    await member_with_order("a", "阿明", local - dt.timedelta(days=3))
    await Member.filter(id="s2").update(unsubscribed=True)
    await shop.say("/发券 back5 沉默", sender=STAFF, room=None, message_id="give-1")
    await shop.say("/发券 back5 沉默", sender=STAFF, room=None, message_id="give-1")  # re-delivered
    await shop.say("/发券 back5 沉默", sender=STAFF, room=None, message_id="give-2")  # per_member 1 holds
    await shop.flush()
    assert sorted(await Coupon.all().values_list("member_id", flat=True)) == ["s0", "s1", "s2"]
    first, second = shop.texts(to=STAFF)[-2:]
    assert first == "已给沉默的3位成员发回来5元券，已私信通知（1位退订了活动消息，只发券不通知）。"
    assert "已给沉默的0位成员" in second and "3位已经得过1张" in second
    assert all(any(t.startswith("🎁 您得到一张回来5元券") for t in shop.texts(to=m)) for m in ("s0", "s1"))
    assert shop.texts(to="s2") == [] and shop.texts(to="a") == []
