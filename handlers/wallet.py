"""Stored value (储值) and coupons by chat (docs/CONTRACTS.md section 7): staff book top-ups
and refunds, give coupons and look a member up; members ask their balance and coupons. Amounts go privately, never into a group:
asked in a group, the group hears only that the answer was sent privately.

A top-up or refund over `[wallet] confirm_over` waits for `/确认` from another staff member.
"""

from __future__ import annotations

import re
from datetime import tzinfo
from decimal import Decimal, InvalidOperation

from bot.core.clock import Clock
from bot.core.config import Config, CouponTemplate
from bot.core.dispatcher import Router
from bot.core.messages import Incoming, Outgoing
from bot.core.protocols import Postbox, Reachable, Reply, everyone
from handlers.filters import Command, Intent, is_staff
from handlers.texts import money
from models.coupons import describe, give, unused
from models.tables import Member, StaffRequest, WalletEntry
from models.members import locked_member
from models.points import Rewards
from models.segments import CHOOSABLE, member_facts
from models.wallet import WalletRefused, history, refund, top_up

router = Router("wallet")

_AMOUNT = re.compile(r"^[¥￥]?\s*(\d+(?:\.\d+)?)\s*(?:元|块)?$")
TOP_UP_USAGE = "格式：/充值 <成员> <金额>，成员写 @昵称、联系人id 或群昵称，如 /充值 @李阿姨 200"
REFUND_USAGE = "格式：/退款 <成员> <金额> <原因>，如 /退款 @李阿姨 50 搬家了"


def amount_of(text: str) -> Decimal | None:
    """"200", "200元", "¥199.5": the amount; None when it is not one (two decimals at most)."""
    match = _AMOUNT.match(text.strip())
    if match is None:
        return None
    try:
        amount = Decimal(match.group(1))
    except InvalidOperation:
        return None
    return amount if amount == amount.quantize(Decimal("0.01")) and amount < 100_000_000 else None


async def named_member(msg: Incoming, args: str) -> tuple[Member | str, list[str]]:
    """The member a staff command names, and the words after it; or what to answer instead.
    An @-mention names by contact id (WeChat gives them with the message); otherwise the first
    word is a contact id, or a display name that names one member only."""
    words = args.split()
    if msg.mentions:
        member = await Member.get_or_none(id=msg.mentions[0])
        rest = [w for w in words if not w.startswith("@")]
        return (member if member else "还不认识被@的这位成员（他在群里发过消息后才认识）。"), rest
    if not words:
        return "要给谁？", []
    who, rest = words[0].lstrip("@"), words[1:]
    member = await Member.get_or_none(id=who)
    if member is not None:
        return member, rest
    named = await Member.filter(name=who).limit(6)
    if len(named) == 1:
        return named[0], rest
    if not named:
        return f"没有叫“{who[:20]}”的成员，请用 @ 或联系人id。", rest
    ids = "、".join(m.id for m in named[:5])
    return f"有{len(named)}位成员叫“{who[:20]}”（{ids}），请用 @ 或联系人id 指明是哪一位。", rest


def receipt(kind: str, amount: Decimal, bonus: Decimal, balance: Decimal) -> str:
    extra = f"，赠送{money(bonus)}" if bonus > 0 else ""
    return f"【储值{kind}】{money(amount)}{extra}，当前余额 {money(balance)}。"


async def _other_staff(config: Config, asker: str, text: str, outbox: Postbox) -> int:
    others = [s for s in config.shop.staff if s != asker]
    for staff in others:
        await outbox.put(Outgoing(text, to=staff))
    return len(others)


