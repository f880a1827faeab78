"""Referrals and points: codes and links, attribution by join event and by code, the reward
through the first order (pending until it is delivered) and every case that earns none, the
ledger, the funnel for staff."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.core.clock import VirtualClock
from bot.core.messages import Incoming
from bot.web import BOT, create_app
from models.points import spend
from models.tables import Member, PointEntry, ReferralVisit
from tests.conftest import MORNING, ROOM_A, ROOM_B, STAFF, Harness, make_config, start_harness


def said(h: Harness, room: str | None = ROOM_A, to: str | None = None) -> str:
    return "\n".join(h.texts(room=room, to=to))


async def code_of(h: Harness, member: str) -> str:
    await h.say("邀请码", sender=member)
    await h.flush()
    code = (await Member.get(id=member)).code
    assert code is not None
    return code


NEXT_DAY = MORNING + timedelta(days=1)  # the orders' delivery date


async def delivered(h: Harness) -> None:
    """The next day: staff mark today's deliveries done."""
    h.clock.advance_to(max(NEXT_DAY, h.clock.now()))
    await h.say("/送达", sender=STAFF, room=None)


async def pending(h: Harness, member: str) -> int:
    return await h.bot.services.rewards.pending(member)


async def entries(member: str) -> list[tuple[int, str, str]]:
    return [(e.delta, e.source, e.reason) for e in await PointEntry.filter(member_id=member).order_by("id")]


async def test_a_member_gets_one_code_and_a_link(harness: Harness) -> None:
    await harness.say("邀请", sender="a")
    await harness.say("我的邀请码", sender="a")
    await harness.flush()
    code = (await Member.get(id="a")).code
    assert code and len(code) == 6
    text = said(harness)
    assert text.count(f"您的邀请码：{code}") == 2  # the same code both times
    assert f"http://127.0.0.1:8080/r/{code}" in text and "您得50积分" in text


async def test_a_join_with_an_inviter_attributes_and_the_first_order_rewards_once(harness: Harness) -> None:
    await harness.say("西红柿1斤", sender="a", name="阿姨")  # the inviter, known to the shop
    await harness.bot.member_joined(ROOM_A, "n", "新邻居", "a", harness.clock.now())
    newcomer = await Member.get(id="n")
    assert (newcomer.referrer_id, newcomer.referred_via) == ("a", "join")  # type: ignore[attr-defined]
    await harness.say("草莓1盒", sender="n", name="新邻居")
    assert (await Member.get(id="a")).points == 0 and await pending(harness, "a") == 4 + 50
    await harness.say("西红柿2斤", sender="n", name="新邻居")  # a second order line: no second reward
    await harness.say("参团", sender="n", name="新邻居")  # changes nothing
    await delivered(harness)
    await delivered(harness)  # twice: nothing twice
    assert [e for e in await entries("a") if e[1] == "referral:n"] == [(50, "referral:n", "邀请新邻居首单奖励")]
    assert (await Member.get(id="a")).points == 4 + 50 and await pending(harness, "a") == 0


async def test_a_cancelled_first_order_takes_the_reward_back_and_it_is_never_paid_twice(harness: Harness) -> None:
    await harness.bot.member_joined(ROOM_A, "n", "新邻居", "a", harness.clock.now())
    await harness.say("草莓1盒", sender="n", name="新邻居")
    assert await pending(harness, "a") == 50
    await harness.say("取消订单", sender="n", name="新邻居")
    assert await pending(harness, "a") == 0
    await harness.say("草莓1盒", sender="n", name="新邻居")  # orders again: the reward is due again, once
    await harness.say("西红柿1斤", sender="n", name="新邻居")
    await delivered(harness)
    assert [e[0] for e in await entries("a") if e[1] == "referral:n"] == [50]
    # Delivered, then every line read back as out of stock: the order is void, and so is the reward.
    from models.delivery import finish
    from models.tables import Order, OrderLine

    order = await Order.get(member_id="n")
    await OrderLine.filter(order_id=order.id).update(status="out_of_stock")
    await Order.filter(id=order.id).update(status="cancelled")
    await finish([order.id], harness.bot.services.rewards, harness.clock.now())
    referral = [e for e in await entries("a") if e[1] == "referral:n"]
    assert [e[0] for e in referral] == [50, -50] and "收回" in referral[1][2]


