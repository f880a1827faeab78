"""Automatic nudges (issue 17), each a day's campaign with its own control group: a birthday
greeting on the day, a member past 1.5x their own buying cycle once per lapse, and the
neighbours line (how many households of one's building ordered today, never who)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.harness import Harness
from models.campaigns import CONTROL, TARGET
from models.nudges import BIRTHDAY, CYCLE, NEIGHBOURS, birthday_nudge, building_of, cycle_nudge, neighbours_nudge
from models.tables import (
    Campaign, CampaignMember, Community, Member, MemberContact, Order, OrderLine, PointEntry,
)
from tests.conftest import MORNING, ROOM_A, ROOM_B, STAFF, make_config, start_harness

DAY = dt.timedelta(days=1)


async def private(h: Harness, text: str, member: str = "a") -> str:
    await h.say(text, sender=member, room=None)
    await h.flush()
    return h.texts(to=member)[-1]


async def shop_with(tmp_path: Path, db_url: str, **sections: object) -> Harness:
    config = make_config(tmp_path, db_url, referral={"inviter_points": 0}, **sections)  # type: ignore[arg-type]
    return await start_harness(config, MORNING, run_jobs=True)


async def test_a_birthday_greeting_goes_on_the_day_to_the_targets_not_the_control_group_once(
        tmp_path: Path, db_url: str) -> None:
    shop = await shop_with(tmp_path, db_url, nudges={"birthday": True, "birthday_text": "生日快乐！"},
                           campaign={"control": 0.5})
    try:
        members = [f"m{i}" for i in range(6)]
        for member in [*members, "late"]:
            await shop.say("你好", sender=member)
        for member in members:
            await private(shop, "生日 12月3日", member=member)
        await private(shop, "生日 12月4日", member="late")
        await Member.filter(id="m5").update(unsubscribed=True)
        await shop.advance_to(dt.datetime(2026, 12, 3, 9, 59, tzinfo=MORNING.tzinfo))
        assert not await Campaign.exists(segment=BIRTHDAY)
        await shop.advance_to(dt.datetime(2026, 12, 3, 12, tzinfo=MORNING.tzinfo))
        await shop.flush()
        campaign = await Campaign.get(segment=BIRTHDAY)
        assert (campaign.state, campaign.created_by) == ("done", "自动")
        roles = {m.member_id: m.role for m in await CampaignMember.filter(campaign_id=campaign.id)}  # type: ignore[attr-defined]
        assert sorted(roles) == members and roles["m5"] == "out"
        targets = sorted(m for m, role in roles.items() if role == TARGET)
        control = sorted(m for m, role in roles.items() if role == CONTROL)
        assert len(control) == 2 and len(targets) == 3  # half of the five eligible, rounded down
        for member in targets:
            assert any(t.startswith("生日快乐！\n这个月送达的订单积分2倍。") for t in shop.texts(to=member))
        for member in [*control, "m5", "late"]:
            assert not any("生日快乐" in t for t in shop.texts(to=member))
        now = shop.clock.now()
        assert await birthday_nudge(now.date(), now, shop.bot.config, shop.bot.services.reachable) is None  # once
        await shop.advance_to(dt.datetime(2026, 12, 4, 12, tzinfo=MORNING.tzinfo))
        await shop.flush()
        late = await CampaignMember.filter(member_id="late").select_related("campaign")
        assert [(m.campaign.segment, m.role) for m in late] in ([(BIRTHDAY, TARGET)], [(BIRTHDAY, CONTROL)])
    finally:
        await shop.bot.close()


async def test_a_member_past_one_and_a_half_cycles_gets_one_nudge_per_lapse(tmp_path: Path, db_url: str) -> None:
    shop = await shop_with(tmp_path, db_url, nudges={"cycle": True, "cycle_text": "好久不见～"},
                           campaign={"control": 0, "rest_days": 1}, coupon=[
                               {"id": "c3", "name": "3元券", "off": 3, "valid": "7天", "per_member": 5}])
    try:
        for day in (0, 2, 4):  # a and b order every second day: cycle 2, nudged after 3 days
            await shop.advance_to(MORNING + day * DAY)
            for member in ("a", "b"):
                await shop.say("土豆1斤", sender=member)
        await shop.say("/发券 c3 b", sender=STAFF, room=None)  # b had a coupon lately: left alone
        await shop.advance_to(MORNING + 7 * DAY + dt.timedelta(hours=2))  # 12-08 11:00: 3 days since 12-05
        await shop.flush()
        assert not await Campaign.exists(segment=CYCLE)
        await shop.advance_to(MORNING + 8 * DAY + dt.timedelta(hours=2))  # 12-09: 4 days > 1.5 x 2
        await shop.flush()
        first = await Campaign.get(segment=CYCLE)
        assert [m.member_id for m in await CampaignMember.filter(campaign_id=first.id)] == ["a"]  # type: ignore[attr-defined]
        assert shop.texts(to="a")[-1].startswith("好久不见～")
        await shop.advance_to(MORNING + 9 * DAY + dt.timedelta(hours=2))  # the same lapse: not again
        assert await Campaign.filter(segment=CYCLE).count() == 1
        await shop.say("土豆1斤", sender="a")  # back on 12-10: a new lapse may be nudged again
        await shop.advance_to(MORNING + 16 * DAY + dt.timedelta(hours=2))
        campaigns = await Campaign.filter(segment=CYCLE).order_by("id")
        assert len(campaigns) == 2
        now = shop.clock.now()
        assert await cycle_nudge(now.date(), now, shop.bot.config, shop.bot.services.reachable) is None
        assert [m.member_id for m in await CampaignMember.filter(campaign_id=campaigns[1].id)] == ["a"]  # type: ignore[attr-defined]
        effect = await private(shop, f"/活动效果 {campaigns[0].id}", member=STAFF)
        assert effect.startswith(f"【活动#{campaigns[0].id} 周期提醒】已发完：已发送1人")
        assert await PointEntry.all().count() == 0
    finally:
        await shop.bot.close()


@pytest.mark.parametrize(("address", "building"), [
    ("5号楼2单元301", "5"), ("5栋301", "5"), ("3-2-502", "3"), ("A座1203", "A"), ("阳光花园12幢", "12"),
    ("05栋", "5"), ("1楼102", None), ("302", None), ("", None)])
def test_the_building_is_read_from_the_address_as_members_write_it(address: str, building: str | None) -> None:
    assert building_of(address) == building


async def quiet_member(member: str, address: str, days_ago: int, room: str = ROOM_A) -> None:
    """A member whose last order was `days_ago` days before MORNING."""
    at = MORNING - dt.timedelta(days=days_ago)
    community = await Community.get(room=room)
    await Member.create(id=member, name=member, first_seen=at, last_seen=at, home=community)
    await MemberContact.create(member_id=member, community=community, address=address, updated_at=at)
    order = await Order.create(member_id=member, community=community, delivery_date=at.date() + DAY,
                               status="delivered", created_at=at, updated_at=at)
    await OrderLine.create(order=order, sku="V01", name="西红柿", unit="斤", price=5, qty=1, status="delivered",
                           updated_at=at)


async def test_the_neighbours_line_tells_quiet_members_how_many_households_of_their_building_ordered(
        tmp_path: Path, db_url: str) -> None:
    shop = await shop_with(tmp_path, db_url, nudges={"neighbours": True, "neighbours_min": 2},
                           campaign={"control": 0})
    try:
        await quiet_member("q1", "5号楼1单元101", 100)  # 沉默: hears of building 5's orders
        await quiet_member("q2", "6栋101", 400)  # 休眠, but only one household of building 6 orders
        await quiet_member("q3", "5栋202", 20)  # 活跃: not for them
        await quiet_member("q4", "5栋303", 100, room=ROOM_B)  # building 5 of another community
        for member, address in (("a", "5栋1单元301"), ("b", "5号楼2单元302"), ("b2", "5号楼2单元302"),
                                ("c", "6栋402")):
            await shop.say(f"西红柿1斤 {address}", sender=member)
        await shop.advance_to(MORNING.replace(hour=16, minute=59))
        assert not await Campaign.exists(segment=NEIGHBOURS)
        await shop.advance_to(MORNING.replace(hour=17, minute=30))
        await shop.flush()
        campaign = await Campaign.get(segment=NEIGHBOURS)
        rows = {m.member_id: m.role for m in await CampaignMember.filter(campaign_id=campaign.id)}  # type: ignore[attr-defined]
        assert rows == {"q1": TARGET}
        line = [t for t in shop.texts(to="q1") if "邻居" in t]
        assert line == ["今天您楼里（5号楼）已经有2户邻居下单了，20:00截单，明天一起送到～\n（回复“退订”不再收到活动消息）"]
        for member in ("a", "b", "c"):  # who ordered is never told to anyone
            assert all(member not in text for text in line)
        now = shop.clock.now()
        assert await neighbours_nudge(now.date(), now, shop.bot.config, shop.bot.services.reachable) is None
        await shop.advance_to(MORNING.replace(hour=17, minute=30) + DAY)  # the next day: once per lapse
        assert await Campaign.filter(segment=NEIGHBOURS).count() == 1
        effect = await private(shop, f"/活动效果 {campaign.id}", member=STAFF)
        assert effect.startswith(f"【活动#{campaign.id} 邻居】已发完：已发送1人")
    finally:
        await shop.bot.close()
