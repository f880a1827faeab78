"""Member segments for staff (docs/CONTRACTS.md section 8): `/分层` counts members per segment
and per community, `/分层 <segment>` lists up to 50 of one segment's members."""

from __future__ import annotations

from collections import Counter

from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.dispatcher import Router
from bot.core.protocols import Reply
from handlers.filters import Command, is_staff
from handlers.texts import money
from models.segments import SEGMENTS, member_facts

router = Router("segments")

LISTED = 50  # members one /分层 <segment> lists


@router.message(Command("分层"), is_staff)
async def on_segments(args: str, clock: Clock, config: Config, reply: Reply) -> None:
    """会员分层：/分层 看各层人数（按小区），/分层 沉默 列出该层成员"""
    today = clock.now().astimezone(config.timezone).date()
    wanted = args.strip()
    bounds = config.segments.days
    if wanted:
        if wanted not in SEGMENTS:
            await reply(f"没有“{wanted[:20]}”这一层。可选：{'、'.join(SEGMENTS)}")
            return
        facts = await member_facts(today, config.timezone, bounds, config.shop.staff, wanted)
        if not facts:
            await reply(f"{wanted}：没有成员。")
            return
        facts.sort(key=lambda f: (-f.spend, f.last_order or today, f.member_id))
        rows = [f"{f.name or f.member_id}（{f.community or '未定小区'}）"
                f"最后下单{f.last_order:%Y-%m-%d}，{f.orders}单，消费{money(f.spend)}" if f.last_order else
                f"{f.name or f.member_id}（{f.community or '未定小区'}）还没下过单" for f in facts[:LISTED]]
        more = f"\n……共{len(facts)}人，只列消费最多的{LISTED}位。" if len(facts) > LISTED else ""
        await reply(f"【{wanted}】{len(facts)}人：\n" + "\n".join(rows) + more)
        return
    facts = await member_facts(today, config.timezone, bounds, config.shop.staff)
    total = Counter(f.segment for f in facts)
    head = f"【会员分层】共{len(facts)}人（按最后一次下单距今天数：{'/'.join(map(str, bounds))}天）\n" + \
        " ".join(f"{s}{total[s]}" for s in SEGMENTS)
    by_community: dict[str, Counter[str]] = {}
    for f in facts:
        by_community.setdefault(f.community or "未定小区", Counter())[f.segment] += 1
    rows = [f"{name}：" + " ".join(f"{s}{counts[s]}" for s in SEGMENTS if counts[s])
            for name, counts in sorted(by_community.items())]
    await reply(head + ("\n按小区：\n" + "\n".join(rows) if rows else "") + "\n发“/分层 沉默”看某一层的成员。")
