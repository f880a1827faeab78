"""Points that buy (docs/CONTRACTS.md section 7): pending until delivery, available per earning
with its own expiry and one reminder naming a reward the member can afford; 积分兑换 and
兑换 N (coupons, and a product free on the next order); spending takes the earliest-expiring
first and records its draws; earn -> redeem -> cancel leaves nothing behind; /送达 finishes
orders. Every test ends with the ledger agreeing with the balances (models.points.check)."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from bot.harness import Harness
from models import points
from models.delivery import finish
from models.tables import Coupon, Member, Order, OrderLine, PointDraw, PointEntry, Settlement
from tests.conftest import MORNING, ROOM_A, ROOM_B, STAFF, make_config, start_harness

TEMPLATES = [{"id": "pts5", "name": "积分5元券", "off": 5, "valid": "30天", "per_member": 100},
             {"id": "once", "name": "限一张", "off": 2, "valid": "30天"}]
REWARDS = [{"points": 50, "coupon": "pts5"}, {"points": 30, "sku": "V01"}, {"points": 10, "coupon": "once"}]
NEXT_DAY = MORNING + dt.timedelta(days=1)


@pytest.fixture
async def shop(tmp_path: Path, db_url: str) -> Harness:
    config = make_config(tmp_path, db_url, coupon=TEMPLATES, reward=REWARDS,
                         points={"expire_days": 30, "remind_days": 7}, referral={"inviter_points": 0})
    h = await start_harness(config, MORNING, run_jobs=True)
    try:
        yield h
        assert await points.check() == []
    finally:
        await h.bot.close()


async def private(h: Harness, text: str, member: str = "a", message_id: str | None = None) -> str:
    await h.say(text, sender=member, room=None, message_id=message_id)
    await h.flush()
    return h.texts(to=member)[-1]


async def delivered(h: Harness, community: str = "") -> str:
    await h.say(f"/送达 {community}".strip(), sender=STAFF, room=None)
    await h.flush()
    return h.texts(to=STAFF)[-1]


async def test_points_wait_for_delivery_then_expire_with_one_reminder(shop: Harness) -> None:
    await shop.say("草莓2盒", sender="a")  # 79.8 -> 79 points
    assert "可用0，待到账79" in await private(shop, "积分")
    await shop.advance_to(NEXT_DAY)
    assert "已送达1单" in await delivered(shop)
    member = await Member.get(id="a")
    assert member.points == 79
    earning = await PointEntry.get(member_id="a")
    assert (earning.delta, earning.remaining, earning.expires_at) == (79, 79, NEXT_DAY + dt.timedelta(days=30))
    assert "可用79" in await private(shop, "积分") and "待到账" not in shop.texts(to="a")[-1]
    await shop.advance_to(NEXT_DAY + dt.timedelta(days=23) - dt.timedelta(minutes=1))
    assert not any(t.startswith("⏰") for t in shop.texts(to="a"))
    await shop.advance_to(NEXT_DAY + dt.timedelta(days=23, minutes=1))
    await shop.flush()
    reminders = [t for t in shop.texts(to="a") if t.startswith("⏰")]
    assert reminders == ["⏰ 您有79积分将于01-01到期（可用79）。可以兑换第1项：积分5元券（50积分），发“兑换 1”就行。"]
    assert "其中79分将于01-01起到期" in await private(shop, "积分")
    await shop.advance_to(NEXT_DAY + dt.timedelta(days=30, minutes=1))
    await shop.flush()
    assert (await Member.get(id="a")).points == 0
    assert [t for t in shop.texts(to="a") if t.startswith("⏰")] == reminders  # one reminder
    last = await PointEntry.filter(member_id="a").order_by("-id").first()
    assert last is not None and (last.delta, last.balance, last.source) == (-79, 0, f"expire:{earning.id}")


async def test_rewards_are_listed_and_redeemed_earliest_expiring_first(shop: Harness) -> None:
    now = shop.clock.now()
    await shop.say("你好", sender="a")
    late = await points.earn("a", 40, "早", "test:late", now, now + dt.timedelta(days=10))
    early = await points.earn("a", 40, "晚", "test:early", now, now + dt.timedelta(days=5))
    listing = await private(shop, "积分兑换")
    assert listing.startswith("积分兑换（您可用80积分）：\n1. 积分5元券 — 50积分（可兑换）\n2. 西红柿1斤（下一单免费送） — 30积分")
    await shop.say("积分兑换", sender="a")  # asked in the group: answered privately
    await shop.flush()
    assert shop.texts(room=ROOM_A)[-1].endswith("已私信您。") and "积分" not in shop.texts(room=ROOM_A)[-1]
    done = await private(shop, "兑换 1", message_id="r1")
    assert done.startswith("✅ 已用50积分兑换：积分5元券：无门槛减¥5.00") and done.endswith("剩余可用积分30。")
    await shop.say("兑换 1", sender="a", room=None, message_id="r1")  # re-delivered: books once
    spent = await PointEntry.get(member_id="a", source="redeem:r1")
    assert spent.delta == -50 and spent.balance == 30
    draws = {d.earning_id: d.points for d in await PointDraw.filter(entry_id=spent.id)}  # type: ignore[attr-defined]
    assert draws == {early.id: 40, late.id: 10}  # the one expiring first is used up first
    assert [e.remaining for e in await PointEntry.filter(id__in=[early.id, late.id]).order_by("id")] == [30, 0]
    assert await Coupon.filter(member_id="a", template="pts5", state="unused").count() == 1
    assert "要50积分，您现在可用30" in await private(shop, "兑换 1")
    assert "没有第9项" in await private(shop, "兑换 9")
    await private(shop, "兑换 3")
    assert "张数已经满了" in await private(shop, "兑换 3")  # per_member = 1 holds for rewards too
    assert (await Member.get(id="a")).points == 20


async def test_earn_redeem_then_cancel_leaves_nothing_behind(shop: Harness) -> None:
    await shop.say("草莓2盒", sender="a")  # 79 points once delivered
    await shop.advance_to(NEXT_DAY)
    await delivered(shop)
    await private(shop, "兑换 1", message_id="r1")  # 50 of them for a coupon
    assert (await Member.get(id="a")).points == 29
    # The order turns out never delivered right: every line read back as out of stock.
    order = await Order.get(member_id="a")
    await OrderLine.filter(order_id=order.id).update(status="out_of_stock")
    await Order.filter(id=order.id).update(status="cancelled")
    await finish([order.id], shop.bot.services.rewards, shop.clock.now())
    assert (await Member.get(id="a")).points == 0
    assert (await Coupon.get(source="redeem:r1")).state == "void"  # the coupon it bought is void
    assert await points.booked("a", f"order:{order.id}") == 0


async def test_a_gift_comes_free_on_the_next_order(shop: Harness) -> None:
    for member in ("a", "b"):
        await shop.say("你好", sender=member)
        await points.earn(member, 30, "测试", f"test:{member}", MORNING, MORNING + dt.timedelta(days=30))
        done = await private(shop, "兑换 2", member=member)
        assert "西红柿1斤（积分兑换）：截单时免费加到您的下一单" in done
    assert "西红柿1斤（积分兑换）" in await private(shop, "我的券", member="a")
    await shop.say("土豆2斤", sender="a")  # 5.6
    await shop.say("西红柿2斤", sender="b")  # 9.0
    await shop.say("/截单", sender=STAFF, room=None)
    lines = {(str(l.order.member_id), l.sku): l for l in await OrderLine.all().select_related("order")}  # type: ignore[attr-defined]
    assert (lines[("a", "V01")].qty, lines[("a", "V01")].note) == (1, "积分兑换")  # a new line
    assert lines[("b", "V01")].qty == 3  # one more on the line b had
    settled = {str(s.order.member_id): s for s in await Settlement.all().select_related("order")}  # type: ignore[attr-defined]
    assert (settled["a"].total, settled["a"].discount, settled["a"].due) == (Decimal("10.10"), Decimal("4.50"),
                                                                              Decimal("5.60"))
    assert (settled["b"].total, settled["b"].discount, settled["b"].due) == (Decimal("13.50"), Decimal("4.50"),
                                                                              Decimal("9.00"))
    assert await Coupon.filter(state="reserved").exclude(gift="").count() == 2
    # a cancels everything after ordering opens again: the gift waits for the next order.
    await shop.say("/开单", sender=STAFF, room=None)
    await shop.say("取消订单", sender="a")
    await shop.say("/截单", sender=STAFF, room=None)
    gift = await Coupon.get(member_id="a")
    assert (gift.state, gift.order_id) == ("unused", None)
    await shop.advance_to(NEXT_DAY)
    await delivered(shop)
    assert (await Coupon.get(member_id="b")).state == "used"
    assert (await Member.get(id="b")).points == 9  # what b paid for, not the free unit


async def test_delivery_by_community_uses_coupons_and_lists_what_to_collect(shop: Harness) -> None:
    from openpyxl import load_workbook

    await shop.say("黑猪五花肉1斤", sender="a", name="阿明")  # 32 - 5
    await shop.say("/发券 pts5 a", sender=STAFF, room=None)
    await shop.say("5栋101", sender="a", name="阿明")
    await shop.say("土豆1斤", sender="b", name="小周", room=ROOM_B)
    await shop.advance_to(NEXT_DAY)
    text = await delivered(shop, "阳光")  # a unique part of the name will do
    assert text == "✅ 12月2日阳光花园已送达1单。\n到付应收1单，合计¥27.00：\n阿明 5栋101 ¥27.00"
    assert (await Coupon.get(member_id="a")).state == "used"
    assert set(await Order.all().values_list("member_id", "status")) == {("a", "delivered"), ("b", "placed")}
    assert "🚚 阳光花园今天的订单已送达" in shop.texts(room=ROOM_A)[-1]
    assert not any("已送达" in t for t in shop.texts(room=ROOM_B))
    assert "没有待送达的订单" in await delivered(shop, "阳光花园")
    assert "没有叫“火星”的小区" in await delivered(shop, "火星")
    await shop.say("/余额 a", sender=STAFF, room=None)
    await shop.flush()
    looked_up = shop.texts(to=STAFF)[-1]
    assert "积分：可用27" in looked_up and "优惠券：无" in looked_up
    await shop.say("/送达", sender="a", name="阿明", room=None)
    assert (await Order.get(member_id="b")).status == "placed"  # members cannot
    assert (await Member.get(id="a")).points == 27
    path = await shop.bot.export(NEXT_DAY.date())
    route = list(load_workbook(path)["配送单"].iter_rows(values_only=True))
    due = route[0].index("应收")
    assert [(r[3], r[due]) for r in route[1:]] == [("小周", 2.8), ("1户", 2.8), ("阿明", 27), ("1户", 27)]  # each community's total after it


async def test_two_redemptions_at_once_spend_the_points_once(pg_url: str, tmp_path: Path) -> None:
    """On PostgreSQL: enough points for one reward, two redemptions racing."""
    from models.db import transaction

    config = make_config(tmp_path, pg_url, coupon=TEMPLATES, reward=REWARDS)
    h = await start_harness(config, MORNING)
    try:
        await h.say("你好", sender="a")
        await points.earn("a", 60, "测试", "test", MORNING, MORNING + dt.timedelta(days=30))
        products = {p.sku: p for p in h.bot.services.products}

        async def redeem(n: int) -> str:
            async with transaction():
                return (await points.redeem("a", 1, f"m{n}", config, products, MORNING)).outcome

        outcomes = await asyncio.gather(redeem(1), redeem(2))
        assert sorted(outcomes) == [points.REDEEMED, points.SHORT]
        assert (await Member.get(id="a")).points == 10
        assert await Coupon.filter(member_id="a", template="pts5").count() == 1
        assert await points.check() == []
    finally:
        await h.bot.close()


async def test_bad_reward_config_names_the_key(tmp_path: Path) -> None:
    from bot.core.config import ConfigError, parse_config
    from tests.conftest import raw_config

    for change, message in [
        ({"reward": [{"points": 10}]}, "[[reward]] #1: give either coupon"),
        ({"reward": [{"points": 10, "coupon": "zz"}]}, '[[reward]] #1 coupon: "zz" is not a [[coupon]] id'),
        ({"reward": [{"points": 0, "sku": "V01"}]}, "[[reward]] #1 points"),
    ]:
        raw = raw_config()
        raw.update(change)
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            parse_config(raw, tmp_path)


async def test_two_days_replayed_end_with_ledgers_that_sum_to_the_balances(tmp_path: Path, db_url: str) -> None:
    """Top-ups (one re-delivered), orders with and without coupons, a cancellation, cut-off,
    delivery, a redemption, a refund, a second day's order paid from what is left."""
    import json
    from collections import defaultdict

    from bot.replay import replay

    config = make_config(tmp_path, db_url, coupon=[{"id": "new3", "name": "新人3元券", "off": 3, "min_spend": 20},
                                                   *TEMPLATES], coupons={"new_member": ["new3"]},
                         reward=[{"points": 30, "coupon": "pts5"}], referral={"inviter_points": 0})
    script = Path(__file__).parent / "data" / "benefits" / "two_days.jsonl"
    state = await replay(config, script, tmp_path / "out")
    members = {m["id"]: m for m in state["members"]}
    wallet: dict[str, Decimal] = defaultdict(Decimal)
    for entry in state["wallet"]:
        wallet[entry["member"]] += Decimal(str(entry["delta"]))
    earned: dict[str, int] = defaultdict(int)
    for entry in state["points_ledger"]:
        earned[entry["member"]] += entry["delta"]
    for member_id, member in members.items():
        assert Decimal(str(member["balance"])) == wallet[member_id], member_id
        assert member["points"] == earned[member_id], member_id
    assert [e["delta"] for e in state["wallet"] if e["member"] == "a" and "充值" in e["reason"]] == [220, 220]
    orders = {(o["member"], o["delivery_date"]): o for o in state["orders"]}
    first = orders[("a", "2026-12-02")]
    assert (first["status"], first["total"], first["discount"], first["wallet_paid"], first["due"]) == (
        "delivered", 41, 3, 38, 0)
    assert (orders[("b", "2026-12-02")]["discount"], orders[("b", "2026-12-02")]["wallet_paid"]) == (3, 29)
    assert orders[("c", "2026-12-02")]["status"] == "cancelled"
    assert orders[("b", "2026-12-03")]["wallet_paid"] == 4.5  # from what the refund left: 100 - 29 - 20
    assert orders[("a", "2026-12-03")]["discount"] == 2.8  # the redeemed coupon, never below zero
    coupons = {(c["member"], c["template"]): c["state"] for c in state["coupons"]}
    assert coupons == {("a", "new3"): "used", ("b", "new3"): "used", ("c", "new3"): "unused",
                       ("a", "pts5"): "reserved"}
    assert (members["a"]["points"], members["b"]["points"], members["b"]["balance"]) == (38 - 30, 29, 46.5)
    assert all(m["unsubscribed"] is False and m["points_pending"] >= 0 for m in members.values())
    assert (members["a"]["segment"], members["c"]["segment"]) == ("活跃", "新成员")  # c cancelled its only order
    transcript = [json.loads(line) for line in (tmp_path / "out" / "transcript.jsonl").read_text(
        encoding="utf-8").splitlines()]
    in_groups = "\n".join(t["text"] for t in transcript if t["room"])
    assert "余额" not in in_groups and "积分：" not in in_groups and "新人3元券" not in in_groups
    assert any(t["to"] == "a" and t["text"].startswith("✅ 已用30积分兑换") for t in transcript)


