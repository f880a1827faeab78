"""Member facts (issue 17's segments): each member's last order, number of orders, spend over
the last 90 days and their own buying cycle (the median of the days between their order
dates), on the shop's calendar. A nightly sweep rewrites them a page of members at a time, so
memory stays flat whatever the shop's size; segments read them (快流失: past twice one's own
cycle) instead of every order."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from statistics import median

from models.rows import select_in
from models.tables import Member, MemberFact, Order, OrderLine

PAGE = 5000  # members per page
SPEND_DAYS = 90


def local_date(value: datetime | str, tz: tzinfo) -> date:
    """A stored time (SQLite may give it back as text) as a date on the shop's calendar."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(tz).date()


def cycle_of(days: list[date]) -> Decimal | None:
    """The median gap between distinct order dates; None with fewer than two."""
    distinct = sorted(set(days))
    if len(distinct) < 2:
        return None
    gaps = [(b - a).days for a, b in zip(distinct, distinct[1:])]
    return Decimal(str(median(gaps))).quantize(Decimal("0.1"))


async def refresh_facts(now: datetime, tz: tzinfo) -> int:
    """Rewrite every member's facts; how many members."""
    today = now.astimezone(tz).date()
    since = datetime.combine(today - timedelta(days=SPEND_DAYS), datetime.min.time(), tzinfo=tz)
    ids = [str(m) for m in await Member.all().order_by("id").values_list("id", flat=True)]
    for start in range(0, len(ids), PAGE):
        page = ids[start:start + PAGE]
        dates: dict[str, list[date]] = defaultdict(list)
        recent: dict[int, str] = {}
        for row in await select_in(Order, ("id", "member_id", "created_at", "status"), "member_id", page):
            if row["status"] == "cancelled":
                continue
            created = row["created_at"]
            dates[row["member_id"]].append(local_date(created, tz))
            if created >= since:
                recent[row["id"]] = row["member_id"]
        spend: dict[str, Decimal] = defaultdict(Decimal)
        orders = list(recent)
        for first in range(0, len(orders), PAGE):  # an IN list of at most PAGE values
            for row in await select_in(OrderLine, ("order_id", "price", "qty", "status"), "order_id",
                                       orders[first:first + PAGE]):
                if row["status"] != "out_of_stock":
                    spend[recent[row["order_id"]]] += Decimal(row["price"]) * Decimal(row["qty"])
        await MemberFact.filter(member_id__in=page).delete()
        await MemberFact.bulk_create([
            MemberFact(member_id=m, last_order_on=max(dates[m]) if dates[m] else None, orders=len(dates[m]),
                       spend_90d=spend[m].quantize(Decimal("0.01")), cycle_days=cycle_of(dates[m]), updated_at=now)
            for m in page])
    return len(ids)
