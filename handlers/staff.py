"""Staff commands (docs/CONTRACTS.md section 5). Only the contact ids in [shop] staff may run
them; anyone else gets a short refusal and nothing changes. /帮助 lists these docstrings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.dispatcher import Dispatcher, Router
from bot.core.effects import Effect
from bot.core.messages import Incoming, Outgoing
from bot.core.protocols import Export, Later, Postbox, Reply
from handlers.announcements import post_summaries
from handlers.filters import Command, any_command, is_staff
from handlers.texts import money, qty
from models.days import close_ordering, delivery_date_for, short_date
from models.orders import orders_for_delivery, product_totals
from models.delivery import deliver
from models.points import Rewards
from models.settlement import settle_day
from models.signin import issue_link
from models.tables import Community

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


@router.message(Command("送达"), is_staff)
async def on_delivered(args: str, clock: Clock, config: Config, outbox: Postbox, rewards: Rewards,
                       reply: Reply) -> Effect | None:
    """送达：/送达 [小区]，今天配送的订单（该小区的）标记已送达：优惠券核销、积分到账，列出到付应收"""
    today = clock.now().astimezone(config.timezone).date()
    name = args.strip()
    community = None
    if name:
        listed = await Community.all()
        found = [c for c in listed if c.name == name] or [c for c in listed if name in c.name]
        if len(found) != 1:
            known = "、".join(c.name for c in listed)
            await reply(f"{'没有' if not found else '不止一个'}叫“{name[:20]}”的小区。可选：{known}\n格式：/送达 [小区]")
            return None
        community = found[0]
    done = await deliver(today, community.id if community else None, rewards, clock.now(), outbox)
    where = community.name if community else "各小区"
    if not done.orders:
        await reply(f"{short_date(today)}{where}没有待送达的订单。")
        return None
    rooms = [community] if community else [c for c in await Community.filter(
        orders__id__in=done.orders).distinct()]
    for served in rooms:
        await outbox.put(Outgoing(f"🚚 {served.name}今天的订单已送达，请查收。有问题请联系店员。", room=served.room))
    text = f"✅ {short_date(today)}{where}已送达{len(done.orders)}单。"
    if done.dues:
        total = sum((due for _, _, due in done.dues), Decimal(0))
        text += f"\n到付应收{len(done.dues)}单，合计{money(total)}：\n" + "\n".join(
            f"{member} {address or '（无地址）'} {money(due)}" for member, address, due in done.dues)
    else:
        text += "\n没有到付的订单。"
    await reply(text)
    return Effect(delivery_date=today, orders=tuple(done.orders))


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


@router.message(Command("看板"), is_staff)
async def on_dashboard(msg: Incoming, clock: Clock, config: Config, outbox: Postbox, reply: Reply) -> None:
    """看板：私聊发您一个登录链接，手机上看今天的订单、每天的走势、拼团、会员和活动"""
    token = await issue_link(msg.sender_id, clock.now(), config.web.sign_in_minutes)
    await outbox.put(Outgoing(
        f"📊 {config.shop.name}看板：{config.public_url}/dash/in/{token}\n"
        f"{config.web.sign_in_minutes}分钟内打开，只能用一次；进入后{config.web.session_hours}小时内不用再登录。"
        "链接只给您本人，请勿转发。", to=msg.sender_id))
    if msg.room is not None:  # a sign-in link is never posted in a group
        await reply("看板的登录链接已私聊发给您。")


@router.message(any_command)
async def on_other_command(msg: Incoming, command: str, config: Config, reply: Reply) -> None:
    """(不是店员，或没有这个命令)"""
    if msg.sender_id not in config.shop.staff:
        await reply("抱歉，这个命令只有店员可以用。")
    else:
        await reply(f"没有 {command[:20]} 这个命令，发 /帮助 看看有哪些。")
