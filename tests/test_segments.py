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


async def test_members_who_ask_about_products_without_ordering_are_only_looking(shop: Harness) -> None:
    from models.tables import ProductAsk

    await member_with_order("b", "小周", MORNING - dt.timedelta(days=40))
    await shop.say("草莓甜吗？", sender="b", room=ROOM_A, name="小周")
    await shop.say("五花肉多少钱一斤", sender="w", room=ROOM_A, name="王姐")
    await shop.say("五花肉多少钱一斤", sender="w", room=ROOM_A, name="王姐", message_id="again")  # once a day counts
    await shop.say("土豆还有吗", sender="o", room=ROOM_A, name="老吴")
    await shop.say("土豆2斤", sender="o", room=ROOM_A, name="老吴")  # asked, then ordered: not only looking
    await shop.flush()
    room = shop.texts(room=ROOM_A)
    assert not any("草莓" in t for t in room)  # how sweet it is: for the shop to answer
    assert "@王姐 今天有黑猪五花肉 ¥32.00/斤。要的话回复“五花+数量”" in room[-1]  # a price asked for is given
    assert await ProductAsk.filter(member_id="w").count() == 1
    await shop.say("/分层", sender=STAFF, room=None)
    await shop.say("/分层 只看不买", sender=STAFF, room=None)
    await shop.flush()
    counts, looking = shop.texts(to=STAFF)[-2:]
    assert "只看不买2人" in counts
    assert looking.startswith("【只看不买】2人：\n")
    assert "小周（阳光花园）最后下单" in looking and "问过丹东草莓" in looking
    assert "王姐（阳光花园）还没下过单；问过黑猪五花肉" in looking and "老吴" not in looking
    # 30 days on, the question no longer counts.
    await ProductAsk.all().update(asked_on=TODAY - dt.timedelta(days=30))
    await shop.say("/分层", sender=STAFF, room=None)
    await shop.flush()
    assert "只看不买" not in shop.texts(to=STAFF)[-1]


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


CAMPAIGN = {"control": 0.25, "rest_days": 14, "daily_max": 3, "message_cost": 0.05, "margin": 0.3}


@pytest.fixture
async def pushing(tmp_path: Path, db_url: str) -> Harness:
    config = make_config(tmp_path, db_url, campaign=CAMPAIGN,
                         coupon=[{"id": "back5", "name": "回来5元券", "off": 5, "valid": "7天"}])
    h = await start_harness(config, MORNING, run_jobs=True)
    try:
        yield h
    finally:
        await h.bot.close()


async def staff(h: Harness, text: str) -> str:
    await h.say(text, sender=STAFF, room=None)
    await h.flush()
    return h.texts(to=STAFF)[-1]


