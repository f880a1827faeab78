"""Member facts (issue 17's segments): each member's last order, number of orders, spend (in
all and over the last 90 days) and their own buying cycle (the median of the days between
their order dates), on the shop's calendar.

They are kept current two ways. A nightly sweep rewrites every member's, a page of members at
a time, so memory stays flat whatever the shop's size; a sweep every minute rewrites those of
the members whose orders changed since (orders.updated_at is indexed). Either leaves a *mark*:
the latest order change it has counted. What reads facts (models.segments) takes the stored
facts for everyone and works out afresh the few members whose orders changed after the mark, so
a reply is exact even between sweeps, and costs a page of members rather than every order.

The figures come from grouped SQL: order dates on the shop's calendar are worked out by the
database (PostgreSQL: AT TIME ZONE; SQLite: the zone's offset, when it has only one), and spend
is summed there. Only a zone with daylight saving on SQLite falls back to reading each order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from statistics import median
from typing import Any

from tortoise.exceptions import IntegrityError

from models.db import transaction
from models.rows import Statement, chunks
from models.tables import JobRun, Member, MemberFact, Order, ProductAsk

PAGE = 5000  # members per page
SPEND_DAYS = 90
MARK = "member_facts_mark"  # JobRun rows: due_at is the latest order change the facts count
OVERLAP = timedelta(minutes=5)  # an order written just before a mark may commit just after it
CENT = Decimal("0.01")


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


def _fixed_offset(tz: tzinfo, now: datetime) -> int | None:
    """The zone's offset in minutes if it kept one over the last three years (no daylight saving)."""
    offsets = {tz.utcoffset(now - timedelta(days=d)) for d in range(0, 3 * 366, 15)}
    if len(offsets) != 1 or None in offsets:
        return None
    offset = offsets.pop()
    assert offset is not None
    return int(offset.total_seconds() // 60)


class _Query(Statement):
    """SQL for the facts of a set of members: a range of ids (the nightly pages) or a list."""

    def __init__(self, tz: tzinfo, now: datetime) -> None:
        super().__init__()
        self.tz = tz
        self.offset = None if self.postgres else _fixed_offset(tz, now)

    def members(self, column: str, first: str | None = None, last: str | None = None,
                ids: Sequence[str] = ()) -> str:
        if ids:
            return f"{column} IN ({self.marks(ids)})"
        return f"{column} BETWEEN {self.mark(first)} AND {self.mark(last)}"

    def day(self, column: str) -> str | None:
        if self.postgres:
            return f"({column} AT TIME ZONE {self.mark(getattr(self.tz, 'key', 'UTC'))})::date"
        if self.offset is not None:
            return f"date({column}, '{self.offset:+d} minutes')"
        return None

    def since(self, column: str, moment: datetime) -> str:
        if self.postgres:
            return f"{column} >= {self.mark(moment)}"
        return f"julianday({column}) >= julianday({self.mark(moment.astimezone(UTC).isoformat(' '))})"


def stored_date(value: Any) -> date | None:
    """A date column as read raw (SQLite gives text); None stays None."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def money_of(value: Any) -> Decimal:
    """A sum read raw (SQLite gives a float or text; None for no rows) in cents."""
    return Decimal(str(value or 0)).quantize(CENT)


async def compute(now: datetime, tz: tzinfo, ids: Sequence[str] = (), first: str | None = None,
                  last: str | None = None) -> dict[str, MemberFact]:
    """The facts (unsaved) of the members `ids`, or of those from `first` to `last`, as of `now`;
    a member without an order has none here."""
    if not ids and first is None:
        return {}
    today = now.astimezone(tz).date()
    since = datetime.combine(today - timedelta(days=SPEND_DAYS), datetime.min.time(), tzinfo=tz)
    query = _Query(tz, now)
    counts: dict[str, dict[date, int]] = defaultdict(dict)
    day = query.day("created_at")
    where = query.members("member_id", first, last, ids)
    if day is not None:
        sql = (f"SELECT member_id, {day} AS day, COUNT(*) AS n FROM orders "
               f"WHERE {where} AND status <> 'cancelled' GROUP BY member_id, day")
        for row in await query.rows(sql):
            day_on = stored_date(row["day"])
            assert day_on is not None  # grouped on orders' times, which are never null
            counts[str(row["member_id"])][day_on] = int(row["n"])
    else:
        sql = f"SELECT member_id, created_at FROM orders WHERE {where} AND status <> 'cancelled'"
        for row in await query.rows(sql):
            on = local_date(row["created_at"], tz)
            member = counts[str(row["member_id"])]
            member[on] = member.get(on, 0) + 1
    amount = "l.price * l.qty"
    recent = query.since("o.created_at", since)
    where = query.members("o.member_id", first, last, ids)
    spend: dict[str, tuple[Decimal, Decimal]] = {}
    for row in await query.rows(
            f"SELECT o.member_id AS member_id, SUM({amount}) AS spend, "
            f"SUM(CASE WHEN {recent} THEN {amount} ELSE 0 END) AS recent "
            f"FROM order_line l JOIN orders o ON o.id = l.order_id "
            f"WHERE {where} AND o.status <> 'cancelled' AND l.status <> 'out_of_stock' GROUP BY o.member_id"):
        spend[str(row["member_id"])] = (money_of(row["spend"]), money_of(row["recent"]))
    facts = {}
    for member_id, days in counts.items():
        total, last_90 = spend.get(member_id, (Decimal("0.00"), Decimal("0.00")))
        facts[member_id] = MemberFact(
            member_id=member_id, last_order_on=max(days), orders=sum(days.values()), spend=total,
            spend_90d=last_90, cycle_days=cycle_of(list(days)), updated_at=now)
    return facts


async def _write(page: Sequence[str], facts: dict[str, MemberFact], now: datetime) -> None:
    await MemberFact.filter(member_id__in=list(page)).delete()
    await MemberFact.bulk_create([
        facts.get(m) or MemberFact(member_id=m, last_order_on=None, orders=0, spend=Decimal("0.00"),
                                   spend_90d=Decimal("0.00"), cycle_days=None, updated_at=now)
        for m in page])


async def latest_change() -> datetime | None:
    latest = await Order.all().order_by("-updated_at").first()
    return latest.updated_at if latest is not None else None


async def mark(job: str = MARK) -> datetime | None:
    """The latest order change the stored facts count (None: never refreshed); another `job`
    keeps its own mark the same way (models.dashboard's kept day figures)."""
    row = await JobRun.filter(job=job).order_by("-due_at").first()
    return row.due_at if row is not None else None


async def set_mark(to: datetime | None, now: datetime, job: str = MARK) -> None:
    if to is None:
        return
    try:
        async with transaction():  # a savepoint: PostgreSQL would abort the caller's transaction
            await JobRun.create(job=job, due_at=to, ran_at=now)
    except IntegrityError:
        pass  # another process counted up to the same change
    await JobRun.filter(job=job, due_at__lt=to).delete()


async def refresh_facts(now: datetime, tz: tzinfo) -> int:
    """Rewrite every member's facts; how many members."""
    latest = await latest_change()  # first: a change made while the pages are written is after it
    ids = [str(m) for m in await Member.all().order_by("id").values_list("id", flat=True)]
    for start in range(0, len(ids), PAGE):
        page = ids[start:start + PAGE]
        await _write(page, await compute(now, tz, first=page[0], last=page[-1]), now)
    await set_mark(latest, now)
    return len(ids)


async def changed_since(moment: datetime | None) -> list[str]:
    """Members with an order changed after `moment` (less the overlap); everyone who ever
    ordered when the facts were never refreshed."""
    orders = Order.all() if moment is None else Order.filter(updated_at__gt=moment - OVERLAP)
    # Not DISTINCT: SQLite would then walk the whole member index for it rather than seek
    # the changed orders by updated_at (a year of orders: 1.4 s instead of a millisecond).
    return sorted({str(m) for m in await orders.values_list("member_id", flat=True)})


async def facts_of(ids: Sequence[str], now: datetime, tz: tzinfo) -> dict[str, MemberFact]:
    """The facts of these members as of `now` (those who never ordered have none): the stored
    ones, and afresh for those whose orders changed after the mark, so a report is exact
    between sweeps and reads a page of facts rather than every order the members ever made."""
    wanted = set(ids)
    changed = [m for m in await changed_since(await mark()) if m in wanted]
    found: dict[str, MemberFact] = {}
    for page in chunks(sorted(wanted.difference(changed))):
        found.update((f.member_id, f) for f in await MemberFact.filter(member_id__in=page, orders__gt=0))
    for start in range(0, len(changed), PAGE):
        found.update(await compute(now, tz, ids=changed[start:start + PAGE]))
    return found


async def next_facts_due(config: Any) -> datetime | None:
    """When the minute sweep has facts to rewrite: the first order change after the mark."""
    since = await mark()
    if since is None:
        return None  # never refreshed: the nightly sweep writes them all
    first = await Order.filter(updated_at__gt=since).order_by("updated_at").first()
    return first.updated_at if first is not None else None


async def refresh_changed(now: datetime, tz: tzinfo) -> int:
    """Rewrite the facts of the members whose orders changed after the mark; how many."""
    since = await mark()
    if since is None:
        return 0
    latest = await latest_change()
    members = await changed_since(since)
    for start in range(0, len(members), PAGE):
        page = members[start:start + PAGE]
        await _write(page, await compute(now, tz, ids=page), now)
    await set_mark(latest, now)
    return len(members)


async def note_asks(member_id: str, skus: Sequence[str], at: datetime, tz: tzinfo) -> None:
    """A member asked about these products (once a day each counts)."""
    on = at.astimezone(tz).date()
    for sku in dict.fromkeys(skus):
        await ProductAsk.get_or_create(member_id=member_id, sku=sku, asked_on=on, defaults={"asked_at": at})
