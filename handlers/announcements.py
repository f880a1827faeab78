"""Posts to whole groups that handlers and jobs both send: the day's offer, the cut-off
summaries, a group-buy's news in every group it is shown in, a product sold out."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from bot.core.config import Config
from bot.core.messages import Outgoing
from bot.core.protocols import Postbox
from handlers.texts import money, offer_lines, qty
from models.catalog import Offer
from models.days import delivery_date_for, short_date
from models.orders import OrderResult, OrderView, orders_for_delivery, product_totals
from models.stock import stock_left
from models.tables import Community, GroupBuy, GroupBuyParticipant, Order


async def communities() -> list[Community]:
    """The groups the shop serves now, in the order they were set up."""
    return list(await Community.filter(active=True).order_by("id"))


async def post_offer(day: datetime, config: Config, offer: Offer, outbox: Postbox, late: bool = False) -> None:
    """The offer of `day`'s order date to every group: numbered products, prices, what is left
    of limited stock, the cut-off, each group's delivery slot and date."""
    local = day.astimezone(config.timezone)
    delivery = delivery_date_for(local.date(), config.schedule)
    products = "\n".join(offer_lines(offer, await stock_left(offer, delivery)))
    note = "（今天的团购消息晚发了，抱歉！）\n" if late else ""
    for community in await communities():
        text = (f"{note}【{config.shop.name}·{short_date(local.date())}今日团购】\n{products}\n"
                f"下单请直接发“商品+数量”，如“西红柿2斤”、“3号x2”。\n"
                f"{config.schedule.cutoff:%H:%M} 截单，{short_date(delivery)} "
                f"{community.delivery_slot} 送到{community.name}。")
        await outbox.put(Outgoing(text, room=community.room, broadcast=True))


async def post_summaries(delivery: date, outbox: Postbox) -> None:
    """Each group's orders of `delivery` as a numbered list with totals (at cut-off)."""
    orders = await orders_for_delivery(delivery)
    names = {str(m): str(n) for m, n in await Order.filter(delivery_date=delivery, status="placed")
             .values_list("member_id", "member__name")}  # (joined: no list of every ordering member)
    for community in await communities():
        mine = [o for o in orders if o.room == community.room]
        await outbox.put(Outgoing(summary_text(community, delivery, mine, names),
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


async def rooms_of(groupbuy: GroupBuy, config: Config) -> list[str]:
    """Where a group-buy is shown: its group, or every group for a shop-wide one."""
    if groupbuy.community_id is None:  # type: ignore[attr-defined]
        return [g.room for g in config.groups]
    community = await Community.get_or_none(id=groupbuy.community_id)  # type: ignore[attr-defined]
    return [community.room] if community else []


async def announce(groupbuy: GroupBuy, text: str, outbox: Postbox, config: Config, *,
                   mention: bool = False, broadcast: bool = True, skip: str | None = None) -> None:
    """A group-buy's news, one message per group it is shown in; with `mention`, naming the
    participants who joined there. Broadcasts wait out quiet hours; results of a member's own
    action do not."""
    joined: list[tuple[str, str, str]] = []
    if mention:
        # Where they joined; rows from before migration 0005 have no group: their home group.
        joined = [(str(m), str(r or h), str(n)) for m, r, h, n in await GroupBuyParticipant
                  .filter(groupbuy_id=groupbuy.id).order_by("id")
                  .values_list("member_id", "community__room", "member__home__room", "member__name")]
    for room in await rooms_of(groupbuy, config):
        if room == skip:
            continue
        here = [(member, name) for member, where, name in joined if where == room]
        names = " ".join(f"@{name or member}" for member, name in here)
        await outbox.put(Outgoing(f"{text}\n{names}".rstrip(), room=room,
                                  mentions=tuple(member for member, _ in here), broadcast=broadcast))


async def announce_sold_out(result: OrderResult, outbox: Postbox, config: Config) -> None:
    """Tell every group once that a limited product is gone."""
    for product in result.sold_out:
        for group in config.groups:
            await outbox.put(Outgoing(f"📢 {product.name}今天已售完，谢谢大家！", room=group.room,
                                      broadcast=True))
