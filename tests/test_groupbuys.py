"""Group-buys (拼团): every transition and every refusal, the deadline on a virtual clock, stock,
and the race for the last place (concurrent transactions on PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from models.stock import stock_left
from models.tables import GroupBuy, GroupBuyParticipant, Order, OrderLine, PointEntry
from tests.conftest import MORNING, ROOM_A, ROOM_B, STAFF, Harness, make_config, start_harness

CATALOG = """
[[product]]
sku = "F01"
name = "丹东草莓"
aliases = ["草莓"]
unit = "盒"
price = 39.9
group_price = 29.9
group_size = 3

[[product]]
sku = "D01"
name = "猫山王榴莲"
aliases = ["榴莲"]
unit = "个"
price = 199
stock = 2

[[product]]
sku = "V01"
name = "西红柿"
unit = "斤"
price = 4.5
"""


async def _shop(tmp_path: Path, db_url: str, run_jobs: bool = False, **sections: dict) -> Harness:
    (tmp_path / "catalog.toml").write_text(CATALOG, encoding="utf-8")
    config = make_config(tmp_path, db_url, catalog={"file": "catalog.toml"}, **sections)
    return await start_harness(config, MORNING, run_jobs=run_jobs)


@pytest.fixture
async def shop(tmp_path: Path, db_url: str) -> AsyncIterator[Harness]:
    h = await _shop(tmp_path, db_url)
    try:
        yield h
    finally:
        await h.bot.close()


def said(h: Harness, room: str | None = None, to: str | None = None) -> str:
    return "\n".join(h.texts(room=room, to=to))


async def test_staff_open_in_a_group_then_three_join_and_it_succeeds(shop: Harness) -> None:
    await shop.say("/开团 草莓 3人 25元 2小时", sender=STAFF, name="店长")
    await shop.flush()
    groupbuy = await GroupBuy.get()
    assert (groupbuy.sku, groupbuy.size, groupbuy.price, groupbuy.state) == ("F01", 3, Decimal(25), "open")
    assert groupbuy.deadline == MORNING + timedelta(hours=2)
    assert f"拼团#{groupbuy.id}" in said(shop, ROOM_A) and "3人团" in said(shop, ROOM_A)
    assert said(shop, ROOM_B) == ""  # opened in a group: announced only there

    await shop.say(f"参团 {groupbuy.id}", sender="a", name="阿姨")
    await shop.say("我要参团", sender="b", name="小周")
    await shop.flush()
    text = said(shop, ROOM_A)
    assert "还差2人成团" in text and "还差1人成团" in text
    assert (await GroupBuy.get()).state == "open" and await Order.all().count() == 0

    await shop.say(f"我要参团#{groupbuy.id}", sender="c", name="陈哥")
    await shop.flush()
    groupbuy = await GroupBuy.get()
    assert groupbuy.state == "success"
    orders = await Order.filter(groupbuy_no=groupbuy.id).order_by("id").prefetch_related("lines", "community")
    assert [o.member_id for o in orders] == ["a", "b", "c"]  # type: ignore[attr-defined]
    for order in orders:
        assert order.status == "placed" and order.community.room == ROOM_A
        assert order.delivery_date.isoformat() == "2026-12-02"
        [line] = order.lines
        assert (line.sku, line.qty, line.price, line.note) == ("F01", 1, Decimal(25), f"拼团#{groupbuy.id}")
    success = next(s for s in shop.transport.sent if "成团了" in s.message.text)
    assert success.message.room == ROOM_A and set(success.message.mentions) == {"a", "b", "c"}
    assert "@阿姨" in success.message.text
    # Each participant earns points for the order (25 yuan -> 25 points).
    assert [await shop.bot.services.rewards.pending(m) for m in "abc"] == [25, 25, 25]  # once delivered
    # The group-buy order shows among the member's orders, marked as such.
    await shop.say("我的订单", sender="a", name="阿姨")
    await shop.flush()
    assert f"拼团#{groupbuy.id} 丹东草莓 1盒 ¥25.00" in said(shop, ROOM_A)


async def test_opened_privately_it_is_announced_everywhere_and_orders_follow_each_group(shop: Harness) -> None:
    await shop.say("/开团 草莓 2人 25元 1天", sender=STAFF, name="店长", room=None)
    await shop.flush()
    groupbuy = await GroupBuy.get()
    assert groupbuy.community_id is None  # type: ignore[attr-defined]
    assert f"拼团#{groupbuy.id}" in said(shop, ROOM_A) and f"拼团#{groupbuy.id}" in said(shop, ROOM_B)
    assert "已排队发到2个群" in said(shop, to=STAFF)
    await shop.say("参团", sender="a", room=ROOM_A)
    await shop.say("参团", sender="b", room=ROOM_B)
    await shop.flush()
    orders = await Order.filter(groupbuy_no=groupbuy.id).order_by("id").select_related("community")
    assert [(o.member_id, o.community.room) for o in orders] == [("a", ROOM_A), ("b", ROOM_B)]  # type: ignore[attr-defined]
    # Each group is told, mentioning its own participants.
    successes = {s.message.room: s.message.mentions for s in shop.transport.sent if "成团了" in s.message.text}
    assert successes == {ROOM_A: ("a",), ROOM_B: ("b",)}


async def test_a_member_opens_one_from_the_catalog_terms_and_is_its_first_member(shop: Harness) -> None:
    await shop.say("开团 草莓", sender="a")
    await shop.flush()
    groupbuy = await GroupBuy.get()
    assert (groupbuy.sku, groupbuy.size, groupbuy.price, groupbuy.opened_by) == ("F01", 3, Decimal("29.9"), "a")
    assert groupbuy.deadline == MORNING + timedelta(hours=24)  # [groupbuy] duration
    assert await GroupBuyParticipant.filter(groupbuy=groupbuy).values_list("member_id", flat=True) == ["a"]
    assert "还差2人" in said(shop, ROOM_A) and "原价¥39.90" in said(shop, ROOM_A)
    # A second 开团 of the same product points to the running one instead of opening another.
    await shop.say("开团 草莓", sender="b")
    await shop.say("开团 西红柿", sender="b")  # no group price in the catalog
    await shop.say("开团 草莓", sender="b", room=None)  # private: not where neighbours see it
    await shop.flush()
    assert await GroupBuy.all().count() == 1
    assert f"已经在拼团#{groupbuy.id}" in said(shop, ROOM_A)
    assert "西红柿暂时没有拼团价" in said(shop, ROOM_A)
    assert "开团请在您小区的群里发" in said(shop, to="b")


async def test_every_refusal(shop: Harness) -> None:
    await shop.say("参团", sender="a")
    await shop.say("参团 99", sender="a")
    await shop.flush()
    assert "现在没有进行中的拼团" in said(shop, ROOM_A) and "没有拼团#99" in said(shop, ROOM_A)

    await shop.say("/开团 草莓 2人 25元 2小时", sender=STAFF)
    await shop.say("/开团 榴莲 2人 150元 2小时", sender=STAFF, room=ROOM_B)
    await shop.flush()
    here, there = await GroupBuy.all().order_by("id")
    await shop.say("参团", sender="a")  # one open here (the other is ROOM_B's)
    await shop.say(f"参团 {here.id}", sender="a")  # twice
    await shop.say(f"参团 {there.id}", sender="a")  # another group's
    await shop.flush()
    text = said(shop, ROOM_A)
    assert f"您已经在拼团#{here.id}里了" in text and "是其他小区的拼团" in text
    assert await GroupBuyParticipant.filter(member_id="a").count() == 1

    await shop.say(f"参团 {here.id}", sender="b")  # success
    await shop.say(f"参团 {here.id}", sender="c")  # full and closed
    await shop.flush()
    assert f"拼团#{here.id}已经成团了，不能再参加了" in said(shop, ROOM_A)
    assert await GroupBuyParticipant.filter(groupbuy=here).count() == 2

    await shop.say("/开团 草莓 2人 25元 2小时", sender="a")  # not staff
    await shop.say("/开团 苹果 3人 9元 2小时", sender=STAFF)
    await shop.say("/开团 西红柿", sender=STAFF)  # no catalog terms and none given
    await shop.say("/开团 草莓 1人 9元 2小时", sender=STAFF)
    await shop.flush()
    text = said(shop, ROOM_A)
    assert "只有店员可以用" in text and "没有找到商品“苹果”" in text
    assert "西红柿没有设拼团人数和价格" in text and "人数要在2到100之间" in text
    assert await GroupBuy.all().count() == 2


@pytest.mark.parametrize(("args", "answer"), [
    ("草莓 2人 -150元 2小时", "价格要在0.01元到100000元之间"),  # was read as 150元
    ("草莓 2人 0.001元 2小时", "价格最多写到分"),  # was read as 0.00元
    ("草莓 2人 1e5元 2小时", "价格看不懂"),  # was read as 5元
    ("草莓 2人 25元 2小时 明天记得", "“明天记得”看不懂"),  # junk after the arguments was ignored
])
async def test_staff_open_refuses_money_it_cannot_read(shop: Harness, args: str, answer: str) -> None:
    await shop.say(f"/开团 {args}", sender=STAFF, room=None)
    await shop.flush()
    assert answer in shop.texts(to=STAFF)[-1]
    assert await GroupBuy.all().count() == 0


async def test_staff_cancel_of_a_number_past_any_id_is_no_group_buy(shop: Harness) -> None:
    """/取消拼团 99999999999999999999999 crashed (the database cannot compare the number)."""
    for number in ("99999999999999999999999", "2147483648", "²"):
        assert await shop.say(f"/取消拼团 {number}", sender=STAFF, room=None)
    await shop.flush()
    answers = shop.texts(to=STAFF)
    assert answers[:2] == ["没有拼团#99999999999999999999999。", "没有拼团#2147483648。"]
    assert answers[2].startswith("格式：/取消拼团")


async def test_two_open_here_asks_which(shop: Harness) -> None:
    await shop.say("/开团 草莓 3人 25元 2小时", sender=STAFF)
    await shop.say("/开团 榴莲 3人 150元 2小时", sender=STAFF)
    await shop.say("参团", sender="a")
    await shop.flush()
    assert "现在有2个拼团" in said(shop, ROOM_A) and "请回复“参团 编号”" in said(shop, ROOM_A)
    assert await GroupBuyParticipant.all().count() == 0


async def test_progress_is_announced_once_elsewhere_not_per_join(shop: Harness) -> None:
    await shop.say("/开团 草莓 4人 25元 2小时", sender=STAFF, room=None)
    await shop.flush()
    before = len(shop.texts(room=ROOM_B))
    for member in ("a", "b", "c"):
        await shop.say("参团", sender=member, room=ROOM_A)
    await shop.flush()
    after = shop.texts(room=ROOM_B)[before:]
    assert after == [after[0]] and "还差1人成团" in after[0]  # one message in the other group


async def test_the_deadline_fails_it_tells_everyone_and_sends_the_follow_up(tmp_path: Path, db_url: str) -> None:
    shop = await _shop(tmp_path, db_url, run_jobs=True, groupbuy={"followup": "送您一张5元券，明天可用。"})
    try:
        await shop.say("/开团 榴莲 3人 150元 2小时", sender=STAFF)
        await shop.say("参团", sender="a", name="阿姨")
        await shop.flush()
        groupbuy = await GroupBuy.get()
        assert (await stock_left(shop.bot.services.offer, groupbuy.delivery_date))["D01"] == 1
        await shop.advance_to(MORNING + timedelta(hours=2) - timedelta(seconds=1))
        assert (await GroupBuy.get()).state == "open"
        await shop.advance_to(MORNING + timedelta(hours=2, minutes=5))
        groupbuy = await GroupBuy.get()
        assert groupbuy.state == "failed" and await Order.all().count() == 0
        failed = next(s for s in shop.transport.sent if "未能成团" in s.message.text)
        assert failed.message.room == ROOM_A and failed.message.mentions == ("a",)
        assert shop.texts(to="a") == ["送您一张5元券，明天可用。"]
        assert (await stock_left(shop.bot.services.offer, groupbuy.delivery_date))["D01"] == 2  # given back
        await shop.say("参团", sender="b")
        await shop.say(f"参团 {groupbuy.id}", sender="b")
        await shop.flush()
        assert "现在没有进行中的拼团" in said(shop, ROOM_A) and "没有成团，已经结束了" in said(shop, ROOM_A)
        await shop.advance_to(MORNING + timedelta(hours=5))
        assert sum("未能成团" in t for t in shop.texts()) == 1  # told once
    finally:
        await shop.bot.close()


async def test_joining_after_the_deadline_but_before_the_sweep_is_refused(shop: Harness) -> None:
    await shop.say("/开团 草莓 2人 25元 30分钟", sender=STAFF)
    shop.clock.advance_to(MORNING + timedelta(minutes=31))  # no sweep runs in this harness
    await shop.say("参团 1", sender="a")
    await shop.flush()
    assert "已到截止时间" in said(shop, ROOM_A) and await GroupBuyParticipant.all().count() == 0


async def test_stock_is_held_per_member_and_the_last_unit_ends_joining(shop: Harness) -> None:
    await shop.say("/开团 榴莲 3人 150元 2小时", sender=STAFF)
    for member in ("a", "b", "c"):
        await shop.say("参团", sender=member)
    await shop.flush()
    assert await GroupBuyParticipant.all().count() == 2  # stock 2: the third cannot join
    assert "猫山王榴莲已售完，拼团#1参加不了了" in said(shop, ROOM_A)
    await shop.say("榴莲1个", sender="d")
    await shop.flush()
    assert await OrderLine.filter(sku="D01").count() == 0


async def test_staff_cancel_open_and_successful_group_buys(shop: Harness) -> None:
    await shop.say("/开团 草莓 2人 25元 2小时", sender=STAFF)
    await shop.say("/开团 榴莲 2人 150元 2小时", sender=STAFF, room=ROOM_B)
    await shop.say("参团 1", sender="a")
    await shop.say("参团 2", sender="b", room=ROOM_B)
    await shop.say("参团 2", sender="c", room=ROOM_B)
    await shop.flush()
    assert await shop.bot.services.rewards.pending("b") == 150
    await shop.say("/取消拼团 1", sender=STAFF, room=None)
    await shop.say("/取消拼团 #2", sender=STAFF, room=None)
    await shop.say("/取消拼团 2", sender=STAFF, room=None)
    await shop.say("/取消拼团 9", sender=STAFF, room=None)
    await shop.say("/取消拼团 abc", sender=STAFF, room=None)
    await shop.say("/取消拼团 1", sender="a")
    await shop.flush()
    assert [g.state for g in await GroupBuy.all().order_by("id")] == ["cancelled", "cancelled"]
    assert set(await Order.filter(groupbuy_no=2).values_list("status", flat=True)) == {"cancelled"}
    assert await shop.bot.services.rewards.pending("b") == 0  # gone with the order
    assert not await PointEntry.filter(member_id="b").exists()
    staff = said(shop, to=STAFF)
    assert "已取消拼团#1" in staff and "2个订单已取消" in staff and "拼团#2已被取消，没有改动" in staff
    assert "没有拼团#9" in staff and "格式：/取消拼团" in staff
    assert "已被店家取消" in said(shop, ROOM_A) and "订单已取消，不收费" in said(shop, ROOM_B)
    assert "只有店员可以用" in said(shop, ROOM_A)
    await shop.say("参团 1", sender="z")
    await shop.flush()
    assert "拼团#1已被取消，不能再参加了" in said(shop, ROOM_A)
    assert (await stock_left(shop.bot.services.offer, (await GroupBuy.get(id=2)).delivery_date))["D01"] == 2


async def test_a_member_own_line_and_a_group_buy_line_of_one_product_live_side_by_side(shop: Harness) -> None:
    await shop.say("草莓2盒", sender="a")
    await shop.say("/开团 草莓 2人 25元 2小时", sender=STAFF)
    await shop.say("参团", sender="a")
    await shop.say("参团", sender="b")
    await shop.say("取消订单", sender="a")  # the member's own order; the group-buy is a commitment
    await shop.flush()
    own, joint = await Order.filter(member_id="a").order_by("id").prefetch_related("lines")
    assert (own.groupbuy_no, own.status) == (0, "cancelled")
    assert (joint.groupbuy_no, joint.status, [line.price for line in joint.lines]) == (1, "placed", [Decimal(25)])


async def test_outside_ordering_hours_the_orders_go_with_the_next_delivery(tmp_path: Path, db_url: str) -> None:
    shop = await _shop(tmp_path, db_url)
    try:
        shop.clock.advance_to(MORNING.replace(hour=21))  # after the 20:00 cut-off
        await shop.say("/开团 草莓 2人 25元 2小时", sender=STAFF)
        assert (await GroupBuy.get()).delivery_date.isoformat() == "2026-12-03"
    finally:
        await shop.bot.close()


async def test_the_last_place_goes_to_exactly_one_of_many_at_once(tmp_path: Path, db_url: str) -> None:
    """Thirty members in ten groups join a shop-wide 3-person group-buy at the same moment:
    on PostgreSQL these are concurrent transactions; the row lock lets exactly 3 in."""
    rooms = [f"3000{i}@chatroom" for i in range(10)]
    groups = [{"room": r, "community": f"小区{i}", "delivery": "16:00-18:00"} for i, r in enumerate(rooms)]
    shop = await _shop(tmp_path, db_url, group=groups)
    try:
        await shop.say("/开团 草莓 3人 25元 2小时", sender=STAFF, room=None)
        results = await asyncio.gather(*(
            shop.say("参团 1", sender=f"m{i}", room=rooms[i % 10]) for i in range(30)))
        assert all(results)
        assert await GroupBuyParticipant.all().count() == 3
        assert (await GroupBuy.get()).state == "success"
        assert await Order.filter(groupbuy_no=1).count() == 3
        await shop.flush()
        assert sum(t.count("已经成团了，不能再参加") for t in shop.texts()) == 27
        # Every group it was shown in hears it succeeded, and the three are mentioned.
        successes = [s.message for s in shop.transport.sent if "成团了" in s.message.text]
        assert len(successes) == 10
        joined = set(await GroupBuyParticipant.all().values_list("member_id", flat=True))
        assert joined <= {m for s in successes for m in s.mentions}
    finally:
        await shop.bot.close()


async def test_a_cancelled_group_buys_lines_leave_every_sheet(shop: Harness) -> None:
    """/取消拼团 after success tells members 订单已取消，不收费: the workbook must not have the
    shop pack and deliver its lines. A member's own order beside it stays."""
    await shop.say("/开团 榴莲 2人 150元 2小时", sender=STAFF, room=ROOM_B)
    await shop.say("参团", sender="b", room=ROOM_B)
    await shop.say("参团", sender="c", room=ROOM_B)
    await shop.say("草莓2盒 5栋101", sender="c", room=ROOM_B)
    await shop.say("/取消拼团 1", sender=STAFF, room=None)
    await shop.flush()
    delivery = (await GroupBuy.get(id=1)).delivery_date
    assert delivery is not None
    book = load_workbook(await shop.bot.export(delivery))
    rows = {name: [tuple(r) for r in book[name].iter_rows(min_row=2, values_only=True)]
            for name in ("订单", "拣货单", "配送单")}
    assert [(r[6], r[15]) for r in rows["订单"]] == [("F01", "已下单")]
    assert [r[0] for r in rows["拣货单"]] == ["F01"]
    assert [r[5] for r in rows["配送单"]] == ["丹东草莓", None]  # and its community's total row