async def test_a_recalled_first_order_takes_the_reward_back(harness: Harness) -> None:
    await harness.bot.member_joined(ROOM_A, "n", "新邻居", "a", harness.clock.now())
    await harness.say("草莓1盒", sender="n", message_id="first")
    assert await pending(harness, "a") == 50
    assert await harness.bot.recall("first", harness.clock.now())
    assert await pending(harness, "a") == 0 and await pending(harness, "n") == 0
    await delivered(harness)
    assert not await PointEntry.exists()


async def test_no_reward_for_a_known_member_staff_or_oneself(harness: Harness) -> None:
    await harness.say("你好", sender="k")  # known to the shop
    await harness.bot.member_joined(ROOM_A, "k", "老邻居", "a", harness.clock.now())  # left and rejoined
    await harness.bot.member_joined(ROOM_A, "s", "店长拉的", STAFF, harness.clock.now())
    await harness.bot.member_joined(ROOM_A, "x", "自己", "x", harness.clock.now())
    await harness.bot.member_joined("99999@chatroom", "y", "别的群", "a", harness.clock.now())
    for member in ("k", "s", "x"):
        assert (await Member.get(id=member)).referrer_id is None  # type: ignore[attr-defined]
    assert not await Member.exists(id="y")  # a group the shop does not serve
    for member in ("k", "s", "x"):
        await harness.say("草莓1盒", sender=member)
    assert await pending(harness, "a") == 0
    await delivered(harness)
    assert not await PointEntry.filter(source__startswith="referral:").exists()


async def test_a_code_before_the_first_order_attributes_and_every_refusal(harness: Harness) -> None:
    code = await code_of(harness, "a")
    await harness.say(code.lower(), sender="n", name="新邻居")  # typed in lower case
    await harness.flush()
    assert (await Member.get(id="n")).referrer_id == "a"  # type: ignore[attr-defined]
    assert "您是a邀请来的" in said(harness)
    await harness.say(f"邀请码 {code}", sender="a")  # one's own code
    await harness.say(f"邀请码：{code}", sender="n")  # a second time
    await harness.say("草莓1盒", sender="o")
    await harness.say(code, sender="o")  # after a first order
    await harness.say("邀请码 ZZ9ZZZ", sender="p")  # no such code
    staff_code = await code_of(harness, STAFF)
    await harness.say(staff_code, sender="q")
    await harness.flush()
    text = said(harness)
    assert "这是您自己的邀请码" in text and "不能再换" in text
    assert "要在第一次下单前填写" in text and "没有找到邀请码 ZZ9ZZZ" in text
    assert "店员的邀请码不用填写" in text
    assert [m.id for m in await Member.filter(referrer_id__not_isnull=True)] == ["n"]


async def test_a_code_from_a_member_known_for_long_is_refused(harness: Harness) -> None:
    code = await code_of(harness, "a")
    await harness.say("早上好", sender="old")
    harness.clock.advance_to(MORNING + timedelta(days=8))  # [referral] new_member_days = 7
    await harness.say(code, sender="old")
    await harness.flush()
    assert "只适用于新加入的邻居" in said(harness)
    assert (await Member.get(id="old")).referrer_id is None  # type: ignore[attr-defined]


