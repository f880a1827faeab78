"""Points (积分): a ledger where every change has a reason and a source; never negative.

Points follow what is true now rather than counting events: an order is worth
floor(total x per_yuan) while it is placed or delivered and nothing once cancelled, and an
inviter is owed `inviter_points` while the member they invited has an order. `settle` books
the difference between that and what the ledger already holds for the source, so a change,
a cancellation, a recall or a re-delivered message can never pay twice or leave a reward that
should have been taken back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from models.orders import OrderView
from models.tables import Member, Order, OrderLine, PointEntry

COUNTING = ("placed", "delivered")


@dataclass(frozen=True)
class Rewards:
    per_yuan: Decimal  # points per yuan placed
    inviter_points: int  # to the inviter, once the invited member has an order

    async def settle(self, order_ids: Iterable[int], now: datetime) -> None:
        """Bring the ledger in line with these orders as they are now (and their referrals)."""
        members: set[str] = set()
        for order_id in sorted(set(order_ids)):
            order = await Order.get_or_none(id=order_id)
            if order is None:
                continue
            member_id = str(order.member_id)  # type: ignore[attr-defined]
            members.add(member_id)
            total = await order_total(order_id) if order.status in COUNTING else Decimal(0)
            await self._order(member_id, order_id, order.groupbuy_no, total, now)
        for member_id in sorted(members):
            await self._referral(member_id, now)

    async def settle_view(self, order: OrderView, member: Member, now: datetime) -> None:
        """The same for an order just changed, from what the change already read."""
        total = order.total if order.status in COUNTING else Decimal(0)
        await self._order(member.id, order.id, order.groupbuy_no, total, now)
        if member.referrer_id is not None:  # type: ignore[attr-defined]
            await self._referral(member.id, now, member)

    async def _order(self, member_id: str, order_id: int, groupbuy_no: int, total: Decimal,
                     now: datetime) -> None:
        target = self.order_points(total)
        await _book(member_id, order_source(order_id), target, order_reason(order_id, groupbuy_no, target), now)

    def order_points(self, total: Decimal) -> int:
        """What an order of `total` is worth while it counts."""
        return int((total * self.per_yuan).to_integral_value(ROUND_FLOOR))

    async def _referral(self, member_id: str, now: datetime, member: Member | None = None) -> None:
        member = member or await Member.get_or_none(id=member_id)
        if member is None or member.referrer_id is None:  # type: ignore[attr-defined]
            return
        ordered = await Order.filter(member_id=member_id, status__in=COUNTING).exists()
        target = self.inviter_points if ordered else 0
        name = member.name or member_id
        await _book(str(member.referrer_id), f"referral:{member_id}", target,  # type: ignore[attr-defined]
                    f"邀请{name}首单奖励" if target else f"{name}取消了首单，邀请奖励收回", now)


def order_source(order_id: int) -> str:
    return f"order:{order_id}"


def order_reason(order_id: int, groupbuy_no: int, target: int) -> str:
    tag = f"拼团#{groupbuy_no}" if groupbuy_no else f"订单#{order_id}"
    return f"{tag}下单" if target else f"{tag}已取消"


async def order_total(order_id: int) -> Decimal:
    total = Decimal(0)
    for line in await OrderLine.filter(order_id=order_id, status__not="out_of_stock"):
        total += line.price * line.qty
    return total


async def _book(member_id: str, source: str, target: int, reason: str, now: datetime) -> None:
    held = await booked(member_id, source)
    if held != target:
        await add(member_id, target - held, reason, source, now)


def rebalance(balance: int, held: int, target: int) -> int:
    """The points to book so that a source now holding `held` holds `target`, never taking the
    member's `balance` below zero (what the book and the per-message path both apply)."""
    return max(0, balance + target - held) - balance


async def booked(member_id: str, source: str) -> int:
    deltas = await PointEntry.filter(member_id=member_id, source=source).values_list("delta", flat=True)
    return sum(int(d) for d in deltas)  # type: ignore[call-overload]


async def add(member_id: str, delta: int, reason: str, source: str, now: datetime) -> int:
    """Book `delta` (less, if the balance would go below zero); the amount booked."""
    member = await Member.filter(id=member_id).select_for_update().get()
    booked_delta = rebalance(member.points, 0, delta)
    balance = member.points + booked_delta
    if booked_delta:
        await PointEntry.create(member_id=member_id, delta=booked_delta, balance=balance,
                                reason=reason[:64], source=source[:64], created_at=now)
        await Member.filter(id=member_id).update(points=balance)
    return booked_delta


async def holdings(member_id: str, limit: int = 5) -> list[tuple[int, str]]:
    """What the member's latest sources (orders, referrals) hold now, newest first, each once:
    (points, the latest reason). An order changed three times is one line, not three."""
    recent = await PointEntry.filter(member_id=member_id).order_by("-id").limit(limit * 10).values(
        "source", "reason")
    latest: dict[str, str] = {}
    for row in recent:
        if row["source"] not in latest and len(latest) < limit:
            latest[row["source"]] = row["reason"]
    totals = {source: 0 for source in latest}
    for row in await PointEntry.filter(member_id=member_id, source__in=list(latest)).values("source", "delta"):
        totals[row["source"]] += int(row["delta"])
    return [(totals[source], reason) for source, reason in latest.items() if totals[source]]
