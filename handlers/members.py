"""A member's own help, their address and phone, and their campaign opt-out.

The help is generated from the handlers members use (their docstrings), as the staff help is
from the commands: nothing is written twice.
"""

from __future__ import annotations

from typing import Any

from bot.core.clock import Clock
from bot.core.dispatcher import BOOK, Dispatcher, Router
from bot.core.messages import Incoming
from bot.core.protocols import Reply
from handlers.filters import Command, Intent
from handlers.orders import keep_contact
from handlers.parsing import Parsed
from models.tables import Community, Member

router = Router("members")


def member_help(dispatcher: Dispatcher) -> str:
    """One line per handler a member can reach by chat (docstrings in parentheses are the
    bot's own business, not help)."""
    rows = [f"• {h.help}" for h in dispatcher.handlers
            if any(isinstance(f, Intent) for f in h.filters) and h.help and not h.help.startswith("(")]
    return "可以这样跟我说：\n" + "\n".join(rows)


def _not_staff(msg: Incoming, context: Any) -> bool:
    return msg.sender_id not in context.services["config"].shop.staff


@router.message(Command("帮助"), _not_staff)
async def on_help_command(dispatcher: Dispatcher, reply: Reply) -> None:
    """(成员发 /帮助：怎么下单、改单、查单)"""
    await reply(member_help(dispatcher))


@router.message(Intent("help"), flags={BOOK: True})
async def on_help(dispatcher: Dispatcher, reply: Reply) -> None:
    """帮助：发“帮助”或“怎么下单”看这些说明"""
    await reply(member_help(dispatcher))


@router.message(Intent("unsubscribe"))
async def on_unsubscribe(member: Member, reply: Reply) -> None:
    """退订：不再收活动消息（订单、余额等服务消息照常）；发“订阅”恢复"""
    if not member.unsubscribed:
        await Member.filter(id=member.id).update(unsubscribed=True)
    await reply("好的，已退订活动消息，以后不再给您发优惠活动。订单、送货和余额这些消息照常。想恢复就发“订阅”。")


@router.message(Intent("subscribe"))
async def on_subscribe(member: Member, reply: Reply) -> None:
    """订阅：重新接收活动消息"""
    if member.unsubscribed:
        await Member.filter(id=member.id).update(unsubscribed=False)
    await reply("好的，已恢复活动消息，有优惠会私信告诉您。发“退订”可以随时退订。")


@router.message(Intent("contact"), flags={BOOK: True})
async def on_contact(parsed: Parsed, member: Member, community: Community | None, reply: Reply, orders: Any,
                     clock: Clock) -> None:
    """地址和电话：直接发“5号楼2单元301”或手机号，送货时用"""
    place = community.id if community is not None else member.home_id  # type: ignore[attr-defined]
    if place is None:
        await reply("请在您小区的群里发一下地址或电话，这样我们知道是哪个小区的。")
        return
    await keep_contact(orders, member, place, clock.now(), parsed.address, parsed.phone)
    kept = []
    if parsed.address:
        kept.append(f"地址：{parsed.address}")
    if parsed.phone:
        kept.append(f"电话：{parsed.phone[:3]}****{parsed.phone[-4:]}")
    where = community.name if community is not None else await _home_name(place)
    await reply(f"✅ 已记下您的{'；'.join(kept)}。以后{where}的订单都送到这里。")


async def _home_name(community: int) -> str:
    found = await Community.get_or_none(id=community)
    return found.name if found is not None else ""
