"""Segments by recency (docs/CONTRACTS.md section 8): days since a member's last order that
was not cancelled, on the shop's calendar, against `[segments] days`. Staff are not members to
win back and are left out. Read-only: one grouped query per table, whatever the shop's size."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, tzinfo
from decimal import Decimal

from tortoise.expressions import F
from tortoise.functions import Count, Max, Sum

from models.facts import local_date
from models.tables import Community, Member, MemberFact, Order, OrderLine

NEW, ACTIVE, SILENT, NEAR_DORMANT, DORMANT, LOST = "新成员", "活跃", "沉默", "濒临睡眠", "休眠", "流失"
SEGMENTS = (NEW, ACTIVE, SILENT, NEAR_DORMANT, DORMANT, LOST)
# Besides the recency segments: an active member past twice their own buying cycle (known
# from the nightly member facts, models.facts).
LAPSING = "快流失"
CHOOSABLE = (*SEGMENTS, LAPSING)
_BY_RECENCY = SEGMENTS[1:]


def segment_of(last_order: date | None, today: date, bounds: Sequence[int]) -> str:
    """新成员 without an order; else by the days since `last_order`: under bounds[0] 活跃, ..."""
    if last_order is None:
        return NEW
    return _BY_RECENCY[bisect_right(list(bounds), (today - last_order).days)]


@dataclass(frozen=True)
class Facts:
    member_id: str
    name: str
    community: str  # the member's home group's community ("" if none yet)
    last_order: date | None  # the shop's calendar date of the last order not cancelled
    orders: int
    spend: Decimal  # what those orders came to (out-of-stock lines not counted)
    segment: str
    lapsing: bool = False  # 活跃, but past twice their own buying cycle


async def member_facts(today: date, tz: tzinfo, bounds: Sequence[int], staff: Sequence[str] = (),
                       segment: str | None = None) -> list[Facts]:
    """Every member (not staff) with their segment; only one segment's when `segment` is given."""
    counted = Order.filter(status__not="cancelled")
    last: dict[str, tuple[date | None, int]] = {}
    for row in await counted.annotate(last=Max("created_at"), n=Count("id")).group_by("member_id").values(
            "member_id", "last", "n"):
        last[str(row["member_id"])] = (local_date(row["last"], tz) if row["last"] is not None else None, int(row["n"]))
    spend: dict[str, Decimal] = {}
    for row in await OrderLine.filter(order__status__not="cancelled", status__not="out_of_stock").annotate(
            amount=Sum(F("price") * F("qty"))).group_by("order__member_id").values("order__member_id", "amount"):
        spend[str(row["order__member_id"])] = Decimal(str(row["amount"] or 0)).quantize(Decimal("0.01"))
    names = dict(await Community.all().values_list("id", "name"))
    cycles = {str(m): c for m, c in await MemberFact.filter(cycle_days__isnull=False).values_list(
        "member_id", "cycle_days")}
    facts = []
    for member_id, name, home in await Member.all().order_by("id").values_list("id", "name", "home_id"):
        if member_id in staff:
            continue
        last_order, orders = last.get(str(member_id), (None, 0))
        which = segment_of(last_order, today, bounds)
        cycle = cycles.get(str(member_id))
        lapsing = (which == ACTIVE and last_order is not None and cycle is not None
                   and (today - last_order).days > 2 * cycle)
        if segment is not None and which != segment and not (segment == LAPSING and lapsing):
            continue
        facts.append(Facts(str(member_id), str(name), str(names.get(home, "")), last_order, orders,
                           spend.get(str(member_id), Decimal("0.00")), which, lapsing))
    return facts
