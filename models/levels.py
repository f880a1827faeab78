"""Member levels and birthdays (issue 17).

A member's level comes from what they spent on delivered orders over the last `[levels] days`
(the lines not out of stock, less the coupon): the highest `[[level]]` whose `spend` they reach.
It goes up at once, when a delivery takes them over a bound (models.delivery.finish), and down
only at the end of a month: `[levels] remind_days` before it, a member whose spend counted for
that month's end falls short gets one 保级 reminder; at the month's end a member reminded and
still short drops to the level they do hold. A member never reminded (a level reached after
the reminders) keeps theirs until the next month's end.

A delivered order earns its points at a rate fixed the first time it is delivered (OrderRate):
the member's level multiplier then, times `[birthday] multiplier` when the delivery date falls
in the member's birth month, so settling it again (a 缺货 read back) gives the same points.
`生日 5月3日` sets a birthday; it can be changed once a year.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError

from bot.core.config import Level
from bot.core.messages import Outgoing
from models.db import transaction
from models.rows import Statement, chunks, insert_ignoring, select_in
from models.tables import LevelNotice, Member, Order, OrderRate

CENT = Decimal("0.01")
ONE = Decimal(1)
REMIND, DOWN, KEPT = "remind", "down", "kept"
BIRTHDAY_LOCK = timedelta(days=365)  # a birthday once set can be changed after this long


def level_of(spend: Decimal, levels: Sequence[Level]) -> int:
    """The highest level `spend` reaches (0: the first, everyone's)."""
    held = 0
    for number, level in enumerate(levels):
        if spend >= level.spend:
            held = number
    return held


def held(member_level: int, levels: Sequence[Level]) -> int:
    """A stored level as a position in today's [[level]] (the list may have grown shorter)."""
    return max(0, min(member_level, len(levels) - 1))


def level_name(member_level: int, levels: Sequence[Level]) -> str | None:
    """The name of a stored level (None: the shop has no levels)."""
    return levels[held(member_level, levels)].name if levels else None


def month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def born_in(birthday: str, day: date) -> bool:
    return bool(birthday) and birthday[:2] == f"{day.month:02d}"


def birthday_on(birthday: str, day: date) -> bool:
    """Whether `day` is the birthday "MM-DD" (29 February falls on the 28th in other years)."""
    if not birthday:
        return False
    if birthday == "02-29" and day.month == 2 and day.day == 28:
        return not _leap(day.year)
    return birthday == f"{day.month:02d}-{day.day:02d}"


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


CHUNK = 2000  # member ids per statement (far below either database's parameter limit)


async def delivered_spend(after: date, until: date, ids: Sequence[str] | None = None) -> dict[str, Decimal]:
    """Each member's spend on orders delivered for a date after `after`, up to `until`: the
    lines not out of stock, less the order's coupon. Only members with some are in it."""
    if ids is not None and len(ids) > CHUNK:
        spend: dict[str, Decimal] = {}
        for start in range(0, len(ids), CHUNK):
            spend.update(await delivered_spend(after, until, ids[start:start + CHUNK]))
        return spend
    if ids is not None and not ids:
        return {}
    sql = Statement()

    def day(value: date) -> str:
        return sql.mark(value if sql.postgres else value.isoformat())

    def where() -> str:  # the marks in the order the text has them
        dates = f"o.status = 'delivered' AND o.delivery_date > {day(after)} AND o.delivery_date <= {day(until)}"
        return dates + (f" AND o.member_id IN ({sql.marks(ids)})" if ids is not None else "")

    spend = {}
    for row in await sql.rows(
            "SELECT o.member_id AS member_id, SUM(l.price * l.qty) AS spend FROM order_line l "
            f"JOIN orders o ON o.id = l.order_id WHERE {where()} AND l.status <> 'out_of_stock' GROUP BY o.member_id"):
        spend[str(row["member_id"])] = Decimal(str(row["spend"] or 0))
    for row in await sql.rows(
            "SELECT o.member_id AS member_id, SUM(s.discount) AS discount FROM order_settlement s "
            f"JOIN orders o ON o.id = s.order_id WHERE {where()} GROUP BY o.member_id"):
        member = str(row["member_id"])
        if member in spend:
            spend[member] -= Decimal(str(row["discount"] or 0))
    return {m: max(s, Decimal(0)).quantize(CENT) for m, s in spend.items()}


@dataclass(frozen=True)
class Levels:
    """The shop's levels and birthday points, as Rewards (models.points) applies them."""

    levels: tuple[Level, ...] = ()
    days: int = 180
    remind_days: int = 7
    birthday_multiplier: Decimal = Decimal(2)

    def multiplier(self, level: int, birthday: str, delivery: date) -> tuple[Decimal, int, bool]:
        """(points multiplier, level, in the birth month) of an order delivered for `delivery`."""
        number = held(level, self.levels) if self.levels else 0
        rate = self.levels[number].multiplier if self.levels else ONE
        birth_month = born_in(birthday, delivery) and self.birthday_multiplier > 1
        return rate * (self.birthday_multiplier if birth_month else ONE), number, birth_month

    async def rates(self, orders: Sequence[Order], now: datetime) -> dict[int, Decimal]:
        """The multiplier each of these delivered orders earns at: fixed the first time it is
        asked (read, and fixed where new, together)."""
        ids = [int(o.id) for o in orders]
        found: dict[int, Decimal] = {}
        for page in chunks(ids):
            found.update((row["order_id"], row["multiplier"])
                         for row in await select_in(OrderRate, ("order_id", "multiplier"), "order_id", page))
        new = [o for o in orders if o.id not in found]
        people: dict[str, dict[str, Any]] = {}
        for some in chunks(sorted({str(o.member_id) for o in new})):  # type: ignore[attr-defined]
            people.update((str(row["id"]), row) for row in await select_in(Member, ("id", "level", "birthday"), "id", some))
        rows = []
        for order in new:
            member = people[str(order.member_id)]  # type: ignore[attr-defined]
            rate, number, birth_month = self.multiplier(member["level"], member["birthday"], order.delivery_date)
            rows.append((order.id, rate, number, birth_month, now))
        await insert_ignoring(OrderRate, ("order_id", "multiplier", "level", "birthday", "decided_at"), rows)
        for page in chunks([int(o.id) for o in new]):  # another process may have fixed some first
            found.update((row["order_id"], row["multiplier"])
                         for row in await select_in(OrderRate, ("order_id", "multiplier"), "order_id", page))
        return found

    def window(self, until: date) -> tuple[date, date]:
        return until - timedelta(days=self.days), until

    async def promote(self, member_ids: Sequence[str], today: date, now: datetime) -> list[Outgoing]:
        """Members whose delivered spend now reaches a higher level take it at once; a note to each."""
        if len(self.levels) < 2 or not member_ids:
            return []
        spend = await delivered_spend(*self.window(today), ids=sorted(set(member_ids)))
        notes = []
        for member_id, amount in sorted(spend.items()):
            target = level_of(amount, self.levels)
            if target and await Member.filter(id=member_id, level__lt=target).update(level=target, level_since=now):
                level = self.levels[target]
                notes.append(Outgoing(
                    f"🎉 恭喜您升级为{level.name}！近{self.days}天消费{amount:.2f}元，"
                    f"以后订单送达按{times(level.multiplier)}积分累计。发“我的等级”看看。", to=member_id))
        return notes

    async def remind(self, today: date, now: datetime) -> list[Outgoing]:
        """In the last `remind_days` of a month: one 保级 reminder to each member whose spend
        counted for the month's end falls short of their level."""
        end = month_end(today)
        if len(self.levels) < 2 or (end - today).days >= self.remind_days:
            return []
        members = await Member.filter(level__gt=0).order_by("id")
        spend = await delivered_spend(end - timedelta(days=self.days), today, ids=[m.id for m in members])
        notes = []
        for member in members:
            number = held(member.level, self.levels)
            level, counted = self.levels[number], spend.get(member.id, Decimal("0.00"))
            if number == 0 or counted >= level.spend or not await _claim(member.id, end, REMIND, now):
                continue
            notes.append(Outgoing(
                f"⏰ 保级提醒：您是{level.name}（积分{times(level.multiplier)}），{end.month}月{end.day}日按近{self.days}天"
                f"的消费重新评定。目前计入{counted:.2f}元，保级要{level.spend:.2f}元，"
                f"还差{level.spend - counted:.2f}元。", to=member.id))
        return notes

    async def review(self, today: date, now: datetime) -> list[Outgoing]:
        """After a month's end: each member reminded for it and still short drops to the level
        their spend over the window ending that day holds; once."""
        end = today.replace(day=1) - timedelta(days=1)
        if not self.levels:
            return []
        reminded = await LevelNotice.filter(period_end=end, kind=REMIND).values_list("member_id", "at")
        decided = set(await LevelNotice.filter(period_end=end, kind__in=[DOWN, KEPT]).values_list("member_id", flat=True))
        waiting = {str(m): at for m, at in reminded if m not in decided}
        if not waiting:
            return []
        spend = await delivered_spend(end - timedelta(days=self.days), end, ids=sorted(waiting))
        notes = []
        for member in await Member.filter(id__in=sorted(waiting)).order_by("id"):
            number = held(member.level, self.levels)
            target = level_of(spend.get(member.id, Decimal(0)), self.levels)
            upgraded_since = member.level_since is not None and member.level_since > waiting[member.id]
            if target >= number or upgraded_since:
                await _claim(member.id, end, KEPT, now)
                continue
            if not await _claim(member.id, end, DOWN, now):
                continue
            await Member.filter(id=member.id).update(level=target, level_since=now)
            level = self.levels[target]
            notes.append(Outgoing(
                f"您的会员等级调整为{level.name}（积分{times(level.multiplier)}）：近{self.days}天消费"
                f"{spend.get(member.id, Decimal(0)):.2f}元，不到{self.levels[number].spend:.2f}元。"
                f"消费满{self.levels[number].spend:.2f}元会马上升回{self.levels[number].name}。", to=member.id))
        return notes


def times(multiplier: Decimal) -> str:
    """A points multiplier as members read it: 1.5倍, 2倍."""
    return f"{multiplier.normalize():f}倍"


async def _claim(member_id: str, end: date, kind: str, now: datetime) -> bool:
    """Record a notice once; False if it was recorded before (another run, another process)."""
    try:
        async with transaction():
            await LevelNotice.create(member_id=member_id, period_end=end, kind=kind, at=now)
    except IntegrityError:
        return False
    return True


@dataclass(frozen=True)
class Standing:
    """What 我的等级 tells a member."""

    level: int
    spend: Decimal  # delivered, over the window ending today
    next_level: int | None  # the next level up, if any
    keep_by: date  # the month's end at which the level is reviewed
    counted: Decimal  # what counts for that review so far


async def standing(levels: Levels, member: Member, today: date) -> Standing:
    spend = (await delivered_spend(*levels.window(today), ids=[member.id])).get(member.id, Decimal("0.00"))
    end = month_end(today)
    counted = (await delivered_spend(end - timedelta(days=levels.days), today, ids=[member.id])).get(
        member.id, Decimal("0.00"))
    number = held(member.level, levels.levels)
    following = number + 1 if number + 1 < len(levels.levels) else None
    return Standing(number, spend, following, end, counted)
