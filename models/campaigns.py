"""Win-back campaigns (docs/CONTRACTS.md section 8): a draft names its targets, who is left out
and why, and a control group; once confirmed it is sent as paced private broadcasts, at most
`[campaign] daily_max` a day over all campaigns; its return is read from the orders themselves,
the targets against the control group.

The control group is `[campaign] control` of the eligible members, rounded down, the first by
a hash of (campaign id, member id): the same draft always holds back the same members. Every
send is claimed by a guarded UPDATE, so two processes sweeping at once send once.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from bot.core.config import CampaignConfig, Config
from bot.core.messages import Outgoing
from bot.core.protocols import Postbox, Reachable
from models.coupons import describe, give
from models.segments import member_facts
from models.tables import Campaign, CampaignMember, Coupon, Member, Order, OrderLine, OutboxMessage

TARGET, CONTROL, OUT = "target", "control", "out"
UNSUBSCRIBED, RESTED, UNREACHABLE = "unsubscribed", "rested", "unreachable"
REASON_TEXT = {UNSUBSCRIBED: "退订了活动消息", RESTED: "休息期内已收到过活动", UNREACHABLE: "不是好友，私信不到"}
WINDOWS = (7, 30, 90)  # days after the start its returns are counted at


def control_group(campaign_id: int, eligible: Sequence[str], share: Decimal) -> list[str]:
    """`share` of `eligible`, rounded down, picked by a hash of the campaign and member ids."""
    count = int(share * len(eligible))
    ranked = sorted(eligible, key=lambda m: hashlib.sha256(f"{campaign_id}:{m}".encode()).hexdigest())
    return sorted(ranked[:count])


@dataclass
class Draft:
    campaign: Campaign
    targets: list[str] = field(default_factory=list)
    control: list[str] = field(default_factory=list)
    out: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # reason -> members


async def rested(member_ids: Sequence[str], now: datetime, rest_days: int) -> set[str]:
    """Members a campaign reached within `rest_days`, or that a sending campaign will reach."""
    since = now - timedelta(days=rest_days)
    recent = await CampaignMember.filter(member_id__in=list(member_ids), role=TARGET, sent_at__gte=since) \
        .values_list("member_id", flat=True)
    waiting = await CampaignMember.filter(member_id__in=list(member_ids), role=TARGET, sent_at__isnull=True,
                                          campaign__state="sending").values_list("member_id", flat=True)
    return {str(m) for m in [*recent, *waiting]}


async def sort_out(members: Sequence[str], config: Config, reachable: Reachable,
                   now: datetime) -> tuple[list[str], dict[str, list[str]]]:
    """The members a campaign may go to, and those left out by reason (unsubscribed, rested,
    not reachable privately), in the order given."""
    ids = list(members)
    quiet = {str(m) for m in await Member.filter(id__in=ids, unsubscribed=True).values_list("id", flat=True)}
    resting = await rested(ids, now, config.campaign.rest_days)
    eligible: list[str] = []
    out: dict[str, list[str]] = defaultdict(list)
    for member_id in ids:
        if member_id in quiet:
            out[UNSUBSCRIBED].append(member_id)
        elif member_id in resting:
            out[RESTED].append(member_id)
        elif not await reachable(member_id):
            out[UNREACHABLE].append(member_id)
        else:
            eligible.append(member_id)
    return eligible, out


def filled(text: str, fill: dict[str, str] | None) -> str:
    """The text with this member's {placeholders} put in (other braces stay as written)."""
    for key, value in (fill or {}).items():
        text = text.replace("{" + key + "}", value)
    return text


async def draft(segment: str, template: str, text: str, by: str, config: Config, reachable: Reachable,
                now: datetime, members: Sequence[str] | None = None,
                fills: dict[str, dict[str, str]] | None = None) -> Draft:
    """Campaign N for the members of `segment` (or `members`, an automatic nudge's, each with
    what fills their text's placeholders): who gets it, who is left out and why, and its
    control group. Sends nothing."""
    if members is None:
        facts = await member_facts(now.astimezone(config.timezone).date(), config.timezone, config.segments.days,
                                   config.shop.staff, segment)
        members = [f.member_id for f in facts]
    eligible, out = await sort_out(members, config, reachable, now)
    campaign = await Campaign.create(segment=segment, template=template, text=text, created_by=by, created_at=now)
    done = Draft(campaign)
    done.out.update(out)
    done.control = control_group(campaign.id, eligible, config.campaign.control)
    held = set(done.control)
    done.targets = [m for m in eligible if m not in held]
    fills = fills or {}
    rows = [CampaignMember(campaign_id=campaign.id, member_id=m, role=TARGET, fill=fills.get(m)) for m in done.targets]
    rows += [CampaignMember(campaign_id=campaign.id, member_id=m, role=CONTROL, fill=fills.get(m))
             for m in done.control]
    rows += [CampaignMember(campaign_id=campaign.id, member_id=m, role=OUT, reason=why)
             for why, left in done.out.items() for m in left]
    await CampaignMember.bulk_create(rows)
    return done


