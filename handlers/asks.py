"""Asking back, and the answers to it.

When the bot cannot act on an order-like message it asks one short question (the parser's
`Parsed.reason`), proposing what it did understand ("您要加2斤西红柿、取消土豆，对吗？") or
asking for the one thing missing ("纯牛奶按箱卖，您要几箱？"). The question waits on the member
(`Member.ask`). Their next message in the same chat, within ASK_TTL, is its answer: "对" does
what was proposed, "3箱" gives the quantity asked for, "不对" drops it. Any message of theirs
in that chat takes the question away (`take`), so that only the very next one answers it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.dispatcher import BOOK, Router
from bot.core.effects import Effect
from bot.core.messages import Incoming
from bot.core.protocols import Reply
from handlers.filters import Intent
from handlers.orders import Orders, record
from models.catalog import Offer
from handlers.parsing import Item, Parsed
from handlers.parsing.items import MAX_QTY
from handlers.parsing.quantities import sensible, to_product_unit
from handlers.texts import HOW_TO_ORDER
from models.tables import Community, Member

router = Router("asks")

ASK_TTL = timedelta(minutes=10)  # how long a question waits for its answer

Ask = dict[str, Any]  # {"room", "at", "proposal": [[sku, qty or None, op]], "awaiting": [[sku, op]]}


async def take(member: Any, msg: Incoming, orders: Orders) -> Ask | None:
    """The question this message answers, if any; a question waiting in this chat is gone
    after it either way. Called for every message before its handler (bot.writer)."""
    ask = member.ask
    if not ask or ask.get("room") != msg.room:
        return None
    await orders.set_ask(member, None)
    fresh = msg.at - datetime.fromisoformat(ask["at"]) <= ASK_TTL
    return ask if fresh else None


@router.message(Intent("unclear"), flags={BOOK: True})
async def on_unclear(msg: Incoming, parsed: Parsed, member: Member, community: Community | None, reply: Reply,
                     offer: Offer, config: Config, clock: Clock, orders: Orders,
                     ask: Ask | None) -> Effect | None:
    """(看不懂或不确定的订单：问一句，不记任何东西)"""
    if parsed.answer_qty is not None and ask is not None:
        answered, done = await _answer(ask, msg, parsed.answer_qty, parsed.answer_unit, member, community,
                                       reply, offer, config, clock, orders)
        if answered:
            return done
    await reply(ask_text(parsed, offer))
    asked: Ask = {}
    if parsed.proposal:
        asked["proposal"] = [[i.sku, None if i.qty is None else str(i.qty), i.op] for i in parsed.proposal]
    if parsed.awaiting:
        asked["awaiting"] = [list(pair) for pair in parsed.awaiting]
    if not asked:
        return None
    await orders.set_ask(member, {"room": msg.room, "at": msg.at.isoformat(), **asked})
    return Effect(ask=asked)


def ask_text(parsed: Parsed, offer: Offer) -> str:
    """The question, and how to answer it."""
    lines = [f"🤔 {parsed.reason}"]
    if parsed.proposal:
        lines.append("回复“对”就记下，回复“不对”就不记。")
    elif parsed.awaiting:
        product = offer.by_sku(parsed.awaiting[0][0])
        example = f"如“3{product.unit}”" if product else "如“3”"
        lines.append(f"直接回复数量就行，{example}。这条还没有记下。")
    elif parsed.suggestions:
        lines.append(f"您是不是要：{'、'.join(parsed.suggestions)}？这条没有记下。")
    elif parsed.unknown:
        shown = [f"{offer.number_of(p)}号{p.name}" for p in offer.products[:8]]
        lines.append(f"今天有：{'、'.join(shown)}{'等' if len(offer) > 8 else ''}。这条没有记下。")
    else:
        lines.append("这条没有记下。" + HOW_TO_ORDER)
    return "\n".join(lines)


@router.message(Intent("confirm"), flags={BOOK: True})
async def on_confirm(member: Member, community: Community | None, reply: Reply, offer: Offer, config: Config,
                     clock: Clock, orders: Orders, ask: Ask | None) -> Effect | None:
    """确认：我问“……对吗？”的时候，回复“对”就记下"""
    if not ask or not ask.get("proposal"):
        return None  # "好的" to nothing the bot asked: chit-chat
    items = [Item(sku, None if amount is None else Decimal(amount), op) for sku, amount, op in ask["proposal"]]
    return await record(items, member, community, reply, offer, config, clock.now(), orders)


@router.message(Intent("deny"), flags={BOOK: True})
async def on_deny(reply: Reply, ask: Ask | None) -> None:
    """(我问“……对吗？”的时候回复“不对”：不记)"""
    if ask:
        await reply("好的，这条没有记下。请再写一次要什么、多少，如“西红柿2斤”。")


@router.message(Intent("quantity"), flags={BOOK: True})
async def on_quantity(msg: Incoming, parsed: Parsed, member: Member, community: Community | None, reply: Reply,
                      offer: Offer, config: Config, clock: Clock, orders: Orders,
                      ask: Ask | None) -> Effect | None:
    """(只有一个数字：回答我刚问的数量时才记)"""
    if ask is None or parsed.answer_qty is None:
        return None
    _, done = await _answer(ask, msg, parsed.answer_qty, None, member, community, reply, offer, config, clock,
                            orders)
    return done


async def _answer(ask: Ask, msg: Incoming, amount: Decimal, unit: str | None, member: Member,
                  community: Community | None, reply: Reply, offer: Offer, config: Config, clock: Clock,
                  orders: Orders) -> tuple[bool, Effect | None]:
    """A quantity that answers "要几斤？": whether the question was for a quantity, and the
    effect of recording it."""
    awaiting = ask.get("awaiting") or []
    if len(awaiting) != 1:
        return False, None
    sku, op = awaiting[0]
    product = offer.by_sku(sku)
    if product is None:
        return False, None
    qty = to_product_unit(amount, unit, product.unit)
    if qty is None or not sensible(qty, product.unit) or qty > MAX_QTY:
        await reply(f"🤔 {product.name}按{product.unit}卖，您要几{product.unit}？直接回复数量就行，如“2{product.unit}”。")
        again = {"awaiting": [[sku, op]]}
        await orders.set_ask(member, {"room": msg.room, "at": msg.at.isoformat(), **again})
        return True, Effect(ask=again)
    done = await record([Item(sku, qty, op)], member, community, reply, offer, config, clock.now(), orders)
    return True, done
