"""Points (积分, docs/CONTRACTS.md section 7): a ledger of available points, kept per earning.

An order earns floor((total - its coupon's discount) x per_yuan). Those points are pending
while the order is placed and vanish if it is cancelled; they become available, as one earning
with its own expiry (`expire_days`), when the order is delivered. An inviter's reward follows
the same rule through the invited member's first order. Pending points are never booked: they
are what the member's orders are worth now (`pending`).

`Rewards.settle` brings the ledger in line with orders as they are now: a delivered order
should hold its points, any other order none, and the difference from what its source already
holds is booked, so a re-delivered message, a second delivery run or a 缺货 read back after
delivery never pays twice. A spend (a redemption, an expiry, points taken back) draws on the
earnings, those of the same source first and then the earliest to expire, and records each
draw (PointDraw): undoing it refills the same rows. Points taken back that were already spent
void the unused rewards they bought, so earn -> redeem -> cancel leaves nothing behind. No
balance is ever below zero; every change happens with the member's row locked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import ROUND_FLOOR, Decimal

from tortoise.expressions import F

from bot.core.config import Config, Reward
from models.catalog import Product
from models.coupons import give
from models.levels import Levels
from models.db import is_postgres
from models.members import locked_member
from models.rows import Statement, chunks, insert_many, select_in, update_many
from models.tables import Coupon, Member, Order, OrderLine, PointDraw, PointEntry, Settlement

COUNTING = ("placed", "delivered")


@dataclass(frozen=True)
class Rewards:
    per_yuan: Decimal  # points per yuan of an order's total after its coupon
    inviter_points: int  # to the inviter, through the invited member's first delivered order
    expire_days: int = 365  # an earning expires this long after it becomes available
    remind_days: int = 7  # its one reminder comes this long before
    levels: Levels = Levels()  # the points multiplier of levels and birthdays (models.levels)
    tz: tzinfo = UTC  # the shop's calendar

    @classmethod
    def of(cls, config: Config) -> Rewards:
        return cls(config.points.per_yuan, config.referral.inviter_points, config.points.expire_days,
                   config.points.remind_days,
                   Levels(config.level, config.levels.days, config.levels.remind_days, config.birthday.multiplier),
                   config.timezone)

    async def settle(self, order_ids: Iterable[int], now: datetime) -> None:
        """Bring the ledger in line with these orders as they are now (and their referrals).
        A page of orders at a time, each table read once for the page (a day's delivery is
        thousands of orders: one at a time it took minutes); the earnings are written together,
        anything else (points taken back) one at a time, in the same order as ever."""
        members: set[str] = set()
        for page in chunks(sorted(set(order_ids))):
            orders = await Order.filter(id__in=page).order_by("id")
            delivered = [o for o in orders if o.status == "delivered"]
            worth = await order_worths([int(o.id) for o in delivered])
            rates = await self.levels.rates(delivered, now)
            wants = []
            for order in orders:
                member_id = str(order.member_id)  # type: ignore[attr-defined]
                members.add(member_id)
                target = self.order_points(worth[order.id], rates[order.id]) if order.status == "delivered" else 0
                wants.append((member_id, order_source(order.id), target,
                              order_reason(order.id, order.groupbuy_no, target)))
            await self._book_all(wants, now)
        await self._book_all(await self._referrals(sorted(members)), now)

    async def _referrals(self, member_ids: list[str]) -> list[tuple[str, str, int, str]]:
        """What each of these members' inviters should hold for them: the reward once their
        first order is delivered, none before (or after it was cancelled)."""
        wants = []
        for page in chunks(member_ids):
            invited = [row for row in await select_in(Member, ("id", "name", "referrer_id"), "id", page)
                       if row["referrer_id"] is not None]
            delivered = await with_delivered([str(row["id"]) for row in invited])
            for row in invited:
                member_id, name = str(row["id"]), row["name"] or str(row["id"])
                target = self.inviter_points if member_id in delivered else 0
                wants.append((str(row["referrer_id"]), f"referral:{member_id}", target,
                              f"邀请{name}首单奖励" if target else f"{name}的首单取消，邀请奖励收回"))
        return wants

    async def _book_all(self, wants: list[tuple[str, str, int, str]], now: datetime) -> None:
        """`book` each (member, source, target, reason), in order: the earnings together."""
        held = await booked_many([(member_id, source) for member_id, source, _, _ in wants])
        earnings: list[tuple[str, int, str, str]] = []
        for member_id, source, target, reason in wants:
            have = held.get((member_id, source), 0)
            if target > have:
                earnings.append((member_id, target - have, reason, source))
            elif target < have:
                await self._earn_all(earnings, now)  # first: what was due before it
                earnings = []
                await self.book(member_id, source, target, reason, now)
        await self._earn_all(earnings, now)

    async def _earn_all(self, earnings: list[tuple[str, int, str, str]], now: datetime) -> None:
        """`earn` each (member, points, reason, source): the members' rows locked and read once,
        the entries inserted and the balances written with one statement each."""
        if not earnings:
            return
        expires = now + timedelta(days=self.expire_days)
        remind = expires - timedelta(days=self.remind_days) if self.remind_days else None
        balances: dict[str, int] = {}
        ids = sorted({member_id for member_id, _, _, _ in earnings})
        for page in chunks(ids):
            for row in await select_in(Member, ("id", "points"), "id", page, lock=is_postgres()):
                balances[str(row["id"])] = int(row["points"])
        entries = []
        for member_id, points, reason, source in earnings:
            if member_id not in balances:
                raise LookupError(f"no member {member_id}")
            balances[member_id] += points
            entries.append((member_id, points, balances[member_id], reason[:64], source[:64], now, points, expires,
                            remind if remind is not None and remind > now else None))
        await insert_many(PointEntry, EARNING, entries)
        await update_many(Member, ("points",), [_Points(m, points) for m, points in balances.items()])

    def order_points(self, worth: Decimal, multiplier: Decimal = Decimal(1)) -> int:
        """What an order worth `worth` (its total after its coupon) earns at `multiplier`."""
        return max(0, int((worth * self.per_yuan * multiplier).to_integral_value(ROUND_FLOOR)))

    async def book(self, member_id: str, source: str, target: int, reason: str, now: datetime) -> None:
        """Make `source` hold `target` points: an earning for more, a draw on its earnings
        (then others, then the rewards they bought) for less."""
        held = await booked(member_id, source)
        if target > held:
            expires = now + timedelta(days=self.expire_days)
            remind = expires - timedelta(days=self.remind_days) if self.remind_days else None
            await earn(member_id, target - held, reason, source, now, expires, remind)
        elif target < held:
            short = held - target - await spend(member_id, held - target, reason, source, now, prefer=source)
            if short and await void_rewards(member_id, source, now):
                await spend(member_id, short, reason, source, now)

    async def pending(self, member_id: str) -> int:
        """Points the member's placed orders (and the first orders of members they invited)
        will earn once delivered."""
        points = 0
        member = await Member.get_or_none(id=member_id)
        for order_id, delivery in await Order.filter(member_id=member_id, status="placed").values_list(
                "id", "delivery_date"):
            rate = self.levels.multiplier(member.level, member.birthday, delivery)[0] if member else Decimal(1)  # type: ignore[arg-type]
            points += self.order_points(await order_worth(int(order_id)), rate)  # type: ignore[call-overload]
        for invited in await Member.filter(referrer_id=member_id).values_list("id", flat=True):
            if (await booked(member_id, f"referral:{invited}") == 0
                    and await Order.filter(member_id=invited, status="placed").exists()
                    and not await Order.filter(member_id=invited, status="delivered").exists()):
                points += self.inviter_points
        return points


def order_source(order_id: int) -> str:
    return f"order:{order_id}"


def order_reason(order_id: int, groupbuy_no: int, target: int) -> str:
    tag = f"拼团#{groupbuy_no}" if groupbuy_no else f"订单#{order_id}"
    return f"{tag}送达" if target else f"{tag}已取消"


async def order_total(order_id: int) -> Decimal:
    total = Decimal(0)
    for line in await OrderLine.filter(order_id=order_id, status__not="out_of_stock"):
        total += line.price * line.qty
    return total


async def order_worth(order_id: int) -> Decimal:
    """The order's total after its coupon (as settled; before cut-off, its total)."""
    total = await order_total(order_id)
    discounts = await Settlement.filter(order_id=order_id).values_list("discount", flat=True)
    return total - (discounts[0] if discounts else Decimal(0))  # type: ignore[operator]