async def _ask_to_confirm(kind: str, member: Member, amount: Decimal, reason: str, msg: Incoming,
                          clock: Clock, config: Config, outbox: Postbox, reply: Reply) -> None:
    if len(config.shop.staff) < 2:
        await reply(f"超过{money(config.wallet.confirm_over)}要另一位店员确认，但只有一位店员："
                    "请在 [shop] staff 加一位，或调高 [wallet] confirm_over。这次没有办理。")
        return
    request = await StaffRequest.create(kind=kind, member=member, amount=amount, reason=reason,
                                        asked_by=msg.sender_id, source=f"msg:{msg.message_id}",
                                        created_at=clock.now())
    what = f"{'充值' if kind == 'top_up' else '退款'}{money(amount)}给{member.name}（{member.id}）"
    await _other_staff(config, msg.sender_id, f"请确认：{msg.sender_name or msg.sender_id} 要{what}"
                       f"{f'，原因：{reason}' if reason else ''}。同意请发 /确认 {request.id}", outbox)
    await reply(f"{what}超过{money(config.wallet.confirm_over)}，已请其他店员确认（/确认 {request.id}）。")


@router.message(Command("充值"), is_staff)
async def on_top_up(msg: Incoming, args: str, clock: Clock, config: Config, outbox: Postbox,
                    reply: Reply) -> None:
    """记一笔店外收款的储值：/充值 <成员> <金额>（整档金额送对应赠送金，成员私信收到回执）"""
    member, rest = await named_member(msg, args)
    if isinstance(member, str):
        await reply(f"{member}\n{TOP_UP_USAGE}")
        return
    amount = amount_of(" ".join(rest)) if rest else None
    if amount is None or amount <= 0:
        await reply(f"金额看不懂。{TOP_UP_USAGE}")
        return
    answer = _answer(msg, outbox, reply)
    if amount > config.wallet.confirm_over:
        await _ask_to_confirm("top_up", member, amount, "", msg, clock, config, outbox, answer)
        return
    await _top_up(member, amount, f"msg:{msg.message_id}", msg.sender_id, clock, config, outbox, answer)


def _answer(msg: Incoming, outbox: Postbox, reply: Reply) -> Reply:
    """How a staff command about money is answered: privately (a group never sees amounts)."""

    async def answer(text: str, file: str | None = None) -> None:
        await privately(msg, text, outbox, reply)

    return answer


async def _top_up(member: Member, amount: Decimal, source: str, actor: str, clock: Clock, config: Config,
                  outbox: Postbox, reply: Reply) -> None:
    try:
        booked = await top_up(member.id, amount, config.wallet, source, actor, clock.now())
    except WalletRefused as refused:
        await reply(f"没有充值：{refused}")
        return
    if booked is None:
        await reply("这笔已经记过了。")
        return
    bonus = booked.entry.bonus
    await outbox.put(Outgoing(receipt("到账", amount, bonus, booked.balance), to=member.id))
    await reply(f"已给{member.name}充值{money(amount)}" + (f"（赠送{money(bonus)}）" if bonus else "")
                + f"，余额 {money(booked.balance)}，已私信回执。")


@router.message(Command("退款"), is_staff)
async def on_refund(msg: Incoming, args: str, clock: Clock, config: Config, outbox: Postbox,
                    reply: Reply) -> None:
    """退储值本金：/退款 <成员> <金额> <原因>（只退本金，同比例收回赠送金）"""
    member, rest = await named_member(msg, args)
    if isinstance(member, str):
        await reply(f"{member}\n{REFUND_USAGE}")
        return
    amount = amount_of(rest[0]) if rest else None
    reason = " ".join(rest[1:]).strip()
    if amount is None or amount <= 0:
        await reply(f"金额看不懂。{REFUND_USAGE}")
        return
    if not reason:
        await reply(f"请写上退款原因。{REFUND_USAGE}")
        return
    answer = _answer(msg, outbox, reply)
    if amount > config.wallet.confirm_over:
        await _ask_to_confirm("refund", member, amount, reason, msg, clock, config, outbox, answer)
        return
    await _refund(member, amount, reason, f"msg:{msg.message_id}", msg.sender_id, clock, outbox, answer)


