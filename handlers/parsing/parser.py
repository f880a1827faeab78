"""What one chat message means against the offer: pure, synchronous, no I/O.

`parse(text, offer)` is what `groupbuy parse` prints and what the handlers act on. The rule
that matters most: a message that did not ask for a change never gets one. When in doubt the
answer is `unclear` (the bot asks back, proposing what it understood) or `none` (the bot stays
quiet); which of the two is decided by one rule, `reading.order_like`.

The way through: fold the text (handlers.parsing.text), keep a quoted reply's reply, read a
接龙 as a list (handlers.parsing.lists), match the short messages that are whole requests (我的
订单, 帮助, 参团 3, 对), then lex, cut into clauses and read their items (reading, items).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal

from handlers.parsing.items import MAX_QTY, Found, Problem, merge
from handlers.parsing.lexer import ADDRESS, CLAIM, MARK, NOISE_KINDS, PHONE, PRODUCT, Token, lex, strip_noise
from handlers.parsing.lists import HEADER, parse_chain
from handlers.parsing.offer import Offer, Product
from handlers.parsing.quantities import sensible, to_product_unit
from handlers.parsing.reading import (
    ORDER_WORDS,
    Clause,
    clauses_of,
    context_product,
    order_like,
    resolve_numbers,
)
from handlers.parsing.results import ADD, CANCEL_OP, INTENT_OF_OP, NONE, SET_OP, Item, Parsed
from handlers.parsing.text import fold

_ONE = Decimal(1)
MAX_TEXT = 200_000  # longer messages are not orders; never spend time on them

_QUOTE = re.compile(r"^\s*「([^「」]*)」\s*\n\s*(?:-\s*){3,}\n?", re.S)
_QUOTE_SEPARATOR = re.compile(r"^\s*(?:-\s*){3,}$", re.M)
_MENTION = re.compile(r"@[^\s@]{1,30}(?:\s+|$)")
_COMPACT = re.compile(r"[\s,.!~。！～、?？:：;；\"'“”‘’()（）\[\]【】<>《》…—-]+")
_POLITE_HEAD = re.compile(r"^(?:请问|麻烦|帮我|帮忙|请|你好|您好|老板|团长|亲)+")
# Courtesy around a whole request ("我的订单，谢谢", "我不要了 谢谢团长"): said, not meant.
_COURTESY = re.compile(r"(?:谢谢团长|谢谢老板|谢谢你|谢谢|谢啦|谢了|多谢|麻烦了|麻烦你了|辛苦了|辛苦|不好意思|抱歉)+$|"
                       r"^(?:团长|老板|老板娘|亲|你好|您好|早上好|在吗)+")
_QUERY = re.compile(
    r"^(?:我的|我|查|查询|查下|查一下|查查|看看|看下|看一下|我想看看?|想看|帮我)*(?:订单|单子)(?:呢|查询|记录|详情)?$|"
    r"^(?:查询|查看|查一下|查下)?(?:我的)?订单$|^订单(?:查询|呢)$|"
    r"^(?:看看|看下|查查?|查一下|帮我看看|帮我查查?|帮我查一下)?我?(?:今天|明天)?(?:都|一共)?"
    r"(?:订|买|要|定|拍|下单)了?(?:些)?(?:什么|啥|哪些|几样|多少|什么东西|啥东西)(?:东西|菜)?(?:呀|啊|呢|来着)?$|"
    r"^(?:查查?|查一下|看看|看下|帮我查查?|帮我看看)?我(?:订|买|定)的(?:东西|菜)?(?:呢|有哪些)?$|^我的单$"
)
_HELP = re.compile(
    r"^/?(?:帮助|help|菜单帮助|使用说明|说明书?|怎么用|怎么下单|如何下单|怎样下单|怎么订|怎么订购|怎么买|怎么点单|"
    r"如何订购|如何购买|下单方法|不会下单|教我下单|怎么接龙|怎么参团|怎么操作)(?:呀|啊|呢|吗)?$"
)
_OFFER = re.compile(r"^(?:今天|明天)?(?:有什么|有啥|卖什么|卖啥|都有什么|都有啥)(?:菜|东西|货|卖)?(?:呀|啊|呢)?$|"
                    r"^(?:今天的?|今日)?(?:菜单|价目表|商品列表|价格表)$")
_JOIN = re.compile(r"^(?:我要)?参团\s*(?:#|第|号)?\s*(\d{1,6})?\s*(?:号|团)?$")
_OPEN = re.compile(r"^(?:我要)?开团\s*(.+)$")
_INVITE = re.compile(r"^(?:我的|我要|给我|发我|查看?)?(?:邀请码?|邀请链接|推荐码|邀请好友|拉新)$")
# A referral code (models.referrals: six of 2-9 and A-Z without I, L, O), alone or after 邀请码.
_CODE = re.compile(r"^(?:邀请码|推荐码)?[:：]?([2-9A-HJKMNP-Z]{6})$", re.I)
_POINTS = re.compile(r"^(?:我的|查|查询|看看|看下)?积分(?:查询|多少|余额|呢)?$")
_CONFIRM = re.compile(r"^(?:对|对的|对对|对啊|是|是的|是滴|嗯|嗯嗯|好|好的|好滴|好嘞|行|可以|确认|没错|没问题|要的|"
                      r"ok|okay|yes|y|👌|👍)+(?:的|呀|啊|呢|吧|了|哈|哦)?$")
_DENY = re.compile(r"^(?:不对|不是|不用|不用了|错了|不了|算了|不对不对|不是的|no|n)(?:的|呀|啊|吧|了|哈|哦)?$")
_CANCEL_ALL = re.compile(r"取消订单|订单取消|全部取消|取消全部|全取消|取消所有|都不要了|全都不要|全部不要|"
                         r"整单取消|取消整单|我不要了$|^不要了$|订单不要了|全退|全部退掉")
_CONTACT_HEAD = re.compile(r"^(?:我|我家)?(?:住在|住|地址是?|送货地址|收货地址|送到)")
_CONTACT_WORDS = re.compile(r"^(?:我|我家)?(?:住|住在|在|地址|地址是|电话|电话是|手机|手机号|联系电话|送到|送货地址|收货地址)*$")


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
    if HEADER.match(folded):
        if trace is not None:
            trace.append("以“#接龙”开头：接龙")
        return parse_chain(written, offer, trace)
    folded = _MENTION.sub(" ", folded).strip()
    compact = _COMPACT.sub("", folded)
    if not compact:
        return NONE
    compact = _courteous(compact)
    whole = _whole_message(folded, compact, offer, trace)
    if whole is not None:
        return whole
    return _read(folded, offer, fold(quoted) if quoted else "", trace)


def _courteous(compact: str) -> str:
    """The request without the thanks, greetings and emoji around it."""
    core = compact
    while True:
        stripped = _COURTESY.sub("", core.strip(_SYMBOLS))
        if stripped == core:
            return core or compact
        core = stripped


_SYMBOLS = "".join(chr(c) for c in range(0x2000, 0x2BFF)) + "".join(chr(c) for c in range(0x1F000, 0x1FAFF)) + "\ufe0f"


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


def _whole_message(folded: str, compact: str, offer: Offer, trace: list[str] | None) -> Parsed | None:
    """Short messages that are one request as a whole."""
    bare = _POLITE_HEAD.sub("", compact) or compact
    for pattern, intent in ((_QUERY, "query_orders"), (_HELP, "help"), (_OFFER, "query_offer"),
                            (_INVITE, "invite"), (_POINTS, "query_points"), (_CONFIRM, "confirm"),
                            (_DENY, "deny")):
        if pattern.match(bare) or pattern.match(compact):
            if trace is not None:
                trace.append(f"整句是“{compact[:20]}”：{intent}")
            return Parsed(intent)
    if (match := _CODE.match(compact)) and _is_code(match.group(1)):
        return Parsed("use_code", code=match.group(1).upper())
    if match := _JOIN.match(compact):
        return Parsed("join_groupbuy", groupbuy=int(match.group(1)) if match.group(1) else None)
    if match := _OPEN.match(folded.strip()):
        return _open_groupbuy(match.group(1), offer)
    return None


def _is_code(text: str) -> bool:
    return any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


def _open_groupbuy(rest: str, offer: Offer) -> Parsed:
    products = {t.product.sku: t.product for t in lex(rest, offer) if t.product and t.kind == PRODUCT}
    if len(products) != 1:
        name = strip_noise(rest)
        return _unclear([Problem(f"没有找到“{name}”，要开哪个商品的团？", unknown=name)], offer, "", "", ())
    return Parsed("open_groupbuy", items=tuple(Item(sku, None) for sku in products))


def _read(text: str, offer: Offer, quoted: str, trace: list[str] | None) -> Parsed:
    tokens = resolve_numbers(lex(text, offer))
    address = " ".join(t.text.strip() for t in tokens if t.kind == ADDRESS)
    phone = next((_digits(t.text) for t in tokens if t.kind == PHONE and not t.text.startswith("尾号")), "")
    clauses = clauses_of(tokens, offer)
    if trace is not None:
        _trace_tokens(trace, tokens, clauses)
    if _cancels_all(clauses):
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
    items, conflicts = merge(draft.found + draft.confirm)
    for conflict in conflicts:
        draft.problems.append(Problem(f"{conflict.product.name}是要加、要改还是要取消？", conflict.product))
    for item in items:
        if item.qty is not None and item.qty > MAX_QTY and (product := offer.by_sku(item.sku)):
            draft.problems.append(Problem(f"{product.name}一共{_qty(item.qty)}{product.unit}太多了，要几{product.unit}？",
                                          product, item.op, awaits_qty=True))
    if draft.problems or draft.confirm:
        if trace is not None:
            trace.append("有不确定的地方：问一句，先不记")
        asked = _unclear(draft.problems, offer, address, phone, items)
        if answer is not None:  # "3斤" alone: the answer to "要几斤？", if one waits
            asked = replace(asked, answer_qty=answer.qty, answer_unit=answer.unit)
        return asked
    if not items:
        return _unclear([Problem("您要哪个商品、多少？")], offer, address, phone, ())
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
            product = context_product(others, quantity.unit, [])
            if product is not None:
                target.extend(_quantity_of(product, quantity, op, draft.problems))
            elif (product := context_product([], quantity.unit, quoted_products)) is not None:
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


def _cancels_all(clauses: list[Clause]) -> bool:
    """"取消订单", "我不要了，谢谢": a clause that drops the whole order, and no product named."""
    if any(c.products for c in clauses if not c.blocked):
        return False
    for clause in clauses:
        words = "".join(t.text for t in clause.tokens if t.kind not in NOISE_KINDS)
        if not clause.blocked and _CANCEL_ALL.search(_CONTACT_LABEL.sub("", _courteous(_COMPACT.sub("", words)))):
            return True
    return False


_CONTACT_LABEL = re.compile(r"(?:电话|手机号?|地址|联系方式)$")


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


def _unclear(problems: list[Problem], offer: Offer, address: str, phone: str,
             items: tuple[Item, ...]) -> Parsed:
    """Ask back: the questions, and what "对" would do when the rest is understood."""
    unknown = tuple(dict.fromkeys(p.unknown for p in problems if p.unknown))
    suggestions = tuple(dict.fromkeys(p.name for name in unknown for p in offer.closest(name)))
    questions = [p.question for p in problems if p.question and not p.unknown]
    if unknown:
        questions.insert(0, "今天没有" + "、".join(f"“{name}”" for name in unknown))
    awaiting = tuple(dict.fromkeys((p.product.sku, p.op) for p in problems if p.awaits_qty and p.product))
    proposal = () if awaiting else tuple(i for i in items if i.qty is not None or i.op == CANCEL_OP)
    if proposal:
        text = proposal_text(proposal, offer)
        questions.append(f"{text}先记下吗？" if questions else f"您要{text}，对吗？")
    reason = "".join(_sentence(q) for q in dict.fromkeys(questions))
    return Parsed("unclear", reason=reason[:300], suggestions=suggestions[:5], address=address, phone=phone,
                  proposal=proposal, awaiting=awaiting, unknown=unknown)


def _sentence(text: str) -> str:
    return text if text.endswith(("？", "。", "！")) else text + "。"


def proposal_text(items: tuple[Item, ...], offer: Offer) -> str:
    """"加2斤西红柿、取消土豆": what the bot would do, in the member's words."""
    parts = []
    for item in items:
        product = offer.by_sku(item.sku)
        if product is None:
            continue
        amount = f"{_qty(item.qty)}{product.unit}" if item.qty is not None else ""
        if item.op == ADD:
            parts.append(f"加{amount}{product.name}")
        elif item.op == SET_OP:
            parts.append(f"{product.name}改成{amount}")
        elif item.qty is None:
            parts.append(f"取消{product.name}")
        else:
            parts.append(f"{product.name}减{amount}")
    return "、".join(parts)


def _qty(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}"


def _trace_tokens(trace: list[str], tokens: list[Token], clauses: list[Clause]) -> None:
    names = {"product": "商品", "qty": "数量", "address": "地址", "phone": "电话", "date": "日期",
             "time": "时间", "price": "价格", "people": "人数", "want": "要", "cancel": "取消", "set": "改",
             "claim": "跟单", "each": "各", "mark": "记号", "minus": "减", "range": "范围", "vague": "不确定的数量",
             "bad_number": "没有的编号"}
    for token in tokens:
        label = names.get(token.kind)
        if label is None:
            continue
        detail = f" {token.product.sku} {token.product.name}" if token.product is not None else ""
        trace.append(f"“{token.text.strip()}” = {label}{detail}")
    for clause in clauses:
        if clause.blocked:
            trace.append(f"“{clause.text.strip()[:30]}”不下单（{clause.blocked}）")
        elif clause.polite:
            trace.append(f"“{clause.text.strip()[:30]}”是客气的问句：先确认")


