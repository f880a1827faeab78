"""Orders: add, set, remove quantities for a member's order of one delivery date.

Every function here runs inside the caller's transaction (the dispatcher opens one per
message), so an order change, the message record and the reply commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from tortoise.queryset import QuerySet

from models.bookrows import BookLine
from models.catalog import Product
from models.stock import StockRows
from models.rows import chunks
from models.tables import Community, Member, Order, OrderLine

CENT = Decimal("0.01")

ADD, SET, REMOVE = "add", "set", "remove"


@dataclass(frozen=True)
class Change:
    """One requested change: ADD qty, SET to qty, or REMOVE qty (None: all of it)."""

    product: Product
    mode: str
    qty: Decimal | None


@dataclass(frozen=True)
class LineView:
    sku: str
    name: str
    unit: str
    price: Decimal
    qty: Decimal

    @property
    def amount(self) -> Decimal:
        return (self.price * self.qty).quantize(CENT)


@dataclass(frozen=True)
class LineChange:
    sku: str
    name: str
    unit: str
    before: Decimal
    after: Decimal


@dataclass(frozen=True)
class OrderView:
    id: int
    member_id: str
    room: str
    community: str
    delivery_slot: str
    delivery_date: date
    status: str
    lines: tuple[LineView, ...]
    groupbuy_no: int = 0  # made by the success of this group-buy; 0: the member's own order

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))


@dataclass(frozen=True)
class Shortfall:
    """Less was recorded than asked for: only `granted` was left of the stock."""

    product: Product
    wanted: Decimal
    granted: Decimal


@dataclass(frozen=True)
class OrderResult:
    changes: list[LineChange]
    order: OrderView | None
    short: list[Shortfall] = field(default_factory=list)
    sold_out: list[Product] = field(default_factory=list)  # just sold out: tell every group
    new: bool = False  # the member's first order of this delivery date in this community


# An order line in memory: an `OrderLine`, or the order book's lighter `BookLine`.
LineRow = OrderLine | BookLine
R = TypeVar("R", OrderLine, BookLine)


@dataclass
class Applied(Generic[R]):
    """What `apply_changes` did to an order's rows in memory, for the caller to write."""

    changes: list[LineChange] = field(default_factory=list)
    short: list[Shortfall] = field(default_factory=list)
    sold_out: list[Product] = field(default_factory=list)
    created: list[R] = field(default_factory=list)  # new rows (not yet written)
    updated: list[R] = field(default_factory=list)  # existing rows with new values
    deleted: list[R] = field(default_factory=list)  # existing rows to delete


def apply_changes(rows: list[R], changes: Sequence[Change], stock: StockRows, now: datetime,
                  make: Callable[..., R], note: str = "") -> Applied[R]:
    """Apply changes to an order's line rows in memory (`rows` is updated in place; `make`
    makes a new row), within the stock. Pure apart from `stock`, which is in memory too: both
    the per-message path and the batch (models.orderbook) write what it returns their own way."""
    # An out-of-stock line stays in the table (the workbook shows it) but counts for nothing;
    # ordering the product again brings the row back.
    lines = {row.sku: row for row in rows if row.status != "out_of_stock"}
    gone = {row.sku: row for row in rows if row.status == "out_of_stock"}
    done: Applied[R] = Applied()
    for change in changes:
        product = change.product
        line = lines.get(product.sku)
        before = line.qty if line else Decimal(0)
        if change.mode == ADD:
            after = before + (change.qty or 0)
        elif change.mode == SET:
            after = change.qty or Decimal(0)
        else:
            after = Decimal(0) if change.qty is None else max(Decimal(0), before - change.qty)
        if after > before:
            taken = stock.take(product, after - before)
            if taken.granted < after - before:
                done.short.append(Shortfall(product, after - before, taken.granted))
            if taken.sold_out_now:
                done.sold_out.append(product)
            after = before + taken.granted
        elif after < before:
            stock.give_back(product.sku, before - after)
        if after == before:
            continue
        if line is None and product.sku in gone:
            line = gone.pop(product.sku)
            line.qty, line.status, line.price, line.updated_at = after, "placed", product.price, now
            lines[product.sku] = line
            _touched(done, line)
        elif line is None:
            line = make(sku=product.sku, name=product.name, unit=product.unit, price=product.price,
                        qty=after, note=note[:128], status="placed", updated_at=now)
            lines[product.sku] = line
            rows.append(line)
            done.created.append(line)
        elif after > 0:
            line.qty, line.updated_at = after, now
            if note and note not in line.note:
                line.note = f"{line.note} {note}".strip()[:128]
            _touched(done, line)
        else:
            del lines[product.sku]
            _drop(rows, line)
            if not _drop(done.created, line):
                done.deleted.append(line)
                _drop(done.updated, line)
        done.changes.append(LineChange(product.sku, product.name, product.unit, before, after))
    return done


def _touched(done: Applied[R], line: R) -> None:
    if not holds(done.created, line) and not holds(done.updated, line):
        done.updated.append(line)


# Rows are compared by identity: tortoise's Model equality compares primary keys, and every
# row not written yet has none.
def holds(rows: Sequence[object], line: object) -> bool:
    return any(row is line for row in rows)