async def test_group_buy_stats_split_openers_from_joiners_and_follow_the_customers_they_brought(
        shop: Harness) -> None:
    await shop.say("西红柿1斤", sender="a", name="阿明")  # a has bought before: not a new customer
    await shop.say("西红柿1斤", sender="b")
    await shop.say("开团 草莓", sender="a", name="阿明")  # 主态: a member opens #1 (3 places) ...
    await shop.say("参团 1", sender="n1")  # ... and two new customers join it (客态)
    await shop.say("参团 1", sender="n2")
    await shop.say("/开团 草莓 3人 25元 2小时", sender=STAFF)  # #2, staff's: one old, one new joiner
    await shop.say("参团 2", sender="b")
    await shop.say("参团 2", sender="n3")
    assert (await GroupBuy.get(id=1)).state == "success"
    await shop.advance_to(MORNING + timedelta(days=10))
    await shop.say("西红柿1斤", sender="n1")  # back within 30 days
    await shop.advance_to(MORNING + timedelta(days=40))
    await shop.say("西红柿1斤", sender="n2")  # within 90, not 30
    await shop.say("/拼团统计", sender=STAFF, room=None)
    await shop.flush()
    text = said(shop, None, STAFF)
    assert "主态（成员开团）1个，成团1；客态（参团）4人次；带来新客3人（主态0，客态3），30天内复购1人，90天内2人" in text
    assert "已成团：触达" in text and "；主态阿明，客态2，新客2，30天复购1，90天复购2（未满90天）" in text
    assert "；店员开团，客态2，新客1，30天复购0，90天复购0（未满90天）" in text
    await shop.advance_to(MORNING + timedelta(days=100))
    await shop.say("/拼团统计", sender=STAFF, room=None)
    await shop.flush()
    assert "；主态阿明，客态2，新客2，30天复购1，90天复购2\n" in said(shop, None, STAFF) + "\n"
