"""Settling orders at cut-off (docs/CONTRACTS.md section 7): total -> the coupon's discount ->
what the stored value pays -> what is due on delivery.

Settlement follows what is true now, like the points ledger: an order's wallet payment should
be min(what the member could pay, total - discount); the ledger already holds what the order
paid (its entries, sourced `order:<id>:<n>`), and the difference is booked, either way. So the
cut-off run twice, a staff cancel, a line marked 缺货 read back, or ordering opened again and
closed again each settle to the same truth, and nothing is paid or given back twice. Each
member is locked (their row) before their orders are read; members are settled in id order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from bot.core.config import WalletConfig
from bot.core.protocols import Postbox
from models.bookrows import OUTBOX_INSERT
from models.db import is_postgres
from models.rows import chunks, insert_many, select_in, update_many
from models.coupons import best, fits
from models.tables import Coupon, Member, Order, OrderLine, OutboxMessage, Settlement, WalletEntry
from models.tables import Product as ProductRow
from models.wallet import ZERO, cents, money, split_payment

COUNTING = ("placed", "delivered")


@dataclass(frozen=True)
class Settled:
    order_id: int
    member_id: str
    total: Decimal
    discount: Decimal
    wallet_paid: Decimal
    due: Decimal
    changed: Decimal  # what the wallet paid (+) or got back (-) now
    coupon_changed: bool = False  # the order holds another coupon (or none) than before


async def settle_day(delivery_date: date, wallet: WalletConfig, outbox: Postbox, now: datetime) -> list[Settled]:
    """Settle every order of `delivery_date` (the cut-off; run again, it changes nothing)."""
    ids: list[int] = await Order.filter(delivery_date=delivery_date).values_list("id", flat=True)  # type: ignore[assignment]
    return await settle_orders(ids, wallet, outbox, now)


async def settle_again(order_ids: Iterable[int], wallet: WalletConfig, outbox: Postbox,
                       now: datetime) -> list[Settled]:
    """The orders among these that were settled, settled again after they changed."""
    settled: list[int] = await Settlement.filter(order_id__in=list(set(order_ids))).values_list(  # type: ignore[assignment]
        "order_id", flat=True)
    return await settle_orders(settled, wallet, outbox, now)


ENTRY_COLUMNS = ("member_id", "delta", "principal", "bonus", "balance", "principal_after", "reason", "source",
                 "actor", "created_at", "order_id")
SETTLEMENT_COLUMNS = ("order_id", "total", "discount", "wallet_paid", "due", "coupon_id", "settled_at", "updated_at")
SETTLEMENT_UPDATE = ("total", "discount", "wallet_paid", "due", "coupon_id", "updated_at")


@dataclass
class _Wallet:  # a member's row, as locked and as it changes in this run
    id: str
    wallet_principal: Decimal
    wallet_bonus: Decimal
    before: Decimal = ZERO
    changed: bool = False


@dataclass
class _Held:  # what the ledger says an order paid
    principal: Decimal = ZERO
    bonus: Decimal = ZERO
    entries: int = 0


@dataclass
class _Row:  # an order_settlement row to update
    id: int
    total: Decimal
    discount: Decimal
    wallet_paid: Decimal
    due: Decimal
    coupon_id: int | None
    updated_at: datetime


@dataclass
class _Run:
    coupons: list[Coupon] = field(default_factory=list)
    entries: list[tuple[Any, ...]] = field(default_factory=list)
    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    updates: list[_Row] = field(default_factory=list)


async def _select(model: Any, names: Sequence[str], key: str, values: Sequence[Any],
                  lock: bool = False) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for some in chunks(values):
        found += await select_in(model, names, key, some, lock=lock)
    return found


async def _of_members(orders: list[dict[str, Any]],
                      query: Callable[[list[str], list[int]], QuerySet[Coupon]]) -> list[Coupon]:
    """The coupons `query` finds for the orders' members, a slice of members (and the ids of
    their orders) at a time, in id order."""
    held: dict[str, list[int]] = defaultdict(list)
    for order in orders:
        held[order["member_id"]].append(order["id"])
    members = sorted(held)
    found: list[Coupon] = []
    for mine in chunks(members, share=3):  # with their orders of the run (a member has a few)
        for some in chunks([i for m in mine for i in held[m]], share=3):
            found += await query(mine, some)
    # An unused coupon comes with each slice of its member's orders: once each.
    return sorted({coupon.id: coupon for coupon in found}.values(), key=lambda coupon: coupon.id)


async def settle_orders(order_ids: Iterable[int], wallet: WalletConfig, outbox: Postbox,
                        now: datetime) -> list[Settled]:
    ids = sorted(set(order_ids))
    orders = await _select(Order, ("id", "member_id", "status", "groupbuy_no"), "id", ids)
    if not orders:
        return []
    gifts = await _gifts(orders, now)
    members = {row["id"]: _Wallet(row["id"], row["wallet_principal"], row["wallet_bonus"]) for row in
               await _select(Member, ("id", "wallet_principal", "wallet_bonus"), "id",
                             sorted({o["member_id"] for o in orders}), lock=is_postgres())}
    totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
    skus: dict[int, set[str]] = defaultdict(set)
    free: dict[int, Decimal] = defaultdict(lambda: ZERO)  # the gift units' price on each order
    for line in await _select(OrderLine, ("order_id", "price", "qty", "status", "sku"), "order_id", ids):
        if line["status"] != "out_of_stock":
            totals[line["order_id"]] += line["price"] * line["qty"]
            skus[line["order_id"]].add(line["sku"])
            free[line["order_id"]] += line["price"] * gifts.get((line["order_id"], line["sku"]), 0)
    # Coupons: those the orders hold now, and each member's unused ones (gifts are not coupons).
    coupons: dict[str, list[Coupon]] = defaultdict(list)
    for given in await _of_members(orders, lambda mine, held: Coupon.filter(
            Q(order_id__in=held) | Q(state="unused"), gift="", member_id__in=mine)):
        coupons[str(given.member_id)].append(given)  # type: ignore[attr-defined]
    held: dict[int, _Held] = defaultdict(_Held)
    for entry in await _select(WalletEntry, ("order_id", "principal", "bonus"), "order_id", ids):
        paid = held[entry["order_id"]]
        paid.principal -= entry["principal"]
        paid.bonus -= entry["bonus"]
        paid.entries += 1
    rows = {row["order_id"]: row for row in await _select(
        Settlement, ("id", "order_id", "total", "discount", "wallet_paid", "due", "coupon_id"), "order_id", ids)}
    for member in members.values():
        member.before = member.wallet_principal + member.wallet_bonus
    run, done = _Run(), []
    for order in sorted(orders, key=lambda o: (o["member_id"], o["id"])):
        found = members.get(order["member_id"])
        if found is None:
            continue
        member = found
        total = cents(totals[order["id"]]) if order["status"] in COUNTING else ZERO
        gift = min(cents(free[order["id"]]), total)
        coupon = _coupon(order["id"], coupons[member.id], total - gift, skus[order["id"]], run, now)
        done.append(_settle(order["id"], member, total, gift, coupon, held[order["id"]], rows.get(order["id"]),
                            run, now))
    await update_many(Coupon, ("state", "order_id"), run.coupons)
    await insert_many(WalletEntry, ENTRY_COLUMNS, run.entries)
    await update_many(Member, ("wallet_principal", "wallet_bonus"), [m for m in members.values() if m.changed])
    await insert_many(Settlement, SETTLEMENT_COLUMNS, run.inserts)
    await update_many(Settlement, SETTLEMENT_UPDATE, run.updates)
    await insert_many(OutboxMessage, OUTBOX_INSERT, _notes(done, members, wallet, now))
    return done


async def _gifts(orders: list[dict[str, Any]], now: datetime) -> dict[tuple[int, str], int]:
    """Gift rewards (a unit of a product bought with points) onto orders: each unused gift of
    a member whose own order of the day is placed adds its unit to that order; a gift held by
    an order that is no longer placed takes its unit off again and goes back. What each
    (order, product) now carries free."""
    placed = {o["id"]: o for o in orders if o["status"] == "placed"}
    own: dict[str, int] = {}
    for order in sorted(placed.values(), key=lambda o: o["id"]):
        if order["groupbuy_no"] == 0:
            own.setdefault(order["member_id"], order["id"])
    gifts = await _of_members(orders, lambda mine, held: Coupon.filter(
        Q(order_id__in=held, state="reserved") | Q(state="unused", expires_at__gt=now), member_id__in=mine)
        .exclude(gift=""))
    carried: dict[tuple[int, str], int] = defaultdict(int)
    for gift in gifts:
        if gift.state == "reserved" and gift.order_id is not None and gift.order_id in placed:
            carried[(gift.order_id, gift.gift)] += 1
        elif gift.state == "reserved":  # its order was cancelled: the unit comes off
            await _unit(gift.order_id, gift, -1, now)
            gift.state, gift.order_id = ("expired" if gift.expires_at <= now else "unused"), None
            await gift.save(update_fields=["state", "order_id"])
        elif (order_id := own.get(str(gift.member_id))) is not None:  # type: ignore[attr-defined]
            await _unit(order_id, gift, 1, now)
            gift.state, gift.order_id = "reserved", order_id
            await gift.save(update_fields=["state", "order_id"])
            carried[(order_id, gift.gift)] += 1
    return carried


async def _unit(order_id: int | None, gift: Coupon, change: int, now: datetime) -> None:
    """One unit of the gift's product on (or off) the order."""
    line = await OrderLine.get_or_none(order_id=order_id, sku=gift.gift)
    if line is None and change > 0:
        product = await ProductRow.get_or_none(sku=gift.gift)
        await OrderLine.create(order_id=order_id, sku=gift.gift, name=product.name if product else gift.name,
                               unit=product.unit if product else "", price=gift.off, qty=1, note="积分兑换",
                               updated_at=now)
    elif line is not None:
        line.qty += change
        line.updated_at = now
        if line.qty <= 0:
            await line.delete()
        else:
            await line.save(update_fields=["qty", "updated_at"])


