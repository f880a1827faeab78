"""Staff control of what the shop broadcasts: post the offer now (while ordering is open),
open ordering again after an early /截单, pause and resume broadcasts, change a group's
delivery slot. /帮助 lists these docstrings too."""

from __future__ import annotations

from datetime import datetime

from bot.core.clock import Clock
from bot.core.config import Config, parse_slot
from bot.core.dispatcher import Router
from bot.core.messages import Outgoing
from bot.core.protocols import PacedPostbox, Reply
from handlers.announcements import post_offer
from handlers.filters import Command, is_staff
from models.catalog import Offer
from models.days import Window, current_window, reopen_ordering
from models.tables import Community

router = Router("broadcasts")


@router.message(Command("发布"), is_staff)
async def on_post(clock: Clock, config: Config, offer: Offer, outbox: PacedPostbox, reply: Reply) -> None:
    """立即在各群发今天的团购信息（接单时间内）"""
    now = clock.now()
    window = await current_window(now, config.schedule, config.timezone)
    if not window.open:  # the post would invite orders that are then refused
        await reply(closed_text(now, window, config))
        return
    await post_offer(now, config, offer, outbox)
    note = "（广播已暂停，发 /恢复 后才会发出）" if outbox.paused else ""
    await reply(f"今天的团购信息已排队发到各群。{note}")


@router.message(Command("开单"), is_staff)
async def on_reopen(clock: Clock, config: Config, reply: Reply) -> None:
    """撤销今天的 /截单，重新接单（截单时间之前）；要通知各群再发 /发布"""
    now = clock.now()
    window = await current_window(now, config.schedule, config.timezone)
    if window.open:
        await reply(f"现在正在接单（{config.schedule.cutoff:%H:%M}截单），不用开单。")
        return
    local = now.astimezone(config.timezone)
    if local >= window.closes_at:
        await reply(f"已过{config.schedule.cutoff:%H:%M}的截单时间，今天不能再开单了。")
        return
    if local.time() < config.schedule.daily_post:
        await reply(f"今天{config.schedule.daily_post:%H:%M}开始接单，到时会自动发团购信息。")
        return
    await reopen_ordering(window.order_date)
    await reply(f"已重新开始接单，{config.schedule.cutoff:%H:%M}截单。要通知各群，请发 /发布。")


def closed_text(now: datetime, window: Window, config: Config) -> str:
    """Why the offer is not posted now."""
    local = now.astimezone(config.timezone)
    schedule = config.schedule
    if local >= window.closes_at:
        return f"今天{schedule.cutoff:%H:%M}已经截单，现在发布邻居下单也不会记下；明天{schedule.daily_post:%H:%M}会自动发布。"
    if local.time() < schedule.daily_post:
        return f"还没到接单时间（{schedule.daily_post:%H:%M}开始），现在发布邻居下单也不会记下；到时会自动发布。"
    return "今天已经截单了，现在发布邻居下单也不会记下。要重新接单，请先发 /开单。"


@router.message(Command("暂停"), is_staff)
async def on_pause(outbox: PacedPostbox, reply: Reply) -> None:
    """暂停所有群发（回复成员的消息照常）"""
    waiting = await outbox.pause(True)
    await reply(f"群发已暂停，{waiting}条群发在等待。发 /恢复 继续。")


@router.message(Command("恢复"), is_staff)
async def on_resume(outbox: PacedPostbox, reply: Reply) -> None:
    """恢复群发：暂停期间排队的消息按节奏发出"""
    waiting = await outbox.pause(False)
    await reply(f"群发已恢复，{waiting}条排队的群发会按节奏发出。")


@router.message(Command("配送"), is_staff)
async def on_slot(args: str, outbox: PacedPostbox, reply: Reply) -> None:
    """改配送时段并通知该群：/配送 <群或小区> <时段>，如 /配送 阳光花园 17:00-19:00"""
    where, _, slot = args.rpartition(" ")
    try:
        slot = parse_slot(slot.strip())
    except ValueError:
        await reply("格式：/配送 <群或小区> <时段>，如 /配送 阳光花园 17:00-19:00")
        return
    found = await _community(where.strip())
    if isinstance(found, str):
        await reply(found)
        return
    old, found.delivery_slot = found.delivery_slot, slot
    await found.save(update_fields=["delivery_slot"])
    await outbox.put(Outgoing(f"📢 配送时间调整：{found.name}的配送时段由 {old} 改为 {slot}。",
                              room=found.room, broadcast=True))
    await reply(f"{found.name}的配送时段已改为 {slot}，已通知该群。")


async def _community(where: str) -> Community | str:
    """The community named by room id or (part of) its name, or why there is none."""
    if not where:
        return "请写明哪个群或小区，如 /配送 阳光花园 17:00-19:00"
    exact = await Community.filter(active=True).filter(room=where).first() or \
        await Community.filter(active=True, name=where).first()
    if exact is not None:
        return exact
    matches = [c for c in await Community.filter(active=True) if where in c.name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        return f"没有找到“{where[:20]}”这个群或小区。"
    return f"“{where[:20]}”对应多个小区：{'、'.join(c.name for c in matches)}，请写全名。"

