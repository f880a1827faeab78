"""The figures of the staff dashboard (bot/web/dashboard.py draws them). Read-only, but for the
kept per-day figures and the nightly segment counts.

- *today*: the orders being taken now (the delivery date of today's ordering), in all, per
  community and per product, with the stock left, against yesterday's ordering at the same
  time of day and in all.
- *days*: orders, households and revenue per delivery date. A past day's figures are kept
  (`day_figure`) and worked out again only when one of its orders changes: the orders'
  `updated_at`, indexed, says which, since the latest change the kept figures count (the same
  mark the member facts use, models.facts). So a year of orders costs what its last days do.
- *members*: segment sizes now and as the nightly counts kept them, points, stored value and
  coupons outstanding, members per level.

Revenue is the goods' worth: lines not out of stock of orders placed or delivered, before any
coupon (what the coupon took is in the campaigns' costs).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.core.config import Config
from models.catalog import Offer
from models.facts import OVERLAP, latest_change, mark, money_of, set_mark, stored_date
from models.rows import Statement, insert_ignoring
from models.segments import Census
from models.stock import stock_left
from models.tables import Community, DayFigure, Order, SegmentDay
from models.days import current_window, delivery_date_for

DAY_CHOICES = (30, 90)  # the days page shows the last 30 or 90 delivery dates
COUNTED = "o.status IN ('placed', 'delivered') AND l.status <> 'out_of_stock'"
MARK = "day_figures_mark"  # JobRun rows: due_at is the latest order change the kept figures count


@dataclass(frozen=True)
class Totals:
    orders: int = 0
    households: int = 0
    revenue: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class CommunityDay:
    name: str
    totals: Totals
    yesterday: Totals  # the same community, yesterday's ordering by this time of day


@dataclass(frozen=True)
class ProductDay:
    sku: str
    name: str
    unit: str
    qty: Decimal
    revenue: Decimal
    orders: int
    stock: Decimal | None  # the limit (None: not limited)
    left: Decimal | None


@dataclass(frozen=True)
class Today:
    order_date: date
    delivery_date: date
    open: bool
    closes_at: datetime
    opens_at: datetime
    totals: Totals
    yesterday_so_far: Totals  # yesterday's ordering, orders made by this time of day
    yesterday: Totals  # yesterday's ordering in all
    communities: list[CommunityDay]
    products: list[ProductDay]

    def minutes_left(self, now: datetime) -> int | None:
        return max(0, int((self.closes_at - now).total_seconds() // 60)) if self.open else None


class _Sql(Statement):
    def dates(self, column: str, days: Sequence[date]) -> str:
        return f"{column} IN ({self.marks(list(days))})"


Parts = dict[int, tuple[Totals, set[str]]]  # per community: totals and the households (member ids)


async def _by_community(delivery: date, made_by: datetime | None = None) -> tuple[Parts, Parts]:
    """One delivery date's orders per community: all of them, and those made by `made_by`
    (when given; else none), in one read."""
    sql = _Sql()
    early = f"CASE WHEN o.created_at <= {sql.mark(made_by)} THEN 1 ELSE 0 END" if made_by is not None else "0"
    rows = await sql.rows(
        f"SELECT o.community_id AS community, o.member_id AS member, {early} AS early, "
        f"COUNT(DISTINCT o.id) AS orders, SUM(l.price * l.qty) AS revenue "
        f"FROM orders o JOIN order_line l ON l.order_id = o.id "
        f"WHERE o.delivery_date = {sql.mark(delivery)} AND {COUNTED} GROUP BY o.community_id, o.member_id, early")
    every: dict[int, list[Any]] = defaultdict(lambda: [0, Decimal(0), set()])
    first: dict[int, list[Any]] = defaultdict(lambda: [0, Decimal(0), set()])
    for row in rows:
        for grouped in (every, first) if int(row["early"]) else (every,):
            entry = grouped[int(row["community"])]
            entry[0] += int(row["orders"])
            entry[1] += Decimal(str(row["revenue"] or 0))
            entry[2].add(str(row["member"]))

    def parts(grouped: dict[int, list[Any]]) -> Parts:
        return {k: (Totals(n, len(members), money_of(revenue)), members) for k, (n, revenue, members) in grouped.items()}

    return parts(every), parts(first)


def _sum(parts: Sequence[tuple[Totals, set[str]]]) -> Totals:
    households: set[str] = set()
    for _, members in parts:
        households |= members
    return Totals(sum(t.orders for t, _ in parts), len(households),
                  sum((t.revenue for t, _ in parts), Decimal("0.00")))


async def today(now: datetime, config: Config, offer: Offer) -> Today:
    window = await current_window(now, config.schedule, config.timezone)
    delivery = window.delivery_date
    before = delivery_date_for(window.order_date - timedelta(days=1), config.schedule)
    now_parts, _ = await _by_community(delivery)
    all_before, so_far = await _by_community(before, now - timedelta(days=1))
    names = dict(await Community.all().order_by("id").values_list("id", "name"))
    communities = [CommunityDay(str(names.get(k, k)), now_parts.get(k, (Totals(), set()))[0],
                                so_far.get(k, (Totals(), set()))[0])
                   for k in sorted(set(now_parts) | set(so_far), key=lambda k: (-now_parts.get(k, (Totals(),))[0].revenue, k))]
    sql = _Sql()
    rows = await sql.rows(
        f"SELECT l.sku AS sku, MAX(l.name) AS name, MAX(l.unit) AS unit, SUM(l.qty) AS qty, "
        f"SUM(l.price * l.qty) AS revenue, COUNT(DISTINCT o.id) AS orders FROM orders o "
        f"JOIN order_line l ON l.order_id = o.id WHERE o.delivery_date = {sql.mark(delivery)} AND {COUNTED} "
        f"GROUP BY l.sku")
    left = await stock_left(offer, delivery)
    sold = {str(r["sku"]): r for r in rows}
    products = []
    for product in offer.products:  # the offer's products first, in its order, sold or not
        row = sold.pop(product.sku, None)
        products.append(ProductDay(product.sku, product.name, product.unit,
                                   Decimal(str(row["qty"])).normalize() if row else Decimal(0),
                                   money_of(row["revenue"]) if row else Decimal("0.00"),
                                   int(row["orders"]) if row else 0, product.stock, left.get(product.sku)))
    for sku, row in sold.items():  # sold but no longer offered (a group-buy's product, a change of catalog)
        products.append(ProductDay(sku, str(row["name"]), str(row["unit"]), Decimal(str(row["qty"])).normalize(),
                                   money_of(row["revenue"]), int(row["orders"]), None, None))
    return Today(window.order_date, delivery, window.open, window.closes_at, window.opens_at,
                 _sum(list(now_parts.values())), _sum(list(so_far.values())), _sum(list(all_before.values())),
                 communities, products)


# -- days -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Day:
    delivery_date: date
    totals: Totals


async def _compute(days: Sequence[date]) -> dict[date, Totals]:
    figures: dict[date, Totals] = {}
    for start in range(0, len(days), 200):
        sql = _Sql()
        for row in await sql.rows(
                f"SELECT o.delivery_date AS day, COUNT(DISTINCT o.id) AS orders, "
                f"COUNT(DISTINCT o.member_id) AS households, SUM(l.price * l.qty) AS revenue "
                f"FROM orders o JOIN order_line l ON l.order_id = o.id "
                f"WHERE {sql.dates('o.delivery_date', days[start:start + 200])} AND {COUNTED} GROUP BY o.delivery_date"):
            on = stored_date(row["day"])
            assert on is not None
            figures[on] = Totals(int(row["orders"]), int(row["households"]), money_of(row["revenue"]))
    return figures


async def days(first: date, last: date, now: datetime) -> list[Day]:
    """Each delivery date from `first` to `last` in figures, oldest first (a day without orders
    too): kept figures where no order of theirs changed since, the rest worked out and kept."""
    latest = await latest_change()  # first: a change made while this reads is after it
    since = await mark(MARK)
    if since is None:
        await DayFigure.all().delete()
    else:
        # (not DISTINCT: SQLite would walk the whole delivery-date index instead of seeking the changes)
        changed = await Order.filter(updated_at__gt=since - OVERLAP).values_list("delivery_date", flat=True)
        if changed:
            await DayFigure.filter(delivery_date__in=list(set(changed))).delete()
    kept = {row.delivery_date: Totals(row.orders, row.households, row.revenue)
            for row in await DayFigure.filter(delivery_date__gte=first, delivery_date__lte=last)}
    wanted = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    missing = [d for d in wanted if d not in kept]
    if missing:
        computed = await _compute(missing)
        fresh = {d: computed.get(d, Totals()) for d in missing}
        await insert_ignoring(DayFigure, ("delivery_date", "orders", "households", "revenue", "computed_at"),
                              [(d, t.orders, t.households, t.revenue, now) for d, t in fresh.items()])
        kept.update(fresh)
    if latest is not None and latest != since:
        await set_mark(latest, now, MARK)
    return [Day(d, kept[d]) for d in wanted]


# -- members ----------------------------------------------------------------------------------

async def keep_census(day: date, counted: Census) -> None:
    """The night's segment counts, in all and per community (once a day: a second run keeps the first)."""
    rows = [(day, segment, "", n) for segment, n in counted.total.items()]
    rows += [(day, segment, community, n) for community, counts in counted.by_community.items()
             for segment, n in counts.items()]
    await insert_ignoring(SegmentDay, ("day", "segment", "community", "members"), rows)


