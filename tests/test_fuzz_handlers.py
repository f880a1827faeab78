"""Hypothesis feeds the whole bot arbitrary conversations: no crash, no order from garbage."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.tables import OrderLine
from tests.conftest import MORNING, ROOM_A, ROOM_B, STAFF, make_config, start_harness
from tests.test_parse import OFFER

PRODUCT_CHARS = {c for p in OFFER.products for n in p.names for c in n} | set("号")
GARBAGE = st.text(st.characters(blacklist_characters="".join(PRODUCT_CHARS), blacklist_categories=("Cs",)),
                  max_size=200)
SENDERS = st.sampled_from(["u1", "u2", STAFF])
ROOMS = st.sampled_from([ROOM_A, ROOM_B, None, "999@chatroom"])


async def _converse(tmp: Path, messages: list[tuple[str, str, str | None]]) -> tuple[list[str], int]:
    # With coupons, a new-member pack and rewards, so that the money words do something.
    config = make_config(tmp, f"sqlite://{tmp / 'fuzz.sqlite3'}",
                         coupon=[{"id": "new3", "name": "新人券", "off": 3, "min_spend": 5}],
                         coupons={"new_member": ["new3"]},
                         reward=[{"points": 1, "coupon": "new3"}, {"points": 2, "sku": "V01"}])
    h = await start_harness(config, MORNING)
    try:
        for i, (text, sender, room) in enumerate(messages):
            await h.say(text, sender=sender, room=room, message_id=f"f{i}")
            if i % 3 == 0:
                await h.bot.recall(f"f{i - 1}", h.clock.now())
        await h.flush()
        return h.texts(), await OrderLine.all().count()
    finally:
        await h.bot.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(GARBAGE, SENDERS, ROOMS), max_size=12))
def test_garbage_conversations_change_nothing(tmp_path_factory, messages) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")
    texts, lines = asyncio.run(_converse(tmp, messages))
    assert lines == 0
    assert all("出了点问题" not in t for t in texts)


ORDERISH = st.lists(st.sampled_from(["西红柿", "2斤", "x3", "取消", "改成", "各", "#接龙\n团\n1. 甲 ", "\n2. 乙 ",
                                      "土豆", "半", "两", "/截单", "/汇总", "我的订单", "豆腐", "3号", "12号", " ",
                                      "，", "？", "😀", "\x00", "不要了", "参团", "开团 ", "/开团 ", "草莓",
                                      " 3人", "150元", "2小时", "0人", "99999元", "/取消拼团 ", "1", "#",
                                      "积分", "邀请码", "K4QDDN", "/拼团统计", "/邀请统计", "参团 1",
                                      "/充值 ", "u1 ", "@u2 ", "200", "-5", "9999999", "/退款 ", "/确认 ",
                                      "/余额 ", "余额", "我的券", "/发券 ", "new3 ", "/送达", " 阳光",
                                      "积分兑换", "兑换 ", "兑换第", "退订", "订阅", "0", "/分层", " 沉默",
                                      "/推送 ", "无 ", "/确认推送 ", "/取消推送 ", "/活动效果 ", "#1"]),
                     max_size=15).map("".join)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(ORDERISH, SENDERS, ROOMS), max_size=12))
def test_order_like_conversations_never_crash(tmp_path_factory, messages) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")
    texts, _ = asyncio.run(_converse(tmp, messages))
    assert all("出了点问题" not in t for t in texts)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_the_open_command_always_answers(text: str) -> None:
    from handlers.parsing.groupbuys import OpenRequest, parse_open_command

    result = parse_open_command(text, OFFER)
    assert isinstance(result, str) or (isinstance(result, OpenRequest) and
                                       (result.size is None or 2 <= result.size <= 100))
