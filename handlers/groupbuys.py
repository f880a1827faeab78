"""Group-buys (拼团) by chat: staff open and cancel them, members open them ("开团 草莓") and
join them ("参团", "参团 3", "我要参团#3"). The state machine is models.groupbuys."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from decimal import Decimal

from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.dispatcher import Router
from bot.core.effects import Effect
from bot.core.messages import Incoming
from bot.core.protocols import Postbox, Reply
from handlers.announcements import announce
from handlers.filters import Command, Intent, is_staff
from models.catalog import Offer, Product
from handlers.parsing import Parsed
from handlers.parsing.groupbuys import USAGE, parse_open_command
from handlers.texts import money
from models.days import current_window, delivery_date_for, short_date
from models.groupbuys import (
    ALREADY, ELSEWHERE, ENDED, MISSING, SOLD_OUT, SUCCESS, Joined, cancel_groupbuy, join_groupbuy,
    delivery_of, open_for, open_groupbuy,
)
from models.points import Rewards
from models.settlement import settle_again
from models.funnel import GroupBuyFigures, groupbuy_figures
from models.tables import Community, GroupBuy, Member

router = Router("groupbuys")

STATE_TEXT = {"open": "进行中", "success": "已成团", "failed": "未成团", "cancelled": "已取消"}
ENDED_TEXT = {"success": "已经成团了", "failed": "没有成团，已经结束了", "cancelled": "已被取消"}


def when(moment: datetime, config: Config) -> str:
    local = moment.astimezone(config.timezone)
    return f"{short_date(local.date())} {local:%H:%M}"


def terms(groupbuy: GroupBuy) -> str:
    return f"{groupbuy.name} {groupbuy.size}人团 拼团价{money(groupbuy.price)}/{groupbuy.unit}"


async def delivery_for(now: datetime, config: Config) -> date:
    """A group-buy's orders go with the delivery of the ordering day now open, or next to open."""
    window = await current_window(now, config.schedule, config.timezone)
    if window.open:
        return window.delivery_date
    return delivery_date_for(window.opens_at.astimezone(config.timezone).date(), config.schedule)


def invitation(groupbuy: GroupBuy, product: Product | None, config: Config) -> str:
    was = f"（原价{money(product.price)}）" if product and product.price > groupbuy.price else ""
    return (f"🎉 拼团#{groupbuy.id}：{terms(groupbuy)}{was}，{when(groupbuy.deadline, config)}前满"
            f"{groupbuy.size}人成团，{short_date(delivery_of(groupbuy))}配送。回复“参团 {groupbuy.id}”参加！")


@router.message(Command("开团"), is_staff)
async def on_staff_open(msg: Incoming, args: str, member: Member, offer: Offer, config: Config,
                        clock: Clock, outbox: Postbox, reply: Reply) -> None:
    """开拼团，如 /开团 草莓 3人 29.9元 2小时（在群里发只在该群，私聊发到所有群）"""
    request = parse_open_command(args, offer)
    if isinstance(request, str):
        await reply(request)
        return
    product = request.product
    size = request.size or product.group_size
    price = request.price or product.group_price
    if size is None or price is None:
        await reply(f"{product.name}没有设拼团人数和价格，请写上。{USAGE}")
        return
    now = clock.now()
    community = await Community.get_or_none(room=msg.room) if msg.room else None
    groupbuy = await open_groupbuy(product, size, price, now + (request.duration or config.groupbuy.duration),
                                   await delivery_for(now, config), community, member.id, now)
    await announce(groupbuy, invitation(groupbuy, product, config), outbox, config,
                   broadcast=msg.room is None)
    if msg.room is None:
        await reply(f"已开团#{groupbuy.id}（{terms(groupbuy)}），已排队发到{len(config.groups)}个群。")


