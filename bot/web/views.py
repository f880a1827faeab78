"""The dashboard's pages as views (bot/web/render.py draws them): the figures of
models.dashboard, models.funnel, models.segments and models.campaigns in Chinese, for a shop owner
who wants to look rather than read."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from bot.core.config import Config
from bot.web.render import Bars, Card, Column, Table, View, cell, money
from models.campaigns import STATE_TEXT, effect
from models.catalog import Offer
from models.dashboard import DAY_CHOICES, Totals, balances, census_on, day_range, days, today
from models.days import short_date
from models.funnel import groupbuy_figures
from models.groupbuys import participant_counts
from models.segments import SEGMENTS, census
from models.tables import Campaign, Community, GroupBuy

GROUPBUY_STATE = {"open": "进行中", "success": "已成团", "failed": "未成团", "cancelled": "已取消"}


def _against(now: int | Decimal, before: int | Decimal, what: str) -> str:
    """"比昨天此时 +12%" (or what yesterday had, when it had nothing)."""
    if not before:
        return f"{what}还没有" if not now else f"{what}没有"
    change = (Decimal(now) - Decimal(before)) / Decimal(before)
    return f"{what} {cell(before, 'money' if isinstance(before, Decimal) else 'int')}，{change:+.0%}"


async def today_view(now: datetime, config: Config, offer: Offer) -> View:
    figures = await today(now, config, offer)
    tz = config.timezone
    left = figures.minutes_left(now)
    if left is not None:
        closing = Card("截单", f"还有{left // 60}小时{left % 60}分" if left >= 60 else f"还有{left}分钟",
                       f"{figures.closes_at.astimezone(tz):%H:%M} 截单")
    else:
        # Ordering opens next tomorrow once today's closed (at the cut-off, or early); else later today.
        closing = Card("截单", "已截单" if figures.opens_at > figures.closes_at else "未开单",
                       f"下次开单 {short_date(figures.opens_at.astimezone(tz).date())} {figures.opens_at.astimezone(tz):%H:%M}")
    t, y = figures.totals, figures.yesterday_so_far
    cards = [Card("订单", f"{t.orders}单", _against(t.orders, y.orders, "昨天此时")),
             Card("金额", money(t.revenue), _against(t.revenue, y.revenue, "昨天此时")),
             Card("下单户数", f"{t.households}户", _against(t.households, y.households, "昨天此时")),
             closing]
    communities = Table("communities", "按小区", (Column("小区"), Column("订单", "int"), Column("户数", "int"),
                                               Column("金额", "money"), Column("昨天此时订单", "int")),
                        [(c.name, c.totals.orders, c.totals.households, c.totals.revenue, c.yesterday.orders)
                         for c in figures.communities], empty="今天还没有订单")
    products = Table("products", "按商品", (Column("商品"), Column("单位"), Column("数量", "qty"), Column("金额", "money"),
                                         Column("订单", "int"), Column("库存", "qty"), Column("剩余", "qty")),
                     [(p.name, p.unit, p.qty, p.revenue, p.orders, p.stock, p.left) for p in figures.products],
                     note="库存为空：不限量。剩余为 0 的商品已售罄。")
    return View("today", "今天", cards, [communities, products], live=20,
                heading=f"{short_date(figures.order_date)}接单 · {short_date(figures.delivery_date)}配送；"
                        f"昨天全天{figures.yesterday.orders}单 {money(figures.yesterday.revenue)}",
                links=(("下载今天的表格（订单、拣货单、配送单）", "/dash/workbook"),))


async def days_view(now: datetime, config: Config, count: int) -> View:
    tz = config.timezone
    last = now.astimezone(tz).date() + timedelta(days=config.schedule.delivery_days)
    first, last = day_range(last, count)
    series = await days(first, last, now)
    label = [f"{d.delivery_date.month}/{d.delivery_date.day}" for d in series]
    total = Totals(sum(d.totals.orders for d in series), 0, sum((d.totals.revenue for d in series), Decimal(0)))
    busy = [d for d in series if d.totals.orders]
    best = max(series, key=lambda d: d.totals.revenue)

    def caption(values: list[int | Decimal], kind: str) -> str:
        average = sum(values, Decimal(0)) / len(busy) if busy else Decimal(0)
        return (f"{len(busy)}个配送日有订单，平均每天{cell(average, kind)}；"
                f"最多 {short_date(best.delivery_date)} {cell(max(values), kind)}") if busy else "这段时间没有订单"

    orders = [d.totals.orders for d in series]
    revenue = [d.totals.revenue for d in series]
    households = [d.totals.households for d in series]
    charts = [
        Bars("orders", f"每天订单数（单，按配送日，近{count}天）", "配送日", "int", list(zip(label, orders)),
             caption(list(orders), "int")),
        Bars("revenue", f"每天金额（元，按配送日，近{count}天）", "配送日", "money", list(zip(label, revenue)),
             caption(list(revenue), "money")),
        Bars("households", f"每天下单户数（户，按配送日，近{count}天）", "配送日", "int", list(zip(label, households)),
             caption(list(households), "int")),
    ]
    listing = Table("days", "每天明细", (Column("配送日", "date"), Column("订单", "int"), Column("户数", "int"),
                                       Column("金额", "money")),
                    [(d.delivery_date, d.totals.orders, d.totals.households, d.totals.revenue)
                     for d in reversed(series)])
    cards = [Card(f"近{count}天订单", f"{total.orders:,}单"), Card(f"近{count}天金额", money(total.revenue)),
             Card("有订单的配送日", f"{len(busy)}天")]
    links = tuple((f"近{n}天", f"/dash/days?n={n}") for n in DAY_CHOICES if n != count)
    return View("days", "每天", cards, [*charts, listing], heading=f"{short_date(first)}—{short_date(last)}，按配送日",
                links=links)


async def groupbuys_view(now: datetime, config: Config) -> View:
    tz = config.timezone
    open_ones = await GroupBuy.filter(state="open").order_by("deadline")
    counts = await participant_counts([g.id for g in open_ones])
    names = dict(await Community.all().values_list("id", "name"))
    rows = []
    for g in open_ones:
        joined = counts.get(g.id, 0)
        minutes = max(0, int((g.deadline - now).total_seconds() // 60))
        rows.append((f"#{g.id} {g.name}", names.get(g.community_id, "各群"), g.size, joined,  # type: ignore[attr-defined]
                     max(0, g.size - joined), g.price, g.deadline.astimezone(tz).replace(tzinfo=None),
                     f"{minutes // 60}小时{minutes % 60}分" if minutes >= 60 else f"{minutes}分钟"))
    current = Table("open", "进行中的拼团", (Column("拼团"), Column("群"), Column("成团人数", "int"), Column("已参团", "int"),
                                         Column("还差", "int"), Column("拼团价", "money"), Column("截止", "time"),
                                         Column("剩余时间")), rows, empty="现在没有进行中的拼团")
    past = [f for f in await groupbuy_figures(config.shop.staff, now) if f.state != "open"]
    funnel = Table("funnels", "近期拼团的漏斗", (
        Column("拼团"), Column("结果"), Column("触达", "int"), Column("参团", "int"), Column("订单", "int"),
        Column("金额", "money"), Column("发起人"), Column("新客", "int"), Column("30天复购", "int"), Column("90天复购", "int")),
        [(f"#{f.id} {f.name}", GROUPBUY_STATE.get(f.state, f.state), f.reached, f.joined, f.orders, f.revenue,
          f.opener_name or "店员", f.brought, f.again_30 if f.complete_30 else None,
          f.again_90 if f.complete_90 else None) for f in past],
        empty="还没有结束的拼团", note="触达：拼团所在群的成员数。新客：参团前没下过单的人。复购：新客在拼团结束后30/90天内又下单的人数（未满期显示—）。")
    totals = [("触达", sum(f.reached for f in past)), ("参团", sum(f.joined for f in past)),
              ("成团订单", sum(f.orders for f in past))]
    succeeded = sum(1 for f in past if f.state == "success")
    chart = Bars("funnel", f"近{len(past)}个拼团合计：触达 → 参团 → 订单（人/单）", "环节", "int", totals if past else [],
                 f"{succeeded}个成团，{len(past) - succeeded}个未成团" if past else "", across=True)
    cards = [Card("进行中", f"{len(open_ones)}个"), Card("还差", f"{sum(r[4] for r in rows)}人", "各拼团合计"),
             Card("近期成团", f"{succeeded}/{len(past)}")]
    return View("groupbuys", "拼团", cards, [current, chart, funnel], live=60)


async def members_view(now: datetime, config: Config, level_names: tuple[str, ...]) -> View:
    tz = config.timezone
    day = now.astimezone(tz).date()
    counted = await census(day, tz, config.segments.days, config.shop.staff)
    week, month = await census_on(day - timedelta(days=7)), await census_on(day - timedelta(days=30))

    def moved(before: dict[str, int] | None, segment: str) -> int | None:
        return None if before is None else counted.total[segment] - before.get(segment, 0)

    segments = Table("segments", "会员分层（按最后一次下单）", (
        Column("分层"), Column("现在", "int"), Column("7天前", "int"), Column("7天变化", "int"),
        Column("30天前", "int"), Column("30天变化", "int")),
        [(s, counted.total[s], week.get(s) if week else None, moved(week, s), month.get(s) if month else None,
          moved(month, s)) for s in SEGMENTS],
        note=f"按最后一次下单距今：{'/'.join(map(str, config.segments.days))}天。"
             f"快流失 {counted.lapsing}人，只看不买 {counted.browsing}人。7天前、30天前来自每晚的统计（没有时显示—）。")
    communities = sorted(counted.by_community)
    by_community = Table("segments_by_community", "各小区分层", (Column("小区"), *(Column(s, "int") for s in SEGMENTS)),
                         [(c or "未定小区", *(counted.by_community[c][s] for s in SEGMENTS)) for c in communities])
    chart = Bars("segment_sizes", "各分层人数（人）", "分层", "int", [(s, counted.total[s]) for s in SEGMENTS],
                 f"共{counted.members}人", across=True)
    owed = await balances(now, config.shop.staff)
    level_rows = [(level_names[n] if n < len(level_names) else f"第{n + 1}级", members) for n, members in owed.levels.items()]
    levels = Table("levels", "会员等级", (Column("等级"), Column("人数", "int")), level_rows if level_names else [],
                   empty="没有设置等级（[[level]]）")
    cards = [Card("会员", f"{counted.members:,}人"),
             Card("未用积分", f"{owed.points:,}分", f"{owed.points_members}人持有"),
             Card("储值余额", money(owed.wallet_principal + owed.wallet_bonus),
                  f"本金{money(owed.wallet_principal)} 赠送{money(owed.wallet_bonus)}，{owed.wallet_members}人"),
             Card("未用优惠券", f"{owed.coupons}张", f"面额{money(owed.coupons_off)}，7天内到期{owed.coupons_expiring}张")]
    return View("members", "会员", cards, [chart, segments, by_community, levels])


async def campaigns_view(now: datetime, config: Config) -> View:
    tz = config.timezone
    rows, windows = [], []
    for campaign in await Campaign.all().order_by("-id").limit(20):
        figures = await effect(campaign, now, config.campaign)
        started = campaign.started_at.astimezone(tz).replace(tzinfo=None) if campaign.started_at else None
        rows.append((f"#{campaign.id}", campaign.segment, STATE_TEXT.get(campaign.state, campaign.state), started,
                     figures.sent, figures.reached, figures.control, figures.coupons_used, figures.cost))
        for w in figures.windows:
            per_target = w.target_revenue / figures.sent if figures.sent else None
            per_control = w.control_revenue / figures.control if figures.control else None
            lift = (per_target / per_control - 1) if per_target is not None and per_control else None
            windows.append((f"#{campaign.id}", f"{w.days}天" + ("" if w.complete else "（未满）"),
                            per_target, per_control, float(lift) if lift is not None else None, w.extra_revenue,
                            float(w.roi) if w.roi is not None else None))
    sent = Table("campaigns", "推送活动", (Column("活动"), Column("分层"), Column("状态"), Column("开始", "time"),
                                       Column("发送", "int"), Column("送达", "int"), Column("对照组", "int"),
                                       Column("用券", "int"), Column("成本", "money")), rows,
                 empty="还没有推送活动（店员发 /推送 分层 建一个）")
    effects = Table("returns", "效果：发送组对对照组", (
        Column("活动"), Column("窗口"), Column("发送组人均", "money"), Column("对照组人均", "money"), Column("提升", "pct"),
        Column("多带来", "money"), Column("回报", "pct")), windows,
        note="人均：窗口内的下单金额除以人数。提升：发送组人均比对照组高多少。多带来：(发送组人均−对照组人均)×发送人数。"
             "回报：(毛利率×多带来−成本)÷成本。")
    total_cost = sum((r[8] for r in rows), Decimal(0))
    cards = [Card("活动", f"{len(rows)}个"), Card("已发送", f"{sum(r[4] for r in rows):,}条"),
             Card("成本", money(total_cost), "消息成本（[campaign] message_cost）加已用券面额")]
    return View("campaigns", "活动", cards, [sent, effects])