async def test_a_campaign_is_drafted_confirmed_paced_and_measured_against_its_control_group(
        pushing: Harness) -> None:
    from models.campaigns import control_group
    from models.tables import Campaign, CampaignMember

    h = pushing
    for n in range(10):
        await member_with_order(f"s{n}", f"沉{n}", MORNING - dt.timedelta(days=100 + n))
    await Member.filter(id="s9").update(unsubscribed=True)
    h.transport.strangers.add("s8")
    preview = await staff(h, "/推送 沉默 back5 好久不见，今天草莓特价")
    # 8 eligible (one unsubscribed, one not a friend): 25% -> 2 held back
    assert preview.startswith("【活动#1 草稿】沉默：发送6人，对照组2人（不发，用来比较），不发2人（退订了活动消息1，不是好友，私信不到1）。")
    control = sorted(await CampaignMember.filter(role="control").values_list("member_id", flat=True))
    assert control == control_group(1, [f"s{n}" for n in range(8)], __import__("decimal").Decimal("0.25"))
    assert not any(t for m in control for t in h.texts(to=m))
    assert "确认推送 1" in preview and not any(h.texts(to=f"s{n}") for n in range(10))  # nothing sent yet
    assert "没有“大客户”这一层" in await staff(h, "/推送 大客户 无 你好")
    assert "没有“zz”这种券" in await staff(h, "/推送 沉默 zz 你好")
    assert "格式：/推送" in await staff(h, "/推送 沉默")

    assert "开始发送" in await staff(h, "/确认推送 1")
    assert "没有改动" in await staff(h, "/确认推送 1")
    await h.advance_to(MORNING + dt.timedelta(hours=1))
    targets = [m for m in (f"s{n}" for n in range(8)) if m not in control]
    first_day = [m for m in targets if h.texts(to=m)]
    assert len(first_day) == 3  # daily_max
    late = [m for m in targets if m not in first_day][-1]
    h.transport.strangers.add(late)  # deleted the shop's account since the draft: sent, not reached
    assert all(h.texts(to=m)[0].startswith("好久不见，今天草莓特价\n🎁 送您一张回来5元券") for m in first_day)
    await h.advance_to(MORNING.replace(hour=23))  # quiet hours: nothing more that day
    assert len([m for m in targets if h.texts(to=m)]) == 3
    await h.advance_to(MORNING.replace(hour=6, minute=59) + dt.timedelta(days=1))  # queued, held till 07:00
    assert len([m for m in targets if h.texts(to=m)]) == 3
    await h.advance_to(MORNING.replace(hour=7, minute=30) + dt.timedelta(days=1))
    assert len([m for m in targets if h.texts(to=m)]) == 5
    assert all(len(h.texts(to=m)) == 1 for m in targets if m != late)  # each once
    assert (await Campaign.get(id=1)).state == "done"
    assert await Coupon.filter(source__startswith="campaign:1:").count() == 6

    # Two targets come back and order; one control member orders too.
    await h.advance_to(MORNING + dt.timedelta(days=2))
    await h.say("黑猪五花肉2斤", sender=targets[0])  # 64
    await h.say("西红柿2斤", sender=targets[1])  # 9
    await h.say("西红柿2斤", sender=control[0])  # 9
    text = await staff(h, "/活动效果 1")
    assert text.startswith("【活动#1 沉默】已发完：已发送6人（送达5），对照组2人，用券0张，成本¥0.30")
    # per target 73/6, per control member 9/2: extra = (73/6 - 4.5) x 6 = 46
    assert "7天（进行中）：发送组2单¥73.00，对照组1单¥9.00，多带来¥46.00，回报4500%" in text
    from openpyxl import load_workbook

    await h.bot.writer.settle()  # the workbook is written after the reply commits
    book = load_workbook(h.bot.exporter.path((MORNING + dt.timedelta(days=3)).date()))
    header, *rows = book["活动效果"].iter_rows(values_only=True)
    row = dict(zip(header, rows[0]))
    assert (row["活动号"], row["分层"], row["状态"], row["发送"], row["送达"], row["对照组"]) == (1, "沉默", "已发完", 6, 5, 2)
    assert (row["7天发送组收入"], row["7天对照组收入"], row["7天多带来"], row["成本"]) == (73, 9, 46, 0.3)
    # A second campaign within rest_days leaves out the 4 targets still silent; those who
    # ordered are 活跃 now; the control member who did not order may get it.
    again = await staff(h, "/推送 沉默 无 再来看看")
    assert "发送1人" in again and "休息期内已收到过活动4" in again
    assert "已作废，一条也没有发" in await staff(h, "/取消推送 2")
    assert "没有活动#9" in await staff(h, "/活动效果 9")


