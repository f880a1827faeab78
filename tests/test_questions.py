"""The shop's questions answered from what the bot knows (issue 20): when ordering closes, when
the order comes, what is on offer and whether a product is, once per question per group within
a few minutes; what it cannot answer gets no reply."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.harness import Harness
from handlers.parsing import parse
from models.catalog import load_catalog
from tests.conftest import DEMO_DIR, MORNING, ROOM_B, make_config, start_harness


async def said(h: Harness, text: str, room: str | None = "", sender: str = "wxid_u1") -> str:
    before = len(h.transport.sent)
    await h.say(text, sender=sender, name="李阿姨", room=room)
    await h.flush()
    return "\n".join(s.message.text for s in h.transport.sent[before:])


OFFER, _ = load_catalog(DEMO_DIR / "catalog.toml")


@pytest.mark.parametrize(("text", "intent", "about"), [
    ("几点送？", "query_time", "delivery"), ("什么时候送货", "query_time", "delivery"), ("明天几点到", "query_time", "delivery"),
    ("配送时间是几点", "query_time", "delivery"), ("请问几点截单", "query_time", "cutoff"),
    ("今天几点截单啊", "query_time", "cutoff"), ("截单时间是几点", "query_time", "cutoff"),
    ("还能下单吗", "query_time", "cutoff"), ("有没有西瓜", "ask_product", "have"), ("有西瓜吗", "ask_product", "have"),
    ("有草莓吗", "ask_product", "have"), ("草莓还有吗", "ask_product", "have"), ("五花肉多少钱一斤", "ask_product", "price"),
    ("草莓甜吗", "ask_product", ""), ("今天有什么", "query_offer", ""),
    # Not questions about the shop's goods or times: nothing to answer.
    ("有没有人一起拼", "none", ""), ("有没有优惠", "none", ""), ("几点了", "none", ""), ("有谁在吗", "none", ""),
    ("西红柿2斤", "order", ""), ("送到3栋", "contact", ""),
])
def test_questions_are_read_as_questions(text: str, intent: str, about: str) -> None:
    parsed = parse(text, OFFER)
    assert (parsed.intent, parsed.about) == (intent, about), text
    assert not parsed.changes_state or intent == "order"


async def test_times_are_answered_from_the_config_and_the_slot_in_force(harness: Harness) -> None:
    h = harness  # 09:00; ordering 08:00-20:00, delivery the next day
    assert await said(h, "几点截单？") == "@李阿姨 今天20:00截单，还有11小时0分钟，现在可以下单。"
    answer = await said(h, "几点送？")
    assert "今天下的单12月2日 16:00-18:00送到阳光花园" in answer and "桂花苑" not in answer
    answer = await said(h, "几点送", room=ROOM_B, sender="wxid_u2")
    assert "09:00-11:00送到桂花苑" in answer
    private = await said(h, "什么时候送货", room=None)
    assert "16:00-18:00送到阳光花园" in private and "桂花苑" not in private  # privately: their own community
    await h.advance_to(MORNING.replace(hour=20, minute=30))
    answer = await said(h, "还能下单吗")
    assert "今天已经截单了，明天08:00开始接单" in answer
    assert "12月2日下的单12月3日 16:00-18:00送到阳光花园" in await said(h, "几点送", room=None)  # the next ordering


async def test_a_group_hears_each_answer_once_in_five_minutes(harness: Harness) -> None:
    h = harness
    assert "截单" in await said(h, "几点截单")
    assert await said(h, "几点截单啊", sender="wxid_u2") == ""  # the answer is just above
    assert "送到" in await said(h, "几点送", sender="wxid_u2")  # another question: answered
    assert "截单" in await said(h, "几点截单", room=ROOM_B)  # another group: answered
    assert "截单" in await said(h, "几点截单", room=None)  # privately: always
    assert "今天有" in await said(h, "今天有什么") and await said(h, "今天有啥") == ""
    await h.advance_to(h.clock.now() + timedelta(minutes=5))
    assert "截单" in await said(h, "几点截单", sender="wxid_u3")


async def test_products_asked_about_are_answered_from_the_offer(harness: Harness) -> None:
    h = harness
    answer = await said(h, "有没有西瓜")
    assert answer.startswith("@李阿姨 今天没有西瓜。今天有：西红柿、土豆") and "¥" not in answer
    answer = await said(h, "有草莓吗", sender="wxid_u2")
    assert "今天有丹东草莓 ¥39.90/盒" in answer and "草莓1盒" in answer
    assert await said(h, "有草莓吗", sender="wxid_u3") == ""  # just answered in this group
    assert "¥32.00/斤" in await said(h, "五花肉多少钱一斤")
    assert await said(h, "草莓甜吗", sender="wxid_u4") == ""  # for the shop's staff to answer


async def test_a_limited_product_says_what_is_left_and_when_it_is_gone(tmp_path, db_url: str) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text((DEMO_DIR / "catalog.toml").read_text(encoding="utf-8").replace(
        'price = 39.9\n', 'price = 39.9\nstock = 3\n', 1), encoding="utf-8")
    h = await start_harness(make_config(tmp_path, db_url, catalog={"file": str(catalog)}), MORNING)
    try:
        assert "（还剩3盒）" in await said(h, "有草莓吗")
        await said(h, "草莓3盒", sender="wxid_u2")
        await h.advance_to(h.clock.now() + timedelta(minutes=6))
        assert "丹东草莓今天已经订完了" in await said(h, "还有草莓吗", sender="wxid_u3")
    finally:
        await h.close()
