"""How the bot writes quantities, money and orders: one place, used by handlers and jobs."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from models.catalog import Offer
from models.days import short_date
from models.orders import LineChange, OrderView

HOW_TO_ORDER = "下单请写“商品+数量”，如“西红柿2斤”、“3号x2”；改单写“西红柿改成3斤”，取消写“取消西红柿”；发“帮助”看更多。"


def qty(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text


def money(value: Decimal | int) -> str:
    """Yuan to the fen; an int too (a member created in this message holds the field's default, 0)."""
    return f"¥{Decimal(value).quantize(Decimal('0.01'))}"


def order_text(order: OrderView, with_delivery: bool = True) -> str:
    lines = [f"{l.name} {qty(l.qty)}{l.unit} {money(l.amount)}" for l in order.lines]
    text = "；".join(lines) + f"，合计 {money(order.total)}"
    if order.groupbuy_no:
        text = f"拼团#{order.groupbuy_no} {text}"
    if with_delivery:
        text += f"\n配送：{short_date(order.delivery_date)} {order.delivery_slot}（{order.community}）"
    return text


def changes_text(changes: Iterable[LineChange]) -> list[str]:
    """What changed, one line per kind: "✅ 已记下：西红柿 2斤", "✅ 已减少：豆腐 3→2块",
    "✅ 已取消：土豆 3斤" (a line that grew is shown with before and after)."""
    added: list[str] = []
    reduced: list[str] = []
    removed: list[str] = []
    for c in changes:
        if c.before == 0:
            added.append(f"{c.name} {qty(c.after)}{c.unit}")
        elif c.after == 0:
            removed.append(f"{c.name} {qty(c.before)}{c.unit}")
        elif c.after > c.before:
            added.append(f"{c.name} {qty(c.before)}→{qty(c.after)}{c.unit}")
        else:
            reduced.append(f"{c.name} {qty(c.before)}→{qty(c.after)}{c.unit}")
    return [f"✅ {verb}：{'、'.join(parts)}" for verb, parts in
            (("已记下", added), ("已减少", reduced), ("已取消", removed)) if parts]


def offer_lines(offer: Offer, left: dict[str, Decimal] | None = None) -> list[str]:
    rows = []
    for number, product in enumerate(offer.products, start=1):
        row = f"{number}号 {product.name} {money(product.price)}/{product.unit}"
        if product.stock is not None:
            remaining = (left or {}).get(product.sku, product.stock)
            row += f"（剩{qty(remaining)}{product.unit}）" if remaining > 0 else "（已售完）"
        if product.group_price is not None:
            row += f"【{product.group_size}人拼团{money(product.group_price)}，发“开团 {product.names[-1]}”】"
        rows.append(row)
    return rows
