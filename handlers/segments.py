"""Member segments and campaigns for staff (docs/CONTRACTS.md section 8): `/分层` counts members
per segment and per community, `/分层 <segment>` lists up to 50 of one segment's members;
`/推送` drafts a campaign, `/确认推送` starts and `/取消推送` drops it, `/活动效果` reads what it
returned against its control group."""

from __future__ import annotations


from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.dispatcher import Router
from bot.core.messages import Incoming
from bot.core.protocols import Export, Later, PacedPostbox, Reachable, Reply
from handlers.filters import Command, is_staff
from handlers.texts import money
from models.campaigns import REASON_TEXT, STATE_TEXT, draft, effect
from models.days import delivery_date_for
from models.catalog import Offer
from models.segments import BROWSING, BROWSING_DAYS, CHOOSABLE, SEGMENTS, census, member_facts
from models.tables import Campaign, CampaignMember, Member

router = Router("segments")

LISTED = 50  # members one /分层 <segment> lists


def _product_name(sku: str, offer: Offer) -> str:
    product = offer.by_sku(sku)
    return product.name if product is not None else sku


@router.message(Command("分层"), is_staff)
async def on_segments(args: str, clock: Clock, config: Config, offer: Offer, reply: Reply) -> None:
    """会员分层：/分层 看各层人数（按小区），/分层 沉默 列出该层成员"""
    today = clock.now().astimezone(config.timezone).date()
    wanted = args.strip()
    bounds = config.segments.days
    if wanted:
        if wanted not in CHOOSABLE:
            await reply(f"没有“{wanted[:20]}”这一层。可选：{'、'.join(CHOOSABLE)}")
            return
        facts = await member_facts(today, config.timezone, bounds, config.shop.staff, wanted)
        if not facts:
            await reply(f"{wanted}：没有成员。")
            return
        facts.sort(key=lambda f: (-f.spend, f.last_order or today, f.member_id))
        rows = [f"{f.name or f.member_id}（{f.community or '未定小区'}）"
                f"最后下单{f.last_order:%Y-%m-%d}，{f.orders}单，消费{money(f.spend)}" if f.last_order else
                f"{f.name or f.member_id}（{f.community or '未定小区'}）还没下过单" for f in facts[:LISTED]]
        if wanted == BROWSING:
            rows = [f"{row}；问过{'、'.join(_product_name(sku, offer) for sku in f.asked)}"
                    for row, f in zip(rows, facts)]
        more = f"\n……共{len(facts)}人，只列消费最多的{LISTED}位。" if len(facts) > LISTED else ""
        await reply(f"【{wanted}】{len(facts)}人：\n" + "\n".join(rows) + more)
        return
    counted = await census(today, config.timezone, bounds, config.shop.staff)
    head = f"【会员分层】共{counted.members}人（按最后一次下单距今天数：{'/'.join(map(str, bounds))}天）\n" + \
        " ".join(f"{s}{counted.total[s]}" for s in SEGMENTS) + \
        (f"\n其中快流失{counted.lapsing}人（活跃，但超过自己下单周期的两倍没来）" if counted.lapsing else "") + \
        (f"\n只看不买{counted.browsing}人（{BROWSING_DAYS}天内问过商品，之后没下单）" if counted.browsing else "")
    rows = [f"{name or '未定小区'}：" + " ".join(f"{s}{counts[s]}" for s in SEGMENTS if counts[s])
            for name, counts in sorted(counted.by_community.items(), key=lambda item: (not item[0], item[0]))]
    await reply(head + ("\n按小区：\n" + "\n".join(rows) if rows else "") + "\n发“/分层 沉默”看某一层的成员。")


PUSH_USAGE = "格式：/推送 <分层> <券模板id 或 无> <内容>，如 /推送 沉默 back5 好久不见，今天草莓特价～"


