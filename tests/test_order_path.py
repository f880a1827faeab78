"""The first order path, through the in-memory transport, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from models.orders import member_orders
from models.tables import InboundMessage, Member, Order, OrderLine
from tests.conftest import ROOM_A, ROOM_B, SHANGHAI, STAFF, Harness, contact_in


async def placed_lines(member: str) -> dict[str, Decimal]:
    return {l.sku: l.qty for o in await member_orders(member) for l in o.lines}


async def test_order_is_recorded_and_confirmed_in_the_group_with_a_mention(harness: Harness) -> None:
    assert await harness.say("西红柿3斤 5栋502", name="李阿姨")
    await harness.flush()
    [sent] = harness.transport.sent
    assert sent.message.room == ROOM_A and sent.message.mentions == ("wxid_u1",)
    assert sent.message.text.startswith("@李阿姨 ✅ 已记下：西红柿 3斤")
    assert "¥13.50" in sent.message.text and "16:00-18:00" in sent.message.text
    assert await placed_lines("wxid_u1") == {"V01": Decimal(3)}
    [order] = await Order.all()
    assert str(order.delivery_date) == "2026-12-02"
    assert (await contact_in("wxid_u1", ROOM_A)).address == "5栋502"


async def test_orders_add_up_and_the_reply_shows_the_day_total(harness: Harness) -> None:
    await harness.say("西红柿2斤")
    await harness.say("西红柿1斤 土豆2斤")
    await harness.flush()
    assert await placed_lines("wxid_u1") == {"V01": Decimal(3), "V02": Decimal(2)}
    assert "合计 ¥19.10" in harness.texts()[-1]  # 3 x 4.5 + 2 x 2.8


async def test_a_redelivered_message_makes_one_order(harness: Harness) -> None:
    assert await harness.say("草莓2盒", message_id="m1")
    assert not await harness.say("草莓2盒", message_id="m1")
    await harness.flush()
    assert await placed_lines("wxid_u1") == {"F01": Decimal(2)}
    assert len(harness.texts()) == 1


async def test_two_copies_arriving_at_once_make_one_order(harness: Harness) -> None:
    results = await asyncio.gather(*(harness.say("草莓2盒", message_id="dup") for _ in range(5)))
    assert sum(results) == 1
    assert await placed_lines("wxid_u1") == {"F01": Decimal(2)}
    assert await InboundMessage.filter(message_id="dup").count() == 1


async def test_cancel_order_cancels_everything_and_my_order_lists_what_is_left(harness: Harness) -> None:
    await harness.say("西红柿2斤")
    await harness.say("取消订单")
    assert await placed_lines("wxid_u1") == {}
    assert (await Order.get()).status == "cancelled"
    await harness.say("我的订单", room=None)
    await harness.flush()
    assert harness.texts(to="wxid_u1")[-1].startswith("您现在没有订单")


async def test_my_order_in_private_lists_prices_and_total(harness: Harness) -> None:
    await harness.say("西红柿2斤 豆腐3块")
    await harness.say("我的订单", room=None)
    await harness.flush()
    answer = harness.texts(to="wxid_u1")[-1]
    assert "西红柿 2斤 ¥9.00" in answer and "卤水豆腐 3块 ¥10.50" in answer and "合计 ¥19.50" in answer


async def test_private_order_goes_to_the_members_home_group(harness: Harness) -> None:
    await harness.say("你好", room=ROOM_B)  # known in 桂花苑 from now on
    await harness.say("牛奶1箱", room=None)
    [order] = await Order.all().select_related("community")
    assert order.community.room == ROOM_B


async def test_unclear_order_is_asked_back_and_changes_nothing(harness: Harness) -> None:
    await harness.say("黄瓜2斤")
    await harness.flush()
    await harness.say("牛奶3斤")
    await harness.flush()
    assert await OrderLine.all().count() == 0
    first, second = harness.texts()
    assert "今天没有“黄瓜”" in first and "这条没有记下" in first
    assert "纯牛奶按箱卖" in second


async def test_chit_chat_gets_no_reply_and_changes_nothing(harness: Harness) -> None:
    for text in ("谢谢老板", "草莓甜吗？", "4号楼今天停电", "上次买的土豆很好", "", "[图片]"):
        await harness.say(text)
    await harness.flush()
    assert harness.transport.sent == []
    assert await Order.all().count() == 0


async def test_junk_never_crashes_the_bot(harness: Harness) -> None:
    junk = ["\x00\x01\x02", "🍓" * 5000, "西红柿" * 3000, "1" * 10_000, "/", "/" * 50, "#接龙",
            "#接龙\n\n" + "\n".join(f"{i}. x" for i in range(2000)), "参团 99999999999", "@@@@",
            "西红柿99999999999斤", "西红柿0斤", "\u202e\u200b", "「」\n- - -\n"]
    for text in junk:
        await harness.say(text)
    await harness.flush()
    assert await OrderLine.all().count() == 0
    assert all("出了点问题" not in t for t in harness.texts())


async def test_outside_the_ordering_window_orders_change_nothing(harness: Harness) -> None:
    await harness.advance_to(datetime(2026, 12, 1, 21, 0, tzinfo=SHANGHAI))
    await harness.say("西红柿2斤")
    await harness.flush()
    assert await Order.all().count() == 0
    assert "今天已截单，这条没有记下。12月2日 08:00开始接下一批订单" in harness.texts()[-1]


async def test_messages_from_groups_the_shop_did_not_list_are_ignored(harness: Harness) -> None:
    assert not await harness.say("西红柿2斤", room="99999@chatroom")
    assert await Order.all().count() == 0 and harness.transport.sent == []


async def test_staff_commands_are_refused_to_members(harness: Harness) -> None:
    await harness.say("/截单")
    await harness.say("/汇总")
    await harness.flush()
    assert all("只有店员可以用" in t for t in harness.texts())
    await harness.say("西红柿1斤")  # ordering is still open
    assert await placed_lines("wxid_u1") == {"V01": Decimal(1)}


async def test_staff_help_lists_every_command_from_the_docstrings(harness: Harness) -> None:
    await harness.say("/帮助", sender=STAFF, room=None)
    await harness.flush()
    help_text = harness.texts(to=STAFF)[-1]
    for command in ("/帮助", "/截单", "/汇总", "/导出"):
        assert command in help_text
    assert "立即截单" in help_text


async def test_staff_close_stops_ordering_and_posts_summaries(harness: Harness) -> None:
    await harness.say("西红柿2斤", name="李阿姨")
    await harness.flush()
    await harness.say("/截单", sender=STAFF, room=None)
    await harness.say("土豆1斤")
    await harness.say("/截单", sender=STAFF, room=None)
    await harness.flush()
    summary = harness.texts(room=ROOM_A)[1]
    assert "阳光花园 12月2日 截单汇总" in summary and "1. 李阿姨 西红柿2斤" in summary
    assert "今天没有订单" in harness.texts(room=ROOM_B)[0]
    assert "今天已截单，这条没有记下" in harness.texts(room=ROOM_A)[-1]
    assert "已经截单了" in harness.texts(to=STAFF)[-1]
    assert await placed_lines("wxid_u1") == {"V01": Decimal(2)}


async def test_staff_totals_per_product_and_community(harness: Harness) -> None:
    await harness.say("西红柿2斤", sender="a")
    await harness.say("西红柿1斤 草莓1盒", sender="b", room=ROOM_B)
    await harness.say("/汇总", sender=STAFF, room=None)
    await harness.flush()
    totals = harness.texts(to=STAFF)[-1]
    assert "西红柿 3斤 ¥13.50" in totals and "丹东草莓 1盒 ¥39.90" in totals
    assert "阳光花园：1单 ¥9.00" in totals and "桂花苑：1单 ¥44.40" in totals


async def test_staff_export_writes_the_workbook_and_says_where(harness: Harness) -> None:
    await harness.say("西红柿2斤")
    await harness.say("/导出", sender=STAFF, room=None)
    await harness.flush()
    answer = harness.texts(to=STAFF)[-1]
    assert "orders-2026-12-02.xlsx" in answer
    path = answer.split("：", 1)[1]
    from openpyxl import load_workbook

    book = load_workbook(path)
    assert book.sheetnames == ["订单", "拣货单", "配送单", "储值"]


@pytest.mark.batch_rollback
async def test_a_handler_error_rolls_back_and_says_sorry(harness: Harness, monkeypatch) -> None:
    import models.orderbook
    import models.orders

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    for module in (models.orders, models.orderbook):  # the per-message path and the batch
        monkeypatch.setattr(module, "apply_changes", broken)
    assert not await harness.say("西红柿2斤", message_id="x1")
    await harness.flush()
    assert "出了点问题" in harness.texts()[-1]
    assert not await InboundMessage.exists(message_id="x1")  # a re-delivery will be tried again
    assert await Member.all().count() == 0  # rolled back with the rest


@pytest.mark.batch_rollback
async def test_a_failing_message_in_a_batch_loses_only_itself(harness: Harness, monkeypatch) -> None:
    import models.orderbook
    import models.orders

    real = models.orders.apply_changes

    def broken_for_potatoes(rows, changes, *args, **kwargs):  # type: ignore[no-untyped-def]
        if any(change.product.sku == "V02" for change in changes):
            raise RuntimeError("boom")
        return real(rows, changes, *args, **kwargs)

    for module in (models.orders, models.orderbook):
        monkeypatch.setattr(module, "apply_changes", broken_for_potatoes)
    # Queued together, so handled as one batch: the batch is rolled back and each is tried alone.
    results = await asyncio.gather(harness.say("西红柿2斤", sender="a", message_id="y1"),
                                   harness.say("土豆2斤", sender="b", message_id="y2"),
                                   harness.say("谢谢团长", sender="c", message_id="y3"))
    assert results == [True, False, True]
    assert await InboundMessage.filter(message_id__in=["y1", "y3"]).count() == 2
    assert not await InboundMessage.exists(message_id="y2")
    assert [line.sku for line in await OrderLine.all()] == ["V01"]
    await harness.flush()
    assert any("出了点问题" in text for text in harness.texts())


async def test_replies_in_one_group_are_paced(harness: Harness) -> None:
    for i in range(4):
        await harness.say(f"西红柿{i + 1}斤", sender=f"m{i}")
    await harness.flush()
    times = [s.at for s in harness.transport.sent]
    assert all(b - a >= timedelta(seconds=3) for a, b in zip(times, times[1:]))


async def test_the_same_new_member_in_two_groups_at_once(harness: Harness) -> None:
    results = await asyncio.gather(harness.say("西红柿1斤", room=ROOM_A), harness.say("土豆1斤", room=ROOM_B))
    assert all(results)
    assert await Member.all().count() == 1
    assert await Order.all().count() == 2


async def test_an_unknown_product_is_asked_back_with_the_offer(harness: Harness) -> None:
    await harness.say("黄瓜2斤")
    await harness.flush()
    assert "今天有：1号西红柿、2号土豆、3号黑猪五花肉" in harness.texts()[-1]


async def test_fuzzed_messages_through_the_bot_never_crash_or_order_garbage(harness: Harness) -> None:
    import random

    from tests.test_parse import OFFER

    rng = random.Random(2026)
    product_chars = {c for p in OFFER.products for n in p.names for c in n} | set("号")
    fragments = ["2斤", "x3", "+1", "各", "改成", "取消", "不要了", "#接龙\n", "\n1. ", "@团长 ", "「a：b」\n- - -\n",
                 "3栋502", "？", "🍓", "\x00", "\u200b", "半", "两", "kg", "份", " ", "，", "/", "参团", "开团"]
    garbage_alphabet = [chr(c) for c in range(0x20, 0x3000) if chr(c) not in product_chars]
    for i in range(150):
        text = "".join(rng.choice(fragments) if rng.random() < 0.5 else rng.choice(garbage_alphabet)
                       for _ in range(rng.randint(0, 40)))
        await harness.say(text, sender=f"f{i % 7}")
    await harness.flush()
    assert all("出了点问题" not in t for t in harness.texts())
    assert await OrderLine.all().count() == 0  # nothing named a product, so nothing was ordered


async def test_modify_sets_a_new_total_and_partial_cancel_takes_some_away(harness: Harness) -> None:
    await harness.say("西红柿2斤 豆腐4块")
    await harness.say("西红柿改成5斤")
    assert await placed_lines("wxid_u1") == {"V01": Decimal(5), "T01": Decimal(4)}
    await harness.say("取消一块豆腐")
    assert await placed_lines("wxid_u1") == {"V01": Decimal(5), "T01": Decimal(3)}
    await harness.say("豆腐不要了")
    assert await placed_lines("wxid_u1") == {"V01": Decimal(5)}
    await harness.say("取消草莓")  # nothing to cancel: says so, changes nothing
    await harness.flush()
    assert "没有要取消的" in harness.texts()[-1]
    assert await placed_lines("wxid_u1") == {"V01": Decimal(5)}


async def test_confirmations_due_together_in_a_group_are_one_message(harness: Harness) -> None:
    await harness.say("西红柿1斤", sender="a", name="甲")
    await harness.say("土豆1斤", sender="b", name="乙")
    await harness.say("豆腐1块", sender="c", name="丙")
    await harness.flush()
    assert len(harness.transport.sent) == 1
    [sent] = harness.transport.sent
    assert sent.message.mentions == ("a", "b", "c")
    assert sent.message.text.count("✅ 已记下") == 3
