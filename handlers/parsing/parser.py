"""What one chat message means against the offer: pure, synchronous, no I/O.

`parse(text, offer)` is what `groupbuy parse` prints and what the handlers act on. The rule
that matters most: a message that did not ask for a change never gets one. When in doubt the
answer is `unclear` (the bot asks back) or `none` (the bot stays quiet).
"""

from __future__ import annotations

import re
from decimal import Decimal

from handlers.parsing.items import MAX_QTY, extract, merge, strip_noise
from handlers.parsing.lexer import (
    BAD_NUMBER, CANCEL, MARK, MODIFY, OTHER, PRODUCT, QTY, SEP, Token, lex, normalize,
)
from handlers.parsing.offer import Offer, Product
from handlers.parsing.results import NONE, ChainLine, Item, Parsed

_ONE = Decimal(1)
MAX_TEXT = 200_000  # longer messages are not orders; never spend time on them

_SPACE = re.compile(r"\s+")
_QUOTE_SEPARATOR = re.compile(r"^\s*(?:-\s*){3,}$", re.M)
_MENTION = re.compile(r"@[^\s@]{1,30}(?:\s+|$)")
_CHAIN_HEADER = re.compile(r"^\s*#[ \t]*(?:接龙|group[ \t]*note)[ \t]*([^\n]*)")
_CHAIN_LINE = re.compile(r"^\s*(\d{1,4})\s*[.、):]\s*(.*)$")
_QUERY = re.compile(r"^(?:我的订单|查订单|查询订单|订单查询|查一下订单|查下订单|看看订单|看下订单|"
                    r"我订了什么|我买了什么|我的单|订单)$")
_JOIN = re.compile(r"^(?:我要)?参团\s*(?:#|第|号)?\s*(\d{1,6})?\s*(?:号|团)?$")
_OPEN = re.compile(r"^(?:我要)?开团\s*(.+)$")
_INVITE = re.compile(r"^(?:我的|我要|给我|发我|查看?)?(?:邀请码?|邀请链接|推荐码|邀请好友|拉新)$")
# A referral code (models.referrals: six of 2-9 and A-Z without I, L, O), alone or after 邀请码.
_CODE = re.compile(r"^(?:邀请码|推荐码)?[:：]?([2-9A-HJKMNP-Z]{6})$", re.I)
_POINTS = re.compile(r"^(?:我的|查|查询|看看|看下)?积分(?:查询|多少|余额|呢)?$")
_CANCEL_ALL = re.compile(r"取消订单|订单取消|全部取消|取消全部|全取消|取消所有|都不要了|全都不要|全部不要|"
                         r"整单取消|取消整单|我不要了$|^不要了$")
_QUESTION = re.compile(
    r"[?]|吗\s*$|么\s*$|呢\s*$|多少钱|几块|什么价|啥价|怎么卖|怎么买|有没有|还有没有|是不是|"
    r"能不能|可不可以|可以吗|甜不甜|新鲜吗|什么时候|啥时候|几点|哪天|为什么|怎么还"
)
_PAST = re.compile(r"昨天|前天|上次|上周|上回|之前|以前|已经|订了|买了|买的|收到|没到|没送|到货了|吃了")
_COMPLAINT = re.compile(r"坏了|烂了|破了|少了|缺了|漏了|退款|退钱|投诉|不新鲜|有问题|发霉|变质|臭了")
_OTHER_SHOPS = re.compile(r"超市|菜市场|菜场|别家|外面|拼多多|美团|盒马|叮咚|便宜|太贵|好贵")


def parse(text: str, offer: Offer) -> Parsed:
    if not text or len(text) > MAX_TEXT:
        return NONE
    text = _reply_part(normalize(text))
    if _CHAIN_HEADER.match(text):
        return parse_chain(text, offer)
    text = _MENTION.sub(" ", text).strip()
    compact = re.sub(r"[\s,.!~。，！～]+", "", text)
    if not compact:
        return NONE
    if _QUERY.match(compact):
        return Parsed("query_orders")
    if _INVITE.match(compact):
        return Parsed("invite")
    if _POINTS.match(compact):
        return Parsed("query_points")
    if (match := _CODE.match(compact)) and _is_code(match.group(1)):
        return Parsed("use_code", code=match.group(1).upper())
    if match := _JOIN.match(compact):
        return Parsed("join_groupbuy", groupbuy=int(match.group(1)) if match.group(1) else None)
    if match := _OPEN.match(text.strip()):
        return _open_groupbuy(match.group(1), offer)
    if any(p.search(text) for p in (_QUESTION, _PAST, _OTHER_SHOPS, _COMPLAINT)):
        return NONE
    tokens = lex(text, offer)
    kinds = {t.kind for t in tokens}
    if CANCEL in kinds:
        if PRODUCT not in kinds and _CANCEL_ALL.search(compact):
            return Parsed("cancel")
        return _cancel(tokens, offer)
    found = extract(tokens, offer)
    if found.problems:
        return _unclear(found.problems, found.unknown_names, offer, found.address)
    if too_much := [i for i in merge(found.items) if i.qty is not None and i.qty > MAX_QTY]:
        names = "、".join(p.name for i in too_much if (p := offer.by_sku(i.sku)))
        return _unclear([f"{names}的数量太大了"], [], offer, found.address)
    if MODIFY in kinds and found.items:
        if any(qty is None for _, qty in found.items):
            names = "、".join(p.name for p, qty in found.items if qty is None)
            return _unclear([f"{names}改成多少？"], [], offer, found.address)
        return Parsed("modify", items=merge(found.items), address=found.address)
    if not found.items:
        return NONE
    if MODIFY not in kinds and not found.wanting and _is_talk(tokens):
        return NONE  # "3斤苹果够吃一周": a sentence about a product, not an order
    if found.unbound_products:
        bound = len(found.unbound_products) < len(found.items)
        if found.wanting and not bound:
            items = [(p, qty if qty is not None else _ONE) for p, qty in found.items]
            return Parsed("order", items=merge(items), address=found.address)
        if bound or not found.other_text:
            names = "、".join(dict.fromkeys(p.name for p in found.unbound_products))
            return _unclear([f"{names}要多少？"], [], offer, found.address)
        return NONE  # talk about a product: "土豆不错"
    return Parsed("order", items=merge(found.items), address=found.address)