@router.message(Command("推送"), is_staff)
async def on_push(msg: Incoming, args: str, clock: Clock, config: Config, reachable: Reachable,
                  reply: Reply) -> None:
    """推送活动（草稿）：/推送 <分层> <券模板id或无> <内容>，先看谁会收到，/确认推送 N 才发"""
    words = args.split(maxsplit=2)
    if len(words) < 3:
        await reply(PUSH_USAGE)
        return
    segment, template_id, text = words
    if segment not in CHOOSABLE:
        await reply(f"没有“{segment[:20]}”这一层。可选：{'、'.join(CHOOSABLE)}\n{PUSH_USAGE}")
        return
    template = "" if template_id == "无" else template_id
    if template and config.coupon_template(template) is None:
        known = "、".join(t.id for t in config.coupon) or "（还没有配置 [[coupon]]）"
        await reply(f"没有“{template_id[:20]}”这种券。可用：{known}，或写“无”\n{PUSH_USAGE}")
        return
    done = await draft(segment, template, text[:500], msg.sender_id, config, reachable, clock.now())
    number = done.campaign.id
    out = "，".join(f"{text}{len(done.out[why])}" for why, text in REASON_TEXT.items() if done.out.get(why))
    coupon = config.coupon_template(template)
    cost = config.campaign.message_cost * len(done.targets)
    estimate = f"预计成本：发送{money(cost)}" + (f"，券最多{money(coupon.off * len(done.targets))}" if coupon else "")
    names = dict(await Member.filter(id__in=done.targets[:10]).values_list("id", "name"))
    sample = "、".join(str(names.get(m) or m) for m in done.targets[:10]) + ("等" if len(done.targets) > 10 else "")
    await reply(f"【活动#{number} 草稿】{segment}：发送{len(done.targets)}人，对照组{len(done.control)}人（不发，用来比较）"
                + (f"，不发{sum(len(m) for m in done.out.values())}人（{out}）" if out else "") + "。\n"
                + (f"会收到：{sample}\n" if sample else "") + f"内容：{text[:500]}\n{estimate}\n"
                f"发“/确认推送 {number}”开始发送（每天最多{config.campaign.daily_max}条，夜间不发），"
                f"“/取消推送 {number}”作废。")


async def _campaign(args: str, reply: Reply, usage: str) -> Campaign | None:
    number = args.strip().lstrip("#")
    campaign = await Campaign.get_or_none(id=int(number)) if number.isdigit() and len(number) < 9 else None
    if campaign is None:
        await reply(f"没有活动#{args.strip()[:20]}。{usage}")
    return campaign


@router.message(Command("确认推送"), is_staff)
async def on_confirm_push(args: str, clock: Clock, outbox: PacedPostbox, reply: Reply) -> None:
    """开始发送活动：/确认推送 N"""
    campaign = await _campaign(args, reply, "格式：/确认推送 <活动号>")
    if campaign is None:
        return
    if not await Campaign.filter(id=campaign.id, state="draft").update(state="sending", started_at=clock.now()):
        await reply(f"活动#{campaign.id}现在是“{STATE_TEXT.get(campaign.state, campaign.state)}”，没有改动。")
        return
    outbox.changed()
    await reply(f"活动#{campaign.id}开始发送，会按节奏私信发出；发“/活动效果 {campaign.id}”看效果。")


@router.message(Command("取消推送"), is_staff)
async def on_cancel_push(args: str, reply: Reply) -> None:
    """作废活动：/取消推送 N（已发出的不会撤回）"""
    campaign = await _campaign(args, reply, "格式：/取消推送 <活动号>")
    if campaign is None:
        return
    if not await Campaign.filter(id=campaign.id, state__in=["draft", "sending"]).update(state="cancelled"):
        await reply(f"活动#{campaign.id}现在是“{STATE_TEXT.get(campaign.state, campaign.state)}”，没有改动。")
        return
    sent = await CampaignMember.filter(campaign_id=campaign.id, sent_at__isnull=False).count()
    await reply(f"活动#{campaign.id}已作废" + (f"，已发出的{sent}条不会撤回。" if sent else "，一条也没有发。"))


@router.message(Command("活动效果"), is_staff)
async def on_effect(args: str, clock: Clock, config: Config, export: Export, reply: Reply) -> Later | None:
    """活动效果：/活动效果 N，发送、用券、成本，和对照组比的订单、收入和回报（表格的活动效果页一并更新）"""
    campaign = await _campaign(args, reply, "格式：/活动效果 <活动号>")
    if campaign is None:
        return None
    figures = await effect(campaign, clock.now(), config.campaign)
    rows = []
    for w in figures.windows:
        roi = f"{w.roi * 100:.0f}%" if w.roi is not None else "—"
        rows.append(f"{w.days}天{'' if w.complete else '（进行中）'}：发送组{w.target_orders}单{money(w.target_revenue)}，"
                    f"对照组{w.control_orders}单{money(w.control_revenue)}，多带来{money(w.extra_revenue)}，回报{roi}")
    await reply(f"【活动#{campaign.id} {campaign.segment}】{STATE_TEXT.get(campaign.state, campaign.state)}："
                f"已发送{figures.sent}人（送达{figures.reached}），对照组{figures.control}人，用券{figures.coupons_used}张，成本{money(figures.cost)}\n"
                + "\n".join(rows))
    order_date = clock.now().astimezone(config.timezone).date()
    delivery = delivery_date_for(order_date, config.schedule)

    async def write(reply: Reply) -> None:  # after the commit, outside the writer: every campaign's figures
        await export(delivery)

    return Later(write)
