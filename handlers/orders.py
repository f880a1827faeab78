"""Members' orders by chat: order, change, cancel, ask what they ordered; ask back when unsure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.clock import Clock
from bot.config import Config
from bot.dispatcher import Router
from bot.messages import Outgoing
from bot.outbox import Outbox
from handlers.filters import Intent
from handlers.parsing import Offer, Parsed, Product
from handlers.texts import HOW_TO_ORDER, changes_text, order_text, qty
from models.days import Window, current_window, short_date
from models.orders import (
    ADD, REMOVE, SET, Change, LineChange, OrderResult, member_orders,
)
from models.orderbook import OrderBook, StoredOrders
from models.tables import Community, Member

router = Router("orders")

Orders = StoredOrders | OrderBook  # one message at a time, or a batch (models.orderbook)


def closed_text(window: Window) -> str:
    opens = window.opens_at
    return f"现在不在接单时间，这条没有记下。下次开始接单：{short_date(opens.date())} {opens:%H:%M}。"


async def ordering_window(config: Config, now: datetime) -> Window:
    return await current_window(now, config.schedule, config.timezone)


async def open_for_orders(orders: Orders, now: datetime, community: Community | None,
                          reply: Any, where: str) -> Window | None:
    """The open ordering window for this message, or None after telling the member why not."""
    window = await orders.window(now)
    if not window.open:
        await reply(closed_text(window))
        return None
    if community is None:
        await reply(where)
        return None
    return window


def effect(done: list[LineChange], window: Window, community: Community) -> dict[str, Any]:
    """What a message changed, kept on its inbound record (so that a recall can undo it)."""
    return {"changes": [[c.sku, str(c.before), str(c.after)] for c in done],
            "delivery_date": window.delivery_date.isoformat(), "room": community.room}


@router.message(Intent("order", "modify", "cancel"))
async def on_order_change(
    parsed: Parsed, member: Member, community: Community | None,
    reply: Any, offer: Offer, config: Config, clock: Clock, orders: Orders,
) -> dict[str, Any] | None:
    """下单、改单、取消：西红柿2斤 / 西红柿改成3斤 / 取消西红柿 / 取消订单"""
    now = clock.now()
    window = await open_for_orders(orders, now, community, reply,
                                   "请在您小区的群里下单，这样我们知道送到哪里。")
    if window is None or community is None:
        return None
    if parsed.address and parsed.address != member.address:
        await orders.set_address(member, parsed.address)
    changes = await _changes(parsed, offer, member, window)
    result = await orders.change(member, community, window.delivery_date, changes, now)
    if not result.changes and not result.short:
        await reply("您今天还没有这些商品的订单，没有要取消的。" if parsed.intent == "cancel"
                    else "订单没有变化。")
        return None
    await orders.settle(result, member, now)
    verb = {"order": "已记下", "modify": "已修改", "cancel": "已取消"}[parsed.intent]
    await reply(confirmation(verb, result, window))
    await announce_sold_out(result, orders, config)
    return effect(result.changes, window, community)


def confirmation(verb: str, result: OrderResult, window: Window) -> str:
    """✅ what changed, what could not be had, and the member's order for the day."""
    lines = [f"✅ {verb}：{changes_text(result.changes)}"] if result.changes else []
    for short in result.short:
        p = short.product
        lines.append(f"⚠️ {p.name}只剩{qty(short.granted)}{p.unit}，已为您记下{qty(short.granted)}{p.unit}。"
                     if short.granted else f"⚠️ {p.name}已售完，没有记下。")
    order = result.order
    summary = order_text(order) if order and order.lines else "您今天没有订单了。"
    lines.append(f"您{short_date(window.delivery_date)}的订单：{summary}")
    return "\n".join(lines)


async def announce_sold_out(result: OrderResult, outbox: Outbox | Orders, config: Config) -> None:
    """Tell every group once that a limited product is gone."""
    for product in result.sold_out:
        for group in config.groups:
            await outbox.put(Outgoing(f"📢 {product.name}今天已售完，谢谢大家！", room=group.room,
                                      broadcast=True))


async def _changes(parsed: Parsed, offer: Offer, member: Member, window: Window) -> list[Change]:
    mode = {"order": ADD, "modify": SET, "cancel": REMOVE}[parsed.intent]
    if parsed.intent == "cancel" and not parsed.items:
        orders = await member_orders(member.id, window.delivery_date)
        return [
            Change(Product(l.sku, l.name, l.unit, l.price), REMOVE, None)
            for order in orders for l in order.lines
        ]
    return [Change(p, mode, item.qty) for item in parsed.items if (p := offer.by_sku(item.sku))]


@router.message(Intent("query_orders"))
async def on_query(member: Member, reply: Any, clock: Clock, config: Config) -> None:
    """我的订单：列出您的订单、价格和合计"""
    today = clock.now().astimezone(config.timezone).date()
    orders = [o for o in await member_orders(member.id) if o.delivery_date >= today]
    if not orders:
        await reply("您现在没有订单。" + HOW_TO_ORDER)
        return
    parts = [f"{short_date(o.delivery_date)}：{order_text(o)}" for o in orders]
    await reply("您的订单：\n" + "\n".join(parts))


@router.message(Intent("unclear"))
async def on_unclear(parsed: Parsed, reply: Any, offer: Offer) -> None:
    """看不懂的订单：说明哪里没看懂、怎么写，不记任何东西"""
    text = f"🤔 没看懂，这条没有记下：{parsed.reason}。"
    if parsed.suggestions:
        text += f"\n您是不是要：{'、'.join(parsed.suggestions)}？"
    else:
        shown = [f"{offer.number_of(p)}号{p.name}" for p in offer.products[:8]]
        text += f"\n今天有：{'、'.join(shown)}{'等' if len(offer) > 8 else ''}。"
    await reply(text + "\n" + HOW_TO_ORDER)
