"""The wechaty transport, driven through a real `wechaty.Wechaty` on a recording FakePuppet:
no network, no WeChat account. Every test fails on an error wechaty would only have logged."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import Bot
from bot.core.clock import VirtualClock
from bot.core.messages import Outgoing
from bot.simulation import Simulation
from bot.transports.appmsg import parse_app_chain
from bot.transports.wechaty import WechatyTransport
from models.tables import Member, Order, OrderLine
from tests.conftest import MORNING, ROOM_A, ROOM_B, STAFF, make_config
from tests.wechaty_fakes import MessageType, RecordingPuppet, deliver, join_event, message_event
from wechaty_puppet.schemas.types import RoomMemberPayload

CHAIN_XML = """wxid_relay:
<?xml version="1.0"?>
<msg><appmsg appid="" sdkver="0"><title>#接龙
周五水果团

1. 阿姨 草莓2盒
2. 小周 西红柿3斤
3. 代发 土豆1斤</title><des /><type>53</type>
<extinfo><solitaire_info><![CDATA[<solitaire><tt>0-40</tt><s>.</s><au>u1</au><content><s>3</s>
<i><u>u1</u><h>0</h><s>.</s><t>1764550800</t><r>13-8</r></i>
<i><u>u2</u><h>0</h><s>.</s><t>1764550900</t><r>22-10</r></i>
<i><u>u3</u><h>0</h><s>.</s><t>1764551000</t><r>33-9</r></i>
</content></solitaire>]]></solitaire_info></extinfo></appmsg>
<fromusername>u3</fromusername></msg>"""


@dataclass
class WeChat:
    puppet: RecordingPuppet
    transport: WechatyTransport
    bot: Bot
    clock: VirtualClock
    simulation: Simulation

    async def say(self, message_id: str, sender: str, text: str, room: str = ROOM_A,
                  kind: object = MessageType.MESSAGE_TYPE_TEXT, mentions: tuple[str, ...] = (),
                  age: timedelta = timedelta(0)) -> None:
        self.puppet.message(message_id, sender, text, self.clock.now() - age, room, kind, mentions)
        await deliver(self.puppet, "message", message_event(message_id))

    async def flush(self) -> None:
        await self.simulation.drain()


@pytest.fixture
async def wechat(tmp_path: Path, db_url: str) -> AsyncIterator[WeChat]:
    from wechaty.user.contact import Contact
    from wechaty.user.room import Room

    config = make_config(tmp_path, db_url, transport={"kind": "wechaty", "token": "puppet_test_token"})
    clock = VirtualClock(MORNING)
    puppet = RecordingPuppet()
    puppet.room(ROOM_A, "阳光花园团购群", {"u1": "李阿姨", "u2": "小周", "u3": "陈哥", STAFF: "店长"})
    puppet.room(ROOM_B, "桂花苑团购群", {"u4": "阿明"})
    puppet.room("99999@chatroom", "别的群", {"u9": "路人"})

    async def no_wait(seconds: float) -> None:
        return None

    transport = WechatyTransport(config, clock, puppet=puppet, sleep=no_wait)
    bot = Bot(config, clock, transport.send, rng=random.Random(1), reachable=transport.reachable)
    await bot.open()
    transport.attach(bot)
    await transport.start()
    await transport.logged_in.wait()
    try:
        yield WeChat(puppet, transport, bot, clock, Simulation(bot, clock, ()))
        # An error wechaty would only have logged fails the test here.
        assert not transport.errors and puppet.errors == []
    finally:
        await transport.stop()
        await bot.close()
    # wechaty's process-wide caches stay empty: each bot has its own (no leak between tests).
    assert not Contact._pool and not Room._pool


async def test_an_order_in_a_room_is_confirmed_there_with_a_mention(wechat: WeChat) -> None:
    await wechat.say("m1", "u1", "@团购助手 草莓2盒", mentions=(wechat.puppet.login_user_id,))
    await wechat.flush()
    line = await OrderLine.get()
    assert (line.sku, line.qty) == ("F01", 2)
    order = await Order.get().select_related("member", "community")
    assert (order.member.id, order.member.name, order.community.room) == ("u1", "李阿姨", ROOM_A)
    [(conversation, text, mentions)] = [s for s in wechat.puppet.sent if s[0] == ROOM_A]
    assert "已记下" in text and "丹东草莓 2盒" in text and text.startswith("@李阿姨")
    assert mentions == ("u1",)
    assert any(s[0] == STAFF and "微信已登录" in s[1] for s in wechat.puppet.sent)


async def test_private_messages_and_quoted_replies(wechat: WeChat) -> None:
    await wechat.say("m1", "u1", "西红柿2斤")  # makes ROOM_A the member's home
    await wechat.say("m2", "u1", "我的订单", room="")
    await wechat.say("m3", "u2", "「李阿姨：西红柿2斤」\n- - - - - - - - - - - - - - -\n土豆3斤")
    await wechat.flush()
    private = [text for to, text, _ in wechat.puppet.sent if to == "u1"]
    assert private and "西红柿 2斤" in private[0]
    assert (await OrderLine.get(order__member_id="u2")).sku == "V02"


async def test_a_recall_undoes_the_order(wechat: WeChat) -> None:
    await wechat.say("m1", "u1", "草莓2盒")
    assert await OrderLine.filter(sku="F01").count() == 1
    await wechat.say("r1", "u1", "m1", kind=MessageType.MESSAGE_TYPE_RECALLED)
    await wechat.flush()
    assert await OrderLine.filter(sku="F01").count() == 0
    assert any("撤回" in text for room, text, _ in wechat.puppet.sent if room == ROOM_A)


async def test_a_join_with_an_inviter_attributes_the_member(wechat: WeChat) -> None:
    await wechat.say("m1", "u1", "西红柿1斤")
    wechat.puppet.person("u7", "新邻居")
    await deliver(wechat.puppet, "room-join", join_event(ROOM_A, ["u7"], "u1", wechat.clock.now()))
    member = await Member.get(id="u7")
    assert (member.name, member.referrer_id, member.referred_via) == ("新邻居", "u1", "join")  # type: ignore[attr-defined]
    await wechat.say("m2", "u7", "草莓1盒")
    assert await wechat.bot.services.rewards.pending("u1") == 4 + 50  # once delivered


async def test_the_built_in_chain_becomes_orders_keyed_on_wxids(wechat: WeChat) -> None:
    # Relayed by u3, whose display name is not on any line: each entry is its author's order,
    # and the wxid wins over the name written on the line ("代发" is u3's own entry).
    await wechat.say("c1", "u3", CHAIN_XML, kind=MessageType.MESSAGE_TYPE_ATTACHMENT)
    await wechat.flush()
    lines = {(l.order.member_id, l.sku): l.qty  # type: ignore[attr-defined]
             for l in await OrderLine.all().select_related("order")}
    assert lines == {("u1", "F01"): 2, ("u2", "V01"): 3, ("u3", "V02"): 1}
    sent = [(text, mentions) for room, text, mentions in wechat.puppet.sent if room == ROOM_A]
    assert any("u1" in m for _, m in sent) and any("u2" in m for _, m in sent)
    # The next version, one entry changed by its author: only that order changes.
    await wechat.say("c2", "u2", CHAIN_XML.replace("西红柿3斤", "西红柿5斤"),
                     kind=MessageType.MESSAGE_TYPE_ATTACHMENT)
    lines = {(l.order.member_id, l.sku): l.qty  # type: ignore[attr-defined]
             for l in await OrderLine.all().select_related("order")}
    assert lines == {("u1", "F01"): 2, ("u2", "V01"): 5, ("u3", "V02"): 1}


async def test_other_groups_images_and_the_bot_own_messages_are_ignored(wechat: WeChat) -> None:
    await wechat.say("m1", "u9", "草莓2盒", room="99999@chatroom")
    await wechat.say("m2", "u1", "<img/>", kind=MessageType.MESSAGE_TYPE_IMAGE)
    await wechat.say("m3", wechat.puppet.login_user_id, "草莓2盒")
    assert await OrderLine.all().count() == 0


async def test_a_reconnect_replays_no_old_message_into_an_order(wechat: WeChat) -> None:
    await wechat.say("m1", "u1", "草莓1盒")
    wechat.puppet.drop()  # the puppet service's stream ends
    await wechat.transport.wait_for_login(2)  # ... and the transport connects again
    assert wechat.puppet.starts == 2 and wechat.transport.connections == 2
    await wechat.say("m1", "u1", "草莓1盒")  # re-delivered after the reconnect
    await wechat.say("m0", "u1", "西红柿1斤", age=timedelta(hours=3))  # queued while offline
    await wechat.say("m2", "u1", "土豆1斤")
    await wechat.flush()
    lines = {l.sku: l.qty for l in await OrderLine.all()}
    assert lines == {"F01": 1, "V02": 1}
    assert any("重新连接" in text for to, text, _ in wechat.puppet.sent if to == STAFF)


async def test_a_failed_send_is_retried_then_reported(wechat: WeChat, monkeypatch: pytest.MonkeyPatch) -> None:
    await wechat.flush()  # the login note to staff
    failures = {"m1": 2, "m2": 99}  # the first reply fails twice, the second for good
    real = wechat.puppet.message_send_text

    async def flaky(conversation_id: str, message: str, mention_ids: list[str] | None = None) -> str:
        for key, word in (("m1", "草莓"), ("m2", "土豆")):
            if conversation_id == ROOM_A and word in message and failures[key] > 0:
                failures[key] -= 1
                raise ConnectionError("puppet service busy")
        return await real(conversation_id, message, mention_ids)

    monkeypatch.setattr(wechat.puppet, "message_send_text", flaky)
    await wechat.say("m1", "u1", "草莓1盒")
    await wechat.flush()
    assert failures["m1"] == 0 and any("丹东草莓 1盒" in text for room, text, _ in wechat.puppet.sent if room == ROOM_A)
    await wechat.say("m2", "u2", "土豆1斤")
    await wechat.flush()
    assert failures["m2"] == 99 - 4  # [transport] send_attempts
    [note] = [text for to, text, _ in wechat.puppet.sent if to == STAFF and "发送失败" in text]
    assert "群 20001@chatroom" in note and "土豆" in note


async def test_the_workbook_is_sent_to_staff_as_a_file(wechat: WeChat) -> None:
    await wechat.say("m1", "u1", "草莓1盒")
    await wechat.say("m2", STAFF, "/导出", room="")
    await wechat.flush()
    assert wechat.puppet.files == [(STAFF, "orders-2026-12-02.xlsx")]


async def test_a_handler_error_is_kept_with_its_message_id(wechat: WeChat, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    async def broken(msg: object) -> bool:
        raise RuntimeError("database went away")

    monkeypatch.setattr(wechat.bot, "handle", broken)
    await wechat.say("m-broken", "u1", "草莓1盒")
    [(event, key, error)] = wechat.transport.errors
    assert (event, key, str(error)) == ("message", "m-broken", "database went away")
    assert "m-broken" in caplog.text
    wechat.transport.errors.clear()  # seen: the fixture's check would fail the test otherwise


async def test_rooms_lists_what_the_account_is_in(wechat: WeChat) -> None:
    rooms = await wechat.transport.rooms()
    assert [(r.id, r.topic, r.members) for r in rooms] == [
        ("99999@chatroom", "别的群", 1), (ROOM_B, "桂花苑团购群", 1), (ROOM_A, "阳光花园团购群", 4)]


def test_parse_app_chain_reads_text_and_authors() -> None:
    chain = parse_app_chain(CHAIN_XML)
    assert chain is not None and chain.authors == ("u1", "u2", "u3")
    assert chain.text.startswith("#接龙\n周五水果团") and "3. 代发 土豆1斤" in chain.text
    assert parse_app_chain("<msg><appmsg><title>x</title><type>5</type></appmsg></msg>") is None
    assert parse_app_chain("草莓2盒") is None and parse_app_chain("<appmsg><broken") is None
    no_authors = parse_app_chain("<msg><appmsg><title>团购#接龙\n1. 甲 草莓1盒</title><type>53</type></appmsg></msg>")
    assert no_authors is not None and no_authors.authors == () and no_authors.text.startswith("#接龙")


async def test_groupbuy_rooms_lists_the_rooms_after_login(tmp_path: Path) -> None:
    from bot.transports.wechaty import list_rooms

    config = make_config(tmp_path, "sqlite://:memory:", transport={"kind": "wechaty", "endpoint": "127.0.0.1:8788"})
    puppet = RecordingPuppet()
    puppet.room(ROOM_A, "阳光花园团购群", {"u1": "李阿姨", "u2": "小周"})
    rooms = await list_rooms(config, VirtualClock(MORNING), puppet=puppet)
    assert [(r.id, r.topic, r.members) for r in rooms] == [(ROOM_A, "阳光花园团购群", 2)]
    assert puppet.errors == []


def test_groupbuy_rooms_needs_the_wechaty_transport(tmp_path: Path) -> None:
    import subprocess
    import sys

    catalog = Path(__file__).resolve().parents[1] / "bot" / "demo" / "catalog.toml"
    config = tmp_path / "config.toml"
    config.write_text(f'[catalog]\nfile = "{catalog}"\n[[group]]\nroom = "r"\ncommunity = "c"\n'
                      'delivery = "09:00-10:00"\n', encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "bot", "rooms", "--config", str(config)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and 'needs [transport] kind = "wechaty"' in run.stderr


async def test_the_web_server_serves_links_and_status_while_the_bot_is_in_wechat(tmp_path: Path, db_url: str) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.web import BOT, create_app

    config = make_config(tmp_path, db_url, transport={"kind": "wechaty", "token": "puppet_test_token"})
    puppet = RecordingPuppet()
    puppet.room(ROOM_A, "阳光花园团购群", {"u1": "李阿姨"})
    app = create_app(config, VirtualClock(MORNING), run_scheduler=False, puppet=puppet)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        bot = app[BOT]
        await bot.outbox.pending()  # the bot is open
        page = await client.get("/")
        assert page.status == 200 and "connected to WeChat" in await page.text() and "阳光花园" in await page.text()
        assert (await client.get("/ws")).status == 404 and (await client.get("/api/setup")).status == 404
        assert (await client.get("/health")).status == 200
    finally:
        await client.close()
    assert puppet.errors == []


async def test_leave_topic_logout_and_scan_are_logged_and_staff_hear_of_a_logout(
        wechat: WeChat, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from wechaty_puppet.schemas.event import (
        EventLogoutPayload, EventRoomLeavePayload, EventRoomTopicPayload, EventScanPayload,
    )
    from wechaty_puppet import ScanStatus

    caplog.set_level(logging.INFO, logger="bot.transports.wechaty")
    at = int(wechat.clock.now().timestamp())
    await deliver(wechat.puppet, "room-leave", EventRoomLeavePayload(
        removed_ids=["u2"], remover_id="u2", room_id=ROOM_A, timestamp=at))
    await deliver(wechat.puppet, "room-topic", EventRoomTopicPayload(
        changer_id="u1", new_topic="阳光花园二群", old_topic="阳光花园团购群", room_id=ROOM_A, timestamp=at))
    await deliver(wechat.puppet, "scan", EventScanPayload(status=ScanStatus.Waiting, qrcode="qr-data"))
    await deliver(wechat.puppet, "logout", EventLogoutPayload(contact_id=wechat.puppet.login_user_id, data="x"))
    assert "left 20001@chatroom: u2" in caplog.text
    assert "renamed '阳光花园团购群' -> '阳光花园二群' (served as 阳光花园)" in caplog.text
    assert "https://wechaty.js.org/qrcode/qr-data" in caplog.text
    assert not wechat.transport.logged_in.is_set()
    with pytest.raises(ConnectionError):  # not logged in: the outbox keeps it and retries
        await wechat.transport.send(Outgoing("x", to="u1"))
    assert await wechat.bot.outbox.pending()  # the note to staff waits for the next login
    assert any("退出登录" in row.text for row in await wechat.bot.outbox.pending())


async def test_a_member_who_is_not_a_friend_is_told_how_and_the_answer_waits_for_the_friendship(
        wechat: WeChat) -> None:
    """A personal account can message only its friends: 积分 asked in the group by a member who
    is not one is answered there without figures, and privately once they are friends."""
    wechat.puppet.person("u5", "新来的", friend=False)
    wechat.puppet.add_fake_room_members(ROOM_A, [RoomMemberPayload(id="u5", name="新来的", room_alias="")])
    await wechat.say("m1", "u5", "积分")
    await wechat.say("m2", "u1", "积分")  # a friend: privately at once
    await wechat.flush()
    group = "\n".join(text for to, text, _ in wechat.puppet.sent if to == ROOM_A)  # replies may be merged
    assert "@新来的 这个要私信告诉您，请先加我为微信好友" in group and "@李阿姨 已私信您。" in group
    assert "可用" not in group
    assert not any(to == "u5" for to, _, _ in wechat.puppet.sent)
    assert any(to == "u1" and "您的积分" in text for to, text, _ in wechat.puppet.sent)
    # A stranger the shop does not know is left to staff; the member is accepted.
    wechat.puppet.person("u8", "推销", friend=False)
    await deliver(wechat.puppet, "friendship", wechat.puppet.friend_request("u8"))
    await deliver(wechat.puppet, "friendship", wechat.puppet.friend_request("u5"))
    assert wechat.puppet.accepted == ["u5"]
    await wechat.flush()
    [answer] = [text for to, text, _ in wechat.puppet.sent if to == "u5"]
    assert answer.startswith("您的积分：可用0")
