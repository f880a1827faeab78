"""Limited products: a delivery date's stock is never oversold, also under concurrent orders.

`take` locks the product's row for the date (SELECT ... FOR UPDATE on PostgreSQL; SQLite runs
one write transaction at a time) and grants what is left. Called inside the order's
transaction, so a rolled-back order gives its stock back with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tortoise.expressions import F

from handlers.parsing.offer import Offer, Product
from models.tables import StockDay


@dataclass(frozen=True)
class Taken:
    granted: Decimal
    sold_out_now: bool  # this take emptied the stock and nobody was told yet


async def take(product: Product, delivery_date: date, wanted: Decimal) -> Taken:
    if product.stock is None:
        return Taken(wanted, False)
    await StockDay.bulk_create([StockDay(sku=product.sku, delivery_date=delivery_date, taken=0)],
                               ignore_conflicts=True)
    row = await StockDay.filter(sku=product.sku, delivery_date=delivery_date).select_for_update().get()
    granted = max(Decimal(0), min(wanted, product.stock - row.taken))
    row.taken += granted
    sold_out_now = row.taken >= product.stock and not row.sold_out_announced
    if sold_out_now:
        row.sold_out_announced = True
    if granted or sold_out_now:
        await row.save(update_fields=["taken", "sold_out_announced"])
    return Taken(granted, sold_out_now)


async def give_back(sku: str, delivery_date: date, qty: Decimal) -> None:
    await StockDay.filter(sku=sku, delivery_date=delivery_date).update(taken=F("taken") - qty)


async def stock_left(offer: Offer, delivery_date: date) -> dict[str, Decimal]:
    """What is left of each limited product for a delivery date."""
    taken = dict(await StockDay.filter(delivery_date=delivery_date).values_list("sku", "taken"))
    return {p.sku: max(Decimal(0), p.stock - taken.get(p.sku, Decimal(0)))
            for p in offer.products if p.stock is not None}
