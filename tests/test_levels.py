"""Levels and birthdays (issue 17): a level from delivered spend over `[levels] days` rises on
the delivery that reaches it and multiplies the points of later orders; it falls only at a
month's end, after one 保级 reminder; 我的等级 tells where a member stands. 生日 5月3日 sets a
birthday once a year; orders delivered in the birth month earn double."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from bot.harness import Harness
from handlers.parsing import parse
from models import points
from models.delivery import finish
from models.levels import month_end
from models.tables import LevelNotice, Member, Order, OrderRate
from tests.conftest import MORNING, STAFF, make_config, start_harness

LEVELS = [{"name": "普通会员", "spend": 0, "multiplier": 1},
          {"name": "银卡会员", "spend": 100, "multiplier": 1.5},
          {"name": "金卡会员", "spend": 300, "multiplier": 2}]
DAY = dt.timedelta(days=1)


async def private(h: Harness, text: str, member: str = "a") -> str:
    await h.say(text, sender=member, room=None)
    await h.flush()
    return h.texts(to=member)[-1]


async def deliver_today(h: Harness) -> None:
    await h.say("/送达", sender=STAFF, room=None)
    await h.flush()


async def shop_with(tmp_path: Path, db_url: str, **sections: object) -> Harness:
    config = make_config(tmp_path, db_url, referral={"inviter_points": 0}, **sections)  # type: ignore[arg-type]
    return await start_harness(config, MORNING, run_jobs=True)


@pytest.mark.parametrize(("text", "birthday"), [
    ("生日 5月3日", "05-03"), ("我的生日是五月三日", "05-03"), ("生日：12.25", "12-25"), ("生日5-3", "05-03"),
    ("生日 十二月三十一号", "12-31"), ("生日二月二十九日", "02-29"), ("生日0503", "05-03"),
    ("生日", None), ("生日2月30日", None), ("生日123", None), ("我的生日呢", None)])
def test_birthdays_are_read_in_the_ways_members_write_them(text: str, birthday: str | None) -> None:
    from pathlib import Path as P

    from models.catalog import load_catalog
    offer, _ = load_catalog(P(__file__).resolve().parents[1] / "bot" / "demo" / "catalog.toml")
    assert parse(text, offer).to_json() == {"intent": "set_birthday", "birthday": birthday}
    for asked in ("我的等级", "等级", "会员等级", "我是什么会员", "查一下我的会员等级"):
        assert parse(asked, offer).intent == "query_level"
    assert parse("生日蛋糕", offer).intent != "set_birthday"


async def test_a_delivery_that_reaches_a_level_raises_it_at_once_and_later_orders_earn_more(
        tmp_path: Path, db_url: str) -> None:
    shop = await shop_with(tmp_path, db_url, level=LEVELS)  # type: ignore[arg-type]
    try:
        await shop.say("草莓2盒", sender="a")  # 79.80
        await shop.advance_to(MORNING + DAY)
        await deliver_today(shop)
        assert (await Member.get(id="a")).points == 79 and (await Member.get(id="a")).level == 0
        assert "再消费20.20元升为银卡会员（积分1.5倍）" in await private(shop, "我的等级")
        await shop.say("草莓1盒", sender="a")  # 39.90: 119.70 in all once delivered
        await shop.advance_to(MORNING + 2 * DAY)
        await deliver_today(shop)
        member = await Member.get(id="a")
        assert member.level == 1 and member.level_since is not None and member.level_since <= shop.clock.now()
        assert member.points == 79 + 39  # the order that reached the level earned at the old rate
        raised = [t for t in shop.texts(to="a") if t.startswith("🎉")]
        assert raised == ["🎉 恭喜您升级为银卡会员！近180天消费119.70元，以后订单送达按1.5倍积分累计。发“我的等级”看看。"]
        await shop.say("草莓1盒", sender="a")
        await shop.advance_to(MORNING + 3 * DAY)
        await deliver_today(shop)
        assert (await Member.get(id="a")).points == 79 + 39 + 59  # floor(39.9 x 1.5)
        rates = [(r.multiplier, r.level) for r in await OrderRate.all().order_by("order_id")]
        assert rates == [(Decimal(1), 0), (Decimal(1), 0), (Decimal("1.5"), 1)]
        standing = await private(shop, "我的等级")
        assert standing.startswith("您是银卡会员（积分1.5倍），近180天送达的消费159.60元。\n再消费140.40元升为金卡会员（积分2倍）")
        assert "12月31日按近180天消费评定，保级要100.00元，目前计入159.60元，已经够了。" in standing
        # Settled again later (a second read back, a staff re-run), the rate fixed at delivery holds.
        await Member.filter(id="a").update(level=0)
        await finish([o.id for o in await Order.filter(member_id="a")], shop.bot.services.rewards, shop.clock.now())
        assert (await Member.get(id="a")).points == 79 + 39 + 59
        assert await points.check() == []
        asked = await private(shop, "等级", member="b")
        assert asked.startswith("您是普通会员（积分1倍），近180天送达的消费0.00元。\n再消费100.00元升为银卡会员")
    finally:
        await shop.bot.close()


async def test_a_level_is_lost_at_the_months_end_only_after_a_reminder_and_only_when_short(
        tmp_path: Path, db_url: str) -> None:
    shop = await shop_with(tmp_path, db_url, level=LEVELS, levels={"days": 20, "remind_days": 7})  # type: ignore[arg-type]
    try:
        for member in ("a", "b"):
            await shop.say("草莓3盒", sender=member)  # 119.70 each, delivered 12-02
        await shop.say("你好", sender="c")
        await shop.advance_to(MORNING + DAY)
        await deliver_today(shop)
        assert [m.level for m in await Member.filter(id__in=["a", "b"]).order_by("id")] == [1, 1]
        await shop.advance_to(dt.datetime(2026, 12, 19, 9, tzinfo=MORNING.tzinfo))
        await shop.say("草莓3盒", sender="b")  # delivered 12-20: counts for 12-31's review (after 12-11)
        await shop.advance_to(dt.datetime(2026, 12, 20, 9, tzinfo=MORNING.tzinfo))
        await deliver_today(shop)
        await shop.advance_to(dt.datetime(2026, 12, 24, 23, tzinfo=MORNING.tzinfo))
        assert not [t for t in shop.texts(to="a") if "保级" in t]  # not yet: more than 7 days before the end
        await shop.advance_to(dt.datetime(2026, 12, 26, 11, tzinfo=MORNING.tzinfo))
        await shop.flush()
        reminders = [t for t in shop.texts(to="a") if "保级" in t]
        assert reminders == ["⏰ 保级提醒：您是银卡会员（积分1.5倍），12月31日按近20天的消费重新评定。"
                             "目前计入0.00元，保级要100.00元，还差100.00元。"]  # once, on the 25th
        assert not [t for t in shop.texts(to="b") if "保级" in t]  # b's spend already keeps it
        await shop.advance_to(dt.datetime(2026, 12, 31, 11, tzinfo=MORNING.tzinfo))
        await Member.filter(id="c").update(level=1)  # a level reached after the last reminders went out
        await shop.advance_to(dt.datetime(2027, 1, 1, 11, tzinfo=MORNING.tzinfo))
        await shop.flush()
        levels = {m.id: m.level for m in await Member.filter(id__in=["a", "b", "c"])}
        assert levels == {"a": 0, "b": 1, "c": 1}  # c was never reminded: kept until next month's end
        lost = [t for t in shop.texts(to="a") if t.startswith("您的会员等级调整为")]
        assert lost == ["您的会员等级调整为普通会员（积分1倍）：近20天消费0.00元，不到100.00元。消费满100.00元会马上升回银卡会员。"]
        await shop.advance_to(dt.datetime(2027, 1, 2, 11, tzinfo=MORNING.tzinfo))
        assert len([t for t in shop.texts(to="a") if t.startswith("您的会员等级调整为")]) == 1
        notices = sorted((n.member_id, n.kind) for n in await LevelNotice.all())  # type: ignore[attr-defined]
        assert notices == [("a", "down"), ("a", "remind")]
    finally:
        await shop.bot.close()


def test_month_end() -> None:
    assert [month_end(dt.date(2027, m, 15)) for m in (1, 2, 12)] == [
        dt.date(2027, 1, 31), dt.date(2027, 2, 28), dt.date(2027, 12, 31)]
    assert month_end(dt.date(2028, 2, 1)) == dt.date(2028, 2, 29)


async def test_a_birthday_is_set_once_a_year_and_doubles_the_points_of_the_birth_month(
        tmp_path: Path, db_url: str) -> None:
    shop = await shop_with(tmp_path, db_url, level=LEVELS)  # type: ignore[arg-type]
    try:
        for member in ("a", "b"):
            await shop.say("你好", sender=member)
        assert "发“生日 5月3日”登记生日" in await private(shop, "生日")
        assert "没看懂是哪一天" in await private(shop, "生日2月30日")
        assert await private(shop, "生日 12月20日") == "🎂 已登记生日：12月20日。生日当月送达的订单积分2倍。"
        assert "生日一年只能改一次：您登记的是12月20日，2027年12月1日以后可以再改。" in await private(shop, "生日 5月3日")
        assert (await Member.get(id="a")).birthday == "12-20"
        assert "已经登记为12月20日" in await private(shop, "生日12月20日")
        await private(shop, "生日 5月3日", member="b")
        await Member.filter(id="b").update(level=1)  # 银卡: 1.5x, not in the birth month
        await shop.say("草莓2盒", sender="a")  # 79.80
        await shop.say("草莓2盒", sender="b")
        assert "待到账159" in await private(shop, "积分")  # pending shows the birthday rate too
        await shop.advance_to(MORNING + DAY)
        await deliver_today(shop)
        assert (await Member.get(id="a")).points == 159  # floor(79.8 x 2)
        assert (await Member.get(id="b")).points == 119  # floor(79.8 x 1.5)
        rate = await OrderRate.get(order_id=(await Order.get(member_id="a")).id)
        assert (rate.multiplier, rate.birthday) == (Decimal(2), True)
        await Member.filter(id="a").update(level=1)
        await shop.say("草莓1盒", sender="a")
        await shop.advance_to(MORNING + 2 * DAY)
        await deliver_today(shop)
        assert (await Member.get(id="a")).points == 159 + 119  # floor(39.9 x 1.5 x 2)
        assert "生日12月20日，生日当月送达的订单积分2倍。" in await private(shop, "我的等级")
        # A year on, it can be changed.
        await Member.filter(id="a").update(birthday_set_at=MORNING - dt.timedelta(days=366))
        assert (await private(shop, "生日 5月4日")).startswith("🎂 已登记生日：5月4日。")
        assert await points.check() == []
    finally:
        await shop.bot.close()


async def test_spend_is_read_in_chunks_of_members_with_the_same_sums(tmp_path: Path, db_url: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from models import levels

    shop = await shop_with(tmp_path, db_url, level=LEVELS)  # type: ignore[arg-type]
    try:
        members = [f"m{i}" for i in range(5)]
        for n, member in enumerate(members):
            await shop.say(f"草莓{n + 1}盒", sender=member)
        await shop.advance_to(MORNING + DAY)
        await deliver_today(shop)
        today = (MORNING + DAY).date()
        whole = await levels.delivered_spend(today - 180 * DAY, today, ids=members)
        monkeypatch.setattr(levels, "CHUNK", 2)
        assert await levels.delivered_spend(today - 180 * DAY, today, ids=members) == whole
        assert whole == {m: Decimal("39.90") * (n + 1) for n, m in enumerate(members)}
    finally:
        await shop.bot.close()
