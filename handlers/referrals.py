"""Referrals by chat: "邀请" gives a member their code and link, a code sent by a new member
attributes them to the inviter; /邀请统计 for staff."""

from __future__ import annotations

from decimal import Decimal

from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.dispatcher import Router
from bot.core.protocols import Postbox, Reply
from handlers.filters import Command, Intent, is_staff
from handlers.parsing import Parsed
from handlers.texts import money
from models.coupons import referral_friend
from models.funnel import inviter_figures
from models.referrals import (
    ALREADY, ATTRIBUTED, NOT_NEW, ORDERED, SELF, STAFF, UNKNOWN_CODE, attribute_code, code_for,
)
from models.tables import Member

router = Router("referrals")


def link(config: Config, code: str) -> str:
    return f"{config.public_url}/r/{code}"


@router.message(Intent("invite"))
async def on_invite(member: Member, config: Config, reply: Reply) -> None:
    """邀请：我的邀请码和邀请链接（邻居下单后您得积分）"""
    code = await code_for(member)
    reward = (f"邻居进群后第一次下单，您得{config.referral.inviter_points}积分。"
              if config.referral.inviter_points else "")
    await reply(f"您的邀请码：{code}\n邀请链接：{link(config, code)}\n"
                f"请邻居进群后发送邀请码，或由您直接拉进群。{reward}")


@router.message(Intent("use_code"))
async def on_code(parsed: Parsed, member: Member, config: Config, clock: Clock, outbox: Postbox,
                  reply: Reply) -> None:
    """邀请码：新成员发送邀请人的邀请码（第一次下单前）"""
    result = await attribute_code(member, parsed.code, clock.now(), config.shop.staff,
                                  config.referral.new_member_days)
    inviter = result.inviter.name if result.inviter and result.inviter.name else "邀请人"
    text = {
        ATTRIBUTED: f"✅ 已记下：您是{inviter}邀请来的。欢迎！您的第一单送达后{inviter}会得到积分。",
        UNKNOWN_CODE: f"没有找到邀请码 {parsed.code}，请核对一下。",
        SELF: "这是您自己的邀请码哦，发给邻居吧～",
        ALREADY: f"您已经是{inviter}邀请来的了，不能再换。",
        STAFF: "店员的邀请码不用填写，欢迎您！",
        ORDERED: "邀请码要在第一次下单前填写，这次没有记下。",
        NOT_NEW: "邀请码只适用于新加入的邻居，这次没有记下。",
    }[result.outcome]
    await reply(text)
    if result.outcome == ATTRIBUTED:
        for note in await referral_friend(member.id, config, clock.now()):
            await outbox.put(note)


@router.message(Command("邀请统计"), is_staff)
async def on_stats(config: Config, clock: Clock, reply: Reply) -> None:
    """邀请漏斗：每位邀请人的链接访问、邀请加入、已下单/未下单、订单和金额"""
    figures = await inviter_figures(clock.now(), config.timezone)
    if not figures:
        await reply("还没有邀请记录。")
        return
    revenue = sum((f.revenue for f in figures), Decimal(0))
    head = (f"【邀请统计】{len(figures)}位邀请人：访问{sum(f.reached for f in figures)} "
            f"加入{sum(f.joined for f in figures)} 已下单{sum(f.succeeded for f in figures)} "
            f"订单{sum(f.orders for f in figures)}个 {money(revenue)}")
    rows = [f"{f.name}（{f.code or '无码'}）：访问{f.reached} 加入{f.joined} 已下单{f.succeeded} "
            f"未下单{f.failed} 订单{f.orders} {money(f.revenue)} 奖励{f.points}分"
            + (f"（另{f.pending * config.referral.inviter_points}分送达后到账）"
               if f.pending and config.referral.inviter_points else "") for f in figures]
    await reply("\n".join([head, *rows]))
