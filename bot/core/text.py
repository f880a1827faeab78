"""Text as people write it: folding (what the parser reads), numerals, durations.

In the kernel because the config reads durations ("24小时") the way chat does ("/开团 ... 2小时").

Folding makes the many ways of writing one thing the same: full-width to half-width (３ -> 3,
，-> ,), WeChat's mention space to a space, lower case, and traditional characters to
simplified ones (訂單 -> 订单, OpenCC's character table). Nearly every character folds to one
character, so a place in the folded text is the same place in the text as written; names on a
接龙 line are cut from the text as written ("Lily", not "lily").
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

_CJK = range(0x4E00, 0xA000)


class _FoldTable(dict[int, str]):
    """`str.translate` table: CJK characters from OpenCC's t2s table (built once), anything
    else by NFKC and lower case, looked up the first time it is met."""

    def __missing__(self, code: int) -> str:
        folded = unicodedata.normalize("NFKC", chr(code)).lower()
        self[code] = folded
        return folded


@lru_cache(maxsize=1)
def _table() -> _FoldTable:
    import opencc  # imported here: only the parser needs it

    table = _FoldTable()
    chars = [chr(code) for code in _CJK]
    converted = opencc.OpenCC("t2s").convert("\n".join(chars)).split("\n")
    if len(converted) == len(chars):  # one character for one: keep only what changes
        for char, simple in zip(chars, converted):
            table[ord(char)] = simple if len(simple) == 1 else char
    return table


def fold(text: str) -> str:
    """The text the parser reads: 我的訂單 -> 我的订单, Ｌｉｌｙ３斤 -> lily3斤."""
    return text.translate(_table())


def as_written(text: str, folded: str, start: int, end: int) -> str:
    """The part of `text` that folded into `folded[start:end]`."""
    if len(folded) == len(text):
        return text[start:end]
    # Rare: a character folded into several (㎏ -> kg). Walk both texts together.
    table = _table()
    position = 0
    begin = len(text)
    for index, char in enumerate(text):
        width = len(char.translate(table))
        if position <= start < position + width and begin == len(text):
            begin = index
        position += width
        if position >= end:
            return text[begin:index + 1]
    return text[begin:]


# -- numerals: 3, 1.5, .5, 两, 十五, 半 --------------------------------------------------------

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "仨": 3, "四": 4,
           "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_SCALES = {"十": 10, "百": 100, "千": 1000}
CHINESE_NUMERAL_CHARS = "".join(_DIGITS) + "".join(_SCALES)
NUMBER = rf"(\d+(?:\.\d+)?|[{CHINESE_NUMERAL_CHARS}]+)"  # one number, as a group


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
    """A quantity written in digits (".5" is a half) or Chinese numerals."""
    if text[:1].isdigit() or text[:1] == ".":
        try:
            return Decimal(text)
        except ArithmeticError:
            return None
    return chinese_number(text)


def valid_birthday(month: int, day: int) -> str | None:
    """"MM-DD" if that day exists in some year (29 February does), else None."""
    try:
        date(2000, month, day)
    except ValueError:
        return None
    return f"{month:02d}-{day:02d}"


# -- durations: 2小时, 30分钟, 1天半 --------------------------------------------------------------

_DURATION_UNITS = {"分钟": 1, "分": 1, "min": 1, "m": 1, "小时": 60, "个小时": 60, "钟头": 60, "个钟头": 60,
                   "h": 60, "天": 1440, "d": 1440}
_UNIT_PATTERN = "|".join(sorted((re.escape(u) for u in _DURATION_UNITS), key=len, reverse=True))
DURATION = re.compile(rf"{NUMBER}\s*({_UNIT_PATTERN})(半)?(?![a-z])", re.I)  # in folded text
MAX_DURATION = timedelta(days=30)


def parse_duration(text: str) -> timedelta | None:
    """"2小时" -> 2 h, "30分钟" -> 30 min, "1天半" -> 36 h; None if it is not one duration."""
    match = DURATION.fullmatch(fold(text).strip())
    return duration_of(match) if match else None


def duration_of(match: re.Match[str]) -> timedelta | None:
    """The duration a match of DURATION says."""
    amount = number(match.group(1))
    if amount is None:
        return None
    minutes = _DURATION_UNITS[match.group(2).lower()]
    if match.group(3):
        amount += Decimal("0.5")
    return timedelta(minutes=float(amount * minutes))