async def test_points_follow_the_order_and_the_ledger_explains_them(harness: Harness) -> None:
    await harness.say("草莓2盒", sender="a")  # 79.8 yuan -> 79 points
    assert await pending(harness, "a") == 79
    await harness.say("草莓改成1盒", sender="a")  # 39.9 -> 39
    await harness.say("西红柿2斤", sender="a")  # + 9 = 48.9 -> 48
    assert await pending(harness, "a") == 48 and (await Member.get(id="a")).points == 0
    await harness.say("积分", sender="a")
    await harness.flush()
    assert said(harness).endswith("已私信您。") and "您的积分" not in said(harness)  # never in the group
    assert said(harness, room=None, to="a").startswith("您的积分：可用0，待到账48（订单送达后到账）")
    await delivered(harness)
    # the order earns once, on delivery: one row, not one per change (+79, -40, +9)
    assert await entries("a") == [(48, "order:1", "订单#1送达")]
    assert (await Member.get(id="a")).points == 48 and await pending(harness, "a") == 0
    await harness.say("积分", sender="a", room=None)
    await harness.flush()
    assert "您的积分：可用48\n最近：\n12-02 +48 订单#1送达" in said(harness, room=None, to="a")
    # Never negative: a take-back larger than the balance books only what is there.
    member = await Member.get(id="a")
    assert await spend("a", 1000, "测试", "test", harness.clock.now()) == 48
    assert (await Member.get(id="a")).points == 0 and member.points == 48
    assert (await PointEntry.filter(member_id="a").order_by("-id").first()).balance == 0  # type: ignore[union-attr]


async def test_points_with_another_rate(tmp_path: Path, db_url: str) -> None:
    shop = await start_harness(make_config(tmp_path, db_url, points={"per_yuan": 2},
                                           referral={"inviter_points": 0}), MORNING)
    try:
        await shop.bot.member_joined(ROOM_B, "n", "新邻居", "a", shop.clock.now())
        await shop.say("西红柿3斤", sender="n", room=ROOM_B)  # 13.5 yuan x 2
        await delivered(shop)
        assert (await Member.get(id="n")).points == 27
        assert not await PointEntry.filter(member_id="a").exists()  # inviter_points = 0
        await shop.say("积分", sender="z", room=None)
        await shop.flush()
        assert said(shop, room=None, to="z") == "您的积分：可用0\n订单送达后，每消费1元得2积分。"
    finally:
        await shop.bot.close()


async def test_staff_see_the_funnels(harness: Harness) -> None:
    await harness.say("/拼团统计", sender=STAFF, room=None)
    await harness.say("/邀请统计", sender=STAFF, room=None)
    await harness.flush()
    assert "还没有拼团" in said(harness, None, STAFF) and "还没有邀请记录" in said(harness, None, STAFF)
    await harness.say("西红柿1斤", sender="a", name="阿姨")
    await harness.bot.member_joined(ROOM_A, "n1", "新一", "a", harness.clock.now())
    await harness.bot.member_joined(ROOM_A, "n2", "新二", "a", harness.clock.now())
    await harness.say("草莓2盒", sender="n1")
    await harness.say("/开团 草莓 2人 25元 2小时", sender=STAFF)
    await harness.say("/开团 西红柿 3人 3元 2小时", sender=STAFF)
    await harness.say("参团 1", sender="n1")
    await harness.say("参团 1", sender="n2")
    await harness.say("参团 2", sender="a")
    await harness.say("/拼团统计", sender=STAFF, room=None)
    await harness.say("/邀请统计", sender=STAFF, room=None)
    await harness.say("/邀请统计", sender="a")
    await harness.flush()
    text = said(harness, None, STAFF)
    assert "【拼团统计】最近2个：进行中1，已成团1，成团率100%；订单2个 ¥50.00" in text
    assert "#1 丹东草莓 2人团 已成团：触达3 参团2 订单2 ¥50.00" in text
    assert "#2 西红柿 3人团 进行中：触达3 参团1 订单0 ¥0.00" in text
    assert "a（无码）：访问0 加入2 已下单2 未下单0 订单3 ¥129.80 奖励0分（另100分送达后到账）" in text
    assert "只有店员可以用" in said(harness)


