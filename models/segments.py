"""Segments by recency (docs/CONTRACTS.md section 8): days since a member's last order that
was not cancelled, on the shop's calendar, against `[segments] days`; besides them 快流失 (an
active member past twice their own buying cycle) and 只看不买 (asked about a product in the last
`BROWSING_DAYS` days and ordered nothing since). Staff are not members to win back and are left
out. Read-only: the stored member facts (models.facts) for everyone, worked out afresh for the
members whose orders changed since they were stored."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from models.facts import PAGE, changed_since, compute, mark, stored_date
from models.rows import Statement
from models.tables import Community, MemberFact, ProductAsk

NEW, ACTIVE, SILENT, NEAR_DORMANT, DORMANT, LOST = "新成员", "活跃", "沉默", "濒临睡眠", "休眠", "流失"
SEGMENTS = (NEW, ACTIVE, SILENT, NEAR_DORMANT, DORMANT, LOST)
# Besides the recency segments, and overlapping them: an active member past twice their own
# buying cycle, and a member who asks about products without ordering.
LAPSING, BROWSING = "快流失", "只看不买"
CHOOSABLE = (*SEGMENTS, LAPSING, BROWSING)
BROWSING_DAYS = 30
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
    asked: tuple[str, ...] = ()  # products asked about since the last order (only 只看不买 members)
    cycle: Decimal | None = None  # the member's own buying cycle: median days between order dates

    @property
    def browsing(self) -> bool:
        return bool(self.asked)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class _Sql(Statement):
    """The few statements segments read with: dates compared in either dialect."""

    def day(self, value: date) -> str:
        return f"{self.mark(value)}::date" if self.postgres else self.mark(value.isoformat())

    def days_since(self, today: date) -> str:
        if self.postgres:
            return f"({self.mark(today)}::date - f.last_order_on)"
        return f"(julianday({self.mark(today.isoformat())}) - julianday(f.last_order_on))"


_MEMBERS = ("SELECT m.id AS id, m.name AS name, m.home_id AS home, f.last_order_on AS last_order, "
            "f.orders AS orders, f.spend AS spend, f.cycle_days AS cycle FROM member m "
            "LEFT JOIN member_fact f ON f.member_id = m.id")


def _window(sql: _Sql, segment: str, today: date, bounds: Sequence[int], asked: Sequence[str]) -> str:
    """Which stored rows may be of `segment` (the caller decides each exactly)."""
    if segment == NEW:
        return "f.last_order_on IS NULL"
    if segment == BROWSING:
        return f"m.id IN ({sql.marks(asked)})" if asked else "1 = 0"
    index = _BY_RECENCY.index(ACTIVE if segment == LAPSING else segment)
    edges = [0, *bounds]
    condition = f"f.last_order_on <= {sql.day(today - timedelta(days=edges[index]))}"
    if index + 1 < len(edges):
        condition += f" AND f.last_order_on > {sql.day(today - timedelta(days=edges[index + 1]))}"
    return condition


async def _asked(today: date) -> dict[str, dict[str, date]]:
    """Member -> product -> the latest day they asked about it, over the last BROWSING_DAYS."""
    asked: dict[str, dict[str, date]] = {}
    for member_id, sku, on in await ProductAsk.filter(asked_on__gt=today - timedelta(days=BROWSING_DAYS)) \
            .order_by("asked_on").values_list("member_id", "sku", "asked_on"):
        asked.setdefault(str(member_id), {})[str(sku)] = on  # type: ignore[assignment]
    return asked


@dataclass
class _Live:
    """The members whose orders changed after the stored facts: their facts worked out afresh."""
    ids: list[str]
    facts: dict[str, MemberFact]

    @classmethod
    async def read(cls, today: date, tz: tzinfo) -> _Live:
        now = datetime.combine(today, time(12), tzinfo=tz)
        changed = await changed_since(await mark())
        fresh: dict[str, MemberFact] = {}
        for start in range(0, len(changed), PAGE):
            fresh.update(await compute(now, tz, ids=changed[start:start + PAGE]))
        return cls(changed, fresh)

    def row(self, row: dict[str, Any]) -> dict[str, Any]:
        """A stored row with this member's live facts in place of the stored ones."""
        live = self.facts.get(str(row["id"]))
        if live is None:
            return {**row, "last_order": None, "orders": 0, "spend": 0, "cycle": None}
        return {**row, "last_order": live.last_order_on, "orders": live.orders, "spend": live.spend,
                "cycle": live.cycle_days}

    async def rows(self) -> list[dict[str, Any]]:
        found = []
        for start in range(0, len(self.ids), PAGE):
            sql = _Sql()
            found += await sql.rows(f"{_MEMBERS} WHERE m.id IN ({sql.marks(self.ids[start:start + PAGE])})")
        return found