def _day_start(moment: datetime, config: Config) -> datetime:
    local = moment.astimezone(config.timezone)
    return datetime.combine(local.date(), time(0), tzinfo=config.timezone)


async def next_campaign_due(config: Config) -> datetime | None:
    """When the sweep has sends to make: now-ish (the earliest start) while today's cap allows,
    else the next day's start."""
    sending = await Campaign.filter(state="sending").order_by("started_at").first()
    if sending is None or sending.started_at is None:
        return None
    last = await CampaignMember.filter(sent_at__isnull=False).order_by("-sent_at").first()
    if last is not None and last.sent_at is not None:
        start = _day_start(last.sent_at, config)
        if await CampaignMember.filter(sent_at__gte=start).count() >= config.campaign.daily_max:
            return max(sending.started_at, start + timedelta(days=1))
    return sending.started_at


async def send_campaigns(now: datetime, config: Config, outbox: Postbox) -> int:
    """Queue what today's cap allows of every sending campaign (the outbox paces them and holds
    them through quiet hours, as broadcasts); a campaign with nobody left to send to is done.
    A target who unsubscribed since the draft is left out."""
    allowance = config.campaign.daily_max - await CampaignMember.filter(
        sent_at__gte=_day_start(now, config)).count()
    queued = 0
    for campaign in await Campaign.filter(state="sending").order_by("id"):
        template = config.coupon_template(campaign.template) if campaign.template else None
        rows = await CampaignMember.filter(campaign_id=campaign.id, role=TARGET, sent_at__isnull=True) \
            .order_by("id").limit(max(allowance, 0)).select_related("member")
        for row in rows:
            if row.member.unsubscribed:
                await CampaignMember.filter(id=row.id).update(role=OUT, reason=UNSUBSCRIBED)
                continue
            if not await CampaignMember.filter(id=row.id, sent_at__isnull=True).update(sent_at=now):
                continue  # another process sent it
            text = filled(campaign.text, row.fill)
            if template is not None and (coupon := await give(
                    row.member.id, template, f"campaign:{campaign.id}:{row.member.id}", now,
                    config.coupons.remind_before)) is not None:
                text += f"\n🎁 送您一张{describe(coupon, config.timezone)}"
            queued_id = await outbox.put(Outgoing(text + "\n（回复“退订”不再收到活动消息）", to=row.member.id,
                                                  broadcast=True))
            if queued_id is not None:
                await CampaignMember.filter(id=row.id).update(message_id=queued_id)
            allowance -= 1
            queued += 1
        if not await CampaignMember.filter(campaign_id=campaign.id, role=TARGET, sent_at__isnull=True).exists():
            await Campaign.filter(id=campaign.id, state="sending").update(state="done")
    return queued


@dataclass(frozen=True)
class Window:
    days: int
    complete: bool  # the window has passed
    target_orders: int
    target_revenue: Decimal
    control_orders: int
    control_revenue: Decimal
    extra_revenue: Decimal  # (per target - per control member) x targets sent
    roi: Decimal | None  # (margin x extra - cost) / cost


STATE_TEXT = {"draft": "草稿", "sending": "发送中", "done": "已发完", "cancelled": "已作废"}
EFFECT_COLUMNS = ("活动号", "分层", "券", "状态", "开始", "发送", "送达", "对照组", "用券", "成本", *(
    f"{days}天{what}" for days in WINDOWS for what in ("发送组订单", "发送组收入", "对照组订单", "对照组收入", "多带来",
                                                      "回报")))


async def effect_rows(now: datetime, config: CampaignConfig, tz: tzinfo) -> list[tuple[Any, ...]]:
    """Every campaign's figures, one row each, for the workbook's 活动效果 sheet."""
    rows = []
    for campaign in await Campaign.all().order_by("id"):
        figures = await effect(campaign, now, config)
        started = campaign.started_at.astimezone(tz).replace(tzinfo=None) if campaign.started_at else None
        row: list[Any] = [campaign.id, campaign.segment, campaign.template, STATE_TEXT.get(campaign.state, campaign.state),
                          started, figures.sent, figures.reached, figures.control, figures.coupons_used, figures.cost]
        for w in figures.windows:
            row += [w.target_orders, w.target_revenue, w.control_orders, w.control_revenue, w.extra_revenue, w.roi]
        rows.append(tuple(row))
    return rows


