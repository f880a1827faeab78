"""The shop's day: which order date a moment belongs to, when ordering is open, delivery dates.

Ordering is open from `daily_post` until `cutoff` (local time) on each order date, unless staff
closed it early (/截单; /开单 opens it again before the cut-off). Delivery date = order date +
`delivery_days`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from bot.core.config import ScheduleConfig
from models.tables import OrderingDay


@dataclass(frozen=True)
class Window:
    open: bool
    order_date: date
    delivery_date: date
    opens_at: datetime  # when ordering (next) opens
    closes_at: datetime  # when this order date's ordering closes


def window_at(now: datetime, schedule: ScheduleConfig, tz: tzinfo, closed_early: bool = False) -> Window:
    local = now.astimezone(tz)
    today = local.date()
    opens = datetime.combine(today, schedule.daily_post, tzinfo=tz)
    closes = datetime.combine(today, schedule.cutoff, tzinfo=tz)
    is_open = opens <= local < closes and not closed_early
    if local >= closes or (closed_early and local >= opens):
        opens = datetime.combine(today + timedelta(days=1), schedule.daily_post, tzinfo=tz)
    return Window(
        open=is_open,
        order_date=today,
        delivery_date=today + timedelta(days=schedule.delivery_days),
        opens_at=opens,
        closes_at=closes,
    )


async def current_window(now: datetime, schedule: ScheduleConfig, tz: tzinfo) -> Window:
    today = now.astimezone(tz).date()
    day = await OrderingDay.get_or_none(order_date=today)
    return window_at(now, schedule, tz, closed_early=day is not None and day.closed_at is not None)


async def close_ordering(order_date: date, now: datetime) -> bool:
    """Close ordering for `order_date`; False if it was closed already."""
    day, created = await OrderingDay.get_or_create(order_date=order_date, defaults={"closed_at": now})
    if created:
        return True
    if day.closed_at is not None:
        return False
    day.closed_at = now
    await day.save(update_fields=["closed_at"])
    return True


async def reopen_ordering(order_date: date) -> bool:
    """Undo an early close of `order_date` (staff /开单); False if it was not closed."""
    return bool(await OrderingDay.filter(order_date=order_date, closed_at__isnull=False).update(closed_at=None))


def delivery_date_for(order_date: date, schedule: ScheduleConfig) -> date:
    return order_date + timedelta(days=schedule.delivery_days)


def short_date(day: date) -> str:
    return f"{day.month}月{day.day}日"