@router.message(Command("取消拼团"), is_staff)
async def on_cancel(args: str, clock: Clock, config: Config, outbox: Postbox, rewards: Rewards,
                    reply: Reply) -> Effect | None:
    """取消拼团，如 /取消拼团 3（已成团的订单一并取消）"""
    number = args.lstrip("#").strip()
    if not (number.isascii() and number.isdigit()):
        await reply("格式：/取消拼团 <编号>，如 /取消拼团 3")
        return None
    now = clock.now()
    # (an id past the table's integers is no group-buy: the database would refuse the query)
    closed = await cancel_groupbuy(int(number), now) if len(number) <= 9 else None
    if closed is None:
        await reply(f"没有拼团#{number}。")
        return None
    groupbuy = closed.groupbuy
    if closed.was not in ("open", "success"):
        await reply(f"拼团#{groupbuy.id}{ENDED_TEXT.get(closed.was, closed.was)}，没有改动。")
        return None
    await rewards.settle(closed.orders, now)
    await settle_again(closed.orders, config.wallet, outbox, now)  # what the wallet paid goes back
    extra = "，订单已取消，不收费" if closed.orders else ""
    await announce(groupbuy, f"📢 拼团#{groupbuy.id}（{groupbuy.name}）已被店家取消{extra}，抱歉！",
                   outbox, config, mention=True, broadcast=False)
    await reply(f"已取消拼团#{groupbuy.id}，{len(closed.participants)}位参团成员已通知"
                f"{f'，{len(closed.orders)}个订单已取消' if closed.orders else ''}。")
    return orders_effect(groupbuy, closed.orders)


def orders_effect(groupbuy: GroupBuy, orders: list[int]) -> Effect:
    """What the message did, for the inbound record; its orders make the workbook due."""
    if not orders or groupbuy.delivery_date is None:
        return Effect(groupbuy=groupbuy.id)
    return Effect(groupbuy=groupbuy.id, orders=tuple(orders), delivery_date=groupbuy.delivery_date)


@router.message(Intent("open_groupbuy"))
async def on_member_open(parsed: Parsed, msg: Incoming, member: Member, community: Community | None,
                         offer: Offer, products: tuple[Product, ...], config: Config, clock: Clock,
                         reply: Reply) -> Effect | None:
    """开团：开团 草莓（有拼团价的商品，在小区群里发；自己算第一位参团）"""
    product = offer.by_sku(parsed.items[0].sku) if parsed.items else None
    if product is None:
        return None
    if product.group_price is None or product.group_size is None:
        await reply(f"{product.name}暂时没有拼团价，不能开团。")
        return None
    if community is None or msg.room is None:
        await reply("开团请在您小区的群里发，这样邻居们能看到。")
        return None
    now = clock.now()
    running = [g for g in await open_for(community, now) if g.sku == product.sku]
    if running:
        await reply(f"{product.name}已经在拼团#{running[0].id}，回复“参团 {running[0].id}”一起拼吧！")
        return None
    groupbuy = await open_groupbuy(product, product.group_size, product.group_price,
                                   now + config.groupbuy.duration, await delivery_for(now, config),
                                   community, member.id, now)
    joined = await join_groupbuy(groupbuy.id, member, community, _stocked(product, products), now)
    if joined.outcome == SOLD_OUT:
        await GroupBuy.filter(id=groupbuy.id).update(state="cancelled", closed_at=now)
        await reply(f"{product.name}已售完，开不了团了。")
        return None
    await reply(f"已开团并参团！{invitation(groupbuy, product, config)}还差{groupbuy.size - 1}人。")
    return Effect(groupbuy=groupbuy.id)


@router.message(Intent("join_groupbuy"))
async def on_join(parsed: Parsed, msg: Incoming, member: Member, community: Community | None,
                  products: tuple[Product, ...], config: Config, clock: Clock, outbox: Postbox,
                  rewards: Rewards, reply: Reply) -> Effect | None:
    """参团：参团 / 参团 3 / 我要参团#3"""
    now = clock.now()
    if community is None:
        await reply("请在您小区的群里参团，这样我们知道送到哪里。")
        return None
    number = parsed.groupbuy
    if number is None:
        running = await open_for(community, now)
        if not running:
            await reply("现在没有进行中的拼团。")
            return None
        if len(running) > 1:
            listed = "；".join(f"#{g.id} {terms(g)}" for g in running[:5])
            await reply(f"现在有{len(running)}个拼团：{listed}。请回复“参团 编号”。")
            return None
        number = running[0].id
    existing = await GroupBuy.get_or_none(id=number)
    if existing is None:
        await reply(f"没有拼团#{number}，发“参团”看看进行中的拼团。")
        return None
    joined = await join_groupbuy(number, member, community, _product_of(existing, products), now)
    return await _after_join(joined, msg, config, now, outbox, rewards, reply)