async def census_on(day: date) -> dict[str, int] | None:
    """The segment counts kept for that day (or the nearest day before it in the week before);
    None if none were."""
    found = await SegmentDay.filter(day__lte=day, day__gt=day - timedelta(days=7), community="") \
        .order_by("-day").first()
    if found is None:
        return None
    return dict(await SegmentDay.filter(day=found.day, community="").values_list("segment", "members"))


@dataclass(frozen=True)
class Balances:
    points: int
    points_members: int
    wallet_principal: Decimal
    wallet_bonus: Decimal
    wallet_members: int
    coupons: int
    coupons_off: Decimal
    coupons_expiring: int  # of those, expiring within the week
    levels: dict[int, int] = field(default_factory=dict)  # members per level


async def balances(now: datetime, staff: Sequence[str]) -> Balances:
    """What the shop owes its members: points, stored value and coupons not yet used."""
    sql = _Sql()
    outside = f"id NOT IN ({sql.marks(list(staff))})" if staff else "1 = 1"
    row = (await sql.rows(
        f"SELECT SUM(points) AS points, SUM(CASE WHEN points > 0 THEN 1 ELSE 0 END) AS points_members, "
        f"SUM(wallet_principal) AS principal, SUM(wallet_bonus) AS bonus, "
        f"SUM(CASE WHEN wallet_principal + wallet_bonus > 0 THEN 1 ELSE 0 END) AS wallet_members "
        f"FROM member WHERE {outside}"))[0]
    sql = _Sql()
    coupons = (await sql.rows(
        f"SELECT COUNT(*) AS n, SUM(off) AS off, SUM(CASE WHEN expires_at <= {sql.mark(now + timedelta(days=7))} "
        f"THEN 1 ELSE 0 END) AS expiring FROM coupon WHERE state = 'unused' AND expires_at > {sql.mark(now)}"))[0]
    levels = await _levels(staff)
    return Balances(int(row["points"] or 0), int(row["points_members"] or 0), money_of(row["principal"]),
                    money_of(row["bonus"]), int(row["wallet_members"] or 0), int(coupons["n"] or 0),
                    money_of(coupons["off"]), int(coupons["expiring"] or 0), levels)


async def _levels(staff: Sequence[str]) -> dict[int, int]:
    sql = _Sql()
    outside = f"WHERE id NOT IN ({sql.marks(list(staff))})" if staff else ""
    return {int(r["level"]): int(r["n"]) for r in await sql.rows(
        f"SELECT level, COUNT(*) AS n FROM member {outside} GROUP BY level ORDER BY level")}


def day_range(last: date, count: int) -> tuple[date, date]:
    return last - timedelta(days=count - 1), last
