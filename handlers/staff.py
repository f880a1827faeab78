"""Staff commands (docs/CONTRACTS.md section 5). Only the contact ids in [shop] staff may run
them; anyone else gets a short refusal and nothing changes. /帮助 lists these docstrings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.dispatcher import Dispatcher, Router
from bot.core.messages import Incoming
from bot.core.protocols import Export, Later, Postbox, Reply
from handlers.announcements import post_summaries
from handlers.filters import Command, any_command, is_staff
from handlers.texts import money, qty
from models.days import close_ordering, delivery_date_for, short_date
from models.orders import orders_for_delivery, product_totals
from models.settlement import settle_day

router = Router("staff")


def _today_delivery(clock: Clock, config: Config) -> tuple[Any, Any]:
    order_date = clock.now().astimezone(config.timezone).date()
    return order_date, delivery_date_for(order_date, config.schedule)


@router.message(Command("帮助"), is_staff)
async def on_help(dispatcher: Dispatcher, reply: Reply) -> None:
    """列出所有店员命令"""
    rows = [
        f"/{f.name} — {h.help}"
        for h in dispatcher.handlers for f in h.filters if isinstance(f, Command)
    ]
    await reply("店员命令：\n" + "\n".join(rows))


@router.message(Command("截单"), is_staff)
async def on_close(clock: Clock, config: Config, outbox: Postbox, reply: Reply) -> None:
    """立即截单：今天不再接单，各群发汇总"""
    order_date, delivery = _today_delivery(clock, config)
    if not await close_ordering(order_date, clock.now()):
        await reply(f"{short_date(order_date)}已经截单了。")
        return
    await post_summaries(delivery, outbox)
    await settle_day(delivery, config.wallet, outbox, clock.now())
    await reply(f"已截单：{short_date(order_date)}的订单到此为止，各群的汇总已排队发出。")


@router.message(Command("汇总"), is_staff)
async def on_totals(clock: Clock, config: Config, reply: Reply) -> None:
    """今天的合计：按商品、按小区"""
    _, delivery = _today_delivery(clock, config)
    orders = await orders_for_delivery(delivery)
    if not orders:
        await reply(f"{short_date(delivery)}配送的订单还没有。")
        return
    by_community: dict[str, list[Any]] = {}
    for order in orders:
        entry = by_community.setdefault(order.community, [0, Decimal(0)])
        entry[0] += 1
        entry[1] += order.total
    products = "\n".join(f"{t.name} {qty(t.qty)}{t.unit} {money(t.amount)}" for t in product_totals(orders))
    communities = "\n".join(f"{c}：{n}单 {money(t)}" for c, (n, t) in by_community.items())
    revenue = sum((o.total for o in orders), Decimal(0))
    await reply(f"【{short_date(delivery)}配送 汇总】\n按商品：\n{products}\n按小区：\n{communities}\n"
                f"共{len(orders)}单 {money(revenue)}")


@router.message(Command("导出"), is_staff)
async def on_export(msg: Incoming, clock: Clock, config: Config, export: Export) -> Later:
    """生成今天的订单表格（订单、拣货单、配送单），私聊时把文件发给您"""
    _, delivery = _today_delivery(clock, config)

    async def write(reply: Reply) -> None:  # after the commit, outside the writer
        path = await export(delivery)
        if path is None:
            await reply("表格这次没有写成（原因已发给店员），会自动重试，订单不会丢。")
            return
        await reply(f"表格已更新：{path}", file=str(path) if msg.room is None else None)

    return Later(write)


@router.message(any_command)
async def on_other_command(msg: Incoming, command: str, config: Config, reply: Reply) -> None:
    """(不是店员，或没有这个命令)"""
    if msg.sender_id not in config.shop.staff:
        await reply("抱歉，这个命令只有店员可以用。")
    else:
        await reply(f"没有 {command[:20]} 这个命令，发 /帮助 看看有哪些。")