async def test_replay_state_lists_campaigns_and_segments(tmp_path: Path, db_url: str) -> None:
    import json

    from bot.replay import replay

    config = make_config(tmp_path, db_url, campaign={"control": 0.5})
    events = [
        {"at": "2026-12-01T09:00:00+08:00", "room": ROOM_A, "from": "a", "name": "阿明", "text": "西红柿1斤"},
        {"at": "2026-12-01T09:00:30+08:00", "room": ROOM_A, "from": "b", "name": "小周", "text": "西红柿1斤"},
        {"at": "2027-03-15T09:00:00+08:00", "event": "tick"},
        {"at": "2027-03-15T09:01:00+08:00", "from": STAFF, "name": "店长", "text": "/推送 沉默 无 好久不见"},
        {"at": "2027-03-15T09:02:00+08:00", "from": STAFF, "name": "店长", "text": "/确认推送 1"},
        {"at": "2027-03-15T12:00:00+08:00", "event": "tick"},
        {"at": "2027-03-16T09:00:00+08:00", "room": ROOM_A, "from": "a", "name": "阿明", "text": "黑猪五花肉1斤"},
        {"at": "2027-03-16T09:01:00+08:00", "room": ROOM_A, "from": "b", "name": "小周", "text": "黑猪五花肉1斤"},
        {"at": "2027-03-20T09:00:00+08:00", "from": STAFF, "name": "店长", "text": "/活动效果 1"},
    ]
    script = tmp_path / "events.jsonl"
    script.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in events) + "\n", encoding="utf-8")
    state = await replay(config, script, tmp_path / "out")
    [campaign] = state["campaigns"]
    assert (campaign["segment"], campaign["state"], campaign["template"], campaign["sent"]) == ("沉默", "done", None, 1)
    assert sorted(campaign["targets"] + campaign["control"]) == ["a", "b"] and len(campaign["control"]) == 1
    assert {m["id"]: m["segment"] for m in state["members"]} == {"a": ACTIVE, "b": ACTIVE, STAFF: None}  # came back
    transcript = [json.loads(line) for line in (tmp_path / "out" / "transcript.jsonl").read_text(
        encoding="utf-8").splitlines()]
    [figures] = [t["text"] for t in transcript if t["to"] == STAFF and t["text"].startswith("【活动#1 沉默】")]
    # one sent, one held back, both came back with one order of 32: no extra revenue yet
    assert "已发送1人（送达1），对照组1人" in figures and "7天（进行中）：发送组1单¥32.00，对照组1单¥32.00，多带来¥0.00" in figures
    # state.json holds the same figures, as of the replay's end
    assert (campaign["reached"], campaign["control_size"], campaign["coupons_used"], campaign["cost"]) == (1, 1, 0, 0.05)
    week = campaign["returns"][0]
    assert (week["days"], week["target_revenue"], week["control_revenue"], week["extra_revenue"]) == (7, 32.0, 32.0, 0.0)
    assert [w["days"] for w in campaign["returns"]] == [7, 30, 90] and week["roi"] == -1.0


def test_the_buying_cycle_is_the_median_gap_between_order_dates() -> None:
    from decimal import Decimal

    from models.facts import cycle_of

    day = dt.date(2026, 11, 1)
    assert cycle_of([]) is None and cycle_of([day, day]) is None  # one date: no cycle yet
    assert cycle_of([day, day + dt.timedelta(days=7), day + dt.timedelta(days=9)]) == Decimal("4.5")
    assert cycle_of([day + dt.timedelta(days=d) for d in (0, 3, 6, 30)]) == Decimal("3")


async def test_the_nightly_facts_find_active_members_past_twice_their_cycle(tmp_path: Path, db_url: str) -> None:
    from decimal import Decimal

    from models.tables import MemberFact

    h = await start_harness(make_config(tmp_path, db_url), MORNING, run_jobs=True)
    try:
        for days in (60, 50, 40):  # every 10 days, then 40 days of nothing: lapsing
            await member_with_order("r", "老顾客", MORNING - dt.timedelta(days=days))
        for days in (5, 3):  # every 2 days, last 3 days ago: not yet
            await member_with_order("q", "常客", MORNING - dt.timedelta(days=days))
        await member_with_order("o", "偶尔", MORNING - dt.timedelta(days=200))
        await h.say("/分层", sender=STAFF, room=None)
        await h.flush()
        assert "其中快流失1人" in h.texts(to=STAFF)[-1]  # worked out from the orders before the first night
        await h.advance_to(MORNING.replace(hour=3, minute=1) + dt.timedelta(days=1))
        facts = {f.member_id: f for f in await MemberFact.all()}
        assert (facts["r"].orders, facts["r"].cycle_days, facts["r"].spend_90d) == (3, Decimal("10.0"), Decimal("30.00"))
        assert (facts["o"].orders, facts["o"].cycle_days, facts["o"].spend_90d) == (1, None, Decimal("0.00"))
        assert facts["r"].last_order_on == (MORNING - dt.timedelta(days=40)).date()
        await h.say("/分层", sender=STAFF, room=None)
        await h.say("/分层 快流失", sender=STAFF, room=None)
        await h.flush()
        counts, lapsing = h.texts(to=STAFF)[-2:]
        assert "其中快流失1人" in counts
        assert lapsing.startswith("【快流失】1人：\n老顾客")
        # 老顾客 orders again: /分层 knows at once, the minute sweep stores it.
        await h.advance_to(MORNING + dt.timedelta(days=1))
        await h.say("西红柿2斤", sender="r", room=ROOM_A, name="老顾客")
        await h.flush()
        await h.say("/分层", sender=STAFF, room=None)
        await h.flush()
        assert "快流失" not in h.texts(to=STAFF)[-1]
        assert (await MemberFact.get(member_id="r")).orders == 3
        await h.advance_to(h.clock.now() + dt.timedelta(minutes=2))
        assert (await MemberFact.get(member_id="r")).orders == 4
        assert (await MemberFact.get(member_id="r")).last_order_on == h.clock.now().date()
    finally:
        await h.bot.close()


