"""Coupon sweeps (docs/CONTRACTS.md section 7), run on the schedule registry so that replay's
virtual clock drives them as APScheduler does the running bot's.

An unused coupon past its expiry becomes `expired`; one reminder goes privately to its member
`[coupons] remind_before` ahead (the moment was fixed when it was given: `remind_at`). Each
coupon is claimed by a guarded UPDATE, so two processes sweeping at once remind once.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.config import Config
from bot.core.messages import Outgoing
from jobs.services import Services
from models.coupons import describe
from models.db import transaction
from models.tables import Coupon


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