@dataclass(frozen=True)
class Effect:
    campaign: Campaign
    sent: int  # queued to the outbox
    reached: int  # of those, sent by the account (not refused, not still waiting)
    control: int
    coupons_used: int
    cost: Decimal
    windows: tuple[Window, ...]


async def _orders_after(member_ids: Sequence[str], start: datetime, end: datetime) -> list[tuple[str, datetime, Decimal]]:
    """(member, when, revenue) of each order not cancelled these members made after `start`, up
    to `end`: read once for every window of a campaign."""
    if not member_ids:
        return []
    orders = await Order.filter(member_id__in=list(member_ids), status__not="cancelled", created_at__gt=start,
                                created_at__lte=end).values_list("id", "member_id", "created_at")
    revenue: dict[int, Decimal] = defaultdict(Decimal)
    for order_id, price, qty in await OrderLine.filter(order_id__in=[o[0] for o in orders], status__not="out_of_stock") \
            .values_list("order_id", "price", "qty"):
        revenue[int(order_id)] += price * qty  # type: ignore[operator,call-overload]
    return [(str(member), at, revenue.get(int(order_id), Decimal(0))) for order_id, member, at in orders]  # type: ignore[call-overload,misc]


def _returns(orders: Sequence[tuple[str, datetime, Decimal]], members: set[str], end: datetime) -> tuple[int, Decimal]:
    counted = [revenue for member, at, revenue in orders if member in members and at <= end]
    return len(counted), sum(counted, Decimal(0)).quantize(Decimal("0.01"))


async def effect(campaign: Campaign, now: datetime, config: CampaignConfig) -> Effect:
    sent_rows = await CampaignMember.filter(campaign_id=campaign.id, role=TARGET, sent_at__isnull=False) \
        .values_list("member_id", "message_id")
    sent = [str(m) for m, _ in sent_rows]
    carried = [int(i) for _, i in sent_rows if i is not None]  # type: ignore[call-overload]
    reached = await OutboxMessage.filter(id__in=carried, status="sent").count() if carried else 0
    control = [str(m) for m in await CampaignMember.filter(campaign_id=campaign.id, role=CONTROL)
               .values_list("member_id", flat=True)]
    used = await Coupon.filter(source__startswith=f"campaign:{campaign.id}:", state="used").values_list("off", flat=True)
    spent = sum((Decimal(str(off)) for off in used), Decimal(0))
    cost = (config.message_cost * len(sent) + spent).quantize(Decimal("0.01"))
    windows = []
    start = campaign.started_at or campaign.created_at
    orders = await _orders_after([*sent, *control], start, min(start + timedelta(days=max(WINDOWS)), now))
    targets, held = set(sent), set(control)
    for days in WINDOWS:
        end = start + timedelta(days=days)
        t_orders, t_revenue = _returns(orders, targets, min(end, now))
        c_orders, c_revenue = _returns(orders, held, min(end, now))
        per_control = c_revenue / len(control) if control else Decimal(0)
        extra = ((t_revenue / len(sent) - per_control) * len(sent)).quantize(Decimal("0.01")) if sent else Decimal(0)
        roi = ((config.margin * extra - cost) / cost).quantize(Decimal("0.01")) if cost else None
        windows.append(Window(days, now >= end, t_orders, t_revenue, c_orders, c_revenue, extra, roi))
    return Effect(campaign, len(sent), reached, len(control), len(used), cost, tuple(windows))


def effect_json(figures: Effect) -> dict[str, Any]:
    """The figures as `groupbuy replay` state.json gives them with each campaign."""
    def number(value: Decimal | None) -> float | None:
        return float(value) if value is not None else None

    return {"reached": figures.reached, "control_size": figures.control, "coupons_used": figures.coupons_used,
            "cost": number(figures.cost),
            "returns": [{"days": w.days, "complete": w.complete, "target_orders": w.target_orders,
                         "target_revenue": number(w.target_revenue), "control_orders": w.control_orders,
                         "control_revenue": number(w.control_revenue), "extra_revenue": number(w.extra_revenue),
                         "roi": number(w.roi)} for w in figures.windows]}
