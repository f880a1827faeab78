"""Addresses and phones: kept per member and community, asked for once on a member's first
order of a delivery day, and what the 配送单 shows for each household (both databases)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from models.contacts import Contact
from tests.conftest import MORNING, ROOM_A, ROOM_B, STAFF, Harness, contact_in, make_config, start_harness

DELIVERY = dt.date(2026, 12, 2)
ASK_ADDRESS = "📍 送货需要您的地址"
ASK_BOTH = "📍 送货需要您的地址和手机号"
ASK_PHONE = "📞 送货时方便联系您"


async def said(h: Harness, text: str, room: str | None = ROOM_A, sender: str = "u1", name: str = "李阿姨") -> str:
    before = len(h.transport.sent)
    await h.say(text, sender=sender, name=name, room=room)
    await h.flush()
    return "\n".join(s.message.text for s in h.transport.sent[before:])


@pytest.fixture
async def asking_phone(tmp_path: Path, db_url: str) -> AsyncIterator[Harness]:
    h = await start_harness(make_config(tmp_path, db_url, shop={"ask_phone": True}), MORNING)
    try:
        yield h
    finally:
        await h.bot.close()


async def route(h: Harness, day: dt.date = DELIVERY) -> list[dict[str, Any]]:
    """The 配送单's household rows (not the totals), by column name."""
    path = await h.bot.export(day)
    assert path is not None
    sheet = load_workbook(path)["配送单"]
    header = [c.value for c in sheet[1]]
    rows = [dict(zip(header, r)) for r in sheet.iter_rows(min_row=2, values_only=True)]
    return [r for r in rows if not str(r["小区"]).endswith("合计")]


async def test_the_first_order_of_a_day_without_an_address_asks_for_it_once(harness: Harness) -> None:
    first = await said(harness, "西红柿2斤")
    assert "✅ 已记下：西红柿 2斤" in first and ASK_ADDRESS in first
    assert ASK_PHONE not in first and "手机号" not in first  # the shop did not ask for phones
    assert ASK_ADDRESS not in await said(harness, "土豆1斤")  # once: not on every change
    assert ASK_ADDRESS not in await said(harness, "取消土豆")
    answer = await said(harness, "3栋502")
    assert "✅ 已记下您的地址：3栋502。以后阳光花园的订单都送到这里。" in answer
    assert await contact_in("u1", ROOM_A) == Contact("3栋502", "")
    # The next delivery day: on file, so not asked again.
    harness.clock.advance(24 * 3600)
    answer = await said(harness, "西红柿1斤")
    assert "已记下：西红柿 1斤" in answer and "12月3日" in answer and ASK_ADDRESS not in answer


async def test_an_address_written_with_the_order_is_kept_and_not_asked_for(harness: Harness) -> None:
    answer = await said(harness, "西红柿2斤 5号楼2单元301")
    assert "✅ 已记下：西红柿 2斤" in answer and ASK_ADDRESS not in answer
    assert (await contact_in("u1", ROOM_A)).address == "5号楼2单元301"
    await said(harness, "土豆1斤 6栋101")  # moved (or a mistake put right): the latest is kept
    assert (await contact_in("u1", ROOM_A)).address == "6栋101"


async def test_each_community_has_its_own_address_on_the_route(harness: Harness) -> None:
    await said(harness, "西红柿2斤 3栋502")
    other = await said(harness, "草莓1盒", room=ROOM_B)  # her mother's community: no address there
    assert ASK_ADDRESS in other
    rows = {r["小区"]: r for r in await route(harness)}
    assert rows["阳光花园"]["地址"] == "3栋502"
    assert rows["桂花苑"]["地址"] in (None, "")  # never the other community's door
    assert "已记下您的地址：8栋101。以后桂花苑的订单都送到这里。" in await said(harness, "我住8栋101", room=ROOM_B)
    rows = {r["小区"]: r for r in await route(harness)}
    assert (rows["阳光花园"]["地址"], rows["桂花苑"]["地址"]) == ("3栋502", "8栋101")