def _coupon(order_id: int, mine: list[Coupon], total: Decimal, skus: set[str], run: _Run,
            now: datetime) -> Coupon | None:
    """The coupon this order holds after settling: the one it held if it still fits, else the
    best unused one; a held one that no longer fits goes back (or expires, if past its time)."""
    holding = next((c for c in mine if c.order_id == order_id and c.state == "reserved"), None)
    if holding is not None:
        if fits(holding, total, skus, now) or (holding.expires_at <= now and fits(holding, total, skus, holding.issued_at)):
            return holding  # reserved before it expired: it stays with the order
        holding.state, holding.order_id = ("expired" if holding.expires_at <= now else "unused"), None
        run.coupons.append(holding)
    chosen = best([c for c in mine if c.state == "unused"], total, skus, now)
    if chosen is not None:
        chosen.state, chosen.order_id = "reserved", order_id
        run.coupons.append(chosen)
    return chosen


def _settle(order_id: int, member: _Wallet, total: Decimal, gift: Decimal, coupon: Coupon | None, held: _Held,
            row: dict[str, Any] | None, run: _Run, now: datetime) -> Settled:
    discount = gift + (min(coupon.off, total - gift) if coupon is not None else ZERO)
    paid = held.principal + held.bonus
    available = member.wallet_principal + member.wallet_bonus
    target = cents(min(available + paid, total - discount))
    change = target - paid
    if change > 0:  # pay more from the balance, principal and bonus in proportion
        principal, bonus = split_payment(change, member.wallet_principal, member.wallet_bonus)
        _book(member, order_id, -principal, -bonus, f"订单#{order_id}支付", held, run, now)
    elif change < 0:  # give back what the order no longer needs, in the parts it drew
        back = -change
        bonus = min(held.bonus, cents(back * held.bonus / paid)) if paid else ZERO
        _book(member, order_id, back - bonus, bonus, f"订单#{order_id}退回", held, run, now)
    due = cents(total - discount - target)
    coupon_id = coupon.id if coupon is not None else None
    if row is None:
        run.inserts.append((order_id, total, discount, target, due, coupon_id, now, now))
    elif (row["total"], row["discount"], row["wallet_paid"], row["due"], row["coupon_id"]) != \
            (total, discount, target, due, coupon_id):
        run.updates.append(_Row(row["id"], total, discount, target, due, coupon_id, now))
    before = row["coupon_id"] if row is not None else None
    return Settled(order_id, member.id, total, discount, target, due, change, coupon_id != before)