@dataclass
class _Points:  # a member's new balance, for update_many
    id: str
    points: int


EARNING = ("member_id", "delta", "balance", "reason", "source", "created_at", "remaining", "expires_at", "remind_at")


async def order_worths(order_ids: list[int]) -> dict[int, Decimal]:
    """`order_worth` of each of these orders, read together."""
    worth = {order_id: Decimal(0) for order_id in order_ids}
    for page in chunks(order_ids):
        for row in await select_in(OrderLine, ("order_id", "price", "qty", "status"), "order_id", page):
            if row["status"] != "out_of_stock":
                worth[row["order_id"]] += row["price"] * row["qty"]
        for row in await select_in(Settlement, ("order_id", "discount"), "order_id", page):
            worth[row["order_id"]] -= row["discount"]
    return worth


async def with_delivered(member_ids: list[str]) -> set[str]:
    """Those of these members with an order delivered (EXISTS: one look each, not their history)."""
    found: set[str] = set()
    for page in chunks(member_ids):
        sql = Statement()
        found.update(str(row["id"]) for row in await sql.rows(
            f"SELECT m.id AS id FROM member m WHERE m.id IN ({sql.marks(page)}) AND EXISTS "
            "(SELECT 1 FROM orders o WHERE o.member_id = m.id AND o.status = 'delivered')"))
    return found


