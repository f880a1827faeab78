"""Delivery finishes orders (docs/CONTRACTS.md section 7): `/送达 [小区]` marks the day's
placed orders delivered, as a 已送达 read back from the workbook does line by line. A delivered
order's coupon (and gift) is `used` and its points become available (models.points); what was
due on delivery is listed for the run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bot.core.protocols import Postbox
from models.contacts import Contacts, address_key
from models.points import Rewards
from models.rows import chunks
from models.tables import Coupon, Order, OrderLine, Settlement


@dataclass
class Delivered:
    orders: list[int] = field(default_factory=list)
    # (member name, address, due) of each delivered order with something left to pay
    dues: list[tuple[str, str, Decimal]] = field(default_factory=list)


async def deliver(delivery_date: date, community_id: int | None, rewards: Rewards, now: datetime,
                  outbox: Postbox | None = None) -> Delivered:
    """Mark the placed orders of `delivery_date` (of one community, or all) delivered."""
    query = Order.filter(delivery_date=delivery_date, status="placed")
    if community_id is not None:
        query = query.filter(community_id=community_id)
    ids: list[int] = sorted(await query.values_list("id", flat=True))  # type: ignore[arg-type]
    done = Delivered(ids)
    if not ids:
        return done
    for some in chunks(ids):
        await OrderLine.filter(order_id__in=some, status="placed").update(status="delivered", updated_at=now)
        await Order.filter(id__in=some).update(status="delivered", updated_at=now)
    await finish(ids, rewards, now, outbox)
    owed: list[Any] = []
    for some in chunks(ids):
        owed += await Settlement.filter(order_id__in=some, due__gt=0).values_list(
            "order_id", "order__member_id", "order__community_id", "order__member__name", "due")
    contacts = await Contacts.read(sorted({str(row[1]) for row in owed}))
    dues = [(order, str(name), contacts.of(member, community).address, Decimal(due))
            for order, member, community, name, due in owed]
    dues.sort(key=lambda d: (address_key(d[2]), d[0]))  # by building and room, then order
    done.dues.extend((name, address, due) for _, name, address, due in dues)
    return done


async def finish(order_ids: Iterable[int], rewards: Rewards, now: datetime, outbox: Postbox | None = None) -> None:
    """What these orders' delivery (or its undoing) means now: the coupons of those delivered
    are used, every order's points follow what it is (at the rate fixed at its delivery), and
    then members whose delivered spend reached a higher level take it (told through `outbox`)."""
    ids = sorted(set(order_ids))
    members: set[str] = set()
    for some in chunks(ids):
        delivered = await Order.filter(id__in=some, status="delivered").values_list("id", "member_id")
        await Coupon.filter(order_id__in=[int(i) for i, _ in delivered], state="reserved").update(state="used")
        members.update(str(m) for _, m in delivered)
    await rewards.settle(ids, now)
    for note in await rewards.levels.promote(sorted(members), now.astimezone(rewards.tz).date(), now):
        if outbox is not None:
            await outbox.put(note)
