"""The fulfilment workbook of one delivery date (docs/CONTRACTS.md section 4).

Sheets 订单 (one row per product per order), 拣货单 (totals to pick, in offer order) and 配送单
(per community, address and member). Written with openpyxl's write-only mode to a temporary
file beside the target, then moved over it: the old workbook stays whole until the new one is.
Member text is always a text cell: it can never become a formula.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from models.orders import orders_for_delivery
from models.tables import Member, Order

ORDER_COLUMNS = ("订单号", "下单时间", "小区", "群", "成员", "成员ID", "商品编码", "商品", "数量", "单位",
                 "单价", "金额", "地址", "配送日期", "配送时段", "状态")
PICK_COLUMNS = ("商品编码", "商品", "数量", "单位")
DELIVERY_COLUMNS = ("小区", "配送时段", "地址", "成员", "成员ID", "商品", "数量", "单位", "金额")
STATUS_TEXT = {"placed": "已下单", "cancelled": "已取消", "delivered": "已送达"}


@dataclass(frozen=True)
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
    status: str


def workbook_path(template: str, delivery_date: date) -> str:
    return template.replace("{date}", delivery_date.isoformat())


async def collect_rows(delivery_date: date, tz: tzinfo) -> list[Row]:
    orders = await orders_for_delivery(delivery_date)
    member_ids = {o.member_id for o in orders}
    members = {m.id: m for m in await Member.filter(id__in=list(member_ids))}
    created = dict(await Order.filter(id__in=[o.id for o in orders]).values_list("id", "created_at"))
    rows = []
    for order in orders:
        member = members.get(order.member_id)
        for line in order.lines:
            rows.append(Row(
                order_id=order.id, ordered_at=created[order.id].astimezone(tz),
                community=order.community, room=order.room,
                member=member.name if member else order.member_id, member_id=order.member_id,
                sku=line.sku, product=line.name, qty=line.qty, unit=line.unit, price=line.price,
                amount=line.amount, address=member.address if member else "",
                delivery_date=order.delivery_date, slot=order.delivery_slot,
                status=STATUS_TEXT.get(order.status, order.status),
            ))
    return rows


async def export_delivery_date(path: Path, delivery_date: date, tz: tzinfo,
                               sku_order: Sequence[str] = ()) -> Path:
    """Write the workbook of `delivery_date` to `path` (atomically); return the path."""
    rows = await collect_rows(delivery_date, tz)
    await asyncio.to_thread(write_workbook, path, rows, sku_order)
    return path


def write_workbook(path: Path, rows: Sequence[Row], sku_order: Sequence[str] = ()) -> None:
    book = Workbook(write_only=True)
    orders = book.create_sheet("订单")
    _append(orders, ORDER_COLUMNS)
    for r in rows:
        _append(orders, (r.order_id, r.ordered_at.replace(tzinfo=None), r.community, r.room, r.member,
                         r.member_id, r.sku, r.product, r.qty, r.unit, r.price, r.amount, r.address,
                         r.delivery_date, r.slot, r.status))
    pick = book.create_sheet("拣货单")
    _append(pick, PICK_COLUMNS)
    for sku, name, qty, unit in _pick_totals(rows, sku_order):
        _append(pick, (sku, name, qty, unit))
    delivery = book.create_sheet("配送单")
    _append(delivery, DELIVERY_COLUMNS)
    for r in sorted(rows, key=lambda r: (r.community, r.address, r.member_id, r.order_id)):
        _append(delivery, (r.community, r.slot, r.address, r.member, r.member_id, r.product,
                           r.qty, r.unit, r.amount))
    _save_atomically(book, path)


def _pick_totals(rows: Iterable[Row], sku_order: Sequence[str]) -> list[tuple[str, str, Decimal, str]]:
    totals: dict[str, list[Any]] = {}
    for r in rows:
        entry = totals.setdefault(r.sku, [r.sku, r.product, Decimal(0), r.unit])
        entry[2] += r.qty
    rank = {sku: i for i, sku in enumerate(sku_order)}
    ordered = sorted(totals.values(), key=lambda e: (rank.get(e[0], len(rank)), e[0]))
    return [tuple(e) for e in ordered]  # type: ignore[misc]


def safe_text(value: str) -> str:
    """Without the control characters that make a workbook unreadable."""
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def _append(sheet: WriteOnlyWorksheet, values: Sequence[Any]) -> None:
    cells = []
    for value in values:
        if isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        cell = WriteOnlyCell(sheet, value=safe_text(value) if isinstance(value, str) else value)
        if isinstance(value, str):
            # openpyxl would store "=..." as a formula; a string cell is never evaluated.
            cell.data_type = "s"
        cells.append(cell)
    sheet.append(cells)


def _save_atomically(book: Workbook, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".xlsx.tmp", dir=path.parent)
    os.close(handle)
    try:
        book.save(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
