"""Levels and birthdays by chat (models.levels): "我的等级" tells the member their level, what
their delivered spend is, what the next level takes and what keeping theirs takes; "生日 5月3日"
sets a birthday (once a year), for double points in the birth month. Answered privately."""

from __future__ import annotations

from datetime import date

from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.dispatcher import Router
from bot.core.messages import Incoming
from bot.core.protocols import Postbox, Reachable, Reply
from handlers.filters import Intent
from handlers.parsing import Parsed
from handlers.points import how_to_earn
from handlers.wallet import privately
from models.levels import BIRTHDAY_LOCK, standing, times
from models.points import Rewards
from models.tables import Member

router = Router("levels")


def _day(birthday: str) -> str:
    month, day = birthday.split("-")
    return f"{int(month)}月{int(day)}日"


def birthday_line(member: Member, config: Config) -> str:
    if config.birthday.multiplier <= 1:
        return ""
    if member.birthday:
        return f"生日{_day(member.birthday)}，生日当月送达的订单积分{times(config.birthday.multiplier)}。"
    return f"发“生日 5月3日”登记生日，生日当月送达的订单积分{times(config.birthday.multiplier)}。"


@router.message(Intent("query_level"))
async def on_level(msg: Incoming, member: Member, clock: Clock, config: Config, rewards: Rewards,
                   outbox: Postbox, reachable: Reachable, reply: Reply) -> None:
    """我的等级：会员等级、近期消费、升级和保级还差多少（私信回复）"""
    levels = rewards.levels
    if not levels.levels:
        await privately(msg, "店里还没有设置会员等级。" + how_to_earn(config) + birthday_line(member, config),
                        outbox, reply, reachable)
        return
    today = clock.now().astimezone(config.timezone).date()
    now = await standing(levels, member, today)
    level = levels.levels[now.level]
    lines = [f"您是{level.name}（积分{times(level.multiplier)}），近{levels.days}天送达的消费{now.spend:.2f}元。"]
    if now.next_level is not None:
        higher = levels.levels[now.next_level]
        lines.append(f"再消费{higher.spend - now.spend:.2f}元升为{higher.name}（积分{times(higher.multiplier)}），送达即升。")
    if now.level > 0:
        short = level.spend - now.counted
        lines.append(f"{now.keep_by.month}月{now.keep_by.day}日按近{levels.days}天消费评定，保级要{level.spend:.2f}元，"
                     f"目前计入{now.counted:.2f}元" + (f"，还差{short:.2f}元。" if short > 0 else "，已经够了。"))
    lines.append("等级：" + " / ".join(f"{lv.name}{'' if not lv.spend else f' {lv.spend:.0f}元'}"
                                     f"{'' if lv.multiplier == 1 else ' ' + times(lv.multiplier)}" for lv in levels.levels))
    if line := birthday_line(member, config):
        lines.append(line)
    await privately(msg, "\n".join(lines), outbox, reply, reachable)


@router.message(Intent("set_birthday"))
async def on_birthday(msg: Incoming, parsed: Parsed, member: Member, clock: Clock, config: Config,
                      outbox: Postbox, reachable: Reachable, reply: Reply) -> None:
    """生日 5月3日：登记生日，生日当月订单积分加倍（一年可改一次；私信回复）"""
    text = await _birthday_text(parsed.birthday, member, clock, config)
    await privately(msg, text, outbox, reply, reachable)


async def _birthday_text(wanted: str, member: Member, clock: Clock, config: Config) -> str:
    now = clock.now()
    if wanted == "?":
        return "没看懂是哪一天，请这样发：生日 5月3日"
    if not wanted:
        if member.birthday:
            return f"您登记的生日是{_day(member.birthday)}。" + birthday_line(member, config)
        return birthday_line(member, config) or "请这样发：生日 5月3日"
    if wanted == member.birthday:
        return f"您的生日已经登记为{_day(wanted)}了。" + birthday_line(member, config)
    if member.birthday and member.birthday_set_at is not None and now - member.birthday_set_at < BIRTHDAY_LOCK:
        again: date = (member.birthday_set_at + BIRTHDAY_LOCK).astimezone(config.timezone).date()
        return (f"生日一年只能改一次：您登记的是{_day(member.birthday)}，"
                f"{again.year}年{again.month}月{again.day}日以后可以再改。")
    await Member.filter(id=member.id).update(birthday=wanted, birthday_set_at=now)
    member.birthday = wanted
    greeting = "生日当天还会收到祝福。" if config.nudges.birthday else ""
    points = (f"生日当月送达的订单积分{times(config.birthday.multiplier)}。"
              if config.birthday.multiplier > 1 else "")
    return f"🎂 已登记生日：{_day(wanted)}。{points}{greeting}"