async def test_counts_and_lists_agree_with_member_by_member_reading_before_and_after_the_nightly_facts(
        tmp_path: Path, db_url: str) -> None:
    """/分层 counts by grouped SQL, /分层 <segment> reads one segment's dates: on a random shop,
    both agree with reading every member one by one, before any facts are stored, after the
    nightly sweep, and with orders changed since."""
    import random
    from collections import Counter

    from models.facts import refresh_facts
    from models.segments import CHOOSABLE, census
    from models.tables import ProductAsk

    rng = random.Random(17)
    h = await start_harness(make_config(tmp_path, db_url), MORNING, run_jobs=False)

    async def agree() -> None:
        today = h.clock.now().astimezone(SHANGHAI).date()
        everyone = await member_facts(today, SHANGHAI, BOUNDS, (STAFF, "m3"))
        counted = await census(today, SHANGHAI, BOUNDS, (STAFF, "m3"))
        assert counted.total - Counter() == Counter(f.segment for f in everyone)
        by_community: dict[str, Counter[str]] = {}
        for f in everyone:
            by_community.setdefault(f.community, Counter())[f.segment] += 1
        assert counted.by_community == by_community
        assert (counted.lapsing, counted.browsing) == (sum(f.lapsing for f in everyone),
                                                        sum(f.browsing for f in everyone))
        for segment in CHOOSABLE:
            one = await member_facts(today, SHANGHAI, BOUNDS, (STAFF, "m3"), segment)
            assert one == [f for f in everyone if f.segment == segment or (segment == "快流失" and f.lapsing)
                           or (segment == "只看不买" and f.browsing)], segment

    try:
        for n in range(60):
            room = rng.choice([ROOM_A, ROOM_B])
            await Member.get_or_create(id=f"m{n}", defaults={"name": f"住户{n}", "first_seen": MORNING,
                                                            "last_seen": MORNING,
                                                            "home": await Community.get(room=room)})
            back = rng.choice([3, 30, 89, 90, 95, 179, 180, 200, 364, 365, 500, 729, 730, 900])
            for k in range(rng.randint(0, 4)):
                at = MORNING - dt.timedelta(days=back + 7 * k, hours=rng.randint(0, 12))
                await member_with_order(f"m{n}", f"住户{n}", at, room=room,
                                        status=rng.choice(["placed", "delivered", "cancelled"]),
                                        amount=rng.randint(1, 50))
            if rng.random() < 0.3:
                await ProductAsk.create(member_id=f"m{n}", sku="V01", asked_on=TODAY - dt.timedelta(days=rng.randint(0, 40)),
                                        asked_at=MORNING)
        await agree()
        await refresh_facts(MORNING, SHANGHAI)
        await agree()
        for n in rng.sample(range(60), 10):  # orders since the night: worked out afresh
            at = h.clock.now() - dt.timedelta(minutes=1)
            await member_with_order(f"m{n}", f"住户{n}", at, room=ROOM_A, amount=7)
        await Order.filter(member_id="m5").update(status="cancelled", updated_at=h.clock.now())
        await agree()
    finally:
        await h.bot.close()