@pytest.fixture
async def client(tmp_path: Path, db_url: str) -> AsyncIterator[TestClient]:
    app = create_app(make_config(tmp_path, db_url), VirtualClock(MORNING), run_scheduler=False)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def test_the_link_page_names_the_group_and_counts_visits(client: TestClient) -> None:
    bot = client.app[BOT]
    await bot.handle(Incoming("m1", "a", "阿<b>姨</b>", "邀请码", MORNING, ROOM_A))
    code = (await Member.get(id="a")).code
    page = await client.get(f"/r/{code}")
    html = await page.text()
    assert page.status == 200 and "「阳光花园」小区群" in html and code in html
    assert "阿&lt;b&gt;姨&lt;/b&gt;" in html  # names are escaped
    await client.get(f"/r/{code.lower()}", headers={"User-Agent": "WeChat"})
    missing = await client.get("/r/NOPE42")
    assert missing.status == 404 and "无效" in await missing.text()
    assert await ReferralVisit.filter(inviter_id="a").count() == 2
    assert (await ReferralVisit.filter(inviter_id="a").order_by("-id").first()).agent == "WeChat"  # type: ignore[union-attr]


async def test_replay_state_lists_groupbuys_participants_points_and_referrers(tmp_path: Path, db_url: str) -> None:
    import json

    from bot.replay import replay

    config = make_config(tmp_path, db_url, groupbuy={"followup": "下次见"})
    events = [
        {"at": "2026-12-01T09:00:00+08:00", "from": "a", "name": "阿姨", "room": ROOM_A, "text": "西红柿1斤"},
        {"at": "2026-12-01T09:01:00+08:00", "event": "join", "room": ROOM_A, "member": "n", "name": "新邻居",
         "inviter": "a"},
        {"at": "2026-12-01T09:02:00+08:00", "from": STAFF, "name": "店长", "text": "/开团 草莓 2人 25元 2小时"},
        {"at": "2026-12-01T09:03:00+08:00", "from": STAFF, "name": "店长", "room": ROOM_B,
         "text": "/开团 西红柿 3人 3元 1小时"},
        {"at": "2026-12-01T09:04:00+08:00", "from": "n", "name": "新邻居", "room": ROOM_A, "text": "参团 1"},
        {"at": "2026-12-01T09:05:00+08:00", "from": "b", "name": "小周", "room": ROOM_B, "text": "参团 1"},
        {"at": "2026-12-01T09:06:00+08:00", "from": "b", "name": "小周", "room": ROOM_B, "text": "参团 2"},
        {"at": "2026-12-01T11:00:00+08:00", "event": "tick"},
    ]
    script = tmp_path / "events.jsonl"
    script.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in events) + "\n", encoding="utf-8")
    state = await replay(config, script, tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "state.json").read_text(encoding="utf-8"))
    assert saved == json.loads(json.dumps(state, ensure_ascii=False))
    first, second = state["groupbuys"]
    assert {k: first[k] for k in ("id", "sku", "size", "price", "state", "participants")} == {
        "id": 1, "sku": "F01", "size": 2, "price": 25, "state": "success", "participants": ["n", "b"]}
    assert (second["state"], second["participants"], second["room"]) == ("failed", ["b"], ROOM_B)
    assert first["deadline"].startswith("2026-12-01T") and first["room"] is None
    made = [o for o in state["orders"] if o["groupbuy"] == 1]
    assert [(o["member"], o["room"], o["items"], o["total"]) for o in made] == [
        ("n", ROOM_A, [{"sku": "F01", "qty": 1, "price": 25}], 25),
        ("b", ROOM_B, [{"sku": "F01", "qty": 1, "price": 25}], 25)]
    members = {m["id"]: m for m in state["members"]}
    assert members["n"]["referrer"] == "a" and members["n"]["referred_via"] == "join"
    assert members["b"]["referrer"] is None
    assert [(members[m]["points"], members[m]["points_pending"]) for m in "anb"] == [(0, 54), (0, 25), (0, 25)]
    transcript = (tmp_path / "out" / "transcript.jsonl").read_text(encoding="utf-8")
    assert "未能成团" in transcript and '"to": "b", "text": "下次见"' in transcript
