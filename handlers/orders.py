"""Members' orders by chat: order, change, cancel, ask what they ordered."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.dispatcher import BOOK, READS, Context, Router
from bot.core.effects import Effect
from bot.core.messages import Incoming
from bot.core.protocols import Reply
from handlers.announcements import announce_sold_out
from handlers.filters import Intent, parsed_of
from handlers.parsing import Item, Parsed
from handlers.parsing.results import ADD, SET_OP
from handlers.texts import HOW_TO_ORDER, changes_text, order_text, qty
from models.days import Window, current_window, short_date
from models.orders import (
    ADD as ADD_MODE, REMOVE, SET, Change, LineChange, OrderResult, member_orders,
)
from models.contacts import Contact
from models.orderbook import OrderBook, StoredOrders
from models.catalog import Offer, Product
from models.tables import Community, Member

router = Router("orders")

Orders = StoredOrders | OrderBook  # one message at a time, or a batch (models.orderbook)


def closed_text(window: Window, now: datetime) -> str:
    """Why nothing was recorded outside ordering hours, and what to do instead."""
    opens = window.opens_at
    local = now.astimezone(opens.tzinfo)
    when = f"{opens:%H:%M}" if opens.date() == local.date() else f"{short_date(opens.date())} {opens:%H:%M}"
    if opens.date() == local.date():
        return f"还没开始接单，这条没有记下。{when}开始接单，到时请再发一次。"
    return f"今天已截单，这条没有记下。{when}开始接下一批订单，到时请再发一次；急需请联系店员。"


async def ordering_window(config: Config, now: datetime) -> Window:
    return await current_window(now, config.schedule, config.timezone)


async def open_for_orders(orders: Orders, now: datetime, community: Community | None,
                          reply: Reply, where: str) -> Window | None:
    """The open ordering window for this message, or None after telling the member why not."""
    window = await orders.window(now)
    if not window.open:
        await reply(closed_text(window, now))
        return None
    if community is None:
        await reply(where)
        return None
    return window


def effect(done: list[LineChange], window: Window, community: Community) -> Effect:
    """What a message changed of its sender's order (so that a recall can undo it)."""
    return Effect(changes=tuple((c.sku, str(c.before), str(c.after)) for c in done),
                  delivery_date=window.delivery_date, room=community.room)


def _whole_order(msg: Incoming, context: Context) -> bool:
    """A cancellation that names no product ("取消订单", "都不要了"): the whole order."""
    return not parsed_of(msg, context).items


@router.message(Intent("cancel"), _whole_order)
async def on_cancel_all(
    parsed: Parsed, member: Member, community: Community | None,
    reply: Reply, offer: Offer, config: Config, clock: Clock, orders: Orders,
) -> Effect | None:
    """(取消订单：取消这天的全部订单；要读她每个订单，所以不在订单簿里批量处理)"""
    return await on_order_change(parsed, member, community, reply, offer, config, clock, orders)


@router.message(Intent("order", "modify", "cancel", "change"), flags={BOOK: True})
async def on_order_change(
    parsed: Parsed, member: Member, community: Community | None,
    reply: Reply, offer: Offer, config: Config, clock: Clock, orders: Orders,
) -> Effect | None:
    """下单：西红柿2斤、3号x2、草莓 牛奶各一；改单：西红柿改成3斤、西红柿减1斤；取消：取消西红柿、取消订单"""
    everything = parsed.intent == "cancel" and not parsed.items
    return await record(parsed.items, member, community, reply, offer, config, clock.now(), orders,
                        address=parsed.address, phone=parsed.phone, everything=everything)


