"""Group-buys (拼团): open -> success when the N-th member joins -> or failed at the deadline ->
or cancelled by staff.

Every change of state happens under the group-buy's row lock (SELECT ... FOR UPDATE on
PostgreSQL; SQLite runs one write transaction at a time) or in one guarded UPDATE, so two
members taking the last place at once give one success and never N+1 participants. Each
participant's unit is taken from the stock when they join and given back if the group-buy
does not succeed. Runs inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import cast

from tortoise.functions import Count

from models.catalog import Product
from models.stock import give_back, take
from models.tables import Community, GroupBuy, GroupBuyParticipant, Member, Order, OrderLine

ONE = Decimal(1)

JOINED, SUCCESS = "joined", "success"
# refusals
MISSING, ALREADY, ENDED, ELSEWHERE, SOLD_OUT = "missing", "already", "ended", "elsewhere", "sold_out"


async def open_groupbuy(product: Product, size: int, price: Decimal, deadline: datetime,
                        delivery_date: date, community: Community | None, opened_by: str,
                        now: datetime) -> GroupBuy:
    """A new open group-buy; `community` None: open to every group."""
    return await GroupBuy.create(
        sku=product.sku, name=product.name, unit=product.unit, size=size, price=price,
        state="open", deadline=deadline, delivery_date=delivery_date, community=community,
        opened_by=opened_by, created_at=now,
    )


@dataclass(frozen=True)
class Joined:
    outcome: str  # JOINED, SUCCESS, or a refusal
    groupbuy: GroupBuy | None
    participants: list[str] = field(default_factory=list)  # contact ids, in joining order
    orders: list[int] = field(default_factory=list)  # made by this success
    last_place: bool = False  # one place is left now, and nobody was told yet
    sold_out_now: bool = False  # this join took the product's last unit


async def join_groupbuy(groupbuy_id: int, member: Member, community: Community, product: Product,
                        now: datetime) -> Joined:
    groupbuy = await GroupBuy.filter(id=groupbuy_id).select_for_update().first()
    if groupbuy is None:
        return Joined(MISSING, None)
    if groupbuy.state != "open" or groupbuy.deadline <= now:
        return Joined(ENDED, groupbuy, await participant_ids(groupbuy.id))
    if groupbuy.community_id is not None and groupbuy.community_id != community.id:  # type: ignore[attr-defined]
        return Joined(ELSEWHERE, groupbuy)
    participants = await participant_ids(groupbuy.id)
    if member.id in participants:
        return Joined(ALREADY, groupbuy, participants)
    delivery_date = delivery_of(groupbuy)
    taken = await take(product, delivery_date, ONE)
    if taken.granted < ONE:
        return Joined(SOLD_OUT, groupbuy, participants)
    await GroupBuyParticipant.create(groupbuy=groupbuy, member=member, community=community, joined_at=now)
    participants.append(member.id)
    if len(participants) < groupbuy.size:
        last_place = len(participants) == groupbuy.size - 1 and not groupbuy.progress_shown
        if last_place:
            groupbuy.progress_shown = True
            await groupbuy.save(update_fields=["progress_shown"])
        return Joined(JOINED, groupbuy, participants, last_place=last_place, sold_out_now=taken.sold_out_now)
    groupbuy.state, groupbuy.closed_at = "success", now
    await groupbuy.save(update_fields=["state", "closed_at"])
    orders = await _orders_for(groupbuy, delivery_date, now)
    return Joined(SUCCESS, groupbuy, participants, orders, sold_out_now=taken.sold_out_now)


async def _orders_for(groupbuy: GroupBuy, delivery_date: date, now: datetime) -> list[int]:
    """One order per participant at the group price, for the group they joined in."""
    orders = []
    for participant in await GroupBuyParticipant.filter(groupbuy=groupbuy).order_by("id"):
        order = await Order.create(
            member_id=participant.member_id, community_id=participant.community_id,  # type: ignore[attr-defined]
            delivery_date=delivery_date, groupbuy_no=groupbuy.id, status="placed",
            created_at=now, updated_at=now,
        )
        await OrderLine.create(order=order, sku=groupbuy.sku, name=groupbuy.name, unit=groupbuy.unit,
                               price=groupbuy.price, qty=ONE, note=f"拼团#{groupbuy.id}", updated_at=now)
        orders.append(order.id)
    return orders


@dataclass(frozen=True)
class Closed:
    groupbuy: GroupBuy
    was: str  # the state before
    participants: list[str]
    orders: list[int]  # orders cancelled with it


async def cancel_groupbuy(groupbuy_id: int, now: datetime) -> Closed | None:
    """Staff cancel an open or successful group-buy: its orders are cancelled, its stock given
    back. None if there is no such group-buy; `was` says if it had ended already."""
    groupbuy = await GroupBuy.filter(id=groupbuy_id).select_for_update().first()
    if groupbuy is None:
        return None
    was = groupbuy.state
    participants = await participant_ids(groupbuy.id)
    if was not in ("open", "success"):
        return Closed(groupbuy, was, participants, [])
    groupbuy.state, groupbuy.closed_at = "cancelled", now
    await groupbuy.save(update_fields=["state", "closed_at"])
    orders = cast(list[int], await Order.filter(groupbuy_no=groupbuy.id, status="placed")
                  .values_list("id", flat=True))
    await Order.filter(id__in=orders).update(status="cancelled", updated_at=now)
    await _give_back(groupbuy, len(participants))
    return Closed(groupbuy, was, participants, orders)


async def fail_expired(now: datetime) -> list[Closed]:
    """Open group-buys past their deadline fail: one guarded UPDATE each decides, so two
    sweeps at once fail (and announce) a group-buy once."""
    failed = []
    for groupbuy in await GroupBuy.filter(state="open", deadline__lte=now).order_by("id"):
        if not await GroupBuy.filter(id=groupbuy.id, state="open").update(state="failed", closed_at=now):
            continue  # another sweep had it
        participants = await participant_ids(groupbuy.id)
        await _give_back(groupbuy, len(participants))
        failed.append(Closed(groupbuy, "open", participants, []))
    return failed


async def _give_back(groupbuy: GroupBuy, units: int) -> None:
    if units and groupbuy.delivery_date is not None:
        await give_back(groupbuy.sku, groupbuy.delivery_date, ONE * units)


def delivery_of(groupbuy: GroupBuy) -> date:
    """The delivery date of a group-buy's orders (set when it opens)."""
    return groupbuy.delivery_date or groupbuy.created_at.date()


async def participant_ids(groupbuy_id: int) -> list[str]:
    return [str(m) for m in await GroupBuyParticipant.filter(groupbuy_id=groupbuy_id).order_by("id")
            .values_list("member_id", flat=True)]


async def participant_counts(groupbuy_ids: list[int]) -> dict[int, int]:
    """How many have joined each of these group-buys."""
    if not groupbuy_ids:
        return {}
    rows = await GroupBuyParticipant.filter(groupbuy_id__in=groupbuy_ids).group_by("groupbuy_id") \
        .annotate(n=Count("id")).values_list("groupbuy_id", "n")
    return {int(g): int(n) for g, n in rows}


async def open_for(community: Community | None, now: datetime) -> list[GroupBuy]:
    """Open group-buys a member of this community may join, oldest first."""
    query = GroupBuy.filter(state="open", deadline__gt=now)
    groupbuys = await query.order_by("id")
    return [g for g in groupbuys
            if g.community_id is None or (community is not None and g.community_id == community.id)]  # type: ignore[attr-defined]
