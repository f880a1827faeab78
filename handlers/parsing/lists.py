"""A 接龙 list as residents paste it: the header, a description block, the entries.

    #接龙
    6.8号星期一晚餐预定接龙（30元）     <- the title: a heading over one or more lines, with
      1.红烧肉                          dates, prices, times, an indented numbered menu
      2.番茄炒蛋
    例 张三 2份                          <- an example line
                                        
    1. 李姐 2份                          <- the entries: numbered from 1, or continuing
    2. Catherine chen 1份
    取餐时间 17:30                       <- notes after the list

Only the entries are anybody's lines, and only they order. The entries are the last run of
consecutively numbered lines; an earlier run is part of the description when a blank line, an
example line or a restart of the numbering stands between, or when its lines are a menu
(prices, no quantities). A line is `N. name items`: the name is kept exactly as written and
ends where the items start ("钟予馨2箱" -> 钟予馨). A number in a title or a name is never a
product number; a quantity alone ("2盒", "+1") takes the title's product when the title names
exactly one product.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.core.text import as_written, fold
from handlers.parsing.items import read_items
from handlers.parsing.lexer import (
    DATE,
    ADDRESS,
    BAD_NUMBER,
    MARK,
    MINUS,
    NUMBER_REF,
    OTHER,
    PHONE,
    PRODUCT,
    QTY,
    RANGE,
    SEP,
    VAGUE,
    Token,
    lexicon_of,
    lex,
    strip_noise,
)
from handlers.parsing.results import CANCEL_OP, ChainLine, Item, Parsed
from models.catalog import Offer, Product

HEADER = re.compile(r"^\s*#[ \t]*(?:接龙|group[ \t]*note)[ \t]*", re.I)
_ENTRY = re.compile(r"^([ \t]*)(\d{1,4})[ \t]*[.、,)）:：][ \t]*(?!\d)(.*)$")
_INLINE = re.compile(r"(?:(?<=\s)|^)(\d{1,3})[ \t]*[.、](?!\d)[ \t]*")
_EXAMPLE = re.compile(r"^\s*(?:例如|举例|示例|样例|例子|例|格式|参考格式|参考|比如|eg|e\.g\.?)\s*[.:：,，、]?", re.I)
_ITEM_KINDS = (PRODUCT, QTY, MARK, RANGE, VAGUE, BAD_NUMBER, MINUS)

LINE_CACHE_MAX = 50_000


@dataclass(frozen=True)
class _Line:
    text: str  # as written
    folded: str
    seq: int | None = None  # numbered lines: the number
    rest: str = ""  # as written, after the number
    indent: int = 0
    example: bool = False

    @property
    def blank(self) -> bool:
        return not self.text.strip()


def parse_chain(text: str, offer: Offer, trace: list[str] | None = None) -> Parsed:
    lines = _lines(text, offer)
    entries, description = _split(lines)
    heading = [line for line in description if line.seq is None and not line.example and not line.blank]
    title = heading[0].text.strip() if heading else ""
    default = _title_product(description, offer)
    menu = _menu_numbers(description, offer)
    if trace is not None:
        trace.append(f"标题“{title[:30]}”；说明{len(description)}行不算接龙行")
        trace.append(f"标题里的商品：{default.name}（只写数量的行算它）" if default else "标题没有指明一个商品")
    read = lexicon_of(offer).chain_cache("entries")
    chain_lines = tuple(_cached_line(line.seq or 0, line.rest, offer, default, menu, read) for line in entries)
    if trace is not None:
        for line in chain_lines:
            trace.append(f"第{line.seq}行 名字“{line.name}” 商品：" +
                         ("、".join(f"{i.sku}×{i.qty}" for i in line.items) or "无"))
    ordering = default is not None or any(line.items for line in chain_lines)
    return Parsed("chain", lines=chain_lines, title=title, ordering=ordering)


def _lines(text: str, offer: Offer) -> list[_Line]:
    """The lines after the header, each read once: every version repeats every line."""
    raw = text.split("\n")
    header = HEADER.match(fold(raw[0]))
    first = raw[0][header.end():] if header else raw[0]
    out: list[_Line] = []
    shapes = lexicon_of(offer).chain_cache("shapes")
    for index, line in enumerate([first, *raw[1:]]):
        shape = _shape(line, shapes)
        if index == 0 or shape.seq is None:
            pieces = _inline_entries(line)
            if len(pieces) > 1:
                out.extend(_shape(piece, shapes) for piece in pieces)
                continue
        out.append(shape)
    return out


def _inline_entries(line: str) -> list[str]:
    """A list written on one line ("草莓团 1.小米 2盒 2.老周 1盒"): its title and entries."""
    folded = fold(line)
    cuts = []
    expected = 1
    for match in _INLINE.finditer(folded):
        if int(match.group(1)) == expected:
            cuts.append(match.start())
            expected += 1
    if len(cuts) < 2:
        return [line]
    pieces = [line[:cuts[0]]] if line[:cuts[0]].strip() else []
    pieces += [line[a:b] for a, b in zip(cuts, cuts[1:] + [len(line)])]
    return [p.strip() for p in pieces]


def _shape(text: str, cache: dict[str, _Line]) -> _Line:
    """The line's shape, from `cache` (the lexicon's "shapes") if it was seen before."""
    found = cache.get(text)
    if found is None:
        if len(cache) >= LINE_CACHE_MAX:
            cache.clear()
        found = cache[text] = _line(text)
    return found


def _line(text: str) -> _Line:
    folded = fold(text)
    match = _ENTRY.match(folded)
    if match is None:
        return _Line(text, folded, example=bool(_EXAMPLE.match(folded)))
    rest = as_written(text, folded, match.start(3), len(folded)).strip()
    return _Line(text, folded, seq=int(match.group(2)), rest=rest, indent=len(match.group(1)),
                 example=bool(_EXAMPLE.match(folded[match.start(3):])))


def _split(lines: list[_Line]) -> tuple[list[_Line], list[_Line]]:
    """(entries, description): see the module's text."""
    runs: list[list[_Line]] = []
    gap: list[list[_Line]] = [[]]  # the lines before each run
    for line in lines:
        if line.seq is not None and runs and not gap[-1] and line.seq == (runs[-1][-1].seq or 0) + 1:
            runs[-1].append(line)
        elif line.seq is not None:
            runs.append([line])
            gap.append([])
        else:
            gap[-1].append(line)
    if not runs:
        return [], lines
    # Walk back from the last run while the runs before it continue it.
    start = len(runs) - 1
    while start > 0:
        before, run, between = runs[start - 1], runs[start], gap[start]
        continues = run[0].seq == (before[-1].seq or 0) + 1
        boundary = any(line.blank or line.example for line in between)
        if not continues or boundary or _menu(before) or before[0].indent > run[0].indent:
            break
        start -= 1
    entries = [line for run in runs[start:] for line in run]
    while entries and (entries[0].example or _menu([entries[0]])):  # "1. 例 张三 2份", a menu's tail
        entries = entries[1:]
    first = next((i for i, line in enumerate(lines) if entries and line is entries[0]), len(lines))
    return [line for line in entries if not line.example], lines[:first]


