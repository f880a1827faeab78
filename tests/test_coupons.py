"""Coupons (docs/CONTRACTS.md section 7): staff give them from templates (per_member holds),
the best one is applied at cut-off and reserved on the order, released when the order no
longer meets it; members see theirs privately."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from bot.harness import Harness
from models.tables import Coupon, Settlement
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
