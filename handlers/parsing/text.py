"""Text as the parser reads it, and the way back to the text as written.

Folding makes the many ways of writing one thing the same: full-width to half-width (３ -> 3,
，-> ,), WeChat's mention space to a space, lower case, and traditional characters to
simplified ones (訂單 -> 订单, OpenCC's character table). Nearly every character folds to one
character, so a place in the folded text is the same place in the text as written; names on a
接龙 line are cut from the text as written ("Lily", not "lily").
"""

from __future__ import annotations

import unicodedata
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