def _lapsing(which: str, last_order: date | None, cycle: Decimal | None, today: date) -> bool:
    return (which == ACTIVE and last_order is not None and cycle is not None
            and (today - last_order).days > 2 * cycle)


async def member_facts(today: date, tz: tzinfo, bounds: Sequence[int], staff: Sequence[str] = (),
                       segment: str | None = None) -> list[Facts]:
    """Every member (not staff) with their segment; only one segment's when `segment` is given
    (read from the stored facts of that segment's dates, and the members whose orders changed)."""
    live = await _Live.read(today, tz)
    overlaid = set(live.ids)
    asks = await _asked(today)
    sql = _Sql()
    where = f" WHERE {_window(sql, segment, today, bounds, sorted(asks))}" if segment is not None else ""
    stored = [r for r in await sql.rows(_MEMBERS + where) if str(r["id"]) not in overlaid]
    rows = sorted([*stored, *(live.row(r) for r in await live.rows())], key=lambda r: str(r["id"]))
    names = dict(await Community.all().values_list("id", "name"))
    facts = []
    for row in rows:
        member_id = str(row["id"])
        if member_id in staff:
            continue
        last_order = stored_date(row["last_order"])
        which = segment_of(last_order, today, bounds)
        lapsing = _lapsing(which, last_order, _decimal(row["cycle"]), today)
        asked = tuple(sku for sku, on in asks.get(member_id, {}).items() if last_order is None or on > last_order)
        if segment is not None and which != segment and not (segment == LAPSING and lapsing) \
                and not (segment == BROWSING and asked):
            continue
        facts.append(Facts(member_id, str(row["name"]), str(names.get(row["home"], "")), last_order,
                           int(row["orders"] or 0), Decimal(str(row["spend"] or 0)).quantize(Decimal("0.01")),
                           which, lapsing, asked, _decimal(row["cycle"])))
    return facts


@dataclass
class Census:
    """/分层's counts: members per segment, in all and per community, and the overlapping two."""
    total: Counter[str] = field(default_factory=Counter)
    by_community: dict[str, Counter[str]] = field(default_factory=dict)
    lapsing: int = 0
    browsing: int = 0

    @property
    def members(self) -> int:
        return sum(self.total.values())

    def add(self, community: str, segment: str, count: int) -> None:
        self.total[segment] += count
        self.by_community.setdefault(community, Counter())[segment] += count


async def census(today: date, tz: tzinfo, bounds: Sequence[int], staff: Sequence[str] = ()) -> Census:
    """How many members each segment holds: grouped by the database over the stored facts (one
    row per community and last-order date), corrected for staff and for the members whose
    orders changed since."""
    names = {k: str(v) for k, v in await Community.all().values_list("id", "name")}
    sql = _Sql()
    since = sql.days_since(today)
    grouped = await sql.rows(
        f"SELECT m.home_id AS home, f.last_order_on AS last_order, COUNT(*) AS n, "
        f"SUM(CASE WHEN f.cycle_days IS NOT NULL AND {since} > 2 * f.cycle_days THEN 1 ELSE 0 END) AS lapsing "
        f"FROM member m LEFT JOIN member_fact f ON f.member_id = m.id GROUP BY m.home_id, f.last_order_on")
    counted = Census()
    for row in grouped:
        last_order = stored_date(row["last_order"])
        which = segment_of(last_order, today, bounds)
        counted.add(names.get(row["home"], ""), which, int(row["n"]))
        if which == ACTIVE:
            counted.lapsing += int(row["lapsing"] or 0)
    live = await _Live.read(today, tz)
    asks = await _asked(today)
    # Take out what the grouping counted for staff, for members whose facts changed and for
    # those who asked about products; count them again one by one.
    apart = sorted({*staff, *live.ids, *asks})
    overlaid = set(live.ids)
    for start in range(0, len(apart), PAGE):
        sql = _Sql()
        for row in await sql.rows(f"{_MEMBERS} WHERE m.id IN ({sql.marks(apart[start:start + PAGE])})"):
            member_id, community = str(row["id"]), names.get(row["home"], "")
            last_order, cycle = stored_date(row["last_order"]), _decimal(row["cycle"])
            which = segment_of(last_order, today, bounds)
            counted.add(community, which, -1)
            counted.lapsing -= _lapsing(which, last_order, cycle, today)
            if member_id in staff:
                continue
            if member_id in overlaid:
                row = live.row(row)
                last_order, cycle = stored_date(row["last_order"]), _decimal(row["cycle"])
                which = segment_of(last_order, today, bounds)
            counted.add(community, which, 1)
            counted.lapsing += _lapsing(which, last_order, cycle, today)
            counted.browsing += any(last_order is None or on > last_order for on in asks.get(member_id, {}).values())
    for counts in counted.by_community.values():
        counts -= Counter()  # drop the zeros the corrections left
    counted.by_community = {name: counts for name, counts in counted.by_community.items() if counts}
    return counted
