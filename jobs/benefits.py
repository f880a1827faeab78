"""Coupon and points sweeps (docs/CONTRACTS.md section 7), run on the schedule registry so
that replay's virtual clock drives them as APScheduler does the running bot's.

An unused coupon past its expiry becomes `expired`; one reminder goes privately to its member
`[coupons] remind_before` ahead (the moment was fixed when it was given: `remind_at`). What is
left of a points earning expires with it, and its one reminder comes `[points] remind_days`
ahead. Each reminder is claimed by a guarded UPDATE, so two processes sweeping at once remind
once; an expiry is booked under the member's row lock and only while something is left.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.config import Config
from bot.core.messages import Outgoing
from jobs.services import Services
from models.campaigns import send_campaigns
from models.coupons import describe
from models.db import transaction
from models.points import expire, reward_name
from models.tables import Coupon, Member, PointEntry


async def next_coupon_due(config: Config) -> datetime | None:
    expiry = await Coupon.filter(state="unused").order_by("expires_at").first()
    reminder = await Coupon.filter(state="unused", remind_at__not_isnull=True).order_by("remind_at").first()
    due = [c.expires_at for c in (expiry,) if c is not None]
    due += [c.remind_at for c in (reminder,) if c is not None and c.remind_at is not None]
    return min(due) if due else None


async def sweep_coupons(now: datetime, services: Services) -> int:
    """Expire what has expired, remind what expires soon; how many coupons it touched."""
    tz, outbox = services.config.timezone, services.outbox
    async with transaction():
        expired = await Coupon.filter(state="unused", expires_at__lte=now).update(state="expired", remind_at=None)
        reminded = 0
        for coupon in await Coupon.filter(state="unused", remind_at__lte=now).order_by("remind_at", "id"):
            if await Coupon.filter(id=coupon.id, remind_at__not_isnull=True).update(remind_at=None):
                await outbox.put(Outgoing(f"⏰ 您的优惠券快到期了：{describe(coupon, tz)}", to=str(coupon.member_id)))  # type: ignore[attr-defined]
                reminded += 1
    if reminded:
        outbox.changed()
    return expired + reminded


async def next_points_due(config: Config) -> datetime | None:
    expiry = await PointEntry.filter(remaining__gt=0, expires_at__not_isnull=True).order_by("expires_at").first()
    reminder = await PointEntry.filter(remaining__gt=0, remind_at__not_isnull=True).order_by("remind_at").first()
    due = [e.expires_at for e in (expiry,) if e is not None and e.expires_at is not None]
    due += [e.remind_at for e in (reminder,) if e is not None and e.remind_at is not None]
    return min(due) if due else None


async def sweep_points(now: datetime, services: Services) -> int:
    """Expire what is left of earnings past their time; remind each member once, naming a
    reward they can afford, `[points] remind_days` before an earning expires."""
    config, outbox = services.config, services.outbox
    async with transaction():
        expired = 0
        for earning_id in await PointEntry.filter(remaining__gt=0, expires_at__lte=now).order_by(
                "expires_at", "id").values_list("id", flat=True):
            expired += await expire(int(earning_id), now)  # type: ignore[call-overload]
        soon: dict[str, list[PointEntry]] = {}
        for earning in await PointEntry.filter(remaining__gt=0, remind_at__lte=now).order_by("expires_at", "id"):
            if await PointEntry.filter(id=earning.id, remind_at__not_isnull=True).update(remind_at=None):
                soon.setdefault(str(earning.member_id), []).append(earning)  # type: ignore[attr-defined]
        known = {p.sku: p for p in services.products}
        for member_id, earnings in soon.items():
            member = await Member.get(id=member_id)
            first = min(e.expires_at for e in earnings if e.expires_at is not None)
            text = (f"⏰ 您有{sum(e.remaining for e in earnings)}积分将于"
                    f"{first.astimezone(config.timezone):%m-%d}到期（可用{member.points}）。")
            affordable = [(n, r) for n, r in enumerate(config.reward, start=1) if r.points <= member.points]
            if affordable:
                n, reward = max(affordable, key=lambda nr: (nr[1].points, -nr[0]))
                text += f"可以兑换第{n}项：{reward_name(reward, config, known)}（{reward.points}积分），发“兑换 {n}”就行。"
            elif config.reward:
                text += "发“积分兑换”看看能换什么。"
            await outbox.put(Outgoing(text, to=member_id))
    if soon:
        outbox.changed()
    return expired + len(soon)


async def sweep_campaigns(now: datetime, services: Services) -> int:
    """Queue the campaign messages today's cap allows (models.campaigns)."""
    async with transaction():
        queued = await send_campaigns(now, services.config, services.outbox)
    if queued:
        services.outbox.changed()
    return queued
