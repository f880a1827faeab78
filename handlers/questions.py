"""The shop's questions, answered from what the bot knows: today's offer (今天有什么), whether a
product is on it and what it costs (有没有西瓜, 五花肉多少钱一斤), when ordering closes and when
the order comes (几点截单, 几点送). A question about a product is noted for segments (只看不买).

In a group each question is answered once within `AGAIN` (the answer is just above; a busy
group is not flooded); privately, always. What the bot cannot answer ("草莓甜吗") is left to
the shop's staff: no reply.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.dispatcher import BOOK, Router
from bot.core.messages import Incoming
from bot.core.protocols import Reply
from handlers.filters import Intent
from handlers.parsing import Parsed
from handlers.texts import money, offer_lines, qty
from models.catalog import Offer, Product
from models.days import current_window, delivery_date_for, short_date
from models.state import get_state, set_state
from models.stock import stock_left
from models.tables import Community, Member

router = Router("questions")

AGAIN = timedelta(minutes=5)  # in a group, the same question is answered again only after this


async def answered_lately(room: str | None, question: str, now: datetime) -> bool:
    """Whether this question was answered in this group within AGAIN; if not, it is now."""
    if room is None:
        return False
    key = "answered:" + hashlib.sha1(f"{room}\n{question}".encode()).hexdigest()[:24]
    last = await get_state(key)
    if last is not None and now - datetime.fromisoformat(last) < AGAIN:
        return True
    await set_state(key, now.isoformat(), now)
    return False


@router.message(Intent("query_offer"), flags={BOOK: True})
async def on_offer(msg: Incoming, offer: Offer, reply: Reply) -> None:
    """今天有什么：今天的商品和价格"""
    if await answered_lately(msg.room, "offer", msg.at):
        return
    await reply("今天有：\n" + "\n".join(offer_lines(offer)) + "\n下单请写“商品+数量”，如“西红柿2斤”。")


def _how_to_order(product: Product) -> str:
    return f"要的话回复“{product.names[-1]}+数量”，如“{product.names[-1]}1{product.unit}”。"


@router.message(Intent("ask_product"), flags={BOOK: True})
async def on_ask_product(msg: Incoming, parsed: Parsed, member: Member, offer: Offer, config: Config,
                         reply: Reply, orders: Any) -> None:
    """问商品：“有没有西瓜”“五花肉多少钱一斤”答今天有没有、多少钱；“草莓甜吗”这类问题留给团长回答"""
    if parsed.items:
        await orders.note_asks(member, [item.sku for item in parsed.items], msg.at)
    if parsed.about not in ("price", "have"):
        return
    products = [p for item in parsed.items[:3] if (p := offer.by_sku(item.sku)) is not None]
    question = parsed.about + ":" + ",".join([p.sku for p in products] + list(parsed.unknown))
    if (not products and not parsed.unknown) or await answered_lately(msg.room, question, msg.at):
        return
    if not products:  # 有没有西瓜: not on today's offer
        names = "、".join(p.name for p in offer.products[:8]) + ("等" if len(offer.products) > 8 else "")
        await reply(f"今天没有{parsed.unknown[0]}。今天有：{names}。发“今天有什么”看价格。")
        return
    window = await current_window(msg.at, config.schedule, config.timezone)
    left = await stock_left(offer, window.delivery_date)
    rows, sold_out = [], []
    for p in products:
        if p.stock is not None and left.get(p.sku, p.stock) <= 0:
            sold_out.append(p.name)
        else:
            rest = f"（还剩{qty(left[p.sku])}{p.unit}）" if p.stock is not None else ""
            rows.append(f"{p.name} {money(p.price)}/{p.unit}{rest}")
    text = ("今天有" + "，".join(rows) + "。") if rows else ""
    text += ("，".join(sold_out) + "今天已经订完了。") if sold_out else ""
    if rows:
        first = next(p for p in products if p.name not in sold_out)
        text += _how_to_order(first)
    await reply(text)


@router.message(Intent("query_time"))
async def on_time(msg: Incoming, parsed: Parsed, community: Community | None, clock: Clock, config: Config,
                  reply: Reply) -> None:
    """几点截单、几点送：今天截单的时间和送到的时间"""
    if await answered_lately(msg.room, "time:" + parsed.about, msg.at):
        return
    tz = config.timezone
    now = clock.now()
    window = await current_window(now, config.schedule, tz)
    closes, opens = window.closes_at.astimezone(tz), window.opens_at.astimezone(tz)
    today = now.astimezone(tz).date()
    if window.open:
        left = int((closes - now).total_seconds() // 60)
        ordering = (f"今天{closes:%H:%M}截单，还有{left // 60}小时{left % 60}分钟" if left >= 60
                    else f"今天{closes:%H:%M}截单，还有{left}分钟") + "，现在可以下单。"
    elif opens.date() == today:
        ordering = f"今天{opens:%H:%M}开始接单，{closes:%H:%M}截单。"
    else:
        day = "明天" if opens.date() == today + timedelta(days=1) else short_date(opens.date())
        ordering = f"今天已经截单了，{day}{opens:%H:%M}开始接单。"
    # The orders taken now (or at the next opening) are delivered on this date.
    delivery = delivery_date_for(opens.date() if not window.open and opens.date() != today else today,
                                 config.schedule)
    if parsed.about == "cutoff":
        await reply(ordering)
        return
    places = [community] if community is not None else await Community.filter(active=True).order_by("id")
    slots = "；".join(f"{c.delivery_slot}送到{c.name}" for c in places)
    when = "今天下的单" if window.open or opens.date() == today else f"{short_date(opens.date())}下的单"
    await reply(f"{when}{short_date(delivery)} {slots}。{ordering}")