def _book(member: _Wallet, order_id: int, principal: Decimal, bonus: Decimal, reason: str, held: _Held,
          run: _Run, now: datetime) -> None:
    member.wallet_principal = cents(member.wallet_principal + principal)
    member.wallet_bonus = cents(member.wallet_bonus + bonus)
    if member.wallet_principal < 0 or member.wallet_bonus < 0:  # split_payment keeps within them
        raise AssertionError(f"settling order {order_id} would take {member.id}'s balance below zero")
    member.changed = True
    held.entries += 1
    balance = member.wallet_principal + member.wallet_bonus
    run.entries.append((member.id, cents(principal + bonus), cents(principal), cents(bonus), balance,
                        member.wallet_principal, reason, f"order:{order_id}:{held.entries}", "cutoff", now,
                        order_id))


def _notes(done: list[Settled], members: dict[str, _Wallet], wallet: WalletConfig,
           now: datetime) -> list[tuple[Any, ...]]:
    """Privately, to each member whose wallet paid or got back: what, and once, the balance
    falling low (only on the settlement that takes it below `low_balance`)."""
    by_member: dict[str, list[Settled]] = defaultdict(list)
    for one in done:
        if one.changed or one.coupon_changed:
            by_member[one.member_id].append(one)
    notes: list[tuple[Any, ...]] = []
    for member_id, settled in by_member.items():
        member = members[member_id]
        after = member.wallet_principal + member.wallet_bonus
        lines = []
        for s in settled:
            off = f"优惠券减{money(s.discount)}，" if s.discount else ""
            if s.changed >= 0:
                paid = f"储值支付{money(s.changed)}，" if s.changed else ""
                lines.append(f"订单#{s.order_id} 合计{money(s.total)}，{off}{paid}"
                             f"{'送货时再付' + money(s.due) if s.due else '已付清'}。")
            else:
                lines.append(f"订单#{s.order_id} 有变动，{off}{money(-s.changed)}已退回储值；"
                             f"{'送货时付' + money(s.due) if s.due else '无需再付'}。")
        text = "【储值结算】" + "\n".join(lines) + f"\n当前余额 {money(after)}。"
        low = wallet.low_balance
        if low > 0 and member.before >= low > after:
            text += f"\n余额已低于{money(low)}，需要时可找店员充值。"
        notes.append((None, member_id, text, [], None, False, "pending", now, None, 0, None))
    return notes
