"""Points by chat (docs/CONTRACTS.md section 7): "积分" shows what is available, pending and
about to expire; "积分兑换" lists the rewards; "兑换 N" spends the points of reward N. All of it
privately: asked in a group, the group hears only that the answer was sent privately."""

from __future__ import annotations

from datetime import timedelta

from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.dispatcher import READS, Router
from bot.core.messages import Incoming
from bot.core.protocols import Postbox, Reachable, Reply
from handlers.filters import Intent
from handlers.parsing import Parsed
from handlers.wallet import privately
from models.catalog import Product
from models.coupons import describe
from models.points import LIMIT, NO_REWARD, SHORT, Rewards, expiring, redeem, reward_name
from models.tables import Member, PointEntry

router = Router("points")

def how_to_earn(config: Config) -> str:
    per_yuan = f"{config.points.per_yuan.normalize():f}"
    invite = (f"邀请邻居来买，他的第一单送达后您得{config.referral.inviter_points}积分。"
              if config.referral.inviter_points else "")
    return f"订单送达后，每消费1元得{per_yuan}积分。{invite}"


@router.message(Intent("query_points"), flags={READS: True})
async def on_points(msg: Incoming, member: Member, clock: Clock, config: Config, rewards: Rewards,
                    outbox: Postbox, reachable: Reachable, reply: Reply) -> None:
    """积分：可用积分、待到账积分和快到期的积分（私信回复）"""
    await privately(msg, await points_text(member, clock, config, rewards), outbox, reply, reachable)


async def points_text(member: Member, clock: Clock, config: Config, rewards: Rewards) -> str:
    pending = await rewards.pending(member.id)
    lines = [f"您的积分：可用{member.points}" + (f"，待到账{pending}（订单送达后到账）" if pending else "")]
    if config.points.remind_days:
        soon, first = await expiring(member.id, clock.now() + timedelta(days=config.points.remind_days))
        if soon and first is not None:
            lines.append(f"其中{soon}分将于{first.astimezone(config.timezone):%m-%d}起到期，记得用掉。")
    recent = await PointEntry.filter(member_id=member.id).order_by("-id").limit(5)
    if recent:
        lines.append("最近：")
        lines += [f"{e.created_at.astimezone(config.timezone):%m-%d} {'+' if e.delta > 0 else ''}{e.delta} "
                  f"{e.reason}" for e in recent]
    if not recent and not pending:
        lines.append(how_to_earn(config))
    if config.reward:
        lines.append("发“积分兑换”看看能换什么。")
    return "\n".join(lines)


def rewards_text(config: Config, products: tuple[Product, ...], points: int) -> str:
    if not config.reward:
        return "店里还没有设置积分兑换。" + how_to_earn(config)
    known = {p.sku: p for p in products}
    rows = [f"{n}. {reward_name(r, config, known)} — {r.points}积分{'（可兑换）' if points >= r.points else ''}"
            for n, r in enumerate(config.reward, start=1)]
    return f"积分兑换（您可用{points}积分）：\n" + "\n".join(rows) + "\n发“兑换 1”即可兑换第1项。"


@router.message(Intent("list_rewards"))
async def on_rewards(msg: Incoming, member: Member, config: Config, products: tuple[Product, ...],
                     outbox: Postbox, reachable: Reachable, reply: Reply) -> None:
    """积分兑换：能用积分换什么（私信回复）"""
    await privately(msg, rewards_text(config, products, member.points), outbox, reply, reachable)


@router.message(Intent("redeem"))
async def on_redeem(parsed: Parsed, msg: Incoming, member: Member, clock: Clock, config: Config,
                    products: tuple[Product, ...], outbox: Postbox, reachable: Reachable, reply: Reply) -> None:
    """兑换 N：用积分兑换第N项（私信回复）"""
    number = parsed.reward or 0
    known = {p.sku: p for p in products}
    done = await redeem(member.id, number, msg.message_id, config, known, clock.now())
    if done.outcome == NO_REWARD:
        text = f"没有第{number}项。" + ("发“积分兑换”看看有哪些。" if config.reward else "店里还没有设置积分兑换。")
    elif done.outcome == SHORT:
        assert done.reward is not None
        text = (f"兑换第{number}项（{reward_name(done.reward, config, known)}）要{done.reward.points}积分，"
                f"您现在可用{done.points}。")
    elif done.outcome == LIMIT:
        assert done.reward is not None
        text = f"{reward_name(done.reward, config, known)}每人能得的张数已经满了，换一项吧。"
    else:
        assert done.reward is not None and done.coupon is not None
        text = (f"✅ 已用{done.reward.points}积分兑换：{describe(done.coupon, config.timezone)}"
                f"\n剩余可用积分{done.points}。")
    await privately(msg, text, outbox, reply, reachable)
