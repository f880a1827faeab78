"""Settlement at cut-off (docs/CONTRACTS.md section 7): the stored value pays what it can, the
rest is due on delivery; a later change settles again and the difference goes back; run twice,
nothing is paid twice; the low-balance reminder comes once, on the crossing; the ledger always
sums to the balances."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook

from bot.harness import Harness
from jobs.runner import run_job
from models.fulfilment import import_statuses
from models.settlement import settle_day
from models.tables import Member, Settlement, WalletEntry
from models.wallet import check, top_up
from tests.conftest import MORNING, STAFF, make_config, start_harness

import pytest

DELIVERY = dt.date(2026, 12, 2)
CUTOFF = MORNING.replace(hour=20)


@pytest.fixture
async def shop(tmp_path: Path, db_url: str) -> Harness:
    h = await start_harness(make_config(tmp_path, db_url), MORNING, run_jobs=True)
    try:
        yield h
    finally:
        await h.bot.close()


async def balance(member: str) -> Decimal:
    m = await Member.get(id=member)
    return m.wallet_principal + m.wallet_bonus


async def fund(h: Harness, member: str, amount: int) -> None:
    await h.say("/充值 " + member + f" {amount}", sender=STAFF, room=None)


async def settled(member: str) -> tuple[Decimal, Decimal, Decimal]:
    row = await Settlement.get(order__member_id=member)
    return row.total, row.wallet_paid, row.due


async def test_the_cutoff_pays_from_the_balance_and_leaves_the_rest_due(shop: Harness) -> None:
    await shop.say("黑猪五花肉1斤", sender="rich", name="阿明")  # 32
    await shop.say("黑猪五花肉1斤", sender="short", name="小周")
    await shop.say("黑猪五花肉1斤", sender="none", name="陈哥")
    await fund(shop, "rich", 200)  # 220 with the bonus
    await fund(shop, "short", 10)
    await shop.advance_to(CUTOFF + dt.timedelta(minutes=1))
    assert await settled("rich") == (Decimal("32.00"), Decimal("32.00"), Decimal("0.00"))
    assert await settled("short") == (Decimal("32.00"), Decimal("10.00"), Decimal("22.00"))
    assert await settled("none") == (Decimal("32.00"), Decimal("0.00"), Decimal("32.00"))
    assert (await balance("rich"), await balance("short")) == (Decimal("188.00"), Decimal("0.00"))
    told = shop.texts(to="rich")[-1]
    assert "储值支付¥32.00" in told and "已付清" in told and "当前余额 ¥188.00" in told
    assert "送货时再付¥22.00" in shop.texts(to="short")[-1]
    assert shop.texts(to="none") == []  # nothing paid: nothing to tell
    # The rich member's payment drew on principal and bonus in proportion (200 : 20).
    payment = await WalletEntry.get(source__startswith="order:", member_id="rich")
    assert (payment.principal, payment.bonus) == (Decimal("-29.09"), Decimal("-2.91"))
    assert await check() == []


async def test_settling_again_pays_nothing_twice(shop: Harness) -> None:
    await shop.say("黑猪五花肉1斤", sender="a")
    await fund(shop, "a", 100)
    await shop.say("/截单", sender=STAFF, room=None)
    await shop.advance_to(CUTOFF + dt.timedelta(minutes=1))  # the cut-off job settles again
    await run_job("cutoff", CUTOFF, shop.bot.services)
    await settle_day(DELIVERY, shop.bot.config.wallet, shop.bot.outbox, shop.clock.now())
    assert await WalletEntry.filter(source__startswith="order:").count() == 1
    assert await balance("a") == Decimal("68.00")
    assert len([t for t in shop.texts(to="a") if "储值结算" in t]) == 1


async def test_an_order_changed_after_it_was_settled_pays_or_gets_back_the_difference(shop: Harness) -> None:
    await shop.say("黑猪五花肉1斤", sender="a")
    await fund(shop, "a", 100)
    await shop.say("/截单", sender=STAFF, room=None)
    assert await balance("a") == Decimal("68.00")
    await shop.say("/开单", sender=STAFF, room=None)
    await shop.say("黑猪五花肉改成2斤", sender="a")
    await shop.advance_to(CUTOFF + dt.timedelta(minutes=1))
    assert await settled("a") == (Decimal("64.00"), Decimal("64.00"), Decimal("0.00"))
    assert await balance("a") == Decimal("36.00")
    # A line read back 缺货: its amount goes back to the wallet.
    path = await shop.bot.export(DELIVERY)
    assert path is not None
    book = load_workbook(path)
    sheet = book["订单"]
    header = [c.value for c in sheet[1]]
    sheet.cell(2, header.index("状态") + 1).value = "缺货"
    book.save(path)
    await import_statuses(path, shop.bot.outbox, shop.clock.now(), shop.bot.services.rewards,
                          shop.bot.config.wallet)
    await shop.flush()
    assert await settled("a") == (Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))
    assert await balance("a") == Decimal("100.00")
    assert "¥64.00已退回储值" in shop.texts(to="a")[-1]
    assert await check() == []


async def test_a_cancelled_group_buy_gives_its_payment_back(shop: Harness) -> None:
    await shop.say("/开团 草莓 2人 25元 2小时", sender=STAFF)
    for member in ("a", "b"):
        await shop.say("参团", sender=member)
        await fund(shop, member, 100)
    await shop.say("/截单", sender=STAFF, room=None)
    assert await balance("a") == Decimal("75.00")
    await shop.say("/取消拼团 1", sender=STAFF, room=None)
    assert (await balance("a"), await balance("b")) == (Decimal("100.00"), Decimal("100.00"))
    assert await check() == []


async def test_the_low_balance_reminder_comes_once_on_the_crossing(shop: Harness) -> None:
    await shop.say("黑猪五花肉1斤", sender="a")  # 32
    await fund(shop, "a", 70)
    await shop.say("/截单", sender=STAFF, room=None)  # 70 -> 38: crosses 50
    await shop.flush()
    assert len([t for t in shop.texts(to="a") if "余额已低于¥50.00" in t]) == 1
    await shop.say("/开单", sender=STAFF, room=None)
    await shop.say("黑猪五花肉改成2斤", sender="a")
    await shop.say("/截单", sender=STAFF, room=None)  # 38 -> 6: already below, no second reminder
    await shop.advance_to(CUTOFF + dt.timedelta(minutes=1))
    assert await balance("a") == Decimal("6.00")
    assert len([t for t in shop.texts(to="a") if "余额已低于" in t]) == 1


async def test_no_balance_goes_below_zero_when_a_top_up_races_a_settlement(pg_url: str, tmp_path: Path) -> None:
    """On PostgreSQL: the cut-off settles while staff book top-ups of the same member."""
    from models.db import transaction

    h = await start_harness(make_config(tmp_path, pg_url), MORNING)
    try:
        for i in range(20):
            await h.say("黑猪五花肉1斤", sender=f"m{i}")
            await fund(h, f"m{i}", 10)

        async def settle() -> None:
            async with transaction():
                await settle_day(DELIVERY, h.bot.config.wallet, h.bot.outbox, h.clock.now())

        async def more(member: str) -> None:
            async with transaction():
                await top_up(member, Decimal(5), h.bot.config.wallet, f"race:{member}", STAFF, h.clock.now())

        await asyncio.gather(settle(), *(more(f"m{i}") for i in range(20)))
        for i in range(20):
            total, paid, due = await settled(f"m{i}")
            assert paid + due == total and paid in (Decimal(10), Decimal(15))
            assert await balance(f"m{i}") == Decimal(15) - paid >= 0
        assert await check() == []
    finally:
        await h.bot.close()


async def test_the_workbook_shows_what_was_paid_and_a_sheet_to_reconcile_the_cash(shop: Harness) -> None:
    await shop.say("黑猪五花肉1斤 西红柿2斤", sender="a", name="阿明")  # 32 + 9
    await shop.say("土豆1斤", sender="b", name="小周")  # 2.8, no balance
    await fund(shop, "a", 200)
    await shop.say("/截单", sender=STAFF, room=None)
    path = await shop.bot.export(DELIVERY)
    assert path is not None
    book = load_workbook(path)
    orders = list(book["订单"].iter_rows(values_only=True))
    header = orders[0]
    at = {name: header.index(name) for name in ("成员ID", "优惠", "储值支付", "应收")}
    paid = [(r[at["成员ID"]], r[at["优惠"]], r[at["储值支付"]], r[at["应收"]]) for r in orders[1:]]
    # The order's money on its first line only: the columns sum to the day's figures.
    assert paid == [("a", 0, 41, 0), ("a", None, None, None), ("b", 0, 0, 2.8)]
    # The driver's sheet: per household what stored value paid and what to collect, and the total.
    route = list(book["配送单"].iter_rows(values_only=True))
    at = {name: route[0].index(name) for name in ("成员", "订单金额", "已付", "应收")}
    money = [(r[at["成员"]], r[at["订单金额"]], r[at["已付"]], r[at["应收"]]) for r in route[1:]
             if r[at["订单金额"]] is not None]
    assert sorted(money[:-1]) == [("小周", 2.8, 0, 2.8), ("阿明", 41, 41, 0)]
    assert money[-1] == ("2户", 43.8, 41, 2.8)
    wallet = list(book["储值"].iter_rows(values_only=True))
    assert wallet[0][:5] == ("时间", "成员", "成员ID", "类型", "金额")
    kinds = [(r[2], r[3], r[4], r[8]) for r in wallet[1:]]
    assert kinds == [("a", "充值", 220, None), ("a", "订单支付", -41, 1)]
    assert all(isinstance(r[4], (int, float)) for r in wallet[1:])