_PRICE_LIKE = re.compile(r"\d\s*(?:元|块钱|¥|/)|[¥￥]\s*\d|价格|单价|原价|团购价")
_QTY_LIKE = re.compile(r"\d+(?:\.\d+)?\s*(?:斤|公斤|kg|克|盒|箱|份|袋|个|块|瓶|包|颗|只|条|把|杯)(?!\s*/)")


def _menu(run: list[_Line]) -> bool:
    """A menu or a price list, not entries: most lines carry a price and no quantity."""
    priced = 0
    for line in run:
        folded = fold(line.rest)
        without_prices = re.sub(r"\d+(?:\.\d+)?\s*(?:元|块钱)(?:\s*/\s*\S)?|[¥￥]\s*\d+(?:\.\d+)?|\d+(?:\.\d+)?\s*/\s*\S",
                                "", folded)
        if _PRICE_LIKE.search(folded) and not _QTY_LIKE.search(without_prices):
            priced += 1
    return priced * 2 > len(run)


def _title_product(description: list[_Line], offer: Offer) -> Product | None:
    """The one product the description names (by name, never by number)."""
    named: dict[str, Product] = {}
    for line in description:
        if line.example or line.blank:
            continue
        for token in lex(line.folded, offer):
            if token.kind == PRODUCT and token.product is not None:
                named.setdefault(token.product.sku, token.product)
    return next(iter(named.values())) if len(named) == 1 else None


Menu = tuple[tuple[int, Product], ...]  # a list's own numbered menu: number -> product


def _menu_numbers(description: list[_Line], offer: Offer) -> Menu:
    """A numbered menu in the description ("1.芒果 12元/斤"), when each of its lines names one
    product: in that list "3号" is the menu's third, whatever the offer's numbers."""
    menu = []
    for line in description:
        if line.seq is None:
            continue
        named = {t.product.sku: t.product for t in lex(fold(line.rest), offer) if t.kind == PRODUCT and t.product}
        if len(named) != 1:
            return ()
        menu.append((line.seq, next(iter(named.values()))))
    return tuple(menu) if len(menu) >= 2 else ()


def _cached_line(seq: int, rest: str, offer: Offer, default: Product | None, menu: Menu,
                 cache: dict[Any, ChainLine]) -> ChainLine:
    """The entry, from `cache` (the lexicon's "entries") if its text was read before."""
    key = (rest, default.sku if default else "", tuple((n, p.sku) for n, p in menu))
    found = cache.get(key)
    if found is None:
        if len(cache) >= LINE_CACHE_MAX:
            cache.clear()
        found = cache[key] = entry(0, rest, offer, default, menu)
    return found if found.seq == seq else ChainLine(seq, found.name, found.items, found.text)


