"""The shop's daily broadcasts: the offer, the cut-off summary, the delivery notice.

Each job takes its due time and the services, queues its posts in the outbox (broadcasts:
paced, held in quiet hours) and may return work to do after its transaction commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

from bot.core.messages import Outgoing
from bot.services import Services
from handlers.texts import money, offer_lines, qty
from models.days import close_ordering, delivery_date_for, short_date
from models.orders import OrderView, orders_for_delivery, product_totals
from models.stock import stock_left
from models.tables import Community, Member

AfterCommit = Callable[[], Awaitable[object]] | None


async def communities() -> list[Community]:
    return list(await Community.filter(active=True).order_by("id"))


LATE = timedelta(minutes=5)


async def daily_post(due: datetime, services: Services) -> AfterCommit:
    """Post the day's offer to every group: ordering opens."""
    await post_offer(due, services, late=services.clock.now() - due > LATE)
    return None


async def post_offer(day: datetime, services: Services, late: bool = False) -> None:
    """The offer of `day`'s order date to every group: numbered products, prices, what is left
    of limited stock, the cut-off, each group's delivery slot and date."""
    config = services.config
    local = day.astimezone(config.timezone)
    delivery = delivery_date_for(local.date(), config.schedule)
    products = "\n".join(offer_lines(services.offer, await stock_left(services.offer, delivery)))
    note = "（今天的团购消息晚发了，抱歉！）\n" if late else ""
    for community in await communities():
        text = (f"{note}【{config.shop.name}·{short_date(local.date())}今日团购】\n{products}\n"
                f"下单请直接发“商品+数量”，如“西红柿2斤”、“3号x2”。\n"
                f"{config.schedule.cutoff:%H:%M} 截单，{short_date(delivery)} "
                f"{community.delivery_slot} 送到{community.name}。")
        await services.outbox.put(Outgoing(text, room=community.room, broadcast=True))


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
    await post_summaries(delivery, services)

    async def export() -> object:
        return await services.export(delivery)

    return export


async def post_summaries(delivery: date, services: Services) -> None:
    orders = await orders_for_delivery(delivery)
    names = dict(await Member.filter(id__in=list({o.member_id for o in orders})).values_list("id", "name"))
    for community in await communities():
        mine = [o for o in orders if o.room == community.room]
        await services.outbox.put(Outgoing(summary_text(community, delivery, mine, names),
                                           room=community.room, broadcast=True))


def summary_text(community: Community, delivery: date, orders: list[OrderView],
                 names: dict[str, str]) -> str:
    head = f"【{community.name} {short_date(delivery)} 截单汇总】"
    if not orders:
        return f"{head}\n今天没有订单。"
    lines = [
        f"{i}. {names.get(o.member_id, o.member_id)} "
        + " ".join(f"{l.name}{qty(l.qty)}{l.unit}" for l in o.lines)
        for i, o in enumerate(orders, start=1)
    ]
    total_text = "、".join(f"{t.name} {qty(t.qty)}{t.unit}" for t in product_totals(orders))
    revenue = sum((o.total for o in orders), Decimal(0))
    return (f"{head}\n" + "\n".join(lines) + f"\n合计：{total_text}；共{len(orders)}单 {money(revenue)}\n"
            f"配送：{short_date(delivery)} {community.delivery_slot}")


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


JOBS: dict[str, Callable[[datetime, Services], Awaitable[AfterCommit]]] = {
    "daily_post": daily_post,
    "cutoff_reminder": cutoff_reminder,
    "cutoff": cutoff,
    "delivery_notice": delivery_notice,
}
