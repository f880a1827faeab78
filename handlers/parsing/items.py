"""The tokens of one clause -> items: which quantity belongs to which product, in the
product's own unit, and what the member wants done with it (add, set, cancel).

A clause is cut into chunks at spaces, 、, 和 and the like. Quantities bind to products inside
a chunk first ("白菜2颗 3斤土豆": each chunk its own pair, whichever comes first), then a chunk
of only products takes the quantity of the chunk after it ("西红柿 2斤"). Order words give
each item its operation: between a product and its quantity ("西红柿减1斤", "草莓改成1盒"),
before the items they open ("取消草莓和牛奶", "再来2斤西红柿"), or after the items they close
("土豆不要了", "西红柿土豆都不要了"). What cannot be resolved becomes a problem with the one
short question to ask back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from handlers.parsing.lexer import (
    BAD_NUMBER,
    BREAK,
    CANCEL,
    CLAIM,
    EACH,
    JOIN,
    MARK,
    MINUS,
    OTHER,
    PRODUCT,
    QTY,
    RANGE,
    SEP,
    SET,
    VAGUE,
    WANT,
    Token,
    strip_noise,
)
from models.catalog import Offer, Product
from handlers.parsing.quantities import base_unit, sensible, to_product_unit
from handlers.parsing.results import ADD, CANCEL_OP, SET_OP, Item

MAX_QTY = Decimal(999)
_OPS = {WANT: ADD, CLAIM: ADD, CANCEL: CANCEL_OP, SET: SET_OP}
_ITEM_KINDS = (PRODUCT, BAD_NUMBER, QTY, RANGE, VAGUE)


@dataclass(frozen=True, slots=True)
class Found:
    """A product the clause names, with its quantity (None: not written) and operation."""

    product: Product
    qty: Decimal | None
    op: str
    governed: bool = False  # an order word or mark stands with it: "要豆腐" means one
    text: str = ""
    part: bool = False  # named by a part of its name only ("珍珠" of 珍珠奶茶)


@dataclass(frozen=True, slots=True)
class Problem:
    """Why (part of) a clause cannot be acted on, as the question to ask back."""

    question: str
    product: Product | None = None
    op: str = ADD
    unknown: str = ""  # a name the offer does not have: "黄瓜" in "黄瓜2斤"
    awaits_qty: bool = False  # the question asks how much of `product`


@dataclass(slots=True)
class Extraction:
    items: list[Found] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    loose: list[Token] = field(default_factory=list)  # quantities that belong to no product
    ops: set[str] = field(default_factory=set)  # the operations its order words ask for
    content: list[str] = field(default_factory=list)  # words that are none of the above
    swapped: bool = False  # "把草莓换成牛奶": a product swapped for another, to be confirmed
    governing: bool = False  # an order word stands with one of the items ("要豆腐", "土豆不要了")
    # names the offer does not have, in the form of an order ("黄瓜2斤"), with where they stand
    unknown: list[tuple[str, int]] = field(default_factory=list)


@dataclass(slots=True)
class _Mention:
    token: Token  # PRODUCT or BAD_NUMBER
    chunk: int
    index: int
    qty: Token | None = None
    op: str | None = None
    governed: bool = False
    also: Token | None = None  # a second quantity right after its own: "西红柿 2 3"
    op_word: bool = False  # its operation comes from an order word (not from a mark or nothing)


def read_items(tokens: Sequence[Token], offer: Offer, default: Product | None = None) -> Extraction:
    """What the products and quantities of one clause say. `default`: the product a quantity
    that belongs to no product means (a 接龙 title's: "+2", "2盒")."""
    out = Extraction()
    atoms = atoms_of(tokens, out)
    simple = _simple(atoms)
    if simple is not None:  # one product, one quantity at most, an order word before them
        mentions, quantities = simple
    else:
        mentions, quantities = _bind(atoms)
        out.swapped = _assign_ops(atoms, mentions)
        quantities = _restated(atoms, mentions, quantities)
    out.governing = any(m.governed and m.op_word for m in mentions)
    for mention in mentions:
        _resolve(out, mention)
    if default is None and quantities and out.content:
        quantities = _unknown_names(atoms, quantities, out)
    for index, qty_token in quantities:
        if default is not None:
            _resolve(out, _Mention(Token(PRODUCT, "", qty_token.start, product=default), 0, index,
                                   qty=qty_token, op=ADD, governed=True))
        else:
            out.loose.append(qty_token)
    return out


def atoms_of(tokens: Sequence[Token], out: Extraction) -> list[tuple[int, Token]]:
    """(chunk, token) of what matters in a clause; its words and order words go into `out`."""
    atoms: list[tuple[int, Token]] = []
    chunk = 0
    for token in tokens:
        kind = token.kind
        if kind in (SEP, JOIN, BREAK):
            chunk += 1
        elif kind == OTHER:
            words = strip_noise(token.text)
            if words:
                out.content.append(words)
                atoms.append((chunk, token))
        elif kind in (PRODUCT, BAD_NUMBER, QTY, RANGE, VAGUE, MARK, MINUS, EACH, WANT, CANCEL, SET, CLAIM):
            atoms.append((chunk, token))
            if kind in _OPS:
                out.ops.add(_OPS[kind])
    return atoms


_SIMPLE_KINDS = frozenset({PRODUCT, BAD_NUMBER, QTY, RANGE, VAGUE, WANT, CLAIM, MARK, OTHER})


def _simple(atoms: list[tuple[int, Token]]) -> tuple[list[_Mention], list[tuple[int, Token]]] | None:
    """The common clause read directly ("西红柿2斤", "要一箱牛奶", "3号x2"): at most one product
    and one quantity, which then always bind, and at most one order word (要, 来, 跟一个) that
    stands before the last of them. Anything else: None, for the general reading (_bind,
    _assign_ops), which gives the same answer for these."""
    product = quantity = word = -1
    marked = False
    for index, (_, token) in enumerate(atoms):
        kind = token.kind
        if kind not in _SIMPLE_KINDS:
            return None
        if kind in (PRODUCT, BAD_NUMBER):
            if product >= 0:
                return None
            product = index
        elif kind in (QTY, RANGE, VAGUE):
            if quantity >= 0:
                return None
            quantity = index
        elif kind in (WANT, CLAIM):
            if word >= 0:
                return None
            word = index
        elif kind == MARK:
            marked = True
    if word >= 0 and word > max(product, quantity):
        return None  # "豆腐我要", "豆腐要冷藏": the general reading decides
    if product < 0:
        return [], ([(quantity, atoms[quantity][1])] if quantity >= 0 else [])
    chunk, token = atoms[product]
    mention = _Mention(token, chunk, product, op=ADD)
    if quantity >= 0:
        mention.qty = atoms[quantity][1]
        low, high = sorted((product, quantity))
        mention.governed = marked and any(atoms[i][1].kind == MARK for i in range(low, high))
    if word >= 0:
        mention.governed = mention.op_word = True
    return [mention], []


def _bind(atoms: list[tuple[int, Token]]) -> tuple[list[_Mention], list[tuple[int, Token]]]:
    """Products and the quantity each takes; the quantities left over (with their places)."""
    mentions: list[_Mention] = []
    free: dict[int, Token] = {}  # index in atoms -> quantity not taken yet
    by_chunk: dict[int, list[int]] = {}  # chunk -> indexes of its products and quantities
    for index, (chunk, token) in enumerate(atoms):
        if token.kind in (PRODUCT, BAD_NUMBER):
            mentions.append(_Mention(token, chunk, index))
        elif token.kind in (QTY, RANGE, VAGUE):
            free[index] = token
        else:
            continue
        by_chunk.setdefault(chunk, []).append(index)
    at = {m.index: m for m in mentions}
    _each(atoms, mentions, free, by_chunk)
    # Inside each chunk: pair neighbours, in the order the chunk is written.
    for indexes in by_chunk.values():
        order = [i for i in indexes if i in free or (i in at and at[i].qty is None)]
        position = 0
        while position + 1 < len(order):
            here, there = order[position], order[position + 1]
            if (here in at) != (there in at):
                mention, quantity = (at[here], there) if here in at else (at[there], here)
                mention.qty = free.pop(quantity)
                position += 2
            else:
                position += 1
    # Across chunks: a chunk of products only takes the quantity of a chunk of a quantity
    # only after it ("西红柿 2斤"), else before it ("2斤 西红柿").
    chunks = sorted(by_chunk)
    for step in (+1, -1):
        for place, chunk in enumerate(chunks):
            lone = [at[i] for i in by_chunk[chunk] if i in at and at[i].qty is None]
            if not lone or any(i in free for i in by_chunk[chunk]) or not 0 <= place + step < len(chunks):
                continue
            others = by_chunk[chunks[place + step]]
            if all(i in free for i in others):
                mention = lone[-1] if step > 0 else lone[0]
                mention.qty = free.pop(others[0])
    # A quantity right after a product's own is a second one: "西红柿 2 3", "土豆2斤 3斤".
    owner = {id(m.qty): m for m in mentions if m.qty is not None}
    for index in sorted(free):
        previous = next((i for i in range(index - 1, -1, -1) if atoms[i][1].kind in _BETWEEN_QUANTITIES
                         or i in at), None)
        second = owner.get(id(atoms[previous][1])) if previous is not None else None
        if second is not None and second.also is None:
            second.also = free.pop(index)
    return mentions, sorted(free.items())


# What stands between two quantities that are not alternatives ("1盒改成2盒", "2斤 黄瓜1斤").
_BETWEEN_QUANTITIES = frozenset({QTY, RANGE, VAGUE, OTHER, WANT, CANCEL, SET, CLAIM})


def _each(atoms: list[tuple[int, Token]], mentions: list[_Mention], free: dict[int, Token],
          by_chunk: dict[int, list[int]]) -> None:
    """各: "西红柿、土豆各2斤" gives the quantity after 各 to every product before it in its
    chunk, and in the chunks of products only just before that one."""
    for index, (chunk, token) in enumerate(atoms):
        if token.kind != EACH:
            continue
        after = next((i for i in sorted(free) if i > index and atoms[i][0] in (chunk, chunk + 1)), None)
        if after is None:
            continue
        quantity = free.pop(after)
        for earlier in range(chunk, -1, -1):
            indexes = [i for i in by_chunk.get(earlier, []) if i < index]
            if earlier != chunk and not indexes:
                continue
            if earlier != chunk and any(i in free or i == after for i in indexes):
                break
            taken = [m for m in mentions if m.index in indexes and m.qty is None]
            for mention in taken:
                mention.qty = quantity
            if earlier != chunk and len(taken) < len(indexes):
                break


def _assign_ops(atoms: list[tuple[int, Token]], mentions: list[_Mention]) -> bool:
    """Each product's operation from the order words of its clause (see the module's text).
    True when a product is swapped for another ("把草莓换成牛奶"): the member should confirm."""
    op_at = {i: token for i, (_, token) in enumerate(atoms) if token.kind in _OPS}
    place = {id(token): i for i, (_, token) in enumerate(atoms)}
    used: set[int] = set()
    for mention in mentions:  # between a product and its own quantity
        if mention.qty is None:
            continue
        low, high = sorted((mention.index, place[id(mention.qty)]))
        inside = [i for i in op_at if low < i < high]
        if inside:
            mention.op, mention.governed, mention.op_word = _OPS[op_at[inside[-1]].kind], True, True
            used.update(inside)
        elif any(atoms[j][1].kind == MINUS for j in range(low, high)):  # "西红柿-1"
            mention.op, mention.governed = CANCEL_OP, True
        elif any(atoms[j][1].kind == MARK for j in range(low, high)):  # "西红柿+1", "x2"
            mention.governed = True
    swapped = False
    by_index = {m.index: m for m in mentions}
    for i, token in op_at.items():  # "把草莓换成牛奶": the one out, the other in
        before, after = by_index.get(i - 1), by_index.get(i + 1)
        if token.kind == SET and i not in used and before and after and before.qty is None and before.op is None:
            before.op, before.governed, before.op_word = CANCEL_OP, True, True
            after.op, after.governed, after.op_word = ADD, True, True
            used.add(i)
            swapped = True
    for i, token in op_at.items():  # "换成车厘子2斤": the product it turns to is new
        after = by_index.get(i + 1)
        if token.kind == SET and i not in used and after is not None and after.op is None:
            after.op, after.governed, after.op_word = ADD, True, True
            used.add(i)
    free = sorted(i for i in op_at if i not in used)
    for k, i in enumerate(free):
        op, chunk = _OPS[op_at[i].kind], atoms[i][0]
        earlier = [m for m in mentions if m.index < i and m.op is None and (k == 0 or m.index > free[k - 1])]
        rest = [t.kind for c, t in atoms[i + 1:] if c == chunk]
        if not rest and earlier:  # "土豆不要了", "西红柿土豆都不要了", "西兰花1颗（不要了）"
            alone = all(m.chunk != chunk for m in earlier)
            reach = max(m.chunk for m in earlier) if alone else chunk
            for mention in reversed(earlier):
                if mention.qty is not None and mention.chunk != reach:
                    break
                mention.op, mention.governed, mention.op_word = op, True, True
            continue
        if not any(kind in _ITEM_KINDS for kind in rest) and rest:
            continue  # "豆腐要冷藏": the word is about something else
        following = free[k + 1] if k + 1 < len(free) else len(atoms)
        later = [m for m in mentions if i < m.index < following and m.op is None]
        for mention in later:  # "取消草莓和牛奶"; its reach ends at an item of its own later on
            if mention is not later[0] and mention.qty is not None and mention.chunk != later[0].chunk:
                break
            mention.op, mention.governed, mention.op_word = op, True, True
    for mention in mentions:
        if mention.op is None:
            mention.op = ADD
    return swapped


def _restated(atoms: list[tuple[int, Token]], mentions: list[_Mention],
              quantities: list[tuple[int, Token]]) -> list[tuple[int, Token]]:
    """"车厘子1盒改成2盒": a quantity right after 改成 replaces the one the product had."""
    for index, token in enumerate(atoms):
        if token[1].kind != SET:
            continue
        after = next((q for q in quantities if q[0] > index), None)
        before = next((m for m in reversed(mentions) if m.index < index), None)
        if (after is not None and before is not None and before.qty is not None and before.op == ADD
                and not any(atoms[i][1].kind in (PRODUCT, BAD_NUMBER) for i in range(index, after[0]))):
            before.qty, before.op, before.governed, before.op_word = after[1], SET_OP, True, True
            quantities = [q for q in quantities if q is not after]
    return quantities


def _unknown_names(atoms: list[tuple[int, Token]], quantities: list[tuple[int, Token]],
                   out: Extraction) -> list[tuple[int, Token]]:
    """"黄瓜2斤", "2斤黄瓜 茄子1斤": when every word of the clause stands next to a quantity
    with a unit, the words are products the offer does not have. The quantities left."""
    claimed: dict[int, int] = {}  # atom index of the word -> of its quantity
    for index, quantity in quantities:
        if quantity.unit is None:
            continue
        chunk = atoms[index][0]
        # the word before ("黄瓜2斤", "黄瓜 2斤"), else the word glued after ("2斤黄瓜")
        for j, reach in ((index - 1, (chunk - 1, chunk)), (index + 1, (chunk,))):
            if 0 <= j < len(atoms) and atoms[j][1].kind == OTHER and j not in claimed and atoms[j][0] in reach:
                claimed[j] = index
                break
    words = [i for i, (_, t) in enumerate(atoms) if t.kind == OTHER]
    if not claimed or any(i not in claimed for i in words):
        return quantities
    for j in sorted(claimed):
        name = strip_noise(atoms[j][1].text)
        if name and not name.isdigit():
            out.unknown.append((name[-8:], atoms[j][1].start))
    taken = set(claimed.values())
    return [(i, q) for i, q in quantities if i not in taken]


def _resolve(out: Extraction, mention: _Mention) -> None:
    token, quantity, op = mention.token, mention.qty, mention.op or ADD
    product = token.product
    if token.kind == BAD_NUMBER or product is None:
        out.problems.append(Problem(f"今天没有{token.text.strip()}", op=op))
        return
    if quantity is None:
        out.items.append(Found(product, None, op, mention.governed, token.text, token.part))
        return
    written = quantity.text.strip()
    if mention.also is not None:
        second = mention.also.text.strip()
        unit = "" if quantity.unit or mention.also.unit else product.unit
        out.problems.append(Problem(f"{product.name}要{written}{unit}还是{second}{unit}？", product, op,
                                    awaits_qty=True))
        return
    if quantity.kind == RANGE:
        out.problems.append(Problem(f"{product.name}要{written}，具体要多少{product.unit}？", product, op,
                                    awaits_qty=True))
        return
    if quantity.kind == VAGUE or quantity.qty is None:
        out.problems.append(Problem(f"{product.name}要几{product.unit}？", product, op, awaits_qty=True))
        return
    qty = to_product_unit(quantity.qty, quantity.unit, product.unit)
    if qty is None:
        unit = base_unit(quantity.unit or "")
        out.problems.append(Problem(f"{product.name}按{product.unit}卖，不按{unit}卖，您要几{product.unit}？",
                                    product, op, awaits_qty=True))
        return
    if op == SET_OP and qty == 0:
        out.items.append(Found(product, None, CANCEL_OP, True, token.text + written, token.part))
        return
    if qty > MAX_QTY:
        out.problems.append(Problem(f"{product.name}{written}太多了，要几{product.unit}？", product, op,
                                    awaits_qty=True))
        return
    if not sensible(qty, product.unit):
        out.problems.append(Problem(f"{product.name}的数量“{written}”不对，要几{product.unit}？", product, op,
                                    awaits_qty=True))
        return
    out.items.append(Found(product, qty, op, True, token.text + written, token.part))


def merge(found: Sequence[Found]) -> tuple[tuple[Item, ...], list[Found]]:
    """One item per product, in order of first mention; quantities of repeats add up. The
    items of a product named with two different operations come back as conflicts."""
    totals: dict[str, Item] = {}
    conflicts: list[Found] = []
    for f in found:
        seen = totals.get(f.product.sku)
        if seen is None:
            totals[f.product.sku] = Item(f.product.sku, f.qty, f.op)
        elif seen.op != f.op:
            conflicts.append(f)
        elif seen.qty is not None and f.qty is not None:
            totals[f.product.sku] = Item(f.product.sku, seen.qty + f.qty, f.op)
        else:
            totals[f.product.sku] = Item(f.product.sku, None, f.op)
    return tuple(totals.values()), conflicts