async def record(items: Sequence[Item], member: Member, community: Community | None, reply: Reply,
                 offer: Offer, config: Config, now: datetime, orders: Orders, address: str = "",
                 phone: str = "", everything: bool = False) -> Effect | None:
    """Apply items (with their op) to the member's order of the open day, confirm, and return
    the effect to keep. `everything`: cancel the whole order. Every path that changes an order
    from chat comes here: a message, a confirmed proposal, an answered question. An address
    or phone written with the order is kept for this community."""
    place = community.id if community is not None else member.home_id  # type: ignore[attr-defined]
    contact = await keep_contact(orders, member, place, now, address, phone) \
        if (address or phone) and place is not None else None
    window = await open_for_orders(orders, now, community, reply,
                                   "请在您小区的群里下单，这样我们知道送到哪里。")
    if window is None or community is None:
        return None  # (an address or phone written with it is kept all the same)
    changes = await _changes(items, offer, member, window, everything)
    result = await orders.change(member, community, window.delivery_date, changes, now)
    if not result.changes and not result.short:
        cancelling = everything or all(item.op == "cancel" for item in items)
        await reply("您今天还没有这些商品的订单，没有要取消的。" if cancelling else "订单没有变化。")
        return None
    text = confirmation(result, window)
    if result.new and result.order is not None and result.order.lines:  # her first order of the day
        contact = contact or await orders.contact(member, community.id)
        text = "\n".join(filter(None, [text, contact_prompt(contact, config)]))
    await reply(text)
    await announce_sold_out(result, orders, config)
    return effect(result.changes, window, community)


async def keep_contact(orders: Orders, member: Member, community: int, now: datetime, address: str = "",
                       phone: str = "") -> Contact:
    """Keep an address or phone the member gave for this community (what changed only); what
    is on file now."""
    known = await orders.contact(member, community)
    address_changed = bool(address) and address != known.address
    phone_changed = bool(phone) and phone != known.phone
    if address_changed or phone_changed:
        await orders.set_contact(member, community, now, address=address if address_changed else None,
                                 phone=phone if phone_changed else None)
        return Contact(address or known.address, phone or known.phone)
    return known


def contact_prompt(contact: Contact, config: Config) -> str:
    """On a member's first order of a delivery day: what the driver still needs ("" if nothing)."""
    address, phone = not contact.address, config.shop.ask_phone and not contact.phone
    if address and phone:
        return "📍 送货需要您的地址和手机号，请回复，例如“5号楼2单元301 13812345678”。"
    if address:
        return "📍 送货需要您的地址，请回复，例如“5号楼2单元301”。"
    if phone:
        return "📞 送货时方便联系您，请回复您的手机号。"
    return ""


def confirmation(result: OrderResult, window: Window, heading: str = "") -> str:
    """✅ what changed, what could not be had, and the member's order for the day."""
    lines = [heading] if heading else []
    lines += changes_text(result.changes)
    for short in result.short:
        p = short.product
        lines.append(f"⚠️ {p.name}只剩{qty(short.granted)}{p.unit}，已为您记下{qty(short.granted)}{p.unit}。"
                     if short.granted else f"⚠️ {p.name}已售完，没有记下。")
    order = result.order
    day = short_date(window.delivery_date)
    if order and order.lines:
        lines.append(f"您{day}的订单：{order_text(order)}")
    else:
        lines.append(f"您{day}的订单已经全部取消了。")
    return "\n".join(lines)


_MODES = {ADD: ADD_MODE, SET_OP: SET}


async def _changes(items: Sequence[Item], offer: Offer, member: Member, window: Window,
                   everything: bool) -> list[Change]:
    if everything:
        orders = await member_orders(member.id, window.delivery_date)
        return [
            Change(Product(l.sku, l.name, l.unit, l.price), REMOVE, None)
            for order in orders for l in order.lines
        ]
    return [Change(p, _MODES.get(item.op, REMOVE), item.qty) for item in items if (p := offer.by_sku(item.sku))]


@router.message(Intent("query_orders"), flags={READS: True})
async def on_query(member: Member, reply: Reply, clock: Clock, config: Config) -> None:
    """查订单：我的订单（群里或私聊都行）"""
    today = clock.now().astimezone(config.timezone).date()
    orders = await member_orders(member.id, since=today)
    if not orders:
        await reply("您现在没有订单。" + HOW_TO_ORDER)
        return
    parts = [f"{short_date(o.delivery_date)}：{order_text(o)}" for o in orders]
    await reply("您的订单：\n" + "\n".join(parts))
