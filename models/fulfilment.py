"""Staff edits in the workbook come back: a 状态 of 已送达 or 缺货 set in Excel or WPS.

Delivered lines are marked so and their members get a note; out-of-stock lines are taken off
the order (their stock given back) with an apology. The statuses live in the database, so the
next write of the workbook keeps them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zipfile import BadZipFile

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from bot.core.messages import Outgoing
from bot.core.protocols import PacedPostbox
from models.db import transaction
from bot.core.config import WalletConfig
from models.delivery import finish
from models.points import Rewards
from models.settlement import settle_again
from models.spreadsheet import STATUS_OF_TEXT
from models.stock import give_back
from models.tables import Order, OrderLine

NEEDED = ("订单号", "商品编码", "状态")


class WorkbookError(ValueError):
    """A workbook that cannot be read back; the message says which and why."""


@dataclass
class Imported:
    delivered: int = 0
    out_of_stock: int = 0
    unchanged: int = 0
    unknown: list[str] = field(default_factory=list)  # rows naming no order line
    delivery_dates: set[date] = field(default_factory=set)


def read_statuses(path: Path) -> list[tuple[int, str, str, int]]:
    """(order id, sku, status, row number) for each row whose 状态 says delivered or out of stock."""
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (OSError, InvalidFileException, BadZipFile, KeyError, ValueError) as error:
        raise WorkbookError(f"{path}: not a readable xlsx workbook ({error})") from None
    if "订单" not in book.sheetnames:
        raise WorkbookError(f"{path}: no sheet 订单")
    rows = book["订单"].iter_rows(values_only=True)
    header = [str(cell).strip() if cell is not None else "" for cell in next(rows, ())]
    missing = [name for name in NEEDED if name not in header]
    if missing:
        raise WorkbookError(f"{path}: sheet 订单 has no column {', '.join(missing)}")
    at = {name: header.index(name) for name in NEEDED}
    found = []
    for number, row in enumerate(rows, start=2):
        status = STATUS_OF_TEXT.get(str(row[at["状态"]] or "").strip())
        if status not in ("delivered", "out_of_stock"):
            continue
        try:
            order_id = int(row[at["订单号"]])
        except (TypeError, ValueError):
            continue
        found.append((order_id, str(row[at["商品编码"]] or "").strip(), status, number))
    book.close()
    return found


async def import_statuses(path: Path, outbox: PacedPostbox, now: datetime, rewards: Rewards | None = None,
                          wallet: WalletConfig | None = None) -> Imported:
    result = Imported()
    delivered: dict[int, list[str]] = defaultdict(list)
    missing: dict[int, list[str]] = defaultdict(list)
    async with transaction():
        for order_id, sku, status, number in read_statuses(path):
            line = await OrderLine.get_or_none(order_id=order_id, sku=sku).select_related("order")
            if line is None:
                result.unknown.append(f"第{number}行（订单{order_id} {sku}）")
                continue
            if line.status == status:
                result.unchanged += 1
                continue
            if status == "out_of_stock" and line.status == "placed":
                await give_back(sku, line.order.delivery_date, line.qty)
            line.status, line.updated_at = status, now
            await line.save(update_fields=["status", "updated_at"])
            result.delivery_dates.add(line.order.delivery_date)
            if status == "delivered":
                result.delivered += 1
                delivered[order_id].append(line.name)
            else:
                result.out_of_stock += 1
                missing[order_id].append(f"{line.name} {line.qty.normalize():f}{line.unit}")
        for order_id in set(delivered) | set(missing):
            await _settle(order_id, delivered.get(order_id, []), missing.get(order_id, []), outbox, now)
        if wallet is not None and missing:  # an out-of-stock line is not paid: the wallet gets it back
            await settle_again(missing, wallet, outbox, now)
        if rewards is not None:  # nor does it earn: coupons used and points as the orders now are
            await finish(set(delivered) | set(missing), rewards, now, outbox)
    outbox.changed()
    return result


async def _settle(order_id: int, delivered: list[str], missing: list[str], outbox: PacedPostbox,
                  now: datetime) -> None:
    """The order's own status, and one note to its member."""
    order = await Order.get(id=order_id).select_related("member", "community")
    statuses = [s for s in await OrderLine.filter(order_id=order_id).values_list("status", flat=True)]
    counting = [s for s in statuses if s != "out_of_stock"]
    order.status = ("cancelled" if not counting else
                    "delivered" if all(s == "delivered" for s in counting) else "placed")
    order.updated_at = now
    await order.save(update_fields=["status", "updated_at"])
    parts = []
    if delivered:
        parts.append(f"您的{'、'.join(delivered)}已送达，请查收，谢谢！")
    if missing:
        parts.append(f"非常抱歉，{'、'.join(missing)}缺货，已从您的订单取消，不收费。")
    await outbox.put(Outgoing(f"@{order.member.name} " + "".join(parts), room=order.community.room,
                              mentions=(order.member.id,)))

