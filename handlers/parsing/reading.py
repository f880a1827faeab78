"""What the clauses of a chat message mean, and the one rule for answering it.

A message is cut into clauses at ，。；！？ and new lines. A clause that asks, tells of the
past, complains, compares shops, wishes, talks about others or remarks on a product orders
nothing ("要不要豆腐", "上次买的土豆很好", "要是有虾就好了"); its products still tell what a
bare "再来2块" in another clause means. The other clauses' items (handlers.parsing.items) are
what the member wants done.

THE RULE (`order_like`): a message is *order-like* when, outside the clauses that order
nothing, it names an offered product or product number with a quantity or an order word that
stands with it, or holds a quantity with an order word ("再来2块", "+1", "跟一个"), or is an
unknown thing in the form of an order ("黄瓜2斤"), or is nothing but products ("西红柿").
An order-like message is acted on when every part of it can be read, and otherwise asked back
with one short question; a message that is not order-like gets no reply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from handlers.parsing.items import Extraction, read_items
from handlers.parsing.lexer import (
    BAD_NUMBER,
    BREAK,
    CANCEL,
    CLAIM,
    COLON,
    DATE,
    EACH,
    MARK,
    MINUS,
    NUMBER_REF,
    OTHER,
    PRODUCT,
    QTY,
    RANGE,
    SEP,
    SET,
    TIME,
    VAGUE,
    WANT,
    Token,
    strip_noise,
)
from models.catalog import Offer, Product
from handlers.parsing.quantities import to_product_unit

_POLITE = re.compile(r"可以吗|行吗|好吗|成吗|可以不|行不行|行不|好不好|可不可以|能不能|能否|可否|ok吗|可以么|行么")
_QUESTION = re.compile(
    r"[?]|吗|么$|嘛$|呢$|什么|啥|怎么|咋|为什么|为啥|哪|谁|几点|几号|(?<![要来买订拿加])几|多少|多久|多大|"
    r"多重|有没有|是不是|请问|问一下|问下|问问|(?P<asked>[^\d□])不(?P=asked)"
)
_PAST = re.compile(
    r"昨天|前天|昨晚|昨日|上次|上周|上个月|上回|之前|以前|前几天|那天|已经|刚才|刚刚|早就|"
    r"(?:订|买|要|拿|收|领|取|吃|定|拍|付|给|点|选|报|发|抢|留|下单)(?:了|过)|下了单|收到|到了|没到|"
    r"没送|没收到|送来|送到了|(?:买|订|拿|定|拍|要|抢|领)的"
)
_HYPOTHETICAL = re.compile(r"要是|如果|假如|假设|万一|的话|就好了|希望|但愿")
_COMPLAINT = re.compile(
    r"坏了|烂了|破了|少了|缺了|漏了|漏送|送错|错了|退款|退钱|投诉|不新鲜|有问题|发霉|变质|臭了|太贵|好贵|"
    r"这么贵|那么贵|贵死|要死|难吃|不好吃|差评|缺斤|短斤|不够秤|没熟|太酸|不甜|坑人|骗人|垃圾"
)
_OTHER_SHOPS = re.compile(r"超市|菜市场|菜场|别家|外面|拼多多|美团|盒马|叮咚|朴朴|京东|淘宝|便宜|市场价|批发")
_OTHERS = re.compile(r"大家|各位|群里|邻居们|有人")
_REMARK = re.compile(
    r"(?<!再)说|听说|据说|告诉|通知|提醒|转发|好吃|很甜|真甜|好甜|挺甜|特甜|不错|很新鲜|真新鲜|推荐|喜欢|爱吃|"
    r"够吃|好评|划算|值得|很好|挺好|真好|熟了|够了|漂亮|个大|大个|好看|很香|真香|很嫩|一般般|多了"
)
_GREETINGS = re.compile(r"在吗|在不在|在么")
_ASKED_AT_END = re.compile(r"^(?:能|可以|能否|可否)|(?:吗|么|嘛|呢)?[?]*$")  # "能……吗？"
# Any of the above: most clauses of an order hold none, and are not judged further.
_ANY = re.compile("|".join(p.pattern for p in (_POLITE, _QUESTION, _HYPOTHETICAL, _COMPLAINT, _OTHER_SHOPS,
                                               _PAST, _OTHERS, _REMARK)))

# After "N号": a date, not product N ("我8号回来", "明天3号了", "8号前").
_DATE_AFTER = re.compile(
    r"^\s*(?:了|前|后|之前|之后|以前|以后|左右|那天|当天|上午|下午|晚上|早上|中午|晚|早|回|走|到|送|发|出|开始|"
    r"截止|截单|才|就|放假|上班|开学|周|星期|礼拜|再|之内|以内|起|至|号|的时候|那|要出)"
)
_DATE_BEFORE = re.compile(r"(?:月|到|等|从|至|过|是|下周|这周|本周|今天|明天|后天|昨天|前天)\s*$")

ORDER_WORDS = frozenset({WANT, CANCEL, SET, CLAIM})


@dataclass
class Clause:
    tokens: list[Token]
    kinds: frozenset[str]  # the kinds of its tokens
    blocked: str = ""  # why it orders nothing ("question", "past", ...), or "" when it may
    polite: bool = False  # "…可以吗": an order that asks to be confirmed
    found: Extraction = field(default_factory=Extraction)

    @property
    def text(self) -> str:
        """The folded text of the clause."""
        return "".join(t.text for t in self.tokens)

    @property
    def products(self) -> list[Product]:
        return [t.product for t in self.tokens if t.kind == PRODUCT and t.product is not None]


def resolve_numbers(tokens: list[Token]) -> list[Token]:
    """"3号" is product 3 when a quantity or an order word stands with it ("3号x2", "要3号",
    "取消2号", "3号改2斤", "1号、2号各3斤") or nothing else is said ("3号"); a date next to time
    words ("我8号回来", "明天3号了"); otherwise a number in talk, never an order."""
    kinds = [t.kind for t in tokens]
    refs = [i for i, kind in enumerate(kinds) if kind == NUMBER_REF]
    if not refs:
        return tokens
    out = list(tokens)
    alone = all(k in (NUMBER_REF, SEP, BREAK, OTHER, EACH, QTY, MARK) for k in kinds) and not any(
        t.kind == OTHER and strip_noise(t.text) for t in tokens)
    for i in refs:
        token = tokens[i]
        after = _neighbour(tokens, i, +1)
        before = _neighbour(tokens, i, -1)
        rest = "".join(t.text for t in tokens[i + 1:i + 3])
        ahead = "".join(t.text for t in tokens[max(0, i - 2):i])
        if after is not None and after.kind in (QTY, MARK, MINUS, RANGE, VAGUE, SET, EACH, CANCEL, WANT):
            as_product = True
        elif before is not None and before.kind in (WANT, CANCEL, SET, CLAIM):
            as_product = True
        elif before is not None and before.kind in (DATE, TIME) or _DATE_AFTER.match(rest) or _DATE_BEFORE.search(ahead):
            out[i] = Token(DATE, token.text, token.start)
            continue
        else:
            as_product = alone or (after is not None and after.kind == NUMBER_REF) or (
                before is not None and before.kind in (NUMBER_REF, PRODUCT))
        if not as_product:
            out[i] = Token(OTHER, token.text, token.start)
        elif token.product is not None:
            out[i] = Token(PRODUCT, token.text, token.start, product=token.product)
        else:
            out[i] = Token(BAD_NUMBER, token.text, token.start, qty=token.qty)
    return out


def _neighbour(tokens: list[Token], i: int, step: int) -> Token | None:
    j = i + step
    while 0 <= j < len(tokens) and (tokens[j].kind == SEP and tokens[j].text.strip() in ("", "、")
                                    or tokens[j].kind == COLON
                                    or tokens[j].kind == OTHER and not strip_noise(tokens[j].text)):
        j += step
    return tokens[j] if 0 <= j < len(tokens) else None


def clauses_of(tokens: list[Token], offer: Offer) -> list[Clause]:
    """The clauses of a message, each read and judged."""
    out: list[Clause] = []
    current: list[Token] = []
    for token in tokens:
        current.append(token)
        if token.kind == BREAK:
            out.append(_clause(current, offer))
            current = []
    if current:
        out.append(_clause(current, offer))
    return out


def _residue(tokens: list[Token], mask_cancel: bool) -> str:
    """The clause's words with products (and cancel words) masked, so that a product's name
    (酸甜排骨, 香蕉) or 不要了 cannot look like a question, a remark or the past."""
    parts = []
    for token in tokens:
        if token.kind == PRODUCT:
            parts.append("□")
        elif token.kind == CANCEL and mask_cancel:
            parts.append("×")
        else:
            parts.append(token.text)
    text = "".join(parts)
    return (_GREETINGS.sub("", text) if "在" in text else text).strip()


_READ_KINDS = frozenset({PRODUCT, BAD_NUMBER, QTY, RANGE, VAGUE, WANT, CANCEL, SET, CLAIM, MARK})
_WORDY = frozenset({OTHER, DATE, BREAK, VAGUE})


def _clause(tokens: list[Token], offer: Offer) -> Clause:
    kinds = frozenset(t.kind for t in tokens)
    clause = Clause(tokens, kinds)
    if not kinds & _READ_KINDS:
        return clause  # greetings, an address: nothing to judge or read
    # Questions, the past and remarks are made of words, dates, 几 and "?" (or 要不要): a
    # clause of products and quantities only ("西红柿2斤") has nothing to judge.
    if kinds & _WORDY or WANT in kinds and CANCEL in kinds:
        asked = _residue(tokens, mask_cancel=False)  # "要不要豆腐" asks
        if _ANY.search(asked):
            _judge(clause, tokens, asked)
    clause.found = read_items(tokens, offer)
    if clause.found.swapped:
        clause.polite = True
    found = clause.found
    if found.content and not clause.blocked and not clause.polite and not found.governing and _is_talk(
            tokens, {start for _, start in found.unknown}):
        clause.blocked = "talk"
    return clause


def _judge(clause: Clause, tokens: list[Token], asked: str) -> None:
    """Whether the clause asks, tells of the past, complains ... (blocked), or is a polite order."""
    kinds = clause.kinds
    residue = _residue(tokens, mask_cancel=True) if CANCEL in kinds else asked  # "土豆不要了" is no past
    wants = bool(kinds & {WANT, CLAIM})
    changes = bool(kinds & {CANCEL, SET})
    has_items = bool(kinds & {PRODUCT, BAD_NUMBER})
    if _POLITE.search(residue) and (wants or changes or has_items and bool(kinds & {QTY})):
        clause.polite = True
    elif _QUESTION.search(asked):
        # "（能）帮我留两板鸡蛋吗": an order asked as a question is confirmed, not dropped
        ordered = wants and has_items and QTY in kinds and not _QUESTION.search(_ASKED_AT_END.sub("", asked))
        if ordered:
            clause.polite = True
        else:
            clause.blocked = "question"
    elif _HYPOTHETICAL.search(residue):
        if wants or changes:
            clause.polite = True
        else:
            clause.blocked = "wish"
    elif _COMPLAINT.search(residue):
        clause.blocked = "complaint"
    elif _OTHER_SHOPS.search(residue):
        clause.blocked = "other shops"
    elif _PAST.search(residue) and not changes:
        clause.blocked = "past"
    elif _OTHERS.search(residue):
        clause.blocked = "others"
    elif _REMARK.search(residue) and not (wants or changes):
        clause.blocked = "remark"


def _is_talk(tokens: list[Token], unknown: set[int]) -> bool:
    """Words (other than greetings, thanks, addresses) glued to the items make a sentence
    ("3斤苹果够吃一周", "土豆炖牛肉"); set off before them they are a label ("李阿姨 西红柿2斤"),
    set off after them a remark ("苹果2斤 麻烦放门口")."""
    item_at = [i for i, t in enumerate(tokens) if t.kind in (PRODUCT, QTY, BAD_NUMBER, RANGE, VAGUE)]
    if not item_at or not any(tokens[i].kind in (PRODUCT, BAD_NUMBER) for i in item_at):
        return False
    first, last = item_at[0], item_at[-1]
    for i, token in enumerate(tokens):
        if token.kind != OTHER or token.start in unknown:
            continue
        words = strip_noise(token.text)
        if not words:
            continue
        if i < first and len(words) <= 8 and any(t.kind in (SEP, COLON) for t in tokens[i + 1:first]):
            continue
        if i > last and any(t.kind in (SEP, BREAK) for t in tokens[last + 1:i]):
            continue
        return True
    return False


def order_like(clauses: list[Clause]) -> bool:
    """THE RULE (see the module's text): does this message ask for something to be ordered?"""
    for clause in clauses:
        if clause.blocked:
            continue
        found = clause.found
        kinds = clause.kinds
        if found.problems:
            return True
        if found.items and (any(f.qty is not None or f.governed for f in found.items) or found.ops
                            or _only_products(clause)):
            return True
        if found.loose and (kinds & ORDER_WORDS or kinds & {MARK} or _only_quantities(clause)
                            and any(q.unit for q in found.loose)):
            return True
        if kinds & {CLAIM} or found.unknown:
            return True
    return False


def _only_products(clause: Clause) -> bool:
    return not clause.found.content and not clause.found.loose


def _only_quantities(clause: Clause) -> bool:
    return not clause.found.content and not clause.found.items and bool(clause.found.loose)


def context_product(products: Iterable[Product], unit: str | None) -> Product | None:
    """The one product the rest of the message (or the quoted one) names, when a quantity
    stands alone ("苹果真甜，再来2斤"), and its unit fits."""
    named = {product.sku: product for product in products}
    if len(named) != 1:
        return None
    product = next(iter(named.values()))
    return product if to_product_unit(Decimal(1), unit, product.unit) is not None else None