async def _refund(member: Member, amount: Decimal, reason: str, source: str, actor: str, clock: Clock,
                  outbox: Postbox, reply: Reply) -> None:
    try:
        booked = await refund(member.id, amount, reason, source, actor, clock.now())
    except WalletRefused as refused:
        await reply(f"没有退款：{refused}")
        return
    if booked is None:
        await reply("这笔已经记过了。")
        return
    taken = -booked.entry.bonus
    await outbox.put(Outgoing(f"【储值退款】退回本金{money(amount)}（{reason}）"
                              + (f"，收回相应赠送金{money(taken)}" if taken else "")
                              + f"，当前余额 {money(booked.balance)}。", to=member.id))
    await reply(f"已给{member.name}退款{money(amount)}" + (f"（收回赠送{money(taken)}）" if taken else "")
                + f"，余额 {money(booked.balance)}。请把{money(amount)}退给他。")


@router.message(Command("确认"), is_staff)
async def on_confirm_request(msg: Incoming, args: str, clock: Clock, config: Config, outbox: Postbox,
                             reply: Reply) -> None:
    """确认另一位店员的大额充值或退款：/确认 <编号>（只有一笔在等时可不写编号）"""
    number = args.lstrip("#").strip()
    waiting = StaffRequest.filter(state="waiting")
    if number:
        if not (number.isascii() and number.isdigit() and len(number) <= 9):
            await reply("格式：/确认 <编号>，如 /确认 3")
            return
        request = await waiting.filter(id=int(number)).select_for_update().first()
    else:
        found = await waiting.limit(2)
        if len(found) > 1:
            await reply("有几笔在等确认，请写编号：/确认 <编号>。")
            return
        request = found[0] if found else None
    if request is None:
        await reply("没有在等确认的这笔。")
        return
    if request.asked_by == msg.sender_id:
        await reply("要由另一位店员确认，不能自己确认自己发起的。")
        return
    member = await locked_member(str(request.member_id))  # type: ignore[attr-defined]
    assert member is not None
    request.state, request.decided_by, request.decided_at = "done", msg.sender_id, clock.now()
    await request.save(update_fields=["state", "decided_by", "decided_at"])
    source, answer = f"request:{request.id}", _answer(msg, outbox, reply)
    if request.kind == "top_up":
        await _top_up(member, request.amount, source, request.asked_by, clock, config, outbox, answer)
    else:
        await _refund(member, request.amount, request.reason, source, request.asked_by, clock, outbox, answer)


@router.message(Command("余额"), is_staff)
async def on_staff_balance(msg: Incoming, args: str, clock: Clock, config: Config, rewards: Rewards,
                           outbox: Postbox, reply: Reply) -> None:
    """查成员的储值、积分和优惠券：/余额 <成员>（私信回复）"""
    member, _ = await named_member(msg, args)
    if isinstance(member, str):
        await reply(member)
        return
    pending = await rewards.pending(member.id)
    coupons = await unused(member.id, clock.now())
    text = (f"{member.name}（{member.id}）\n{await balance_text(member, config.timezone)}\n"
            f"积分：可用{member.points}" + (f"，待到账{pending}" if pending else "") + "\n"
            + (("优惠券：\n" + "\n".join(describe(c, config.timezone) for c in coupons)) if coupons else "优惠券：无"))
    await privately(msg, text, outbox, reply)


async def balance_text(member: Member, tz: tzinfo) -> str:
    balance = member.wallet_principal + member.wallet_bonus
    lines = [f"储值余额：{money(balance)}（本金{money(member.wallet_principal)}，赠送{money(member.wallet_bonus)}）"]
    entries = await history(member.id)
    if entries:
        lines.append("最近：")
        lines += [f"{entry.created_at.astimezone(tz):%m-%d} {'+' if entry.delta > 0 else ''}{entry.delta} {entry.reason}"
                  f" 余额{entry.balance}" for entry in entries]
    return "\n".join(lines)


NOT_A_FRIEND = "这个要私信告诉您，请先加我为微信好友（点我的头像→添加到通讯录）；加好友后会自动发给您。"


async def privately(msg: Incoming, text: str, outbox: Postbox, reply: Reply,
                    reachable: Reachable = everyone) -> None:
    """Answer in the private chat; asked in a group, the group hears only that it was sent
    privately, or, when the member is not the shop account's friend (WeChat lets it message
    only friends), how to become one: the answer waits in the outbox until then."""
    if msg.room is None:
        await reply(text)
        return
    await outbox.put(Outgoing(text, to=msg.sender_id))
    await reply("已私信您。" if await reachable(msg.sender_id) else NOT_A_FRIEND)


