"""The shop's daily broadcasts: the offer, the cut-off summary, the delivery notice.

Each job takes its due time and the services, queues its posts in the outbox (broadcasts:
paced, held in quiet hours) and may return work to do after its transaction commits. When
each runs is registered in jobs/schedule.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.core.config import Config
from bot.core.messages import Outgoing
from handlers.announcements import communities, post_offer, post_summaries
from jobs.services import Services
from models.dashboard import DAY_CHOICES, day_range, days, keep_census
from models.days import close_ordering, delivery_date_for
from models.facts import refresh_changed, refresh_facts
from models.nudges import birthday_nudge, cycle_nudge, neighbours_nudge
from models.orders import orders_for_delivery
from models.retention import next_prune_due, prune
from models.segments import census
from models.settlement import settle_day
from models.state import mark_workbooks_due

AfterCommit = Callable[[], Awaitable[object]] | None


LATE = timedelta(minutes=5)


async def daily_post(due: datetime, services: Services) -> AfterCommit:
    """Post the day's offer to every group: ordering opens."""
    await post_offer(due, services.config, services.offer, services.outbox,
                     late=services.clock.now() - due > LATE)
    return None


async def cutoff_reminder(due: datetime, services: Services) -> AfterCommit:
    """Remind every group that ordering closes soon."""
    cutoff_time = services.config.schedule.cutoff
    if services.clock.now() >= datetime.combine(due.astimezone(services.config.timezone).date(),
                                                cutoff_time, tzinfo=services.config.timezone):
        return None  # caught up too late: ordering has closed
    for community in await communities():
        await services.outbox.put(Outgoing(
            f"⏰ 还有{services.config.schedule.cutoff_reminder}分钟截单（{cutoff_time:%H:%M}），"
            "还没下单的邻居抓紧哦！", room=community.room, broadcast=True))
    return None


async def cutoff(due: datetime, services: Services) -> AfterCommit:
    """Close the day's ordering; post each group's orders as a numbered list with totals."""
    config = services.config
    order_date = due.astimezone(config.timezone).date()
    await close_ordering(order_date, due)
    delivery = delivery_date_for(order_date, config.schedule)
    await post_summaries(delivery, services.outbox)
    await settle_day(delivery, config.wallet, services.outbox, services.clock.now())
    await mark_workbooks_due([delivery], services.clock.now())  # written even if killed before the export

    async def export() -> object:
        return await services.export(delivery)

    return export


async def delivery_notice(due: datetime, services: Services) -> AfterCommit:
    """On delivery day, tell each group with orders its slot and what is coming."""
    delivery = due.astimezone(services.config.timezone).date()
    orders = await orders_for_delivery(delivery)
    for community in await communities():
        count = sum(1 for o in orders if o.room == community.room)
        if not count:
            continue
        text = (f"🚚 今天 {community.delivery_slot} 送到{community.name}，共{count}单。"
                f"请留意群消息，按时取货。")
        await services.outbox.put(Outgoing(text, room=community.room, broadcast=True))
    return None


async def member_facts(due: datetime, services: Services) -> AfterCommit:
    """Nightly: every member's buying facts, for segments (models.facts); the night's segment
    counts and the last days' figures, for the dashboard (models.dashboard)."""
    config, now = services.config, services.clock.now()
    await refresh_facts(now, config.timezone)
    today = now.astimezone(config.timezone).date()
    await keep_census(today, await census(today, config.timezone, config.segments.days, config.shop.staff))
    await days(*day_range(delivery_date_for(today, config.schedule), max(DAY_CHOICES)), now)
    return None


async def sweep_facts(now: datetime, services: Services) -> int:
    """Every minute: the facts of members whose orders changed since they were written."""
    return await refresh_changed(now, services.config.timezone)


async def sweep_retention(now: datetime, services: Services) -> dict[str, int]:
    """Every minute: the message record past `[retention] days`, a few batches (models.retention)."""
    return await prune(now, services.config.retention.days)


async def next_retention_due(config: Config) -> datetime | None:
    return await next_prune_due(config.retention.days)


async def member_day(due: datetime, services: Services) -> AfterCommit:
    """Daily, at `[schedule] member_day`: levels lost at a month's end, 保级 reminders before
    one (models.levels), and the automatic nudges the config turns on (models.nudges)."""
    config, now, levels = services.config, services.clock.now(), services.rewards.levels
    today = now.astimezone(config.timezone).date()
    notes = await levels.review(today, now) + await levels.remind(today, now)
    for note in notes:
        await services.outbox.put(note)
    started = [await birthday_nudge(today, now, config, services.reachable) if config.nudges.birthday else None,
               await cycle_nudge(today, now, config, services.reachable) if config.nudges.cycle else None]
    if notes or any(started):
        services.outbox.changed()
    return None


async def neighbours_line(due: datetime, services: Services) -> AfterCommit:
    """Daily before cut-off, when `[nudges] neighbours` is on: the neighbours line (models.nudges)."""
    config, now = services.config, services.clock.now()
    if config.nudges.neighbours and await neighbours_nudge(now.astimezone(config.timezone).date(), now, config,
                                                           services.reachable) is not None:
        services.outbox.changed()
    return None