def entry(seq: int, rest: str, offer: Offer, default: Product | None, menu: Menu = ()) -> ChainLine:
    """`name items...` of one entry (see the module's text)."""
    folded = fold(rest)
    name_end = _name_end(folded, offer)
    name = as_written(rest, folded, 0, name_end).strip(" \t,，:：、.-")
    items = _entry_items(folded[name_end:].strip(), offer, default, menu)
    return ChainLine(seq=seq, name=name, items=items, text=rest)


def _entry_items(text: str, offer: Offer, default: Product | None, menu: Menu = ()) -> tuple[Item, ...]:
    """What the part of an entry after the name orders. Names differ from line to line, the
    rest repeats ("西红柿1斤"): each is read once."""
    cache = lexicon_of(offer).chain_cache("items")
    key = (text, default.sku if default else "", tuple((n, p.sku) for n, p in menu))
    found = cache.get(key)
    if found is not None:
        return found
    read = read_items(_entry_numbers(lex(text, offer), menu), offer, default)
    items: tuple[Item, ...] = ()
    if not read.problems and read.items:
        totals: dict[str, Item] = {}
        for item in read.items:
            if item.op == CANCEL_OP:
                continue  # "西兰花1颗（不要了）": the line no longer orders it
            qty = item.qty if item.qty is not None else Decimal(1)
            seen = totals.get(item.product.sku)
            totals[item.product.sku] = Item(item.product.sku, qty + (seen.qty or 0) if seen else qty)
        items = tuple(totals.values())
    if len(cache) >= LINE_CACHE_MAX:
        cache.clear()
    cache[key] = items
    return items


_WORD = re.compile(r"\S+")
_LATIN = re.compile(r"[a-z][a-z.'\-]*")
_UNIT_WORDS = frozenset({"kg", "g", "x"})


def _name_end(folded: str, offer: Offer) -> int:
    """Where the name ends: after the first word ("李阿姨 西红柿2斤"), where a quantity glued
    to it starts ("钟予馨2箱"), after the next word too when the first is only an address
    ("3栋502 张") or both are a Latin name ("Amy Li"); 0 when the line starts with its items."""
    words = [(m.start(), m.end()) for m in _WORD.finditer(folded)]
    if not words:
        return 0
    # a product named only by a part of its name ("小米" of 小米辣) is a name here, not an item
    first = [Token(OTHER, t.text, t.start) if t.kind == PRODUCT and lexicon_of(offer).by_name.get(t.text.strip()) is None
             and _words_only(folded, t) else t
             for t in _entry_numbers(lex(folded[:words[0][1]], offer)) if t.kind != SEP]
    # a date word or a weekday at the start is a name more often than a date ("天天", "周周")
    first = [Token(OTHER, t.text, t.start) if t.kind == DATE else t for t in first]
    named = any(t.kind == OTHER and strip_noise(t.text) for t in first)
    address = bool(first) and all(t.kind in (ADDRESS, PHONE) for t in first)
    if not named and not address:
        return 0  # "2盒", "+1", "西红柿2斤": no name
    seen_name = False
    for token in first:
        if token.kind == OTHER and strip_noise(token.text):
            seen_name = True
        elif seen_name and (token.kind in (PRODUCT, MARK, RANGE, BAD_NUMBER)
                            or token.kind == QTY and (token.unit or token.numeral)):
            return token.start  # "钟予馨2箱", "陈哥五花肉2斤" (but "Lily88" is a name)
    end, k = words[0][1], 1
    if address and k < len(words) and not any(
            t.kind in _ITEM_KINDS for t in _entry_numbers(lex(folded[words[k][0]:words[k][1]], offer))):
        end, k = words[k][1], k + 1
    while (k < len(words) and _LATIN.search(folded[:words[0][1]]) and folded[words[k][0]:words[k][1]] not in _UNIT_WORDS
           and _LATIN.fullmatch(folded[words[k][0]:words[k][1]])):
        end, k = words[k][1], k + 1
    return end


def _words_only(folded: str, token: Token) -> bool:
    """A part-of-name product token that is a whole word of the entry ("小米 2斤")."""
    return folded[token.end:token.end + 1] in ("", " ", "\t")


def _entry_numbers(tokens: list[Token], menu: Menu = ()) -> list[Token]:
    """In an entry, "3号" orders product 3 (of the list's menu, if it has one) only with a
    quantity ("3号2份"); alone it is a name, a court, a bed."""
    out = []
    numbered = dict(menu)
    for i, token in enumerate(tokens):
        if token.kind == NUMBER_REF:
            after = next((t for t in tokens[i + 1:] if t.kind != SEP), None)
            product = numbered.get(int(token.qty)) if numbered and token.qty is not None else token.product
            if after is not None and after.kind in (QTY, MARK) and product is not None:
                token = Token(PRODUCT, token.text, token.start, product=product)
            else:
                token = Token(OTHER, token.text, token.start)
        out.append(token)
    return out
