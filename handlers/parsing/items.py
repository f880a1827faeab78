"""Tokens -> items: which quantity belongs to which product, in the product's own unit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from handlers.parsing.lexer import (
    ADDRESS,
    BAD_NUMBER,
    EACH,
    OTHER,
    PRODUCT,
    QTY,
    WANT,
    Token,
)
from handlers.parsing.offer import Offer, Product
from handlers.parsing.quantities import to_product_unit
from handlers.parsing.results import Item

MAX_QTY = Decimal(999)

# Words around an order that say nothing about it.
NOISE = (
    "老板娘", "老板", "团长", "谢谢", "谢了", "多谢", "麻烦了", "麻烦", "你好", "您好", "早上好",
    "早", "晚上好", "辛苦了", "辛苦", "亲们", "亲", "哈哈", "请", "帮我", "好", "帮忙", "我", "的",
    "了", "呀", "啊", "哦", "吧", "嗯", "哈", "再", "还", "一下", "明天", "今天", "把", "送到", "送",
)


def strip_noise(text: str) -> str:
    """The words left when greetings, thanks, politeness, emoji and symbols are taken out."""
    for word in NOISE:
        text = text.replace(word, "")
    return "".join(char for char in text if char.isalpha())


@dataclass
class Extraction:
    """What the tokens of one message say about products."""

    items: list[tuple[Product, Decimal | None]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why it cannot be resolved
    unknown_names: list[str] = field(default_factory=list)  # "黄瓜" in "黄瓜2斤"
    address: str = ""
    wanting: bool = False  # 要 / 来 / 加 ...
    unbound_products: list[Product] = field(default_factory=list)
    other_text: str = ""  # what is left that is neither product, quantity nor noise


def extract(tokens: list[Token], offer: Offer, default_product: Product | None = None) -> Extraction:
    """Bind quantities to products. `default_product`: what a bare "+2" means (a 接龙's title)."""
    out = Extraction()
    out.address = " ".join(t.text.strip() for t in tokens if t.kind == ADDRESS)
    out.wanting = any(t.kind == WANT for t in tokens)
    out.other_text = strip_noise("".join(t.text for t in tokens if t.kind == OTHER))
    significant = [t for t in tokens if t.kind in (PRODUCT, BAD_NUMBER, QTY, EACH, OTHER)]
    bound: dict[int, Token] = {}  # product token index -> quantity token
    used: set[int] = set()  # quantity token indexes taken

    def neighbour(i: int, step: int) -> int | None:
        j = i + step
        while 0 <= j < len(significant) and significant[j].kind == OTHER:
            j += step
        return j if 0 <= j < len(significant) else None

    def bind(step: int) -> None:
        for i, token in enumerate(significant):
            if token.kind != PRODUCT or i in bound:
                continue
            j = neighbour(i, step)
            if j is not None and significant[j].kind == QTY and j not in used:
                bound[i] = significant[j]
                used.add(j)

    first = next((t.kind for t in significant if t.kind in (PRODUCT, BAD_NUMBER, QTY)), None)
    # "4斤西红柿 2斤土豆" reads quantity-first, "西红柿4斤 土豆2斤" product-first.
    for step in ((-1, +1) if first == QTY else (+1, -1)):
        bind(step)
    # 各: "西红柿、土豆各2斤" gives every product before it the quantity after it.
    for i, token in enumerate(significant):
        if token.kind == EACH:
            j = neighbour(i, +1)
            if j is None or significant[j].kind != QTY or j in used:
                continue
            used.add(j)
            k = i - 1
            while k >= 0 and significant[k].kind in (PRODUCT, OTHER):
                if significant[k].kind == PRODUCT and k not in bound:
                    bound[k] = significant[j]
                k -= 1

    with_quantity = {significant[i].product.sku for i in bound}  # type: ignore[union-attr]
    for i, token in enumerate(significant):
        if token.kind == PRODUCT and token.product is not None:
            quantity = bound.get(i)
            if quantity is None:
                if token.product.sku in with_quantity:
                    continue  # named twice ("山东" + "葱3根"): the quantity is given once
                out.unbound_products.append(token.product)
                out.items.append((token.product, None))
                continue
            _add(out, token.product, quantity)
        elif token.kind == BAD_NUMBER:
            out.problems.append(f"没有{token.text.strip()}这个商品")
        elif token.kind == QTY and i not in used:
            if default_product is not None:
                _add(out, default_product, token)
                continue
            if token.unit is None:
                continue  # a bare number with no product: a time, a count, chit-chat
            name = _adjacent_other(significant, i)
            if name:
                out.unknown_names.append(name)
                out.problems.append(f"没有找到“{name}”")
            else:
                out.problems.append(f"“{token.text.strip()}”是哪个商品？")
    return out


def _add(out: Extraction, product: Product, quantity: Token) -> None:
    assert quantity.qty is not None
    qty = to_product_unit(quantity.qty, quantity.unit, product.unit)
    if qty is None:
        out.problems.append(f"{product.name}按{product.unit}卖，不按{quantity.unit}")
    elif qty <= 0 or qty > MAX_QTY:
        out.problems.append(f"{product.name}的数量“{quantity.text.strip()}”不对")
    else:
        out.items.append((product, qty))


def _adjacent_other(significant: list[Token], i: int) -> str:
    for j in (i - 1, i + 1):
        if 0 <= j < len(significant) and significant[j].kind == OTHER:
            name = strip_noise(significant[j].text)
            if name and not name.isdigit():
                return name[-6:]
    return ""


def merge(items: Sequence[tuple[Product, Decimal | None]]) -> tuple[Item, ...]:
    """One item per product, in order of first mention; quantities of repeats add up."""
    totals: dict[str, Decimal | None] = {}
    for product, qty in items:
        if product.sku in totals and totals[product.sku] is not None and qty is not None:
            totals[product.sku] = totals[product.sku] + qty  # type: ignore[operator]
        elif product.sku not in totals or qty is None:
            totals[product.sku] = qty
    return tuple(Item(sku, qty) for sku, qty in totals.items())
