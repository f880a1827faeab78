"""Whole conversations through the in-memory transport, on SQLite and PostgreSQL: a change in
one message, questions asked back and answered, a member's help, an address sent alone, and a
real-style 接龙 copied and extended by three members (issue: read real chat as a shop
assistant does)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from models.orders import member_orders
from models.tables import InboundMessage, Order, OrderLine
from models.contacts import Contact
from tests.conftest import ROOM_A, STAFF, Harness, contact_in


async def order_of(member: str) -> dict[str, Decimal]:
    return {line.sku: line.qty for order in await member_orders(member) for line in order.lines}


async def said(harness: Harness, text: str, sender: str = "wxid_u1", name: str = "李阿姨") -> str:
    """Say something in group A and return the bot's answer to it ("" when it stays quiet)."""
    before = len(harness.transport.sent)
    await harness.say(text, sender=sender, name=name)
    await harness.flush()
    answers = [s.message.text for s in harness.transport.sent[before:]]
    return "\n".join(answers)


async def test_one_message_adds_and_cancels_with_one_reply(harness: Harness) -> None:
    await said(harness, "土豆3斤 草莓1盒")
    answer = await said(harness, "西红柿2斤，土豆不要了")
    assert await order_of("wxid_u1") == {"V01": Decimal(2), "F01": Decimal(1)}
    assert answer.count("@李阿姨") == 1
    assert "✅ 已记下：西红柿 2斤" in answer and "✅ 已取消：土豆 3斤" in answer
    answer = await said(harness, "草莓改成2盒 西红柿减1斤")
    assert await order_of("wxid_u1") == {"V01": Decimal(1), "F01": Decimal(2)}
    assert "✅ 已记下：丹东草莓 1→2盒" in answer and "✅ 已减少：西红柿 2→1斤" in answer
    answer = await said(harness, "取消订单")
    assert "您12月2日的订单已经全部取消了" in answer and "没有订单了" not in answer


async def test_a_proposal_is_recorded_when_the_member_says_yes(harness: Harness) -> None:
    answer = await said(harness, "西红柿2斤可以吗")
    assert "您要加2斤西红柿，对吗？" in answer and "回复“对”就记下" in answer
    assert await order_of("wxid_u1") == {}
    answer = await said(harness, "对")
    assert "✅ 已记下：西红柿 2斤" in answer
    assert await order_of("wxid_u1") == {"V01": Decimal(2)}
    assert await said(harness, "对") == ""  # nothing asked any more: no second order
    assert await order_of("wxid_u1") == {"V01": Decimal(2)}


async def test_a_quoted_order_after_me_too_is_proposed_then_recorded(harness: Harness) -> None:
    answer = await said(harness, "「小周：草莓2盒」\n- - - - - - - - - - - - - - -\n我也要")
    assert "您要加2盒丹东草莓，对吗？" in answer
    await said(harness, "好的")
    assert await order_of("wxid_u1") == {"F01": Decimal(2)}


async def test_a_missing_quantity_is_asked_for_and_the_answer_recorded(harness: Harness) -> None:
    answer = await said(harness, "牛奶3斤")
    assert "纯牛奶按箱卖，不按斤卖，您要几箱？" in answer and "没看懂" not in answer
    await said(harness, "2箱")
    assert await order_of("wxid_u1") == {"D01": Decimal(2)}
    assert "黑猪五花肉要几斤？" in await said(harness, "五花肉")
    await said(harness, "2")
    assert await order_of("wxid_u1") == {"D01": Decimal(2), "M01": Decimal(2)}
    assert "西红柿要2斤还是3斤？" in await said(harness, "西红柿 2 3")
    assert "按斤卖" in await said(harness, "3箱")  # the wrong unit is asked again
    await said(harness, "3斤")
    assert (await order_of("wxid_u1"))["V01"] == Decimal(3)


async def test_no_drops_a_proposal_and_chit_chat_answers_nothing(harness: Harness) -> None:
    assert "对吗" in await said(harness, "把草莓换成牛奶")
    assert "这条没有记下" in await said(harness, "不对")
    assert await said(harness, "对") == ""
    assert await said(harness, "好的") == ""  # nothing was asked
    assert await said(harness, "2") == ""  # a bare number, nothing asked
    assert await OrderLine.all().count() == 0


async def test_an_answer_comes_too_late_or_after_something_else(harness: Harness) -> None:
    await said(harness, "西红柿2斤行吗")
    await harness.advance_to(harness.clock.now() + timedelta(minutes=11))
    assert await said(harness, "对") == ""
    await said(harness, "西红柿2斤行吗")
    await said(harness, "土豆1斤")  # answered with another order: the question is gone
    await said(harness, "对")
    assert await order_of("wxid_u1") == {"V02": Decimal(1)}
    await said(harness, "西红柿2斤行吗", sender="wxid_u2", name="小周")
    assert await said(harness, "对") == ""  # someone else's question is not mine to answer
    assert await order_of("wxid_u1") == {"V02": Decimal(1)}


async def test_a_question_and_its_answer_in_one_batch(harness: Harness) -> None:
    """Both messages queued before the writer runs: the answer finds the question the order
    book holds in memory."""
    first = harness.transport.incoming("西红柿2斤可以吗", "wxid_u1", "李阿姨", ROOM_A, "q1")
    second = harness.transport.incoming("对", "wxid_u1", "李阿姨", ROOM_A, "q2")
    assert all(await asyncio.gather(harness.bot.handle(first), harness.bot.handle(second)))
    assert await order_of("wxid_u1") == {"V01": Decimal(2)}
    kept = await InboundMessage.get(message_id="q1")
    assert kept.effect == {"ask": {"proposal": [["V01", "2", "add"]]}}


