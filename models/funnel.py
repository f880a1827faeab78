"""The growth funnel staff read: per group-buy and per inviter, reached -> joined -> succeeded
(or failed) -> orders and revenue. Read-only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal

from models.facts import facts_of, money_of
from models.points import COUNTING, booked_many, with_delivered
from models.rows import Statement
from models.tables import GroupBuy, GroupBuyParticipant, Member, Order


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


async def groupbuy_figures(staff: tuple[str, ...], now: datetime, limit: int = 20) -> list[GroupBuyFigures]:
    """The latest group-buys, newest first. Staff are not counted as reached. Each splits its
    opener (主态, when a member opened it) from its joiners (客态) and follows the members it
    brought in: did they buy again within 30 and 90 days of its end? A few grouped reads for
    all of them, whatever the history."""
    groupbuys = await GroupBuy.all().order_by("-id").limit(limit)
    if not groupbuys:
        return []
    ids = [g.id for g in groupbuys]
    db = Statement()
    members_by_home: dict[int | None, int] = defaultdict(int)
    not_staff = f"WHERE id NOT IN ({db.marks(staff)})" if staff else ""
    for row in await db.rows(f"SELECT home_id, COUNT(*) AS n FROM member {not_staff} GROUP BY home_id"):
        members_by_home[row["home_id"]] += int(row["n"])
    everyone = sum(members_by_home.values())
    bought = {int(row["groupbuy_no"]): (int(row["orders"]), money_of(row["revenue"])) for row in await db.rows(
        "SELECT o.groupbuy_no AS groupbuy_no, COUNT(DISTINCT o.id) AS orders, "
        "SUM(CASE WHEN l.status <> 'out_of_stock' THEN l.price * l.qty ELSE 0 END) AS revenue "
        f"FROM orders o LEFT JOIN order_line l ON l.order_id = o.id WHERE o.groupbuy_no IN ({db.marks(ids)}) "
        f"AND o.status IN ({db.marks(COUNTING)}) GROUP BY o.groupbuy_no")}
    joined: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    for groupbuy_id, member_id, joined_at in await GroupBuyParticipant.filter(groupbuy_id__in=ids).order_by("id") \
            .values_list("groupbuy_id", "member_id", "joined_at"):
        joined[int(groupbuy_id)].append((str(member_id), joined_at))  # type: ignore[arg-type]
    # Every order (not cancelled) of the participants: whether each had ordered before joining,
    # and whether those it brought ordered again after its end (orders of the group-buy itself
    # do not count either way).
    people = sorted({m for rows in joined.values() for m, _ in rows})
    history: dict[str, list[tuple[int, datetime]]] = defaultdict(list)
    for member_id, groupbuy_no, created_at in await Order.filter(member_id__in=people, status__not="cancelled") \
            .values_list("member_id", "groupbuy_no", "created_at"):
        history[str(member_id)].append((int(groupbuy_no), created_at))  # type: ignore[call-overload, arg-type]
    openers = [g.opened_by for g in groupbuys if g.opened_by not in staff]
    names = {str(i): str(n) for i, n in await Member.filter(id__in=openers).values_list("id", "name")}
    figures = []
    for groupbuy in groupbuys:
        community = groupbuy.community_id  # type: ignore[attr-defined]
        participants = [m for m, _ in joined[groupbuy.id]]
        brought = [m for m, at in joined[groupbuy.id]
                   if not any(no != groupbuy.id and made <= at for no, made in history[m])]
        end = groupbuy.closed_at or groupbuy.deadline

        def again(days: int) -> int:
            return len([m for m in brought if any(no != groupbuy.id and end < made <= end + timedelta(days=days)
                                                  for no, made in history[m])])

        opener = groupbuy.opened_by if groupbuy.opened_by not in staff else ""
        orders, revenue = bought.get(groupbuy.id, (0, Decimal("0.00")))
        figures.append(GroupBuyFigures(
            groupbuy.id, groupbuy.name, groupbuy.size, groupbuy.state,
            everyone if community is None else members_by_home[community],
            len(participants), orders, revenue,
            opener=opener, opener_name=names.get(opener, opener),
            joiners=len([m for m in participants if m != opener]), brought=len(brought),
            brought_opener=bool(opener) and opener in brought,
            again_30=again(30), again_90=again(90),
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


# All-time figures of the members inviters brought, a few grouped reads whatever the history:
# their orders and revenue are their member facts (models.facts), kept by the nightly and the
# minute's sweeps (a query per inviter and per order took minutes on a year of orders; a join
# of every order they ever made, a second).
_INVITERS = "SELECT referrer_id FROM member WHERE referrer_id IS NOT NULL UNION SELECT inviter_id FROM referral_visit"


async def inviter_figures(now: datetime, tz: tzinfo, limit: int = 20) -> list[InviterFigures]:
    """Inviters with the most members brought first."""
    db = Statement()
    invited: dict[str, list[str]] = defaultdict(list)
    for member, referrer in await Member.filter(referrer_id__not_isnull=True).values_list("id", "referrer_id"):
        invited[str(referrer)].append(str(member))
    visits = {str(row["inviter_id"]): int(row["n"]) for row in await db.rows(
        "SELECT inviter_id, COUNT(*) AS n FROM referral_visit GROUP BY inviter_id")}
    bought = await facts_of([m for ms in invited.values() for m in ms], now, tz)
    held: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # inviter -> member -> points
    rewards = await booked_many([(inviter, f"referral:{m}") for inviter, ms in invited.items() for m in ms])
    for (inviter, source), n in rewards.items():
        held[inviter][source.removeprefix("referral:")] += n
    rewarded = {m for points in held.values() for m, n in points.items() if n}
    unrewarded = sorted(set(bought) - rewarded)  # bought, no reward yet: nothing delivered yet?
    waiting = set(unrewarded) - await with_delivered(unrewarded)
    figures = []
    for row in await db.rows(f"SELECT id, name, code FROM member WHERE id IN ({_INVITERS})"):
        inviter = str(row["id"])
        brought = invited.get(inviter, [])
        buyers = [m for m in brought if m in bought]
        points = held.get(inviter, {})
        figures.append(InviterFigures(
            inviter, row["name"] or inviter, row["code"] or "", visits.get(inviter, 0), len(brought), len(buyers),
            len(brought) - len(buyers), sum(bought[m].orders for m in buyers),
            sum((money_of(bought[m].spend) for m in buyers), Decimal("0.00")), sum(points.values()),
            len([m for m in buyers if m in waiting and not points.get(m)])))
    figures.sort(key=lambda f: (-f.joined, -f.reached, f.id))
    return figures[:limit]
