"""Limited products: a delivery date's stock is never oversold, also under concurrent orders.

`take` locks the product's row for the date (SELECT ... FOR UPDATE on PostgreSQL; SQLite runs
one write transaction at a time) and grants what is left. Called inside the order's
transaction, so a rolled-back order gives its stock back with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tortoise.expressions import F

from models.catalog import Offer, Product
from models.tables import StockDay


@dataclass(frozen=True)
class Taken:
    granted: Decimal
    sold_out_now: bool  # this take emptied the stock and nobody was told yet


class StockRows:
    """The stock rows of some limited products for one delivery date, read under a row lock
    (SELECT ... FOR UPDATE on PostgreSQL; SQLite runs one write transaction at a time) and
    changed in memory; `save` writes back the ones that changed. Unlimited products have no
    row: everything asked for is granted."""

    def __init__(self, delivery_date: date) -> None:
        self.delivery_date = delivery_date
        self.rows: dict[str, StockDay] = {}
        self.changed: dict[str, StockDay] = {}
        self.seen: set[str] = set()  # skus whose row was looked for

    @classmethod
    async def load(cls, delivery_date: date, products: Iterable[Product]) -> StockRows:
        stock = cls(delivery_date)
        await stock.lock(products)
        return stock

    async def lock(self, products: Iterable[Product]) -> None:
        """Read (and lock) the rows of those limited products not read yet."""
        products = [p for p in products if p.sku not in self.seen]
        if not products:
            return
        skus = sorted({p.sku for p in products})
        self.seen.update(skus)
        # A product given back may have a row while the change names it without its stock
        # (a cancel names what was ordered): every named product's row is read.
        limited = sorted({p.sku for p in products if p.stock is not None})
        if limited:
            await StockDay.bulk_create([StockDay(sku=sku, delivery_date=self.delivery_date, taken=0)
                                        for sku in limited], ignore_conflicts=True)
        query = StockDay.filter(sku__in=skus, delivery_date=self.delivery_date).order_by("sku")
        for row in await query.select_for_update():
            self.rows[row.sku] = row

    async def read(self, products: Iterable[Product]) -> None:
        """Read (and lock) every row of the date at once; a limited product with no row yet
        gets one when `lock` is asked for it."""
        query = StockDay.filter(delivery_date=self.delivery_date).order_by("sku")
        for row in await query.select_for_update():
            self.rows[row.sku] = row
        self.seen.update(p.sku for p in products if p.sku in self.rows or p.stock is None)

    def take(self, product: Product, wanted: Decimal) -> Taken:
        row = self.rows.get(product.sku)
        if product.stock is None or row is None:
            return Taken(wanted, False)
        granted = max(Decimal(0), min(wanted, product.stock - row.taken))
        row.taken += granted
        sold_out_now = row.taken >= product.stock and not row.sold_out_announced
        if sold_out_now:
            row.sold_out_announced = True
        if granted or sold_out_now:
            self.changed[product.sku] = row
        return Taken(granted, sold_out_now)

    def give_back(self, sku: str, qty: Decimal) -> None:
        row = self.rows.get(sku)
        if row is not None:
            row.taken -= qty
            self.changed[sku] = row

    async def save(self) -> None:
        for row in self.changed.values():
            await row.save(update_fields=["taken", "sold_out_announced"])
        self.changed.clear()


async def take(product: Product, delivery_date: date, wanted: Decimal) -> Taken:
    """Take stock for one product now (one row, locked, written back)."""
    stock = await StockRows.load(delivery_date, [product])
    taken = stock.take(product, wanted)
    await stock.save()
    return taken


async def give_back(sku: str, delivery_date: date, qty: Decimal) -> None:
    await StockDay.filter(sku=sku, delivery_date=delivery_date).update(taken=F("taken") - qty)


async def stock_left(offer: Offer, delivery_date: date) -> dict[str, Decimal]:
    """What is left of each limited product for a delivery date."""
    taken = dict(await StockDay.filter(delivery_date=delivery_date).values_list("sku", "taken"))
    return {p.sku: max(Decimal(0), p.stock - taken.get(p.sku, Decimal(0)))
            for p in offer.products if p.stock is not None}