def _drop(rows: list[R], line: R) -> bool:
    for i, row in enumerate(rows):
        if row is line:
            del rows[i]
            return True
    return False


LINE_FIELDS = ["qty", "status", "price", "note", "updated_at"]  # what a change may update on a line


async def change_order(
    member: Member,
    community: Community,
    delivery_date: date,
    changes: Sequence[Change],
    now: datetime,
    note: str = "",
) -> OrderResult:
    """Apply changes to the member's order of `delivery_date`, within the stock."""
    order = await Order.get_or_none(member=member, community=community, delivery_date=delivery_date,
                                    groupbuy_no=0)
    if order is None:
        if not any(c.mode in (ADD, SET) and c.qty for c in changes):
            return OrderResult([], None)
        order = await Order.create(
            member=member, community=community, delivery_date=delivery_date,
            status="placed", created_at=now, updated_at=now,
        )
        new = True
        rows: list[OrderLine] = []
    else:
        new = False
        rows = list(await OrderLine.filter(order=order).order_by("id"))
    stock = await StockRows.load(delivery_date, [c.product for c in changes])
    done = apply_changes(rows, changes, stock, now, OrderLine, note)
    for line in done.created:
        line.order_id = order.id  # type: ignore[attr-defined]
        await line.save()
    for line in done.updated:
        await line.save(update_fields=LINE_FIELDS)
    for line in done.deleted:
        await line.delete()
    await stock.save()
    if done.changes:
        order.status = status_of(rows)
        order.updated_at = now
        await order.save(update_fields=["status", "updated_at"])
    return OrderResult(done.changes, view_of(order, community, rows), done.short, done.sold_out, new)


def status_of(rows: Sequence[LineRow]) -> str:
    """A member's own order is placed while it has a line that counts, else cancelled."""
    return "placed" if any(row.status != "out_of_stock" for row in rows) else "cancelled"


def view_of(order: Any, community: Community, rows: Sequence[LineRow]) -> OrderView:
    """The view of an order (an `Order` or the order book's `BookOrder`) from rows in memory
    (rows not yet written sort last, in order)."""
    return OrderView(
        id=order.id or 0, member_id=str(order.member_id),  # type: ignore[attr-defined]
        room=community.room, community=community.name, delivery_slot=community.delivery_slot,
        delivery_date=order.delivery_date, status=order.status, groupbuy_no=order.groupbuy_no,
        lines=tuple(LineView(row.sku, row.name, row.unit, row.price, row.qty) for row in rows
                    if row.status != "out_of_stock"),
    )


@dataclass(frozen=True)
class ProductTotal:
    sku: str
    name: str
    unit: str
    qty: Decimal
    amount: Decimal


def product_totals(orders: Sequence[OrderView]) -> list[ProductTotal]:
    """Quantity and amount per product over some orders, in order of first appearance."""
    totals: dict[str, ProductTotal] = {}
    for order in orders:
        for line in order.lines:
            seen = totals.get(line.sku)
            if seen is None:
                totals[line.sku] = ProductTotal(line.sku, line.name, line.unit, line.qty, line.amount)
            else:
                totals[line.sku] = replace(seen, qty=seen.qty + line.qty, amount=seen.amount + line.amount)
    return list(totals.values())


async def order_view(order_id: int) -> OrderView | None:
    views = await _views(Order.filter(id=order_id))
    return views[0] if views else None


async def member_orders(member_id: str, delivery_date: date | None = None,
                        since: date | None = None) -> list[OrderView]:
    """A member's placed orders, of one delivery date, of the dates from `since`, or of every
    date (a year of history is read through (member_id, delivery_date): never the rest)."""
    query = Order.filter(member_id=member_id, status="placed")
    if delivery_date is not None:
        query = query.filter(delivery_date=delivery_date)
    if since is not None:
        query = query.filter(delivery_date__gte=since)
    return await _views(query)


async def orders_for_delivery(
    delivery_date: date, statuses: Sequence[str] = ("placed",)
) -> list[OrderView]:
    return await _views(Order.filter(delivery_date=delivery_date, status__in=list(statuses)))


async def _views(query: QuerySet[Order]) -> list[OrderView]:
    orders = await query.order_by("delivery_date", "id").select_related("community")
    lines: dict[int, list[LineView]] = {order.id: [] for order in orders}
    ids = list(lines)
    for some in chunks(ids):  # (a prefetch sends every order's id in one list)
        for order_id, sku, name, unit, price, qty in await OrderLine.filter(
                order_id__in=some, status__not="out_of_stock").order_by("id").values_list(
                "order_id", "sku", "name", "unit", "price", "qty"):
            lines[order_id].append(LineView(sku, name, unit, price, qty))  # type: ignore[index, arg-type]
    return [
        OrderView(
            id=order.id,
            member_id=order.member_id,  # type: ignore[attr-defined]
            room=order.community.room,
            community=order.community.name,
            delivery_slot=order.community.delivery_slot,
            delivery_date=order.delivery_date,
            status=order.status,
            groupbuy_no=order.groupbuy_no,
            lines=tuple(lines[order.id]),
        )
        for order in orders
    ]