async def booked_many(pairs: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """`booked` of each (member, source), read by source."""
    wanted = set(pairs)
    held: dict[tuple[str, str], int] = {}
    for page in chunks(sorted({source for _, source in wanted})):
        sql = Statement()
        for row in await sql.rows(f"SELECT member_id, source, SUM(delta) AS held FROM point_entry "
                                  f"WHERE source IN ({sql.marks(page)}) GROUP BY member_id, source"):
            key = (str(row["member_id"]), str(row["source"]))
            if key in wanted:
                held[key] = int(row["held"])
    return held


async def booked(member_id: str, source: str) -> int:
    deltas = await PointEntry.filter(member_id=member_id, source=source).values_list("delta", flat=True)
    return sum(int(d) for d in deltas)  # type: ignore[call-overload]


async def _locked(member_id: str) -> Member:
    member = await locked_member(member_id)
    if member is None:
        raise LookupError(f"no member {member_id}")
    return member


async def earn(member_id: str, points: int, reason: str, source: str, now: datetime,
               expires_at: datetime | None, remind_at: datetime | None = None) -> PointEntry:
    """Book an earning of `points` (> 0) that expires at `expires_at`."""
    member = await _locked(member_id)
    balance = member.points + points
    entry = await PointEntry.create(member_id=member_id, delta=points, balance=balance, reason=reason[:64],
                                    source=source[:64], created_at=now, remaining=points, expires_at=expires_at,
                                    remind_at=remind_at if remind_at is not None and remind_at > now else None)
    await Member.filter(id=member_id).update(points=balance)
    return entry


async def spend(member_id: str, points: int, reason: str, source: str, now: datetime,
                prefer: str | None = None) -> int:
    """Take up to `points` (never below zero) from the member's earnings: those of `prefer`
    first, then the earliest to expire; each draw recorded. The points taken."""
    member = await _locked(member_id)
    wanted = min(points, member.points)
    if wanted <= 0:
        return 0
    earnings = await PointEntry.filter(member_id=member_id, remaining__gt=0)
    earnings.sort(key=lambda e: (e.source != prefer, e.expires_at is None,
                                 e.expires_at or now, e.id))
    draws, left = [], wanted
    for earning in earnings:
        if not left:
            break
        take = min(left, earning.remaining)
        draws.append((earning, take))
        left -= take
    taken = wanted - left
    balance = member.points - taken
    entry = await PointEntry.create(member_id=member_id, delta=-taken, balance=balance, reason=reason[:64],
                                    source=source[:64], created_at=now)
    for earning, take in draws:
        await PointEntry.filter(id=earning.id).update(remaining=F("remaining") - take)
        await PointDraw.create(entry_id=entry.id, earning_id=earning.id, points=take)
    await Member.filter(id=member_id).update(points=balance)
    return taken


async def expire(earning_id: int, now: datetime) -> int:
    """What is left of an earning past its expiry leaves the balance; the points expired (0 if
    another sweep was first)."""
    earning = await PointEntry.get(id=earning_id)
    member = await _locked(str(earning.member_id))  # type: ignore[attr-defined]
    earning = await PointEntry.get(id=earning_id)  # as it is now, under the member's lock
    if earning.remaining <= 0 or earning.expires_at is None or earning.expires_at > now:
        return 0
    points = min(earning.remaining, member.points)
    balance = member.points - points
    entry = await PointEntry.create(member_id=member.id, delta=-points, balance=balance,
                                    reason=f"积分到期（{earning.reason}）"[:64], source=f"expire:{earning.id}",
                                    created_at=now)
    await PointEntry.filter(id=earning.id).update(remaining=0, remind_at=None)
    await PointDraw.create(entry_id=entry.id, earning_id=earning.id, points=points)
    await Member.filter(id=member.id).update(points=balance)
    return points


async def refill(member_id: str, source: str, reason: str, now: datetime) -> int:
    """Undo the draws of the entries booked under `source`: the same earnings get their
    points back (an expired one's go back too, and expire at the next sweep). The points."""
    member = await _locked(member_id)
    back = 0
    for entry in await PointEntry.filter(member_id=member_id, source=source, delta__lt=0):
        for draw in await PointDraw.filter(entry_id=entry.id):
            await PointEntry.filter(id=draw.earning_id).update(remaining=F("remaining") + draw.points)  # type: ignore[attr-defined]
            back += draw.points
    if back:
        balance = member.points + back
        await PointEntry.create(member_id=member_id, delta=back, balance=balance, reason=reason[:64],
                                source=f"undo:{source}"[:64], created_at=now)
        await Member.filter(id=member_id).update(points=balance)
    return back


async def void_rewards(member_id: str, source: str, now: datetime) -> int:
    """Void the unused rewards bought with the earnings of `source` and give their points
    back; how many were voided."""
    earnings = await PointEntry.filter(member_id=member_id, source=source, delta__gt=0).values_list("id", flat=True)
    spends = await PointDraw.filter(earning_id__in=list(earnings)).values_list("entry_id", flat=True)
    sources = await PointEntry.filter(id__in=list(spends), source__startswith="redeem:").values_list("source", flat=True)
    voided = 0
    for redeemed in sorted(set(sources)):  # type: ignore[type-var]
        if await Coupon.filter(source=redeemed, state="unused").update(state="void"):
            await refill(member_id, str(redeemed), "积分来源的订单取消，兑换作废", now)
            voided += 1
    return voided


REDEEMED, NO_REWARD, SHORT, LIMIT = "redeemed", "no_reward", "short", "limit"


@dataclass(frozen=True)
class Redeemed:
    outcome: str
    reward: Reward | None = None
    coupon: Coupon | None = None  # what it gave (a coupon, or the gift of a product)
    points: int = 0  # the member's available points after


def reward_name(reward: Reward, config: Config, products: dict[str, Product]) -> str:
    if reward.coupon:
        template = config.coupon_template(reward.coupon)
        return template.name if template else reward.coupon
    product = products.get(reward.sku)
    return f"{product.name}1{product.unit}（下一单免费送）" if product else reward.sku


async def redeem(member_id: str, number: int, source: str, config: Config, products: dict[str, Product],
                 now: datetime) -> Redeemed:
    """Spend the points of reward `number` (from 1) and give it: its coupon, or a gift of one
    unit of its product that the next cut-off puts on the member's order. `source` (the
    message) books it once."""
    if not 1 <= number <= len(config.reward):
        return Redeemed(NO_REWARD)
    reward = config.reward[number - 1]
    member = await _locked(member_id)
    if member.points < reward.points:
        return Redeemed(SHORT, reward, points=member.points)
    source = f"redeem:{source}"[:64]
    template = config.coupon_template(reward.coupon) if reward.coupon else None
    if template is not None:
        coupon = await give(member_id, template, source, now, config.coupons.remind_before)
        if coupon is None:
            return Redeemed(LIMIT, reward, points=member.points)
    else:
        product = products[reward.sku]
        coupon = await Coupon.create(
            member_id=member_id, template=f"reward{number}", name=f"{product.name}1{product.unit}（积分兑换）",
            off=product.price, min_spend=0, skus=[product.sku], state="unused", issued_at=now,
            expires_at=now + timedelta(days=config.points.expire_days), source=source, gift=product.sku)
    await spend(member_id, reward.points, f"兑换第{number}项：{reward_name(reward, config, products)}", source, now)
    return Redeemed(REDEEMED, reward, coupon, member.points - reward.points)


async def expiring(member_id: str, before: datetime) -> tuple[int, datetime | None]:
    """The member's points that expire by `before`, and the first such date."""
    rows = await PointEntry.filter(member_id=member_id, remaining__gt=0, expires_at__lte=before).order_by(
        "expires_at").values_list("remaining", "expires_at")
    return sum(int(r[0]) for r in rows), (rows[0][1] if rows else None)  # type: ignore[misc]


async def check() -> list[str]:
    """Members whose cached points differ from their ledger or from what their earnings have
    left (empty: all agree)."""
    sums: dict[str, int] = {}
    left: dict[str, int] = {}
    for member_id, delta, remaining in await PointEntry.all().values_list("member_id", "delta", "remaining"):
        sums[str(member_id)] = sums.get(str(member_id), 0) + int(delta)  # type: ignore[call-overload]
        left[str(member_id)] = left.get(str(member_id), 0) + int(remaining)  # type: ignore[call-overload]
    wrong = []
    for member_id, points in await Member.all().values_list("id", "points"):
        if not sums.get(str(member_id), 0) == left.get(str(member_id), 0) == points:
            wrong.append(str(member_id))
    return wrong