async def test_members_unsubscribe_from_campaigns_and_back(shop: Harness) -> None:
    await shop.say("西红柿1斤", sender="a")
    await shop.say("退订", sender="a")
    await shop.flush()
    assert (await Member.get(id="a")).unsubscribed
    assert "已退订活动消息" in shop.texts(room=ROOM_A)[-1]
    assert await OrderLine.filter(order__member_id="a").count() == 1  # 退订 alone cancels no order
    await shop.say("订阅", sender="a", room=None)
    await shop.flush()
    assert not (await Member.get(id="a")).unsubscribed and "已恢复活动消息" in shop.texts(to="a")[-1]


async def test_a_day_of_deliveries_books_its_points_with_a_few_statements(
        tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rewards.settle reads each table once for a page of orders and writes the earnings
    together: a day's delivery of thousands of orders took minutes one order at a time."""
    from tortoise.connection import get_connection

    h = await start_harness(make_config(tmp_path, db_url), MORNING)
    try:
        members = [f"d{n}" for n in range(60)]
        for member in members:
            await h.say("西红柿2斤", sender=member)
        await Member.filter(id__in=members[:30:3]).update(referrer_id="d59")  # ten brought by d59
        ids = sorted(await Order.filter(member_id__in=members).values_list("id", flat=True))
        await Order.filter(id__in=ids).update(status="delivered")
        client = type(get_connection("default"))
        statements = [0]
        for name in ("execute_query", "execute_query_dict", "execute_many", "execute_insert"):
            def counted(method: object) -> object:
                async def run(*args: object, **kwargs: object) -> object:
                    statements[0] += 1
                    return await method(*args, **kwargs)  # type: ignore[operator]
                return run
            monkeypatch.setattr(client, name, counted(getattr(client, name)))
        rewards = points.Rewards.of(h.bot.config)
        await rewards.settle(ids, h.clock.now())
        assert statements[0] <= 20, statements[0]
        entries = await PointEntry.filter(source__startswith="order:").count()
        referrals = await PointEntry.filter(member_id="d59", source__startswith="referral:").count()
        assert (entries, referrals) == (60, 10)
        assert await points.check() == []
        worth = await points.order_total(ids[0])
        assert (await Member.get(id="d0")).points == rewards.order_points(worth)
        await rewards.settle(ids, h.clock.now())  # again: nothing more is booked
        assert await PointEntry.all().count() == 70 and await points.check() == []
        await Order.filter(id=ids[0]).update(status="cancelled")  # taken back, the one-at-a-time way
        await rewards.settle(ids[:1], h.clock.now())
        assert (await Member.get(id="d0")).points == 0 and await points.check() == []
        assert (await Member.get(id="d59")).points == rewards.order_points(worth) + (
            9 * rewards.inviter_points if rewards.inviter_points else 0)
    finally:
        await h.close()