async def _after_join(joined: Joined, msg: Incoming, config: Config, now: datetime, outbox: Postbox,
                      rewards: Rewards, reply: Reply) -> Effect | None:
    groupbuy = joined.groupbuy
    if groupbuy is None or joined.outcome == MISSING:
        await reply("没有这个拼团，发“参团”看看进行中的拼团。")
        return None
    refusal = {
        ALREADY: f"您已经在拼团#{groupbuy.id}里了，还差{groupbuy.size - len(joined.participants)}人成团。",
        ENDED: f"拼团#{groupbuy.id}{ENDED_TEXT.get(groupbuy.state, '已经结束了')}，不能再参加了。"
               if groupbuy.state != "open" else f"拼团#{groupbuy.id}已到截止时间，不能再参加了。",
        ELSEWHERE: f"拼团#{groupbuy.id}是其他小区的拼团，请参加本群的拼团。",
        SOLD_OUT: f"{groupbuy.name}已售完，拼团#{groupbuy.id}参加不了了，抱歉！",
    }.get(joined.outcome)
    if refusal is not None:
        await reply(refusal)
        return None
    if joined.outcome == SUCCESS:
        await rewards.settle(joined.orders, now)
        await announce(groupbuy, f"🎉 拼团#{groupbuy.id}（{terms(groupbuy)}）成团了！每人1{groupbuy.unit}，"
                       f"已为大家下单，{short_date(delivery_of(groupbuy))}随各小区配送时段送达。",
                       outbox, config, mention=True, broadcast=False)
        return orders_effect(groupbuy, joined.orders)
    left = groupbuy.size - len(joined.participants)
    await reply(f"✅ 已参加拼团#{groupbuy.id}（{terms(groupbuy)}），还差{left}人成团，"
                f"{when(groupbuy.deadline, config)}截止。")
    if joined.last_place:
        await announce(groupbuy, f"🔥 拼团#{groupbuy.id}（{groupbuy.name}）还差1人成团！回复“参团 {groupbuy.id}”参加。",
                       outbox, config, skip=msg.room)
    return Effect(groupbuy=groupbuy.id)


def _product_of(groupbuy: GroupBuy, products: tuple[Product, ...]) -> Product:
    """The catalog's product (its stock counts), or one made from the group-buy's own terms."""
    known = next((p for p in products if p.sku == groupbuy.sku), None)
    return known or Product(groupbuy.sku, groupbuy.name, groupbuy.unit, groupbuy.price)


def _stocked(product: Product, products: tuple[Product, ...]) -> Product:
    """The catalog's product (its stock counts), whatever the offer shows."""
    return next((p for p in products if p.sku == product.sku), product)


@router.message(Command("拼团统计"), is_staff)
async def on_stats(clock: Clock, config: Config, reply: Reply) -> None:
    """拼团漏斗：最近拼团的触达、参团、成团/失败、订单和金额；主态（成员开团）和客态（参团）分开，带来的新客30/90天复购"""
    figures = await groupbuy_figures(config.shop.staff, clock.now())
    if not figures:
        await reply("还没有拼团。")
        return
    states = Counter(f.state for f in figures)
    ended = states["success"] + states["failed"]
    rate = f"，成团率{states['success'] * 100 // ended}%" if ended else ""
    revenue = sum((f.revenue for f in figures), Decimal(0))
    opened = [f for f in figures if f.opener]
    brought = sum(f.brought for f in figures)
    openers_brought = sum(1 for f in figures if f.brought_opener)
    head = (f"【拼团统计】最近{len(figures)}个：" + "，".join(f"{STATE_TEXT[s]}{states[s]}" for s in STATE_TEXT if states[s])
            + f"{rate}；订单{sum(f.orders for f in figures)}个 {money(revenue)}\n"
            f"主态（成员开团）{len(opened)}个，成团{sum(1 for f in opened if f.state == 'success')}；"
            f"客态（参团）{sum(f.joiners for f in figures)}人次；带来新客{brought}人"
            f"（主态{openers_brought}，客态{brought - openers_brought}），"
            f"30天内复购{sum(f.again_30 for f in figures)}人，90天内{sum(f.again_90 for f in figures)}人")

    def row(f: GroupBuyFigures) -> str:
        who = f"主态{f.opener_name}" if f.opener else "店员开团"
        again = (f"，30天复购{f.again_30}{'' if f.complete_30 else '（未满30天）'}"
                 f"，90天复购{f.again_90}{'' if f.complete_90 else '（未满90天）'}") if f.brought else ""
        return (f"#{f.id} {f.name} {f.size}人团 {STATE_TEXT.get(f.state, f.state)}：触达{f.reached} 参团{f.joined} "
                f"订单{f.orders} {money(f.revenue)}；{who}，客态{f.joiners}，新客{f.brought}{again}")

    rows = [row(f) for f in figures]
    await reply("\n".join([head, *rows]))