async def test_with_ask_phone_both_are_asked_for_and_a_phone_follows_its_member(asking_phone: Harness) -> None:
    h = asking_phone
    first = await said(h, "西红柿2斤")
    assert ASK_BOTH in first
    answer = await said(h, "3栋502 13812345678")
    assert "地址：3栋502" in answer and "电话：138****5678" in answer
    assert await contact_in("u1", ROOM_A) == Contact("3栋502", "13812345678")
    other = await said(h, "草莓1盒", room=ROOM_B)
    assert ASK_ADDRESS in other and ASK_BOTH not in other and ASK_PHONE not in other  # she gave a phone
    rows = {r["小区"]: r for r in await route(h)}
    assert rows["阳光花园"]["电话"] == rows["桂花苑"]["电话"] == "13812345678"
    # Someone with an address on file and no phone is asked for the phone only.
    await said(h, "我住9栋1201", sender="u2", name="小周")
    assert ASK_PHONE in await said(h, "土豆1斤", sender="u2", name="小周")
    await said(h, "电话13900001111", sender="u2", name="小周")
    assert (await contact_in("u2", ROOM_A)).phone == "13900001111"


async def test_an_address_or_phone_with_an_order_after_the_cut_off_is_kept_all_the_same(harness: Harness) -> None:
    await said(harness, "西红柿2斤")
    await said(harness, "/截单", room=None, sender=STAFF, name="店长")
    answer = await said(harness, "土豆1斤 6栋101 13812345678")
    assert "截单" in answer  # not ordered...
    assert await contact_in("u1", ROOM_A) == Contact("6栋101", "13812345678")  # ...but kept


async def test_an_address_sent_privately_is_kept_for_the_members_home_community(harness: Harness) -> None:
    await said(harness, "西红柿2斤")  # her home: 阳光花园
    answer = await said(harness, "我住5栋1单元301", room=None)
    assert "以后阳光花园的订单都送到这里" in answer
    assert (await contact_in("u1", ROOM_A)).address == "5栋1单元301"
    assert (await contact_in("u1", ROOM_B)).address == ""
    stranger = await said(harness, "我住5栋1单元301", room=None, sender="u9", name="新人")
    assert "请在您小区的群里发一下地址" in stranger  # which community's door is it?


async def test_a_first_chain_entry_asks_for_the_address_too(harness: Harness) -> None:
    answer = await said(harness, "#接龙\n今日水果\n\n1. 李阿姨 西红柿2斤")
    assert "📝 接龙已收到" in answer and ASK_ADDRESS in answer
    answer = await said(harness, "#接龙\n今日水果\n\n1. 李阿姨 西红柿3斤")
    assert ASK_ADDRESS not in answer


async def test_delivery_lists_what_to_collect_by_building_with_the_communitys_address(
        tmp_path: Path, db_url: str) -> None:
    h = await start_harness(make_config(tmp_path, db_url), MORNING, run_jobs=True)
    try:
        await said(h, "西红柿2斤 10栋1202")
        await said(h, "土豆1斤 2栋301", sender="u2", name="小周")
        await said(h, "草莓1盒", sender="u3", name="陈哥")  # no address here...
        await said(h, "我住7栋1", room=ROOM_B, sender="u3", name="陈哥")  # ...only in the other community
        await h.advance_to(MORNING + dt.timedelta(days=1))  # cut off and settled at 20:00
        answer = await said(h, "/送达 阳光花园", room=None, sender=STAFF, name="店长")
        answer = answer[answer.index("✅ 12月2日阳光花园已送达3单。"):]  # (after the group's delivery notes)
        assert answer.splitlines()[1:] == ["到付应收3单，合计¥51.70：", "小周 2栋301 ¥2.80",
                                           "李阿姨 10栋1202 ¥9.00", "陈哥 （无地址） ¥39.90"]
    finally:
        await h.bot.close()
