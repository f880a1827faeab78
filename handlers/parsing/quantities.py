"""Units as residents write them, and quantities in them: 一斤半, 半斤, 2kg, 500g, 2两 (a tenth
of a 斤). The numbers themselves (3, .5, 两, 十五) are read by bot.core.text."""

from __future__ import annotations

from decimal import Decimal

# Measure words residents use. Any of these that is not the product's own unit (and not 份,
# and not a weight that converts) makes an item unclear rather than a guess.
UNITS = (
    "公斤", "千克", "kg", "斤", "克", "g", "两", "盒", "箱", "颗", "个", "块", "份", "袋", "包", "瓶",
    "只", "条", "把", "根", "捆", "串", "提", "桶", "罐", "支", "枚", "头", "棵", "扎", "板",
    "听", "件", "杯", "碗", "盘", "筐", "对", "双", "打", "套", "张", "卷", "片", "粒", "尾", "盆",
    "兜", "网", "壶", "副", "台", "组", "升", "斤装", "盒装", "箱装", "份装", "袋装", "瓶装",
)
WEIGHTS = frozenset({"公斤", "千克", "kg", "斤", "克", "g", "两"})

# How many of the product's unit one of these is, when the product is sold by that unit.
_CONVERSIONS = {
    ("公斤", "斤"): Decimal(2), ("千克", "斤"): Decimal(2), ("kg", "斤"): Decimal(2),
    ("克", "斤"): Decimal("0.002"), ("g", "斤"): Decimal("0.002"), ("两", "斤"): Decimal("0.1"),
    ("斤", "公斤"): Decimal("0.5"), ("斤", "kg"): Decimal("0.5"), ("斤", "千克"): Decimal("0.5"),
    ("克", "公斤"): Decimal("0.001"), ("g", "公斤"): Decimal("0.001"), ("两", "公斤"): Decimal("0.05"),
    ("克", "kg"): Decimal("0.001"), ("g", "kg"): Decimal("0.001"), ("两", "kg"): Decimal("0.05"),
    ("斤", "两"): Decimal(10), ("公斤", "两"): Decimal(20), ("kg", "两"): Decimal(20), ("千克", "两"): Decimal(20),
    ("克", "两"): Decimal("0.02"), ("g", "两"): Decimal("0.02"),
    ("公斤", "kg"): Decimal(1), ("kg", "公斤"): Decimal(1), ("千克", "公斤"): Decimal(1),
    ("千克", "kg"): Decimal(1), ("g", "克"): Decimal(1), ("克", "g"): Decimal(1),
}
_SMALLEST = Decimal("0.01")  # finer than this is a typing slip, not an order (0.0001斤)
_HALF = Decimal("0.5")
_TENTH = Decimal("0.1")


def base_unit(unit: str) -> str:
    """盒装 -> 盒: "6盒装" counts boxes."""
    return unit[:-1] if unit.endswith("装") and len(unit) > 1 else unit


def to_product_unit(qty: Decimal, unit: str | None, product_unit: str) -> Decimal | None:
    """`qty unit` in the product's own unit, or None when the unit does not fit the product."""
    if unit is None or unit == product_unit or unit == "份":
        return qty
    unit = base_unit(unit)
    if unit == product_unit:
        return qty
    factor = _CONVERSIONS.get((unit, product_unit))
    return None if factor is None else qty * factor


def sensible(qty: Decimal, product_unit: str) -> bool:
    """A quantity a shop can weigh or count: weights to 0.01 of their unit, counted things in
    halves at most (half a melon, not 0.3 of a box)."""
    if qty <= 0 or qty > 1_000_000:
        return False
    if product_unit in WEIGHTS:  # and not less than a tenth of the unit: 0.5两 of pork is a slip
        return qty % _SMALLEST == 0 and qty >= _TENTH
    return qty % _HALF == 0
