"""Chat text -> tokens (products, quantities, addresses, intent words), against one offer.

The lexer only says what each piece of text is; `items.py` decides which quantity belongs to
which product. Keeping the two apart keeps both small and testable.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from handlers.parsing.offer import Offer, Product
from handlers.parsing.quantities import CHINESE_NUMERAL_CHARS, UNITS, number

# Kinds of token.
PRODUCT = "product"
BAD_NUMBER = "bad_number"  # "12号" when there is no 12号
QTY = "qty"
MARK = "mark"  # x * × + before a quantity
COLON = "colon"
EACH = "each"  # 各
WANT = "want"
CANCEL = "cancel"
MODIFY = "modify"
ADDRESS = "address"
SEP = "sep"
OTHER = "other"

_NUM = rf"\d+(?:\.\d+)?|[{CHINESE_NUMERAL_CHARS}]+|半"
_UNIT = "|".join(sorted({re.escape(u) for u in UNITS}, key=len, reverse=True))
_CN_DIGITS = "一二三四五六七八九十"

_ADDRESS = (
    r"\d+\s*(?:栋|幢|座|号楼|楼|期|区)(?:\s*\d+\s*(?:单元|号|室|层|楼|门)?)*"
    r"|\d+(?:-\d+){2,}|\d+-\d{3,4}(?!\d)"
    r"|\d+\s*单元\s*\d*(?:室|号)?|\d{3,4}\s*(?:室|房)"
)
_NUMBER_REF = rf"(?<![月\d.])(?:\d+|[{_CN_DIGITS}]+)\s*号(?!楼|院|线|门|单元|店|码)"
_MARKS = rf"[x×*+](?=\s*(?:\d|[{CHINESE_NUMERAL_CHARS}]|半))"
_WORDS = {
    CANCEL: "取消|不要了|都不要|不要|退掉|退订|删掉|删除|去掉|撤销|撤单|减掉|减去|少要",
    MODIFY: "改成|改为|改到|换成|变成|调成|调整为|调整成|修改为|改",
    WANT: "帮我留|帮忙留|给我留|再加|再来|加|要|来|买|留|订|拿|预定|预订|给我",
}
_SEP = r"[\s,.;!~/|()\[\]{}<>【】（）「」《》、。，；！～“”‘’\"'…—_]+"


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    product: Product | None = None
    qty: Decimal | None = None
    unit: str | None = None
    numeral: bool = False  # written in Chinese numerals


def normalize(text: str) -> str:
    """Full-width to half-width, lower case: ３ -> 3, ＊ -> *, ，-> ,. WeChat's mention space too."""
    return unicodedata.normalize("NFKC", text).lower()


def token_pattern(offer: Offer) -> re.Pattern[str]:
    parts = [
        (ADDRESS, _ADDRESS),
        (BAD_NUMBER, _NUMBER_REF),  # checked against the offer after matching
        (PRODUCT, offer.name_pattern.pattern),
        (QTY, rf"(?P<n>{_NUM})(?:\s*(?P<u>{_UNIT}))?(?P<half>半)?"),
        (MARK, _MARKS),
        (COLON, r":"),
        (EACH, r"各"),
        *_WORDS.items(),
        (SEP, _SEP),
    ]
    return re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in parts))


def lex(text: str, offer: Offer) -> list[Token]:
    pattern = offer.token_pattern
    tokens: list[Token] = []
    position = 0
    other_start = -1
    while position < len(text):
        match = pattern.match(text, position)
        if match is None or match.end() == position:
            if other_start < 0:
                other_start = position
            position += 1
            continue
        if other_start >= 0:
            tokens.append(Token(OTHER, text[other_start:position], other_start))
            other_start = -1
        tokens.append(_token(match, offer, tokens))
        position = match.end()
    if other_start >= 0:
        tokens.append(Token(OTHER, text[other_start:], other_start))
    return _name_parts(_merge_others(tokens), offer)


def _merge_others(tokens: list[Token]) -> list[Token]:
    merged: list[Token] = []
    for token in tokens:
        if token.kind == OTHER and merged and merged[-1].kind == OTHER:
            merged[-1] = Token(OTHER, merged[-1].text + token.text, merged[-1].start)
        else:
            merged.append(token)
    return merged


# Words that may stand around a product's name without being part of it.
_AROUND = re.compile(r"^(?:我|请|帮我|给我|还|再|的)+|(?:的|吧|呀|啊)+$")


def _name_parts(tokens: list[Token], offer: Offer) -> list[Token]:
    """A run of other text that is part of exactly one product's name names that product
    ("有机" -> 有机青菜, "五常" -> 五常大米)."""
    out = []
    for token in tokens:
        if token.kind == OTHER:
            core = _AROUND.sub("", token.text.strip())
            product = offer.by_part(core) if 2 <= len(core) <= 8 else None
            if product is not None:
                token = Token(PRODUCT, token.text, token.start, product=product)
        out.append(token)
    return out


def _token(match: re.Match[str], offer: Offer, before: list[Token]) -> Token:
    # lastgroup names the innermost group that matched last: n, u and half are inside QTY.
    kind = match.lastgroup or OTHER
    if kind in ("n", "u", "half"):
        kind = QTY
    text, start = match.group(0), match.start()
    if kind == BAD_NUMBER:
        value = number(text.rstrip("号").strip())
        product = offer.by_number(int(value)) if value is not None and value == int(value) else None
        if product is not None:
            return Token(PRODUCT, text, start, product=product)
        return Token(BAD_NUMBER, text, start, qty=value)
    if kind == PRODUCT:
        return Token(PRODUCT, text, start, product=offer.by_name(text))
    if kind == QTY:
        written, unit, half = match.group("n"), match.group("u"), match.group("half")
        value = number(written)
        numeral = not written[0].isdigit()
        after_mark = bool(before) and before[-1].kind == MARK
        standalone = written in ("俩", "仨")  # never anything but a count
        if value is None or (numeral and unit is None and half is None and not after_mark
                             and not standalone):
            # 一 in 一起, 十 in 十分: Chinese numerals are quantities only with a unit.
            return Token(OTHER, text, start)
        if half:
            value += Decimal("0.5")
        return Token(QTY, text, start, qty=value, unit=unit, numeral=numeral)
    return Token(kind, text, start)
