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

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from bot.core.config import WalletConfig
from bot.core.messages import Outgoing
from bot.core.protocols import Postbox
from models.tables import Order, OrderLine, Settlement, WalletEntry
from models.wallet import ZERO, book, cents, locked_member, money, split_payment

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


async def settle_orders(order_ids: Iterable[int], wallet: WalletConfig, outbox: Postbox,
                        now: datetime) -> list[Settled]:
    orders = await Order.filter(id__in=sorted(set(order_ids))).order_by("member_id", "id")
    done: list[Settled] = []
    for member_id in sorted({str(o.member_id) for o in orders}):  # type: ignore[attr-defined]
        member = await locked_member(member_id)
        if member is None:
            continue
        before = member.wallet_principal + member.wallet_bonus
        mine = [o for o in orders if str(o.member_id) == member_id]  # type: ignore[attr-defined]
        settled = [await _settle(order, wallet, now) for order in mine]
        done += settled
        await _tell(member_id, [s for s in settled if s.changed], before, wallet, outbox)
    return done


async def _settle(order: Order, wallet: WalletConfig, now: datetime) -> Settled:
    member_id = str(order.member_id)  # type: ignore[attr-defined]
    total = await _total(order)
    discount = ZERO  # coupons: the next step of section 7
    entries = await WalletEntry.filter(source__startswith=f"order:{order.id}:").values_list(
        "principal", "bonus")
    paid_principal = -sum((p for p, _ in entries), ZERO)
    paid_bonus = -sum((b for _, b in entries), ZERO)
    held = paid_principal + paid_bonus
    member = await locked_member(member_id)
    assert member is not None  # locked by the caller
    available = member.wallet_principal + member.wallet_bonus
    target = cents(min(available + held, total - discount))
    change = target - held
    if change > 0:  # pay more from the balance, principal and bonus in proportion
        principal, bonus = split_payment(change, member.wallet_principal, member.wallet_bonus)
        await book(member_id, -principal, -bonus, f"订单#{order.id}支付", _source(order, len(entries)),
                   "cutoff", now)
    elif change < 0:  # give back what the order no longer needs, in the parts it drew
        back = -change
        bonus = min(paid_bonus, cents(back * paid_bonus / held)) if held else ZERO
        await book(member_id, back - bonus, bonus, f"订单#{order.id}退回", _source(order, len(entries)),
                   "cutoff", now)
    due = cents(total - discount - target)
    row = await Settlement.get_or_none(order_id=order.id)
    if row is None:
        await Settlement.create(order_id=order.id, total=total, discount=discount, wallet_paid=target,
                                due=due, settled_at=now, updated_at=now)
    elif (row.total, row.discount, row.wallet_paid, row.due) != (total, discount, target, due):
        row.total, row.discount, row.wallet_paid, row.due, row.updated_at = total, discount, target, due, now
        await row.save(update_fields=["total", "discount", "wallet_paid", "due", "updated_at"])
    return Settled(order.id, member_id, total, discount, target, due, change)


def _source(order: Order, booked: int) -> str:
    return f"order:{order.id}:{booked + 1}"


async def _total(order: Order) -> Decimal:
    if order.status not in COUNTING:
        return ZERO
    total = ZERO
    for price, qty in await OrderLine.filter(order_id=order.id, status__not="out_of_stock").values_list("price", "qty"):
        total += price * qty
    return cents(total)


async def _tell(member_id: str, settled: list[Settled], before: Decimal, wallet: WalletConfig,
                outbox: Postbox) -> None:
    """Privately: what the wallet paid or gave back, and once, the balance falling low."""
    if not settled:
        return
    member = await locked_member(member_id)
    assert member is not None
    after = member.wallet_principal + member.wallet_bonus
    lines = []
    for s in settled:
        if s.changed > 0:
            lines.append(f"订单#{s.order_id} 合计{money(s.total)}，储值支付{money(s.changed)}，"
                         f"{'送货时再付' + money(s.due) if s.due else '已付清'}。")
        else:
            lines.append(f"订单#{s.order_id} 有变动，{money(-s.changed)}已退回储值；"
                         f"{'送货时付' + money(s.due) if s.due else '无需再付'}。")
    text = "【储值结算】" + "\n".join(lines) + f"\n当前余额 {money(after)}。"
    low = wallet.low_balance
    if low > 0 and before >= low > after:  # once per crossing: only the debit that crosses it
        text += f"\n余额已低于{money(low)}，需要时可找店员充值。"
    await outbox.put(Outgoing(text, to=member_id))
