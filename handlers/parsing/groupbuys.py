"""Staff's `/开团 <product> <N>人 <price>元 <duration>` and durations ("2小时", "1天半"): pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from handlers.parsing.lexer import BREAK, PRODUCT, SEP, lex
from models.catalog import Offer, Product
from bot.core.text import DURATION, MAX_DURATION, NUMBER, duration_of, fold, number

_SIZE = re.compile(rf"{NUMBER}\s*人(?:团)?")
# A price is a whole token: "1e5元" is not 5元, "-150元" is not 150元 (both are refused below).
_PRICE = re.compile(r"(?<![\w.+\-])(?:¥|￥)?\s*(-?\d+(?:\.\d+)?)\s*(?:元|块)|(?:¥|￥)\s*(-?\d+(?:\.\d+)?)")
_MONEY_LIKE = re.compile(r"[\d.eE+\-]+\s*(?:元|块)|[¥￥]")

MAX_SIZE = 100
USAGE = "格式：/开团 <商品> <人数>人 <价格>元 <时长>，如 /开团 草莓 3人 29.9元 2小时"


@dataclass(frozen=True)
class OpenRequest:
    """What staff asked for; None where they left it to the product's catalog defaults."""

    product: Product
    size: int | None
    price: Decimal | None
    duration: timedelta | None


def parse_open_command(args: str, offer: Offer) -> OpenRequest | str:
    """The request, or what is wrong with it (a reply in Chinese)."""
    text = fold(args).strip()
    size = price = duration = None
    if match := _SIZE.search(text):
        found = number(match.group(1))
        if found is None or found != found.to_integral_value() or not 2 <= found <= MAX_SIZE:
            return f"人数要在2到{MAX_SIZE}之间。{USAGE}"
        size = int(found)
        text = text[: match.start()] + " " + text[match.end():]
    if match := DURATION.search(text):
        duration = duration_of(match)
        if duration is None or not timedelta(minutes=1) <= duration <= MAX_DURATION:
            return f"时长要在1分钟到30天之间。{USAGE}"
        text = text[: match.start()] + " " + text[match.end():]
    if match := _PRICE.search(text):
        price = Decimal(match.group(1) or match.group(2))
        if price <= 0 or price > 100_000:
            return f"价格要在0.01元到100000元之间。{USAGE}"
        if price != price.quantize(Decimal("0.01")):
            return f"价格最多写到分（两位小数）。{USAGE}"
        text = text[: match.start()] + " " + text[match.end():]
    elif _MONEY_LIKE.search(text):
        return f"价格看不懂，请写成“150元”。{USAGE}"
    rest = text.strip()
    if not rest:
        return f"要开哪个商品的团？{USAGE}"
    tokens = [t for t in lex(rest, offer) if t.kind not in (SEP, BREAK)]
    products = {t.product.sku: t.product for t in tokens if t.product and t.kind == PRODUCT}
    if len(products) != 1:
        return f"没有找到商品“{rest[:20]}”。{USAGE}"
    if len(tokens) != 1:  # anything besides the product, its size, price and duration
        named = next(t for t in tokens if t.kind == PRODUCT)
        extra = " ".join((rest[: named.start] + " " + rest[named.end:]).split())[:20]
        return f"“{extra}”看不懂。{USAGE}"
    return OpenRequest(next(iter(products.values())), size, price, duration)
