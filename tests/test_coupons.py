"""Coupons (docs/CONTRACTS.md section 7): staff give them from templates (per_member holds),
the best one is applied at cut-off and reserved on the order, released when the order no
longer meets it; members see theirs privately."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from bot.harness import Harness
from models.tables import Coupon, Member, Settlement
from tests.conftest import MORNING, ROOM_A, STAFF, make_config, start_harness

TEMPLATES = [
    {"id": "new3", "name": "新人3元券", "off": 3, "min_spend": 20, "valid": "2天"},
    {"id": "big10", "name": "满60减10", "off": 10, "min_spend": 60, "valid": "2天"},
    {"id": "meat5", "name": "肉类5元券", "off": 5, "valid": "2天", "skus": ["M01"], "per_member": 2},
]


@pytest.fixture
async def shop(tmp_path: Path, db_url: str) -> Harness:
    config = make_config(tmp_path, db_url, coupon=TEMPLATES)
    h = await start_harness(config, MORNING, run_jobs=True)
    try:
        yield h
    finally:
        await h.bot.close()


async def give(h: Harness, template: str, member: str) -> str:
    await h.say(f"/发券 {template} {member}", sender=STAFF, room=None)
    await h.flush()
    return h.texts(to=STAFF)[-1]


async def test_staff_give_coupons_and_per_member_holds(shop: Harness) -> None:
    await shop.say("西红柿1斤", sender="a", name="阿明")
    assert "已给阿明发新人3元券" in await give(shop, "new3", "a")
    assert "已经得过1张新人3元券" in await give(shop, "new3", "a")
    await give(shop, "meat5", "a")
    await give(shop, "meat5", "a")
    assert "已经得过2张" in await give(shop, "meat5", "a")
    assert "没有“nope”这种券" in await give(shop, "nope", "a")
    assert await Coupon.filter(member_id="a").count() == 3
    assert "🎁 您得到一张新人3元券：满¥20.00减¥3.00" in shop.texts(to="a")[0]
    await shop.say("我的券", sender="a")
    await shop.flush()
    assert shop.texts(room=ROOM_A)[-1].endswith("已私信您。")
    mine = shop.texts(to="a")[-1]
    assert mine.startswith("您的优惠券：") and mine.count("肉类5元券") == 2


async def test_the_best_fitting_coupon_is_applied_at_cutoff_and_released_when_it_no_longer_fits(
        shop: Harness) -> None:
    await shop.say("黑猪五花肉2斤", sender="a")  # 64
    for template in ("new3", "big10", "meat5"):
        await give(shop, template, "a")
    await shop.say("/截单", sender=STAFF, room=None)
    settled = await Settlement.get(order__member_id="a")
    big = await Coupon.get(template="big10")
    assert (settled.discount, settled.due, settled.coupon_id) == (Decimal("10.00"), Decimal("54.00"), big.id)
    assert (big.state, big.order_id) == ("reserved", settled.order_id)
    await shop.flush()
    assert "优惠券减¥10.00" in shop.texts(to="a")[-1]
    # The order shrinks below 60: the 10-yuan coupon goes back, the meat one takes its place.
    await shop.say("/开单", sender=STAFF, room=None)
    await shop.say("黑猪五花肉改成1斤", sender="a")
    await shop.advance_to(MORNING.replace(hour=20) + dt.timedelta(minutes=1))
    settled = await Settlement.get(order__member_id="a")
    meat = await Coupon.get(template="meat5")
    assert (settled.discount, settled.coupon_id) == (Decimal("5.00"), meat.id)
    assert (await Coupon.get(template="big10")).state == "unused"
    assert (await Coupon.get(template="new3")).state == "unused"  # 5 off beats 3 off


async def test_a_coupon_never_takes_an_order_below_zero_and_a_cancelled_order_frees_it(shop: Harness) -> None:
    await shop.say("西红柿1斤", sender="a")  # 4.5
    await give(shop, "meat5", "a")  # does not fit: no 黑猪五花肉 in the order
    await shop.say("/截单", sender=STAFF, room=None)
    assert (await Settlement.get(order__member_id="a")).discount == 0
    assert (await Coupon.get()).state == "unused"


async def test_bad_coupon_config_names_the_key(tmp_path: Path) -> None:
    from bot.core.config import ConfigError, parse_config
    from tests.conftest import raw_config

    for change, message in [
        ({"coupon": [{"id": "a", "name": "x", "off": 0}]}, '"a" off: must be more than 0'),
        ({"coupon": [{"id": "a", "name": "x", "off": 1}, {"id": "a", "name": "y", "off": 2}]}, '"a" is listed twice'),
        ({"coupons": {"new_member": ["zzz"]}}, '[coupons] new_member: "zzz" is not a [[coupon]] id'),
        ({"coupon": [{"id": "a", "name": "x", "off": 1, "valid": "forever"}]}, "valid: expected a duration"),
    ]:
        raw = raw_config()
        raw.update(change)
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            parse_config(raw, tmp_path)


async def test_one_coupon_goes_to_one_order_even_when_two_settlements_race(pg_url: str, tmp_path: Path) -> None:
    """On PostgreSQL: two cut-off runs at once, a member with two orders and one coupon."""
    import asyncio

    from models.db import transaction
    from models.settlement import settle_day

    h = await start_harness(make_config(tmp_path, pg_url, coupon=TEMPLATES), MORNING, run_jobs=True)
    try:
        await h.say("/开团 草莓 2人 25元 2小时", sender=STAFF)
        await h.say("参团", sender="a")
        await h.say("参团", sender="b")  # success: a has a group-buy order of 25 yuan
        await h.say("黑猪五花肉1斤", sender="a")  # and an own order of 32
        await give(h, "new3", "a")

        async def settle() -> None:
            async with transaction():
                await settle_day(dt.date(2026, 12, 2), h.bot.config.wallet, h.bot.outbox, h.clock.now())

        await asyncio.gather(settle(), settle())
        discounts = [s.discount for s in await Settlement.filter(order__member_id="a")]
        assert sorted(discounts) == [Decimal("0.00"), Decimal("3.00")]
        coupon = await Coupon.get(member_id="a")
        assert coupon.state == "reserved"
        assert await Settlement.filter(coupon_id=coupon.id).count() == 1
    finally:
        await h.bot.close()


PACK = {"new_member": ["new3", "big10"], "remind_before": "24小时"}


@pytest.fixture
async def welcoming(tmp_path: Path, db_url: str) -> Harness:
    config = make_config(tmp_path, db_url, coupon=TEMPLATES,
                         coupons={**PACK, "groupbuy_failed": "meat5", "referral_friend": "meat5"})
    h = await start_harness(config, MORNING, run_jobs=True)
    try:
        yield h
    finally:
        await h.bot.close()


async def test_a_new_member_gets_the_pack_once_by_every_way_the_bot_meets_them(welcoming: Harness) -> None:
    h = welcoming
    await h.say("西红柿1斤", sender="a", name="阿明")  # a group order: the order book's path
    await h.say("西红柿1斤", sender="a", name="阿明", message_id="again")
    await h.say("怎么下单", sender="b", room=None)  # privately: the per-message path
    await h.bot.member_joined(ROOM_A, "c", "新邻居", None, h.clock.now())  # joined, silent so far
    await h.say("西红柿1斤", sender="c")
    await h.say("今天有什么", sender=STAFF)  # staff get nothing
    await h.flush()
    for member in ("a", "b", "c"):
        assert sorted(await Coupon.filter(member_id=member).values_list("template", flat=True)) == ["big10", "new3"]
        notes = [t for t in h.texts(to=member) if t.startswith("🎁 欢迎！送您新人礼")]
        assert len(notes) == 1 and "新人3元券：满¥20.00减¥3.00" in notes[0] and "满60减10" in notes[0]
    assert not await Coupon.filter(member_id=STAFF).exists()
    assert not any("新人礼" in t for t in h.texts(room=ROOM_A))  # never in the group
    # A known member who left and rejoins is not new.
    await h.bot.member_joined(ROOM_A, "a", "阿明", None, h.clock.now())
    assert await Coupon.filter(member_id="a").count() == 2


async def test_many_new_members_in_one_batch_each_get_one_pack(welcoming: Harness) -> None:
    from bot.core.messages import Incoming

    h = welcoming
    msgs = [Incoming(f"m{n}", f"n{n}", f"邻居{n}", "西红柿1斤", h.clock.now(), ROOM_A) for n in range(30)]
    await asyncio.gather(*(h.bot.handle(m) for m in msgs))
    await h.flush()
    assert await Coupon.filter(template="new3").count() == 30
    assert all(sum(t.startswith("🎁 欢迎") for t in h.texts(to=f"n{n}")) == 1 for n in range(30))


async def test_unused_coupons_are_reminded_once_and_expire_on_the_virtual_clock(welcoming: Harness) -> None:
    h = welcoming
    await h.say("我的券", sender="a", room=None)  # meets a: new3 and big10, both for 2 days
    await h.advance_to(MORNING + dt.timedelta(hours=23, minutes=59))
    assert not any(t.startswith("⏰") for t in h.texts(to="a"))
    await h.advance_to(MORNING + dt.timedelta(hours=24, minutes=1))
    reminders = [t for t in h.texts(to="a") if t.startswith("⏰ 您的优惠券快到期了")]
    assert len(reminders) == 2 and any("新人3元券" in t for t in reminders)
    assert await Coupon.filter(state="unused").count() == 2
    await h.advance_to(MORNING + dt.timedelta(days=2, minutes=1))
    assert [t for t in h.texts(to="a") if t.startswith("⏰")] == reminders  # once
    assert set(await Coupon.all().values_list("state", flat=True)) == {"expired"}
    await h.say("我的券", sender="a", room=None)
    await h.flush()
    assert h.texts(to="a")[-1] == "您现在没有可用的优惠券。"


async def test_a_coupon_that_never_lives_until_its_reminder_is_not_reminded(tmp_path: Path, db_url: str) -> None:
    config = make_config(tmp_path, db_url, coupon=[{"id": "hour", "name": "限时券", "off": 2, "valid": "2小时"}],
                         coupons={"new_member": ["hour"], "remind_before": "24小时"})
    h = await start_harness(config, MORNING, run_jobs=True)
    try:
        await h.say("西红柿1斤", sender="a")
        await h.advance_to(MORNING + dt.timedelta(hours=3))
        assert (await Coupon.get()).state == "expired"
        assert not any(t.startswith("⏰") for t in h.texts(to="a"))
    finally:
        await h.bot.close()


async def test_members_of_a_failed_groupbuy_get_its_coupon(welcoming: Harness) -> None:
    h = welcoming
    await h.say("/开团 草莓 3人 25元 2小时", sender=STAFF)
    await h.say("参团", sender="a")
    await h.say("参团", sender="b")
    await h.advance_to(MORNING + dt.timedelta(hours=2, minutes=1))
    await h.flush()
    for member in ("a", "b"):
        assert await Coupon.filter(member_id=member, template="meat5").count() == 1
        assert any(t.startswith("拼团#1没有成团，送您一张券补偿") for t in h.texts(to=member))
    assert not await Coupon.filter(member_id=STAFF).exists()


async def test_a_member_attributed_to_an_inviter_gets_the_friend_coupon(welcoming: Harness) -> None:
    h = welcoming
    await h.say("邀请", sender="a", name="阿明")
    code = (await Member.get(id="a")).code
    await h.bot.member_joined(ROOM_A, "f", "朋友", "a", h.clock.now())  # invited into the group
    await h.say(f"邀请码 {code}", sender="g")  # came by the link, sent the code
    await h.say(f"邀请码 {code}", sender="g", message_id="resent")
    await h.flush()
    for member in ("f", "g"):
        assert await Coupon.filter(member_id=member, template="meat5").count() == 1
        assert any(t.startswith("🎁 欢迎！朋友邀请您来") for t in h.texts(to=member))
    assert not await Coupon.filter(member_id="a", template="meat5").exists()


async def test_private_notes_to_a_member_who_is_not_a_friend_wait_for_the_friendship(welcoming: Harness) -> None:
    from models.tables import OutboxMessage

    h = welcoming
    h.transport.strangers.add("a")
    await h.say("西红柿1斤", sender="a", name="阿明")
    await h.say("我的券", sender="a", name="阿明")
    await h.flush()
    assert h.texts(to="a") == []
    told = h.texts(room=ROOM_A)[-1].split("\n\n")[-1]  # the last reply (replies may be merged)
    assert "请先加我为微信好友" in told and "¥" not in told and "新人" not in "".join(h.texts(room=ROOM_A))
    assert await OutboxMessage.filter(to="a", status="unreachable").count() == 2  # the pack's note, the answer
    h.transport.strangers.discard("a")
    assert await h.bot.friend_added("a") == 2
    await h.flush()
    delivered = "\n".join(h.texts(to="a"))
    assert "🎁 欢迎！送您新人礼" in delivered and "您的优惠券：" in delivered