@router.message(Intent("query_balance"))
async def on_balance(msg: Incoming, member: Member, config: Config, outbox: Postbox, reachable: Reachable,
                     reply: Reply) -> None:
    """余额：我的储值余额和最近5笔（私信回复）"""
    text = await balance_text(member, config.timezone)
    if not await WalletEntry.exists(member_id=member.id):
        text = "您还没有储值。储值请找店员，整档充值有赠送。"
    await privately(msg, text, outbox, reply, reachable)


@router.message(Command("发券"), is_staff)
async def on_give_coupon(msg: Incoming, args: str, clock: Clock, config: Config, outbox: Postbox,
                         reply: Reply) -> None:
    """发优惠券：/发券 <券模板id> <成员或分层>（如 /发券 new3 沉默；每位成员最多得 per_member 张）"""
    template_id, _, rest = args.partition(" ")
    template = config.coupon_template(template_id.strip())
    if template is None:
        known = "、".join(t.id for t in config.coupon) or "（还没有配置 [[coupon]]）"
        await reply(f"没有“{template_id[:20]}”这种券。可用：{known}\n格式：/发券 <券模板id> <成员或分层>")
        return
    if rest.strip() in CHOOSABLE:
        await _give_segment(msg, rest.strip(), template, clock, config, outbox, reply)
        return
    member, _ = await named_member(msg, rest)
    if isinstance(member, str):
        await reply(f"{member}\n格式：/发券 <券模板id> <成员>")
        return
    given = await give(member.id, template, f"msg:{msg.message_id}", clock.now(), config.coupons.remind_before)
    if given is None:
        await reply(f"{member.name}已经得过{template.per_member}张{template.name}，没有再发。")
        return
    await outbox.put(Outgoing(f"🎁 您得到一张{describe(given, config.timezone)}", to=member.id))
    await reply(f"已给{member.name}发{template.name}，已私信通知。")


async def _give_segment(msg: Incoming, segment: str, template: CouponTemplate, clock: Clock, config: Config,
                        outbox: Postbox, reply: Reply) -> None:
    """One coupon to each member of a segment (per_member holds); each subscribed member is
    told privately (退订: the coupon, without a message)."""
    now = clock.now()
    facts = await member_facts(now.astimezone(config.timezone).date(), config.timezone, config.segments.days,
                               config.shop.staff, segment)
    quiet = set(await Member.filter(id__in=[f.member_id for f in facts], unsubscribed=True)
                .values_list("id", flat=True))
    given = held = 0
    for fact in facts:
        coupon = await give(fact.member_id, template, f"msg:{msg.message_id}:{fact.member_id}", now,
                            config.coupons.remind_before)
        if coupon is None:
            held += 1
            continue
        given += 1
        if fact.member_id not in quiet:
            await outbox.put(Outgoing(f"🎁 您得到一张{describe(coupon, config.timezone)}", to=fact.member_id))
    if not facts:
        await reply(f"{segment}没有成员，没有发券。")
        return
    await reply(f"已给{segment}的{given}位成员发{template.name}，已私信通知"
                + (f"（{len(quiet & {f.member_id for f in facts})}位退订了活动消息，只发券不通知）" if quiet else "")
                + (f"；{held}位已经得过{template.per_member}张，没有再发" if held else "") + "。")


@router.message(Intent("query_coupons"))
async def on_coupons(msg: Incoming, member: Member, clock: Clock, config: Config, outbox: Postbox,
                     reachable: Reachable, reply: Reply) -> None:
    """我的券：没用的优惠券，面额、门槛和有效期（私信回复）"""
    mine = await unused(member.id, clock.now())
    text = ("您的优惠券：\n" + "\n".join(describe(c, config.timezone) for c in mine)) if mine else "您现在没有可用的优惠券。"
    await privately(msg, text, outbox, reply, reachable)