def _is_talk(tokens: list[Token]) -> bool:
    """Words (other than greetings, thanks, addresses) before or among the items make a
    sentence; after the items they are a remark only when set off ("苹果2斤 麻烦放门口")."""
    item_at = [i for i, t in enumerate(tokens) if t.kind in (PRODUCT, QTY, BAD_NUMBER)]
    if not item_at:
        return False
    last = item_at[-1]
    for i, token in enumerate(tokens):
        if token.kind != OTHER or not strip_noise(token.text):
            continue
        if i < last:
            return True
        if not any(t.kind == SEP for t in tokens[last + 1 : i]):
            return True
    return False


def parse_chain(text: str, offer: Offer) -> Parsed:
    """A 接龙 list: `#接龙`, a title, then `N. name items...` lines."""
    lines = text.split("\n")
    header = _CHAIN_HEADER.match(lines[0])
    title_lines = [header.group(1).strip()] if header and header.group(1).strip() else []
    entries: list[tuple[int, str]] = []
    for raw in lines[1:]:
        match = _CHAIN_LINE.match(raw)
        if match:
            entries.append((int(match.group(1)), match.group(2).strip()))
        elif not entries and raw.strip():
            title_lines.append(raw.strip())
    title = title_lines[0] if title_lines else ""
    title_products = {t.product.sku: t.product for t in lex(title, offer) if t.product}
    default = next(iter(title_products.values())) if len(title_products) == 1 else None
    chain_lines = tuple(_cached_chain_line(seq, rest, offer, default) for seq, rest in entries)
    return Parsed("chain", lines=chain_lines, title=title)


LINE_CACHE_MAX = 50_000


def _cached_chain_line(seq: int, rest: str, offer: Offer, default: Product | None) -> ChainLine:
    cache = offer.line_cache
    key = (rest, default.sku if default else "")
    found = cache.get(key)
    if found is None:
        if len(cache) >= LINE_CACHE_MAX:
            cache.clear()
        found = cache[key] = _chain_line(0, rest, offer, default)
    return found if found.seq == seq else ChainLine(seq, found.name, found.items, found.text)


def _chain_line(seq: int, rest: str, offer: Offer, default: Product | None) -> ChainLine:
    """`name items...`: the name is the first word unless that word names a product; with no
    space after the name ("陈哥五花肉2斤") it ends where the first product or quantity starts."""
    tokens = lex(rest, offer)
    space = _SPACE.search(rest)
    if space is not None and not any(t.kind == PRODUCT for t in tokens if t.start < space.start()):
        name, item_tokens = rest[: space.start()], [t for t in tokens if t.start >= space.end()]
    else:
        first = next((i for i, t in enumerate(tokens) if t.kind in (PRODUCT, QTY, MARK)), len(tokens))
        cut = tokens[first].start if first < len(tokens) else len(rest)
        name, item_tokens = rest[:cut].strip(), tokens[first:]
    found = extract(item_tokens, offer, default)
    items: tuple[Item, ...] = ()
    if not found.problems and found.items:
        items = merge([(p, qty if qty is not None else _ONE) for p, qty in found.items])
    return ChainLine(seq=seq, name=name, items=items, text=rest)


def _is_code(text: str) -> bool:
    return any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


def _cancel(tokens: list, offer: Offer) -> Parsed:
    found = extract(tokens, offer)
    if found.problems:
        return _unclear(found.problems, found.unknown_names, offer, found.address)
    if not found.items:
        return _unclear(["要取消哪个商品？"], [], offer, found.address)
    return Parsed("cancel", items=merge(found.items))


def _open_groupbuy(rest: str, offer: Offer) -> Parsed:
    products = {t.product.sku: t.product for t in lex(rest, offer) if t.product}
    if len(products) != 1:
        name = strip_noise(rest)
        return _unclear([f"没有找到“{name}”"], [name], offer, "")
    return Parsed("open_groupbuy", items=tuple(Item(sku, None) for sku in products))


def _unclear(problems: list[str], unknown: list[str], offer: Offer, address: str) -> Parsed:
    suggestions = tuple(dict.fromkeys(p.name for name in unknown for p in offer.closest(name)))
    reason = "；".join(dict.fromkeys(problems))
    return Parsed("unclear", reason=reason[:200], suggestions=suggestions[:5], address=address)


def _reply_part(text: str) -> str:
    """A quoted reply is 「name：quoted」, a line of - - -, then the reply: keep the reply."""
    if "「" not in text:
        return text
    separator = _QUOTE_SEPARATOR.search(text)
    return text[separator.end() :].strip() if separator else text

