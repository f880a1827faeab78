"""What one chat message means against the offer: pure, synchronous, no I/O.

`parse(text, offer)` is what `groupbuy parse` prints and what the handlers act on. The rule
that matters most: a message that did not ask for a change never gets one. When in doubt the
answer is `unclear` (the bot asks back, proposing what it understood) or `none` (the bot stays
quiet); which of the two is decided by one rule, `reading.order_like`.

The way through: fold the text (bot.core.text), keep a quoted reply's reply, read a
接龙 as a list (handlers.parsing.lists), match the short messages that are whole requests (我的
订单, 帮助, 参团 3, 对), then lex, cut into clauses and read their items (reading, items).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal

from handlers.parsing.items import MAX_QTY, Found, Problem, merge
from handlers.parsing.asking import qty_text, unclear
from handlers.parsing.explain import trace_tokens
from handlers.parsing.lexer import ADDRESS, CLAIM, MARK, NOISE_KINDS, PHONE, PRODUCT, Token, lex, strip_noise
from handlers.parsing.lists import HEADER, parse_chain
from models.catalog import Offer, Product
from handlers.parsing.quantities import sensible, to_product_unit
from handlers.parsing.reading import ORDER_WORDS, Clause, clauses_of, context_product, order_like, resolve_numbers
from handlers.parsing.requests import WHOLE_MAX, courteous, may_be_whole, whole_message
from handlers.parsing.results import ADD, CANCEL_OP, INTENT_OF_OP, NONE, SET_OP, Item, Parsed
from bot.core.text import fold

_ONE = Decimal(1)
MAX_TEXT = 200_000  # longer messages are not orders; never spend time on them

_QUOTE_SEPARATOR = re.compile(r"^\s*(?:-\s*){3,}$", re.M)
_MENTION = re.compile(r"@[^\s@]{1,30}(?:\s+|$)")
_COMPACT = re.compile(r"[\s,.!~。！～、?？:：;；\"'“”‘’()（）\[\]【】<>《》…—-]+")
_CANCEL_ALL = re.compile(r"取消订单|订单取消|全部取消|取消全部|全取消|都取消|取消所有|都不要了|全都不要|全部不要|"
                         r"整单取消|取消整单|我不要了$|^不要了$|订单不要了|全退|全部退掉")
_CONTACT_HEAD = re.compile(r"^(?:我|我家)?(?:住在|住|地址是?|送货地址|收货地址|送到)")
_CONTACT_WORDS = re.compile(r"^(?:我|我家|我的)?(?:住在|住|在|地址|电话|手机号?|号码|联系电话|联系方式|送到|送货地址|收货地址|是)*$")


def parse(text: str, offer: Offer, explain: bool = False) -> Parsed:
    """The meaning of `text`; with `explain`, also which words were read as what and the rule
    that decided (`Parsed.explain`)."""
    trace: list[str] | None = [] if explain else None
    result = _parse(text, offer, trace)
    if trace is not None:
        result = replace(result, explain=tuple(trace))
    return result


def _parse(text: str, offer: Offer, trace: list[str] | None) -> Parsed:
    if not text or len(text) > MAX_TEXT:
        return NONE
    quoted, written = _split_quote(text)
    if quoted and trace is not None:
        trace.append(f"引用“{quoted[:20]}”只作参考，按回复“{written[:20]}”判断")
    folded = fold(written)
    if "#" in folded and HEADER.match(folded):
        if trace is not None:
            trace.append("以“#接龙”开头：接龙")
        return parse_chain(written, offer, trace)
    if "@" in folded:
        folded = _MENTION.sub(" ", folded)
    folded = folded.strip()
    if may_be_whole(folded):
        compact = _COMPACT.sub("", folded)
        whole = whole_message(compact, offer, trace) if len(compact) <= WHOLE_MAX else None
        if whole is not None:
            return whole
    return _read(folded, offer, fold(quoted) if quoted else "", trace)


def _split_quote(text: str) -> tuple[str, str]:
    """A quoted reply is 「name：quoted」, a line of - - -, then the reply: (quoted, reply)."""
    if "「" not in text:
        return "", text
    separator = _QUOTE_SEPARATOR.search(text)
    if separator is None:
        return "", text
    head = text[: separator.start()]
    quoted = head[head.find("「") + 1:]
    quoted = quoted[: quoted.rfind("」")] if "」" in quoted else quoted
    quoted = re.split(r"[:：]", quoted, maxsplit=1)[-1]
    return quoted.strip(), text[separator.end():].strip()


def _read(text: str, offer: Offer, quoted: str, trace: list[str] | None) -> Parsed:
    lexed = lex(text, offer)
    kinds = {t.kind for t in lexed}
    if not kinds & _MAY_ORDER:  # "谢谢团长", "[图片]": nothing to read
        if trace is not None:
            trace.append("规则：没有商品、数量、地址或下单的词，不回复")
        return NONE
    tokens = resolve_numbers(lexed) if "number_ref" in kinds else lexed
    address = " ".join(t.text.strip() for t in tokens if t.kind == ADDRESS) if ADDRESS in kinds else ""
    phone = next((_digits(t.text) for t in tokens if t.kind == PHONE and not t.text.startswith("尾号")), "") \
        if PHONE in kinds else ""
    clauses = clauses_of(tokens, offer)
    if trace is not None:
        trace_tokens(trace, lexed, tokens, clauses)
    if "cancel" in kinds and _cancels_all(clauses):
        if trace is not None:
            trace.append("取消整个订单")
        return Parsed("cancel", address=address, phone=phone)
    answer = _lone_quantity(clauses)
    if not order_like(clauses):
        if answer is not None:  # "2": a number alone answers a question, if one waits
            return Parsed("quantity", answer_qty=answer.qty)
        if (address or phone) and _contact_only(tokens):
            if trace is not None:
                trace.append("只有地址或电话：记下")
            return Parsed("contact", address=address, phone=phone)
        weighed = tuple(dict.fromkeys(p.sku for c in clauses if c.blocked == "question" for p in c.products))
        if weighed:  # "草莓甜吗", "五花肉多少钱一斤": a member weighing a product up (只看不买 if no order follows)
            about = "price" if _PRICE.search(text) else "have" if _HAVE_WORDS.search(text) else ""
            if trace is not None:
                trace.append("规则：问商品的问句，不下单" + ("（问价：报价）" if about else "，只记下"))
            return Parsed("ask_product", items=tuple(Item(sku, None) for sku in weighed), about=about)
        if trace is not None:
            trace.append("规则：没有要下单的商品和数量，不回复")
        return NONE
    if trace is not None:
        trace.append("规则：像是订单（商品或数量，加上要/来/取消/改等词，或只有商品和数量）")
    quoted_products = _quoted_products(quoted, offer) if quoted else []
    draft = _Draft()
    for clause in clauses:
        if not clause.blocked:
            _clause_items(clause, [c for c in clauses if c is not clause], quoted, quoted_products, offer, draft)
    items, conflicts = merge(_preferences_dropped(draft.found + draft.confirm))
    for conflict in conflicts:
        draft.problems.append(Problem(f"{conflict.product.name}是要加、要改还是要取消？", conflict.product))
    for item in items:
        if item.qty is not None and item.qty > MAX_QTY and (product := offer.by_sku(item.sku)):
            draft.problems.append(Problem(f"{product.name}一共{qty_text(item.qty)}{product.unit}太多了，要几{product.unit}？",
                                          product, item.op, awaits_qty=True))
    if draft.problems or draft.confirm:
        if trace is not None:
            trace.append("有不确定的地方：问一句，先不记")
        asked = unclear(draft.problems, offer, address, phone, items)
        if answer is not None:  # "3斤" alone: the answer to "要几斤？", if one waits
            asked = replace(asked, answer_qty=answer.qty, answer_unit=answer.unit)
        return asked
    if not items:
        return unclear([Problem("您要哪个商品、多少？")], offer, address, phone, ())
    ops = {item.op for item in items}
    intent = INTENT_OF_OP[next(iter(ops))] if len(ops) == 1 else "change"
    if trace is not None:
        trace.append(f"结果：{intent}")
    return Parsed(intent, items=items, address=address, phone=phone)


@dataclass
class _Draft:
    """What a message asks for so far: items to act on, items the member should confirm
    first ("…可以吗", a quoted order after "我也要"), and the questions to ask."""

    found: list[Found] = field(default_factory=list)
    confirm: list[Found] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _clause_items(clause: Clause, others: list[Clause], quoted: str, quoted_products: list[Product],
                  offer: Offer, draft: _Draft) -> None:
    """The items of one clause that may order; what is missing becomes a question."""
    read = clause.found
    target = draft.confirm if clause.polite else draft.found
    draft.problems.extend(read.problems)
    kinds = clause.kinds
    with_qty = {item.product.sku for item in read.items if item.qty is not None}
    for item in read.items:
        if item.qty is None and item.op != CANCEL_OP and item.product.sku in with_qty:
            continue  # named twice ("山东" + "葱3根"): the quantity is given once
        if item.qty is not None or item.op == CANCEL_OP:
            target.append(item)
        elif item.op == SET_OP:
            draft.problems.append(Problem(f"{item.product.name}改成多少{item.product.unit}？", item.product,
                                          SET_OP, awaits_qty=True))
        elif item.governed:
            target.append(replace(item, qty=_ONE))
        else:
            draft.problems.append(Problem(f"{item.product.name}要几{item.product.unit}？", item.product, ADD,
                                          awaits_qty=True))
    for name, _ in read.unknown:
        draft.problems.append(Problem(f"今天没有“{name}”", unknown=name))
    for quantity in read.loose:
        if not _claimed(clause, quantity):
            continue  # a number in talk: "我家5口人", "一份不要香菜"
        written = _written(clause, quantity)
        if read.items or read.problems or read.unknown:
            draft.problems.append(Problem(f"“{written}”是要哪个商品？"))
        else:  # "苹果真甜，再来2斤": the product the rest of the message names
            op = next(iter(read.ops), ADD)
            product = context_product((p for other in others for p in other.products), quantity.unit)
            if product is not None:
                target.extend(_quantity_of(product, quantity, op, draft.problems))
            elif (product := context_product(quoted_products, quantity.unit)) is not None:
                draft.confirm.extend(_quantity_of(product, quantity, op, draft.problems))
            else:
                draft.problems.append(Problem(f"“{written}”是要哪个商品？"))
    if CLAIM in kinds and not read.items and not read.loose and not read.problems:
        # "我也要", "跟一个": the quoted order, or ask
        quoted_items = _quoted_order(quoted, offer) if quoted else []
        if quoted_items:
            draft.confirm.extend(quoted_items)
        elif len(quoted_products) == 1:
            draft.confirm.append(Found(quoted_products[0], _ONE, ADD, True))
        else:
            draft.problems.append(Problem("您要哪个商品、多少？"))


def _preferences_dropped(found: list[Found]) -> list[Found]:
    """"珍珠奶茶两杯，一杯不要珍珠": a product named only by a part of its name after 不要,
    while the message orders it by its name, is a wish about how it is made, not a cancel."""
    ordered = {f.product.sku for f in found if f.op == ADD and not f.part}
    return [f for f in found if not (f.op == CANCEL_OP and f.part and f.product.sku in ordered)]


def _cancels_all(clauses: list[Clause]) -> bool:
    """"取消订单", "我不要了，谢谢": a clause that drops the whole order, and no product named."""
    if any(c.products for c in clauses if not c.blocked):
        return False
    for clause in clauses:
        words = "".join(t.text for t in clause.tokens if t.kind not in NOISE_KINDS)
        if not clause.blocked and _CANCEL_ALL.search(_CONTACT_LABEL.sub("", courteous(_COMPACT.sub("", words)))):
            return True
    return False


_CONTACT_LABEL = re.compile(r"(?:电话|手机号?|地址|联系方式)$")


_HAVE_WORDS = re.compile(r"有没有|有木有|有吗|有么|有嘛|还有吗|有货吗|有卖吗|卖不卖|有没")
_PRICE = re.compile(r"多少钱|多少一|几块|几元|几毛|怎么卖|咋卖|价格|价钱|啥价|什么价|单价|贵不贵|贵吗|便宜")
_MAY_ORDER = frozenset({PRODUCT, "number_ref", "qty", "range", "vague", "mark", ADDRESS, PHONE, CLAIM,
                        "want", "cancel", "set"})


def _claimed(clause: Clause, quantity: Token) -> bool:
    """A quantity without a product is asked for when an order word or mark stands before it
    ("再来2块", "+1", "跟一个"), or it is all the clause says ("2斤"); words after it must be
    set off as a remark ("再来3斤 放门口就行"), words before it must come before the order
    word ("给我妈再来2斤"). "一份不要香菜" asks for nothing: 不要 is about the 香菜."""
    tokens = clause.tokens
    at = next(i for i, t in enumerate(tokens) if t is quantity)
    words = [i for i, t in enumerate(tokens) if t.kind == "other" and strip_noise(t.text)]
    order_words = [i for i, t in enumerate(tokens[:at]) if t.kind in ORDER_WORDS or t.kind == MARK]
    if not order_words:
        return quantity.unit is not None and not words and not clause.found.items
    if any(order_words[-1] < i < at for i in words):
        return False
    after = [i for i in words if i > at]
    return not after or any(t.kind in ("sep", "break") for t in tokens[at + 1:after[0]])


def _lone_quantity(clauses: list[Clause]) -> Token | None:
    """The quantity of a message that is nothing but one quantity ("3斤", "+2", "2")."""
    loose = [q for c in clauses if not c.blocked for q in c.found.loose]
    if len(loose) != 1 or loose[0].qty is None or loose[0].kind != "qty":
        return None
    if any(c.found.items or c.found.content or c.found.unknown or c.found.problems
           for c in clauses if not c.blocked) or any(c.blocked for c in clauses):
        return None
    return loose[0]


def _written(clause: Clause, quantity: Token) -> str:
    """The quantity as the member wrote it, with its mark: "+1"."""
    mark = next((t for t in clause.tokens if t.kind == MARK and t.end <= quantity.start
                 and not clause.text[t.end - clause.tokens[0].start:quantity.start - clause.tokens[0].start].strip()),
                None)
    return (mark.text if mark else "") + quantity.text.strip()


def _quantity_of(product: Product, quantity: Token, op: str, problems: list[Problem]) -> list[Found]:
    """A quantity the message left alone, given to `product` (its unit checked)."""
    if quantity.qty is None:
        problems.append(Problem(f"{product.name}要几{product.unit}？", product, op, awaits_qty=True))
        return []
    qty = to_product_unit(quantity.qty, quantity.unit, product.unit)
    if qty is None or qty > MAX_QTY or not sensible(qty, product.unit):
        problems.append(Problem(f"{product.name}要几{product.unit}？", product, op, awaits_qty=True))
        return []
    return [Found(product, qty, op, True, quantity.text)]


def _quoted_products(quoted: str, offer: Offer) -> list[Product]:
    named: dict[str, Product] = {}
    for token in lex(quoted, offer):
        if token.kind == PRODUCT and token.product is not None:
            named.setdefault(token.product.sku, token.product)
    return list(named.values())


def _quoted_order(quoted: str, offer: Offer) -> list[Found]:
    """The items of a quoted order ("「小周：草莓2盒」" then "我也要")."""
    clauses = clauses_of(resolve_numbers(lex(quoted, offer)), offer)
    return [f for c in clauses if not c.blocked for f in c.found.items if f.qty is not None and f.op == ADD]


def _contact_only(tokens: list[Token]) -> bool:
    """Only an address or a phone, perhaps with 我住/地址/电话 and the community's name."""
    rest = _COMPACT.sub("", "".join(t.text for t in tokens if t.kind not in (ADDRESS, PHONE)))
    return bool(_CONTACT_WORDS.match(rest) or _CONTACT_HEAD.match(rest) and len(rest) <= 16)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())[-11:]