async def test_members_get_their_own_help_and_staff_theirs(harness: Harness) -> None:
    for text in ("帮助", "/帮助", "怎么下单"):
        answer = await said(harness, text)
        assert "可以这样跟我说" in answer and "下单：西红柿2斤" in answer and "接龙" in answer
        assert "我的订单" in answer and "只有店员" not in answer and "看不懂" not in answer
    await harness.say("/帮助", sender=STAFF, room=None)
    await harness.flush()
    assert harness.texts(to=STAFF)[-1].startswith("店员命令")


async def test_an_address_or_phone_alone_is_kept_and_confirmed(harness: Harness) -> None:
    answer = await said(harness, "我住5号楼2单元301")
    assert "✅ 已记下您的地址：5号楼2单元301" in answer
    answer = await said(harness, "电话13812345678")
    assert "138****5678" in answer
    assert await contact_in("wxid_u1", ROOM_A) == Contact("5号楼2单元301", "13812345678")
    assert await Order.all().count() == 0
    answer = await said(harness, "西红柿2斤 电话13900001111")
    assert (await contact_in("wxid_u1", ROOM_A)).phone == "13900001111"
    assert "地址" not in answer and "手机号" not in answer  # on file: not asked


async def test_order_like_messages_are_never_met_with_silence(harness: Harness) -> None:
    for text in ("草莓 牛奶 各一", "昨天的豆腐很好吃，今天再来2块", "西红柿减1斤", "订了什么", "帮我看看我订了啥",
                 "白菜2颗 3斤土豆 还要一盒草莓", "电话13812345678 西红柿2斤", "我也要", "+1", "黄瓜2斤"):
        assert await said(harness, text), text
    for text in ("我8号回来，到时候再说", "明天3号了", "我家有2个小孩", "要不要豆腐", "谁要豆腐", "给我妈要了豆腐",
                 "要是有虾就好了", "你们的虾怎么这么贵啊要死了"):
        assert await said(harness, text) == "", text
    assert await order_of("wxid_u1") == {"F01": Decimal(2), "D01": Decimal(1), "T01": Decimal(2), "V01": Decimal(2),
                                          "V03": Decimal(2), "V02": Decimal(3)}


async def test_after_cut_off_the_reply_says_when_to_send_again(harness: Harness) -> None:
    await harness.advance_to(harness.clock.now().replace(hour=21))
    answer = await said(harness, "西红柿2斤")
    assert "今天已截单，这条没有记下。12月2日 08:00开始接下一批订单，到时请再发一次" in answer
    assert await Order.all().count() == 0


HEAD = ("#接龙\n12.2号（周三）蔬菜团购 晚8点截单\n  1.西红柿 4.5元/斤\n  2.土豆 2.8元/斤\n  3.丹东草莓 39.9元/盒\n"
        "例 张三 西红柿2斤 5栋302\n\n")


async def test_a_real_chain_copied_and_extended_by_three_members(harness: Harness) -> None:
    """The description block (heading, prices, an indented menu, an example) orders nothing
    in any version; each member's own line is their order."""
    lines = ["Lily 西红柿2斤"]
    await harness.say(HEAD + "1. Lily 西红柿2斤", sender="u1", name="Lily🌸")
    lines.append("丽华 草莓3盒")  # her own short name: not 代接
    await harness.say(HEAD + "\n".join(f"{i}. {t}" for i, t in enumerate(lines, 1)), sender="u2", name="王丽华")
    lines.append("Amy Li 土豆3斤")
    await harness.say(HEAD + "\n".join(f"{i}. {t}" for i, t in enumerate(lines, 1)), sender="u3", name="Amy")
    lines.append("陈哥 五花肉1斤")  # u3 again, for a neighbour: 代接
    await harness.say(HEAD + "\n".join(f"{i}. {t}" for i, t in enumerate(lines, 1)), sender="u3", name="Amy")
    lines[0] = "Lily 西红柿3斤"  # Lily edits her own line
    await harness.say(HEAD + "\n".join(f"{i}. {t}" for i, t in enumerate(lines, 1)), sender="u1", name="Lily🌸")
    await harness.flush()
    assert await order_of("u1") == {"V01": Decimal(3)}
    assert await order_of("u2") == {"F01": Decimal(3)}
    assert await order_of("u3") == {"V02": Decimal(3), "M01": Decimal(1)}
    notes = {line.sku: line.note for line in await OrderLine.all()}
    assert notes["M01"] == "代接:陈哥" and notes["F01"] == "" and notes["V01"] == ""
    sent = "\n".join(harness.texts(room=ROOM_A))  # replies waiting for one group go out as one
    assert sent.count("📝 接龙已收到") == 5 and "没看懂" not in sent
    assert sent.endswith("✅ 已记下：西红柿 2→3斤\n您12月2日的订单：西红柿 3斤 ¥13.50，合计 ¥13.50\n"
                         "配送：12月2日 16:00-18:00（阳光花园）")


async def test_a_roll_call_chain_is_left_alone(harness: Harness) -> None:
    head = "#接龙\n周六羽毛球 3号场地 下午2点\n\n"
    await harness.say(head + "1. 小王", sender="u1", name="小王")
    await harness.say(head + "1. 小王\n2. 老李 +1", sender="u2", name="老李")
    await harness.flush()
    assert harness.texts() == [] and await Order.all().count() == 0
