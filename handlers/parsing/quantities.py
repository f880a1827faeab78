"""Numbers and units as residents write them: 3, ３, 1.5, 两, 俩, 仨, 十五, 一斤半, 半斤, 2kg."""

from __future__ import annotations

from decimal import Decimal

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "仨": 3, "四": 4,
           "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_SCALES = {"十": 10, "百": 100, "千": 1000}
CHINESE_NUMERAL_CHARS = "".join(_DIGITS) + "".join(_SCALES)

# Measure words residents use. Any of these that is not the product's own unit (and not 份,
# and not a weight that converts) makes an item unclear rather than a guess.
UNITS = (
    "公斤", "千克", "kg", "斤", "克", "g", "盒", "箱", "颗", "个", "块", "份", "袋", "包", "瓶",
    "只", "条", "把", "根", "捆", "串", "提", "桶", "罐", "支", "枚", "头", "棵", "扎", "板",
    "听", "件", "杯", "碗", "盘", "筐", "对", "双", "打", "颗", "斤装", "盒装", "箱装", "份装",
)

# How many of the product's unit one of these is, when the product is sold by that unit.
_CONVERSIONS = {
    ("公斤", "斤"): Decimal(2), ("千克", "斤"): Decimal(2), ("kg", "斤"): Decimal(2),
    ("克", "斤"): Decimal("0.002"), ("g", "斤"): Decimal("0.002"),
    ("斤", "公斤"): Decimal("0.5"), ("斤", "kg"): Decimal("0.5"), ("斤", "千克"): Decimal("0.5"),
}


def chinese_number(text: str) -> Decimal | None:
    """十五 -> 15, 二十 -> 20, 两 -> 2, 一百零五 -> 105, 半 -> 0.5; None if not a numeral."""
    if not text:
        return None
    if text == "半":
        return Decimal("0.5")
    total = 0
    current: int | None = None
    for char in text:
        if char in _DIGITS:
            if current is not None and current != 0:
                return None  # "三四" is not one number
            current = _DIGITS[char]
        elif char in _SCALES:
            total += (1 if current is None else current) * _SCALES[char]
            current = None
        else:
            return None
    return Decimal(total + (current or 0))


def number(text: str) -> Decimal | None:
    """A quantity written in digits or Chinese numerals."""
    try:
        return Decimal(text)
    except ArithmeticError:
        return chinese_number(text)


def to_product_unit(qty: Decimal, unit: str | None, product_unit: str) -> Decimal | None:
    """`qty unit` in the product's own unit, or None when the unit does not fit the product."""
    if unit is None or unit == product_unit or unit == "份":
        return qty
    unit = unit.removesuffix("装") if unit.endswith("装") and len(unit) > 1 else unit
    if unit == product_unit:
        return qty
    factor = _CONVERSIONS.get((unit, product_unit))
    return None if factor is None else qty * factor
