"""The fulfilment workbook of one delivery date (docs/CONTRACTS.md section 4).

Sheets 订单 (one row per product per order, an order's settlement on its first line), 拣货单
(totals to pick, in offer order), 配送单 (per community, address and member) and 储值 (the
stored value the day's orders paid and got back, the top-ups and refunds of its order date). Written with openpyxl's write-only mode to a temporary
file beside the target, then moved over it: the old workbook stays whole until the new one is.
Member text is always a text cell: it can never become a formula.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any


from tortoise.expressions import Q
from tortoise.functions import Sum

from bot.core.config import CampaignConfig
from models.campaigns import EFFECT_COLUMNS, effect_rows
from models.contacts import Contact, Contacts, address_key
from models.rows import chunks
from models.tables import Campaign, Order, OrderLine, Settlement, WalletEntry
from models.xlsx import LocalWriter, ProcessWriter, SheetWriter

ORDER_COLUMNS = ("订单号", "下单时间", "小区", "群", "成员", "成员ID", "商品编码", "商品", "数量", "单位",
                 "单价", "金额", "地址", "配送日期", "配送时段", "状态", "备注",
                 # an order's settlement at cut-off, on its first line only (so the columns sum)
                 "优惠", "储值支付", "应收")
PICK_COLUMNS = ("商品编码", "商品", "数量", "单位")
# 应收: what to collect at the door, on each order's first row (after coupon and stored value)
# Per household (on its order's first line): the order's amount after any coupon, what stored
# value already paid and what to collect at the door; after each community, its total row.
DELIVERY_COLUMNS = ("小区", "配送时段", "地址", "成员", "电话", "商品", "数量", "单位", "金额", "备注", "订单金额", "已付",
                    "应收", "签收")
# Column widths in characters, for printing; CJK text is about two characters wide.
ORDER_WIDTHS = (8, 17, 12, 18, 12, 18, 10, 14, 7, 6, 8, 9, 16, 11, 12, 8, 14, 8, 9, 9)
WALLET_COLUMNS = ("时间", "成员", "成员ID", "类型", "金额", "本金", "赠送", "余额", "订单号", "经办", "来源")
WALLET_WIDTHS = (17, 12, 18, 10, 10, 10, 10, 10, 8, 16, 22)
PICK_WIDTHS = (10, 18, 10, 6)
DELIVERY_WIDTHS = (12, 12, 18, 12, 13, 14, 7, 6, 9, 14, 10, 9, 9, 8)
LINE_STATUS_TEXT = {"placed": "已下单", "delivered": "已送达", "out_of_stock": "缺货"}
STATUS_OF_TEXT = {text: status for status, text in LINE_STATUS_TEXT.items()}


@dataclass(frozen=True, slots=True)
class Row:
    order_id: int
    ordered_at: datetime
    community: str
    room: str
    member: str
    member_id: str
    sku: str
    product: str
    qty: Decimal
    unit: str
    price: Decimal
    amount: Decimal
    address: str
    delivery_date: date
    slot: str
    status: str  # the line's status in words (LINE_STATUS_TEXT)
    note: str = ""
    settled: tuple[Decimal | None, Decimal | None, Decimal | None] = (None, None, None)  # 优惠, 储值支付, 应收


def workbook_path(template: str, delivery_date: date) -> str:
    return template.replace("{date}", delivery_date.isoformat())


# Order lines read per query: memory stays flat whatever the size of the day, and each read
# holds the bot's database connection (and its event loop, converting rows) only briefly.
PAGE = 500

_LINE_FIELDS = ("id", "sku", "name", "qty", "unit", "price", "note", "status", "order_id",
                "order__created_at", "order__member_id", "order__member__name",
                "order__community_id", "order__community__name",
                "order__community__room", "order__community__delivery_slot")


def _row(line: dict[str, Any], tz: tzinfo, delivery_date: date, contacts: Contacts) -> Row:
    return Row(
        order_id=line["order_id"], ordered_at=line["order__created_at"].astimezone(tz),
        community=line["order__community__name"], room=line["order__community__room"],
        member=line["order__member__name"], member_id=line["order__member_id"], sku=line["sku"],
        product=line["name"], qty=line["qty"], unit=line["unit"], price=line["price"],
        amount=(line["price"] * line["qty"]).quantize(Decimal("0.01")),
        address=contacts.of(line["order__member_id"], line["order__community_id"]).address,
        delivery_date=delivery_date,
        slot=line["order__community__delivery_slot"],
        status=LINE_STATUS_TEXT.get(line["status"], line["status"]), note=line["note"],
    )


async def _pages(query: Any, tz: tzinfo, delivery_date: date, contacts: Contacts) -> AsyncIterator[list[Row]]:
    """Lines in order and line id order, a page at a time, keyset-paged (no OFFSET rescans);
    each order's first line carries its settlement."""
    last_order, last_id = 0, 0
    while True:
        page = await (query.filter(Q(order_id__gt=last_order) | Q(order_id=last_order, id__gt=last_id))
                      .order_by("order_id", "id").limit(PAGE).values(*_LINE_FIELDS))
        if not page:
            return
        firsts = {line["order_id"] for line in page} - {last_order}
        settled = {s["order_id"]: (s["discount"], s["wallet_paid"], s["due"]) for s in
                   await Settlement.filter(order_id__in=list(firsts)).values("order_id", "discount", "wallet_paid", "due")}
        rows = []
        for line in page:
            row = _row(line, tz, delivery_date, contacts)
            if line["order_id"] in firsts and line["order_id"] in settled:
                row = dataclasses.replace(row, settled=settled[line["order_id"]])
            firsts.discard(line["order_id"])
            rows.append(row)
        yield rows
        last_order, last_id = page[-1]["order_id"], page[-1]["id"]


