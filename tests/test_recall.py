"""A recalled order message undoes what it did, and says so."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from models.orders import member_orders
from tests.conftest import ROOM_A, SHANGHAI, Harness
from tests.test_chains import chain


async def order_of(member: str) -> dict[str, Decimal]:
    return {l.sku: l.qty for o in await member_orders(member) for l in o.lines}


async def test_recalling_an_order_takes_it_back_and_says_so(harness: Harness) -> None:
    await harness.say("西红柿2斤", message_id="a", name="李阿姨")
    await harness.say("西红柿1斤 土豆1斤", message_id="b", name="李阿姨")
    assert await harness.bot.recall("b", harness.clock.now())
    assert await order_of("wxid_u1") == {"V01": Decimal(2)}
    await harness.flush()
    last = harness.texts(room=ROOM_A)[-1]
    assert "您撤回了消息" in last and "西红柿 3→2斤" in last and "✅ 已取消：土豆 1斤" in last


async def test_a_recall_undoes_only_its_own_message_after_later_changes(harness: Harness) -> None:
    await harness.say("西红柿2斤", message_id="a")
    await harness.say("西红柿改成5斤", message_id="b")
    await harness.say("西红柿1斤", message_id="c")
    assert await harness.bot.recall("a", harness.clock.now())
    assert await order_of("wxid_u1") == {"V01": Decimal(4)}


async def test_recalling_a_cancel_brings_the_order_back(harness: Harness) -> None:
    await harness.say("草莓2盒", message_id="a")
    await harness.say("取消订单", message_id="b")
    assert await harness.bot.recall("b", harness.clock.now())
    assert await order_of("wxid_u1") == {"F01": Decimal(2)}


async def test_a_recall_works_once_and_ignores_messages_that_changed_nothing(harness: Harness) -> None:
    await harness.say("草莓2盒", message_id="a")
    await harness.say("谢谢", message_id="b")
    assert await harness.bot.recall("a", harness.clock.now())
    assert not await harness.bot.recall("a", harness.clock.now())
    assert not await harness.bot.recall("b", harness.clock.now())
    assert not await harness.bot.recall("never-seen", harness.clock.now())
    assert await order_of("wxid_u1") == {}


async def test_a_recalled_chain_version_puts_the_senders_lines_back(harness: Harness) -> None:
    await harness.say(chain("陈哥 五花肉2斤"), sender="u3", name="陈哥", message_id="c1")
    await harness.say(chain("陈哥 五花肉2斤", "阿明 豆腐3块"), sender="u4", name="阿明", message_id="c2")
    assert await harness.bot.recall("c2", harness.clock.now())
    assert await order_of("u4") == {}
    # 阿明 posts the line again: it is new again, so it is ordered again.
    await harness.say(chain("陈哥 五花肉2斤", "阿明 豆腐3块"), sender="u4", name="阿明", message_id="c3")
    assert await order_of("u4") == {"T01": Decimal(3)}
    assert await order_of("u3") == {"M01": Decimal(2)}


async def test_after_cut_off_a_recall_changes_nothing_and_says_why(harness: Harness) -> None:
    await harness.say("草莓2盒", message_id="a")
    await harness.advance_to(datetime(2026, 12, 1, 20, 30, tzinfo=SHANGHAI))
    assert await harness.bot.recall("a", harness.clock.now())
    assert await order_of("wxid_u1") == {"F01": Decimal(2)}
    await harness.flush()
    assert "已经截单，订单没有改动" in harness.texts(room=ROOM_A)[-1]
