"""The growth funnel staff read: per group-buy and per inviter, reached -> joined -> succeeded
(or failed) -> orders and revenue. Read-only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import cast

from models.points import COUNTING, order_total
from models.tables import GroupBuy, GroupBuyParticipant, Member, Order, PointEntry, ReferralVisit


@dataclass(frozen=True)
class GroupBuyFigures:
    id: int
    name: str
    size: int
    state: str
    reached: int  # members (not staff) of the groups it was shown in
    joined: int
    orders: int
    revenue: Decimal
    opener: str = ""  # 主态: the member who opened it ("" when staff did)
    opener_name: str = ""
    joiners: int = 0  # 客态: the participants besides the opener
    brought: int = 0  # participants who had never ordered before they joined it: new customers
    brought_opener: bool = False  # the opener is one of them
    # Of those brought, how many ordered again within 30 and 90 days of its end, and whether
    # that window has passed.
    again_30: int = 0
    again_90: int = 0
    complete_30: bool = False
    complete_90: bool = False


async def _brought(groupbuy: GroupBuy) -> list[str]:
    """Its participants with no order (not cancelled, not of it) made by the time they joined."""
    new = []
    for member_id, joined_at in await GroupBuyParticipant.filter(groupbuy_id=groupbuy.id).order_by("id") \
            .values_list("member_id", "joined_at"):
        if not await Order.filter(member_id=member_id, status__not="cancelled", created_at__lte=joined_at) \
                .exclude(groupbuy_no=groupbuy.id).exists():
            new.append(str(member_id))
    return new


async def _again(members: list[str], groupbuy: GroupBuy, end: datetime, days: int) -> int:
    if not members:
        return 0
    again = await Order.filter(member_id__in=members, status__not="cancelled", created_at__gt=end,
                               created_at__lte=end + timedelta(days=days)).exclude(groupbuy_no=groupbuy.id) \
        .distinct().values_list("member_id", flat=True)
    return len(set(again))


async def groupbuy_figures(staff: tuple[str, ...], now: datetime, limit: int = 20) -> list[GroupBuyFigures]:
    """The latest group-buys, newest first. Staff are not counted as reached. Each splits its
    opener (主态, when a member opened it) from its joiners (客态) and follows the members it
    brought in: did they buy again within 30 and 90 days of its end?"""
    groupbuys = await GroupBuy.all().order_by("-id").limit(limit)
    members_by_home: dict[int | None, int] = defaultdict(int)
    for home in await Member.exclude(id__in=list(staff)).values_list("home_id", flat=True):
        members_by_home[home] += 1  # type: ignore[index]
    everyone = sum(members_by_home.values())
    figures = []
    for groupbuy in groupbuys:
        community = groupbuy.community_id  # type: ignore[attr-defined]
        orders = await Order.filter(groupbuy_no=groupbuy.id, status__in=COUNTING).values_list("id", flat=True)
        revenue = sum([await order_total(o) for o in cast(list[int], orders)], Decimal(0))
        participants = [str(m) for m in await GroupBuyParticipant.filter(groupbuy_id=groupbuy.id)
                        .values_list("member_id", flat=True)]
        opener = groupbuy.opened_by if groupbuy.opened_by not in staff else ""
        brought = await _brought(groupbuy)
        end = groupbuy.closed_at or groupbuy.deadline
        named = await Member.get_or_none(id=opener) if opener else None
        figures.append(GroupBuyFigures(
            groupbuy.id, groupbuy.name, groupbuy.size, groupbuy.state,
            everyone if community is None else members_by_home[community],
            len(participants), len(orders), revenue,
            opener=opener, opener_name=named.name if named else opener,
            joiners=len([m for m in participants if m != opener]), brought=len(brought),
            brought_opener=bool(opener) and opener in brought,
            again_30=await _again(brought, groupbuy, end, 30), again_90=await _again(brought, groupbuy, end, 90),
            complete_30=now >= end + timedelta(days=30), complete_90=now >= end + timedelta(days=90),
        ))
    return figures


@dataclass(frozen=True)
class InviterFigures:
    id: str
    name: str
    code: str
    reached: int  # visits of their link
    joined: int  # members attributed to them
    succeeded: int  # of those, members with an order
    failed: int  # of those, members without one (yet)
    orders: int  # orders of the members they brought
    revenue: Decimal
    points: int  # referral points they hold
    pending: int = 0  # members they brought whose first order is not delivered yet (reward to come)


async def inviter_figures(limit: int = 20) -> list[InviterFigures]:
    """Inviters with the most members brought first."""
    invited: dict[str, list[str]] = defaultdict(list)
    for member, referrer in await Member.filter(referrer_id__not_isnull=True).values_list("id", "referrer_id"):
        invited[str(referrer)].append(str(member))
    visits: dict[str, int] = defaultdict(int)
    for visitor_of in await ReferralVisit.all().values_list("inviter_id", flat=True):
        visits[str(visitor_of)] += 1
    inviters = await Member.filter(id__in=list(set(invited) | set(visits)))
    figures = []
    for inviter in inviters:
        brought = invited.get(inviter.id, [])
        orders = cast(list[tuple[int, str]], await Order.filter(member_id__in=brought, status__in=COUNTING)
                      .values_list("id", "member_id"))
        buyers = {str(m) for _, m in orders}
        revenue = sum([await order_total(int(o)) for o, _ in orders], Decimal(0))
        held: dict[str, int] = defaultdict(int)
        for source, delta in await PointEntry.filter(member_id=inviter.id, source__startswith="referral:") \
                .values_list("source", "delta"):
            held[str(source).removeprefix("referral:")] += int(delta)  # type: ignore[call-overload]
        delivered = {str(m) for m in await Order.filter(member_id__in=brought, status="delivered")
                     .values_list("member_id", flat=True)}
        figures.append(InviterFigures(inviter.id, inviter.name or inviter.id, inviter.code or "",
                                      visits.get(inviter.id, 0), len(brought), len(buyers),
                                      len(brought) - len(buyers), len(orders), revenue, sum(held.values()),
                                      len([m for m in buyers - delivered if not held.get(m)])))
    figures.sort(key=lambda f: (-f.joined, -f.reached, f.id))
    return figures[:limit]