_ROUTE_FIELDS = ("id", "order_id", "name", "qty", "unit", "price", "note", "order__member__name",
                 "order__community__name", "order__community__delivery_slot")


CENT = Decimal("0.01")


def _route_values(line: dict[str, Any], contact: Contact,
                  money: tuple[Decimal, Decimal, Decimal] | None) -> tuple[Any, ...]:
    """A 配送单 row straight from the database (no order times to parse: it has none);
    `money` (order amount, paid, to collect) on the first line of each order."""
    amount, paid, due = money if money is not None else (None, None, None)
    return (line["order__community__name"], line["order__community__delivery_slot"],
            contact.address, line["order__member__name"], contact.phone,
            line["name"], line["qty"], line["unit"], (line["price"] * line["qty"]).quantize(CENT),
            line["note"], amount, paid, due, "")


async def _route_pages(query: Any, communities: Sequence[str],
                       contacts: Contacts) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Lines in delivery order: community (those given, in order), then building and room in
    number order, member, each community closed by its total row. One community's sort keys
    are held at a time; lines come a page at a time."""
    for community in communities:
        found = await query.filter(order__community__name=community).values_list(
            "order__community_id", "order__member_id", "order_id", "id", "price", "qty")
        said = {(k[1], k[0]): contacts.of(k[1], k[0]) for k in found}  # (member, community)
        keys = [(said[(k[1], k[0])], *k[1:]) for k in found]
        keys.sort(key=lambda k: (address_key(k[0].address), k[1], k[2], k[3]))
        contact_of_order = {k[2]: k[0] for k in keys}
        firsts = {k[2]: k[3] for k in reversed(keys)}  # each order's first line in route order
        worth: dict[int, Decimal] = {}
        for *_, order_id, _, price, quantity in keys:
            worth[order_id] = worth.get(order_id, Decimal(0)) + price * quantity
        money: dict[int, tuple[Decimal, Decimal, Decimal]] = {}
        for start in range(0, len(keys), PAGE):
            ids = [k[3] for k in keys[start : start + PAGE]]
            by_id = {line["id"]: line for line in await OrderLine.filter(id__in=ids).values(*_ROUTE_FIELDS)}
            starting = [by_id[i]["order_id"] for i in ids if firsts.get(by_id[i]["order_id"]) == i]
            for order_id, total, discount, paid, due in await Settlement.filter(order_id__in=starting) \
                    .values_list("order_id", "total", "discount", "wallet_paid", "due"):
                money[order_id] = ((total - discount).quantize(CENT), paid.quantize(CENT), due.quantize(CENT))
            for order_id in starting:  # not settled yet (before the cut-off): nothing paid
                if order_id not in money:
                    amount = worth[order_id].quantize(CENT)
                    money[order_id] = (amount, Decimal("0.00"), amount)
            yield [_route_values(by_id[i], contact_of_order[by_id[i]["order_id"]],
                                 money[by_id[i]["order_id"]] if firsts.get(by_id[i]["order_id"]) == i else None)
                   for i in ids]
        households = len({k[1] for k in keys})
        totals = [sum((m[n] for m in money.values()), Decimal("0.00")) for n in range(3)]
        lines_worth = sum((price * quantity for *_, price, quantity in keys), Decimal(0)).quantize(CENT)
        yield [(f"{community} 合计", None, None, f"{households}户", None, None, None, None, lines_worth,
                f"{len(money)}单", *totals, None)]


WALLET_KIND = {"充值": "充值", "退款": "退款", "支付": "订单支付", "退回": "订单退回"}


def _wallet_kind(reason: str) -> str:
    return next((kind for word, kind in WALLET_KIND.items() if word in reason), reason)


async def _wallet_rows(delivery_date: date, order_date: date | None, tz: tzinfo) -> list[tuple[Any, ...]]:
    """储值: what the wallet paid and got back for this delivery date's orders, and the
    top-ups and refunds booked on its order date, so the shop can reconcile the cash."""
    # Two reads, each on its own index (an OR of the two reads the whole ledger).
    names = ("id", "created_at", "member__name", "member_id", "reason", "delta", "principal", "bonus", "balance",
             "order_id", "actor", "source")
    orders = [int(i) for i in await Order.filter(delivery_date=delivery_date).values_list("id", flat=True)]  # type: ignore[call-overload]
    entries: list[dict[str, Any]] = []
    for some in chunks(orders):
        entries += await WalletEntry.filter(order_id__in=some).values(*names)
    if order_date is not None:
        start = datetime.combine(order_date, datetime.min.time(), tzinfo=tz)
        entries += await WalletEntry.filter(order_id__isnull=True, created_at__gte=start,
                                            created_at__lt=start + timedelta(days=1)).values(*names)
    entries.sort(key=lambda e: e["id"])
    return [(e["created_at"].astimezone(tz).replace(tzinfo=None), e["member__name"], e["member_id"],
             _wallet_kind(e["reason"]), e["delta"], e["principal"], e["bonus"], e["balance"], e["order_id"],
             e["actor"], e["source"]) for e in entries]


async def export_delivery_date(path: Path, delivery_date: date, tz: tzinfo,
                               sku_order: Sequence[str] = (), order_date: date | None = None,
                               campaigns: CampaignConfig | None = None, now: datetime | None = None) -> Path:
    """Write the workbook of `delivery_date` to `path` (atomically), reading the orders page by
    page: openpyxl's write-only sheets stream their rows to temporary files as they come. A
    large day is written by a worker process, so reading overlaps writing and the bot's event
    loop is never held up by the writing."""
    # A cancelled order's lines are not packed or delivered (a group-buy staff cancelled
    # after it succeeded keeps its lines); its 缺货 lines stay, as staff marked them.
    lines = OrderLine.filter(Q(order__status__not="cancelled") | Q(status__not="placed"),
                             order__delivery_date=delivery_date)
    counting = lines.filter(status__not="out_of_stock")
    total = await lines.count()
    writer: SheetWriter = ProcessWriter(path) if total >= PROCESS_LINES else LocalWriter(path)
    try:
        await writer.sheet("订单", ORDER_COLUMNS, ORDER_WIDTHS, total, True)
        # A member's address for each community and her phone: of the day's members only (a
        # shop's contacts grow with every member it ever had; a day's workbook is rewritten often).
        members = await Order.filter(delivery_date=delivery_date).values_list("member_id", flat=True)
        contacts = await Contacts.read(sorted({str(m) for m in members}))
        async for page in _pages(lines, tz, delivery_date, contacts):
            await writer.rows([_order_values(r) for r in page])
        totals = await counting.group_by("sku", "name", "unit").annotate(total=Sum("qty")) \
            .values_list("sku", "name", "total", "unit")
        rank = {sku: i for i, sku in enumerate(sku_order)}
        totals = sorted(totals, key=lambda t: (rank.get(t[0], len(rank)), t[0]))
        await writer.sheet("拣货单", PICK_COLUMNS, PICK_WIDTHS, len(totals), False)
        await writer.rows([tuple(t) for t in totals])
        communities = sorted({str(c) for c in await counting.distinct().values_list("order__community__name", flat=True)})
        await writer.sheet("配送单", DELIVERY_COLUMNS, DELIVERY_WIDTHS, await counting.count() + len(communities), False)
        async for values in _route_pages(counting, communities, contacts):
            await writer.rows(values)
        wallet = await _wallet_rows(delivery_date, order_date, tz)
        await writer.sheet("储值", WALLET_COLUMNS, WALLET_WIDTHS, len(wallet), True)
        await writer.rows(wallet)
        if campaigns is not None and now is not None and await Campaign.exists():
            effects = await effect_rows(now, campaigns, tz)
            await writer.sheet("活动效果", EFFECT_COLUMNS, tuple(10 for _ in EFFECT_COLUMNS), len(effects), True)
            await writer.rows(effects)
        await writer.save()
    finally:
        await writer.close()
    return path


PROCESS_LINES = 200  # from this many lines a day's workbook is written by a worker process (starting one costs
# ~0.2 s of another core; writing 200 lines here holds the event loop ~25 ms)


def _order_values(r: Row) -> tuple[Any, ...]:
    return (r.order_id, r.ordered_at.replace(tzinfo=None), r.community, r.room, r.member, r.member_id,
            r.sku, r.product, r.qty, r.unit, r.price, r.amount, r.address, r.delivery_date, r.slot,
            r.status, r.note, *r.settled)
