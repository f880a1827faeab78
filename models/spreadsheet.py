"""The fulfilment workbook of one delivery date (docs/CONTRACTS.md section 4).

Sheets 订单 (one row per product per order), 拣货单 (totals to pick, in offer order) and 配送单
(per community, address and member). Written with openpyxl's write-only mode to a temporary
file beside the target, then moved over it: the old workbook stays whole until the new one is.
Member text is always a text cell: it can never become a formula.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from models.tables import Order

ORDER_COLUMNS = ("订单号", "下单时间", "小区", "群", "成员", "成员ID", "商品编码", "商品", "数量", "单位",
                 "单价", "金额", "地址", "配送日期", "配送时段", "状态", "备注")
PICK_COLUMNS = ("商品编码", "商品", "数量", "单位")
DELIVERY_COLUMNS = ("小区", "配送时段", "地址", "成员", "电话", "商品", "数量", "单位", "金额", "备注", "签收")
# Column widths in characters, for printing; CJK text is about two characters wide.
ORDER_WIDTHS = (8, 17, 12, 18, 12, 18, 10, 14, 7, 6, 8, 9, 16, 11, 12, 8, 14)
PICK_WIDTHS = (10, 18, 10, 6)
DELIVERY_WIDTHS = (12, 12, 18, 12, 13, 14, 7, 6, 9, 14, 8)
LINE_STATUS_TEXT = {"placed": "已下单", "delivered": "已送达", "out_of_stock": "缺货"}
STATUS_OF_TEXT = {text: status for status, text in LINE_STATUS_TEXT.items()}
HEADER_FONT = Font(bold=True)


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
    phone: str = ""

    @property
    def counts(self) -> bool:
        """Picked and delivered: every line but an out-of-stock one."""
        return self.status != LINE_STATUS_TEXT["out_of_stock"]


def workbook_path(template: str, delivery_date: date) -> str:
    return template.replace("{date}", delivery_date.isoformat())


async def collect_rows(delivery_date: date, tz: tzinfo) -> list[Row]:
    """Every line of every order of the delivery date, out-of-stock ones included."""
    orders = await (Order.filter(delivery_date=delivery_date).order_by("id")
                    .select_related("community", "member").prefetch_related("lines"))
    rows = []
    for order in orders:
        member, community = order.member, order.community
        for line in sorted(order.lines, key=lambda line: line.id):
            rows.append(Row(
                order_id=order.id, ordered_at=order.created_at.astimezone(tz),
                community=community.name, room=community.room, member=member.name,
                member_id=member.id, sku=line.sku, product=line.name, qty=line.qty, unit=line.unit,
                price=line.price, amount=(line.price * line.qty).quantize(Decimal("0.01")),
                address=member.address, delivery_date=order.delivery_date, slot=community.delivery_slot,
                status=LINE_STATUS_TEXT.get(line.status, line.status), note=line.note, phone=member.phone,
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
    orders = _sheet(book, "订单", ORDER_COLUMNS, ORDER_WIDTHS, len(rows), landscape=True)
    for r in rows:
        _append(orders, (r.order_id, r.ordered_at.replace(tzinfo=None), r.community, r.room, r.member,
                         r.member_id, r.sku, r.product, r.qty, r.unit, r.price, r.amount, r.address,
                         r.delivery_date, r.slot, r.status, r.note))
    totals = _pick_totals((r for r in rows if r.counts), sku_order)
    pick = _sheet(book, "拣货单", PICK_COLUMNS, PICK_WIDTHS, len(totals))
    for sku, name, qty, unit in totals:
        _append(pick, (sku, name, qty, unit))
    to_deliver = sorted((r for r in rows if r.counts),
                        key=lambda r: (r.community, address_key(r.address), r.member_id, r.order_id))
    delivery = _sheet(book, "配送单", DELIVERY_COLUMNS, DELIVERY_WIDTHS, len(to_deliver))
    for r in to_deliver:
        _append(delivery, (r.community, r.slot, r.address, r.member, r.phone, r.product, r.qty, r.unit,
                           r.amount, r.note, ""))
    _save_atomically(book, path)


def address_key(address: str) -> tuple[object, ...]:
    """Buildings, units and rooms in number order: 2栋 before 10栋, 3-2-502 by its parts."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", address))
    return (not address, numbers, address)


def _sheet(book: Workbook, title: str, columns: Sequence[str], widths: Sequence[int], rows: int,
           landscape: bool = False) -> WriteOnlyWorksheet:
    """A sheet ready to print: widths, frozen header, header on every page, filters."""
    sheet = book.create_sheet(title)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.print_title_rows = "1:1"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{rows + 1}"
    sheet.page_setup.orientation = "landscape" if landscape else "portrait"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    header = []
    for name in columns:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = HEADER_FONT
        header.append(cell)
    sheet.append(header)
    return sheet


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
    return ILLEGAL_CHARACTERS_RE.sub("", value) if value and not value.isprintable() else value


def _append(sheet: WriteOnlyWorksheet, values: Sequence[Any]) -> None:
    cells: list[Any] = []
    for value in values:
        if isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        elif isinstance(value, str):
            value = safe_text(value)
            if value.startswith("="):
                # openpyxl would store "=..." as a formula; a cell typed as string never is.
                # ("+", "-" and "@" are written as text cells by openpyxl already.)
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                value = cell
        cells.append(value)
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
