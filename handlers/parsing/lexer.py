"""Folded chat text -> tokens (products, quantities, order words, and the noise around them),
against one offer.

The lexer only says what each piece of text is; `items.py` decides which quantity belongs to
which product and what the member wants done with it, `reading.py` what the message means.
Noise gets kinds of its own so that it can never be read as an order: a phone number is not a
quantity, `8号` before `回来` is a date, `5块一斤` is a price, `2个人` a head count, and words
like 回来, 要是, 订单 are not the order words 来, 要, 订 they contain.
"""

from __future__ import annotations

import re
import weakref
from decimal import Decimal
from functools import cached_property
from typing import Any, NamedTuple

from bot.core.text import CHINESE_NUMERAL_CHARS, fold, number
from handlers.parsing.firsts import first_chars
from handlers.parsing.quantities import UNITS
from models.catalog import Offer, Product

# Kinds of token.
PRODUCT = "product"
NUMBER_REF = "number_ref"  # "3号": a product number, or a date next to time words (see below)
BAD_NUMBER = "bad_number"  # "12号" asked for when there is no 12号
QTY = "qty"
RANGE = "range"  # "1-2斤", "两三斤": which one?
VAGUE = "vague"  # "几斤", "一些"
MARK = "mark"  # x * × + before a quantity
MINUS = "minus"  # "西红柿-1"
COLON = "colon"
EACH = "each"  # 各, 每样
WANT = "want"
CANCEL = "cancel"
SET = "set"  # 改成, 换成, 只要
CLAIM = "claim"  # 跟一个, 帮排, 算我一个: "the same for me"
ADDRESS = "address"
PHONE = "phone"
DATE = "date"
TIME = "time"
PRICE = "price"
PEOPLE = "people"  # 2个人, 5口人, 3个小孩
EMOJI = "emoji"  # WeChat's [玫瑰], [图片]
STOP = "stop"  # words holding an order word's characters that are not order words
JOIN = "join"  # 和, 还有
SEP = "sep"  # spaces, 、 and other marks inside a clause
BREAK = "break"  # ，。；！？ and new lines: the end of a clause
OTHER = "other"

NOISE_KINDS = frozenset({ADDRESS, PHONE, DATE, TIME, PRICE, PEOPLE, EMOJI})

_CN = CHINESE_NUMERAL_CHARS
_CN_DIGITS = "一二三四五六七八九十"
_NUM = rf"\d*\.\d+|\d+|[{_CN}]+|半"
_UNIT = "|".join(sorted({re.escape(u) for u in UNITS}, key=len, reverse=True))
_WEEKDAY = "[一二三四五六日天1-7]"

_PHONE = r"(?<![\d.])(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)|尾号\s*\d{3,4}"
_DATE = (
    r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*[日号]?"
    rf"|(?:\d{{1,2}}|[{_CN_DIGITS}]+)\s*月\s*(?:\d{{1,2}}|[{_CN_DIGITS}]+)\s*[日号]?|\d{{1,2}}\s*月份?"
    r"|(?<![\d.])\d{1,2}\s*[./]\s*\d{1,2}\s*[号日]"
    rf"|(?<![\d.])\d{{1,2}}[./]\d{{1,2}}(?=\s*(?:周|星期|礼拜))"
    rf"|(?:下|上|这|本)(?:周|星期|礼拜){_WEEKDAY}?|(?:周|星期|礼拜){_WEEKDAY}"
    r"|大后天|今天|明天|后天|昨天|前天|今晚|明晚|今早|明早|今日|明日|昨日|当天|那天|每天|天天"
    r"|\d{4}\s*年|(?<![\d.])\d{1,2}\s*日(?!用)"
)
_CLOCK_TAIL = r"(?:半|\d{1,2}\s*分?|[一二三四五]刻|钟)?(?:\s*[-~至到]\s*\d{1,2}\s*点(?:半)?)?"
_TIME = (
    r"\d{1,2}\s*[:：]\s*\d{2}(?:\s*[-~至到]\s*\d{1,2}\s*[:：]\s*\d{2})?"
    rf"|(?:早上|上午|中午|下午|晚上|傍晚|凌晨|夜里|晚|早)\s*(?:\d{{1,2}}|[{_CN_DIGITS}两]+)\s*(?:点|时){_CLOCK_TAIL}"
    rf"|(?:\d{{1,2}}|十[一二]?|[二三四五六七八九两])\s*(?:点|时){_CLOCK_TAIL}"
    r"|一\s*点\s*(?:半|钟|\d{1,2}\s*分|[一二三四五]刻|前|后|以前|以后|之前|左右)"  # "一点" alone is "a bit"
    r"|早上|上午|中午|下午|晚上|傍晚|凌晨|夜里"
    rf"|(?:\d+|[{_CN}]+|半)\s*(?:个)?(?:天|周|星期|礼拜|月|年|小时|钟头|分钟|秒钟?)(?![装])"
)
_PRICE = (
    r"[¥￥]\s*\d+(?:\.\d+)?|\d+(?:\.\d+)?\s*(?:元|块钱|rmb|毛钱?|角钱?)(?:\s*/\s*(?:" + _UNIT + r"))?"
    r"|\d+(?:\.\d+)?\s*/\s*(?:" + _UNIT + r")"
    r"|\d+(?:\.\d+)?\s*块(?=\s*(?:一|每|/)\s*(?:" + _UNIT + r"))"
    r"|(?:一|每)\s*(?:" + _UNIT + r")\s*\d+(?:\.\d+)?\s*(?:元|块)"
    r"|\d+(?:\.\d+)?\s*(?:折|%)"
)
# WeChat writes its emoji as a name in brackets ("[玫瑰]", "[西瓜]", "[强]"), and media as
# "[图片]": never a product, whatever the offer holds.
_EMOJI = (r"\[(?:微笑|撇嘴|色|发呆|得意|流泪|害羞|闭嘴|睡|大哭|尴尬|发怒|调皮|呲牙|惊讶|难过|酷|冷汗|抓狂|吐|偷笑|"
          r"愉快|白眼|傲慢|饥饿|困|惊恐|流汗|憨笑|悠闲|奋斗|咒骂|疑问|嘘|晕|疯了|衰|骷髅|敲打|再见|擦汗|抠鼻|鼓掌|"
          r"糗大了|坏笑|左哼哼|右哼哼|哈欠|鄙视|委屈|快哭了|阴险|亲亲|吓|可怜|菜刀|西瓜|啤酒|篮球|乒乓|咖啡|饭|猪头|"
          r"玫瑰|凋谢|嘴唇|爱心|心碎|蛋糕|闪电|炸弹|刀|足球|瓢虫|便便|月亮|太阳|礼物|拥抱|强|弱|握手|胜利|抱拳|勾引|"
          r"拳头|差劲|爱你|no|ok|爱情|飞吻|跳跳|发抖|怄火|转圈|磕头|回头|跳绳|投降|激动|乱舞|献吻|左太极|右太极|嘿哈|"
          r"捂脸|奸笑|机智|皱眉|耶|吃瓜|加油|汗|天啊|emm|社会社会|旺柴|好的|打脸|哇|翻白眼|666|让我看看|叹气|苦涩|"
          r"裂开|红包|發|福|鞭炮|烟花|庆祝|合十|强壮|鬼魂|破涕为笑|笑脸|生病|脸红|恐惧|失望|无语|grin|smile|"
          r"图片|语音|视频|文件|链接|动画表情|表情|位置|名片|聊天记录|小程序|转账|红包)\]")
_PEOPLE = rf"(?:\d+|[{_CN}]+)\s*(?:个|位|口)?\s*(?:人|小孩|孩子|大人|老人|宝宝|娃|口子)"
_ADDRESS = (
    r"(?:[a-z]\s*)?\d+\s*(?:栋|幢|座|号楼|楼|期|区|号院|排|组|层)(?:\d+(?:单元|号|室|层|楼|门|户)?|\s*\d+\s*(?:单元|室|层|楼|门|户))*"
    rf"|[{_CN_DIGITS}]+\s*(?:栋|幢|号楼|单元|期)(?:\d+(?:单元|号|室|层|楼|门|户)?|\s*\d+\s*(?:单元|室|层|楼|门|户))*"
    r"|\d+(?:-\d+){2,}|\d+-\d{3,4}(?!\d)"
    r"|\d+\s*单元\s*\d*(?:室|号)?|\d{3,4}\s*(?:室|房|户)"
)
# "3号" is not a product when it is a building, a line, a door, a bed, a court ...
_NUMBER_REF = (rf"(?<![月\d.])(?:\d+|[{_CN_DIGITS}]+)\s*号"
               r"(?!楼|院|线|门|单元|店|码|床|场|桌|房|车|柜|窗|口|位|馆|厅|仓|站|台|机|间|选手|地铁)")
_RANGE = (rf"(?:\d+(?:\.\d+)?|[{_CN}]+)\s*[-~到至]\s*(?:\d+(?:\.\d+)?|[{_CN}]+)\s*(?:{_UNIT})?"
          r"|(?:两三|三四|四五|五六|六七|七八|八九|一两|三两)\s*(?:" + _UNIT + r")")
_VAGUE = rf"几\s*(?:{_UNIT})|若干"
_MARKS = rf"[x×*+✖](?=\s*(?:\d|[{_CN}]|半))"
_WORDS = {
    STOP: ("回来|起来|出来|过来|下来|上来|进来|原来|后来|本来|将来|未来|从来|看来|来自|来得及|来不及|来着|来过|"
           "来了|到来|带来|想来|要是|只要是|主要|重要|要求|要么|不要紧|要紧|要不然|加油|加班|加微信|加个微信|"
           "加好友|加群|参加|增加|加热|加工|买菜|买单|订单|留言|留意|拿到|拿货|确定|一定|肯定|决定|固定|"
           "定时|定位|拍照|拍个照|改天|改日|改变|减肥|不用谢|搞定|搞好|搞错|弄好|弄错|弄坏|求助|请求|整理|整个|整天|第(?:\\d+|[" + _CN + "]+)(?:个|次|天|期|批|单|名|条)?"),
    CLAIM: "同上|同楼上|楼上同款|同款|老规矩|按上次的?来?|照上次的?来?|和楼上一样|跟楼上一样|照旧|老样子|和上次一样|跟上次一样|我也要|我也来|也要|跟一个|跟一份|跟1个|跟1份|跟团|排一个|排一份|排(?=\\s*\\d)|帮我排|帮排|占一个|占个位|算我一个|加我一个",
    SET: "改成|改为|改到|改作|换成|换为|变成|调成|调整为|调整成|调为|修改为|修改成|减到|减为|减成|降到|降为|改|只要|一共要|一共|总共要|总共",
    CANCEL: ("取消|不要了|不要|不用了|不需要了|不需要|退掉|退订|退了|删掉|删除|删了|去掉|撤销|撤单|减掉|减去|减少|减|"
             "少要|少来|少拿|少订|少(?=\\s*(?:\\d|[一两二三四五六七八九十半]))|拿掉|划掉|算了|免了|别要了|别给我|先不要|暂时不要"),
    WANT: ("帮我留|帮忙留|给我留|帮留|帮我订|帮我拿|帮我要|再加|再来|再要|追加|多加|多要|多来|还要|也要|我要|"
           "要|来|加|换|买|预订|预定|订|定|拿|给我|需要|想要|拍|抢|下单|安排|留|帮我带|带|搞|弄|求|整"),
}
_JOIN = r"和|与|以及|及|还有|加上"
_BREAK = r"[\n,;!?。；]+|(?<=[吗呢嘛])\s+"  # a question ends its clause: "有豆腐吗 要2块"
_SEP = r"[\s.~/|()\[\]{}<>【】（）「」《》、“”‘’\"'…—_#^&=·•]+"


# Words around an order that say nothing about it (longest first where one holds another).
NOISE = (
    "老板娘", "老板", "团长", "群主", "店长", "谢谢", "谢了", "谢啦", "多谢", "感谢", "麻烦了", "麻烦",
    "拜托", "你好", "您好", "大家好", "早上好", "中午好", "下午好", "晚上好", "早安", "在吗", "在不在",
    "辛苦了", "辛苦", "亲们", "亲爱的", "亲", "哈哈", "嘿嘿", "嘻嘻", "呵呵", "请", "帮我", "帮忙", "我们",
    "我家", "咱家", "我", "给", "的", "了", "呀", "啊", "哦", "喔", "吧", "嗯", "哈", "啦", "嘞", "咯",
    "呗", "哟", "再", "还", "也", "都", "就", "先", "一下", "把", "送到", "送", "放", "那个", "这个",
    "好的", "好", "行", "一起", "电话", "手机号", "手机", "联系方式", "地址", "住在", "住", "收货人",
    "左右", "大概", "差不多", "大约", "约", "一点儿", "一点", "一些", "一丢丢", "少许", "多点", "点", "早",
)


def strip_noise(text: str) -> str:
    """The words left when greetings, thanks, politeness, emoji and symbols are taken out."""
    for word in NOISE:
        if word in text:
            text = text.replace(word, "")
    return "".join(char for char in text if char.isalpha())


class Token(NamedTuple):
    """A piece of folded text and what it is (a named tuple: a message makes many)."""

    kind: str
    text: str
    start: int
    product: Product | None = None
    qty: Decimal | None = None
    unit: str | None = None
    numeral: bool = False  # written in Chinese numerals
    part: bool = False  # a product named by a part of its name only ("珍珠" of 珍珠奶茶)

    @property
    def end(self) -> int:
        return self.start + len(self.text)


def token_parts(name_pattern: str) -> list[tuple[str, str]]:
    """Each kind of token and its pattern (`name_pattern`: the offer's product names), in the
    order they are tried at a place."""
    return [
        (EMOJI, _EMOJI),
        (PHONE, _PHONE),
        (DATE, _DATE),
        (PRICE, _PRICE),
        (TIME, _TIME),
        (ADDRESS, _ADDRESS),
        (PEOPLE, _PEOPLE),
        (NUMBER_REF, _NUMBER_REF),  # checked against the offer after matching
        (PRODUCT, name_pattern),
        (RANGE, _RANGE),
        (QTY, rf"(?P<liang>(?:\d+(?:\.\d+)?|[一二三四五六七八九十]+)\s*两(?!{_UNIT}))"
              rf"|(?P<n>{_NUM})(?:\s*(?P<u>{_UNIT}))?(?P<half>半)?"),
        (VAGUE, _VAGUE),
        (MARK, _MARKS),
        (MINUS, r"-(?=\s*\d)"),
        (COLON, r":"),
        (EACH, r"各|每样|每种"),
        *_WORDS.items(),
        (JOIN, _JOIN),
        (BREAK, _BREAK),
        (SEP, _SEP),
    ]


def _alternation(parts: list[tuple[str, str]]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in parts))


class Lexicon:
    """What the lexer knows of one offer: its product names (folded) and the token patterns
    with them, and what 接龙 lines were read as so far.

    Trying every kind of token at every place is slow (the pattern is long): each kind's
    possible first characters are worked out from its pattern (re._parser), text where no
    token can start is skipped in one scan, and at a place only the kinds that can start with
    its character are tried, in the same order: the same tokens as the one long pattern, found
    faster."""

    def __init__(self, offer: Offer) -> None:
        self.products = offer.products  # not the offer: the lexicon lives as long as it does
        by_name: dict[str, Product] = {}
        for product in offer.products:
            for name in product.names:
                by_name.setdefault(fold(name), product)
        self.by_name = by_name  # folded name or alias -> product
        # Longest names first, so that "黑猪五花肉" wins over "五花".
        names = sorted(by_name, key=len, reverse=True)
        self.name_pattern = re.compile("|".join(re.escape(n) for n in names) if names else r"(?!x)x")
        self.parts = token_parts(self.name_pattern.pattern)
        self.pattern = _alternation(self.parts)
        self.firsts = [first_chars(pattern) for _, pattern in self.parts]
        if any(first is None for first in self.firsts):  # some kind could start with anything
            self.starts: re.Pattern[str] | None = None
        else:
            chars = set().union(*(first for first in self.firsts if first is not None))
            self.starts = re.compile("[" + "".join(re.escape(char) for char in sorted(chars)) + "]")
        self.for_char: dict[str, re.Pattern[str]] = {}  # filled by `at`
        self._by_kinds: dict[tuple[int, ...], re.Pattern[str]] = {}
        self._chains: dict[str, dict[Any, Any]] = {}

    def at(self, char: str) -> re.Pattern[str]:
        """The pattern of the kinds of token that can start with `char`."""
        found = self.for_char.get(char)
        if found is None:
            kinds = tuple(i for i, first in enumerate(self.firsts) if first is None or char in first)
            found = self._by_kinds.get(kinds)
            if found is None:
                found = self._by_kinds[kinds] = _alternation([self.parts[i] for i in kinds])
            self.for_char[char] = found
        return found

    def by_number(self, number: int) -> Product | None:
        """The product listed `number`th in the offer (3号)."""
        return self.products[number - 1] if 1 <= number <= len(self.products) else None

    def by_part(self, text: str) -> Product | None:
        """The one product whose name or alias contains `text` (two characters at least)."""
        return self._name_parts.get(text) if len(text) >= 2 else None

    @cached_property
    def _name_parts(self) -> dict[str, Product]:
        """Every part (2+ characters) of a name or alias that belongs to one product only."""
        owners: dict[str, set[str]] = {}
        for product in self.products:
            for name in product.names:
                name = fold(name)
                for start in range(len(name)):
                    for end in range(start + 2, len(name) + 1):
                        owners.setdefault(name[start:end], set()).add(product.sku)
        by_sku = {product.sku: product for product in self.products}
        return {part: by_sku[next(iter(skus))] for part, skus in owners.items() if len(skus) == 1}

    def chain_cache(self, name: str) -> dict[Any, Any]:
        """What 接龙 lines were read as so far, by `name` (lines, entries, the items of an
        entry): every version repeats every earlier line word for word, so each is read once
        (bounded; see handlers.parsing.lists)."""
        return self._chains.setdefault(name, {})

    def forget_chains(self) -> None:
        """Forget every 接龙 line read (the benchmark's cold case)."""
        self._chains.clear()


# Each offer's lexicon, by the offer's id, for as long as the offer lives (as a cache held
# on the offer would): its entry is dropped as the offer is freed, before its id can be
# reused, so an entry found is always the offer's own.
_LEXICONS: dict[int, Lexicon] = {}


def lexicon_of(offer: Offer) -> Lexicon:
    """The offer's lexicon, built the first time the offer is read against."""
    lexicon = _LEXICONS.get(id(offer))
    if lexicon is None:
        lexicon = _LEXICONS[id(offer)] = Lexicon(offer)
        weakref.finalize(offer, _LEXICONS.pop, id(offer), None)
    return lexicon


def lex(text: str, offer: Offer) -> list[Token]:
    """Tokens of folded text (bot.core.text.fold)."""
    lexicon = lexicon_of(offer)
    starts, for_char = lexicon.starts, lexicon.for_char
    tokens: list[Token] = []
    position = other_start = 0
    while position < len(text):
        if starts is not None:  # skip, in one scan, what no token can start with
            candidate = starts.search(text, position)
            if candidate is None:
                break
            position = candidate.start()
            char = text[position]
            match = (for_char.get(char) or lexicon.at(char)).match(text, position)
        else:
            match = lexicon.pattern.match(text, position)
        if match is None or match.end() == position:
            position += 1
            continue
        start = match.start()
        if start > other_start:
            tokens.append(Token(OTHER, text[other_start:start], other_start))
        tokens.append(_token(match, lexicon, tokens))
        position = other_start = match.end()
    if other_start < len(text):
        tokens.append(Token(OTHER, text[other_start:], other_start))
    kinds = [token.kind for token in tokens]
    if STOP in kinds or kinds.count(OTHER) > 1:  # runs of other text become one
        tokens = _merge_others(tokens)
    if OTHER in kinds or STOP in kinds:
        tokens = _name_parts(tokens, lexicon)
    if "两" in text and QTY in kinds:
        tokens = _compound_weights(tokens)
    if ADDRESS in kinds:
        tokens = _address_rooms(tokens)
    return tokens


def _merge_others(tokens: list[Token]) -> list[Token]:
    merged: list[Token] = []
    for token in tokens:
        if token.kind in (OTHER, STOP) and merged and merged[-1].kind == OTHER:
            merged[-1] = Token(OTHER, merged[-1].text + token.text, merged[-1].start)
        elif token.kind == STOP:
            merged.append(Token(OTHER, token.text, token.start))
        else:
            merged.append(token)
    return merged


# Words that may stand around a product's name without being part of it.
_AROUND = re.compile(r"^(?:我|请|帮我|给我|还|再|的)+|(?:的|吧|呀|啊)+$")


# "团油", "拼虾": a verb glued before a one-character name does not make another word of it.
_VERB_BEFORE_NAME = ("团", "拼", "抢", "订", "买", "卖", "要", "的", "了", "和", "与", "有", "是", "送")


def _name_parts(tokens: list[Token], lexicon: Lexicon) -> list[Token]:
    """A run of other text that is part of exactly one product's name names that product
    ("有机" -> 有机青菜, "五常" -> 五常大米); a one-character name glued to a word before it is
    part of another word ("洋葱" is not 葱, "龙虾" not 虾)."""
    out: list[Token] = []
    for token in tokens:
        before = out[-1] if out else None
        if (token.kind == PRODUCT and len(token.text) == 1 and before is not None and before.kind == OTHER
                and before.end == token.start and strip_noise(before.text)
                and not before.text.endswith(_VERB_BEFORE_NAME)):
            out[-1] = Token(OTHER, before.text + token.text, before.start)
            continue
        if token.kind == OTHER:
            core = _AROUND.sub("", token.text.strip())
            product = lexicon.by_part(core) if 2 <= len(core) <= 8 else None
            if product is not None:
                token = Token(PRODUCT, token.text, token.start, product=product, part=True)
        out.append(token)
    return out


def _address_rooms(tokens: list[Token]) -> list[Token]:
    """"3栋 502": a room number after a building, set off by a space, is part of the address."""
    out: list[Token] = []
    for token in tokens:
        if (token.kind == QTY and token.unit is None and token.text.isdigit() and 3 <= len(token.text) <= 4
                and len(out) >= 2 and out[-1].kind == SEP and not out[-1].text.strip() and out[-2].kind == ADDRESS):
            space, address = out.pop(), out.pop()
            out.append(Token(ADDRESS, address.text + space.text + token.text, address.start))
            continue
        out.append(token)
    return out


def _compound_weights(tokens: list[Token]) -> list[Token]:
    """"1斤2两" is one weight: 1.2斤."""
    out: list[Token] = []
    for token in tokens:
        before = out[-1] if out else None
        if (token.kind == QTY and token.unit == "两" and before is not None and before.kind == QTY
                and before.unit == "斤" and before.end == token.start and token.qty is not None
                and before.qty is not None):
            out[-1] = Token(QTY, before.text + token.text, before.start,
                            qty=before.qty + token.qty / 10, unit="斤", numeral=before.numeral)
            continue
        out.append(token)
    return out


def _token(match: re.Match[str], lexicon: Lexicon, before: list[Token]) -> Token:
    # lastgroup names the innermost group that matched last: n, u and half are inside QTY.
    kind = match.lastgroup or OTHER
    if kind in ("n", "u", "half", "liang"):
        kind = QTY
    text, start = match.group(0), match.start()
    if kind == NUMBER_REF:
        value = number(text.rstrip("号").strip())
        product = lexicon.by_number(int(value)) if value is not None and value == int(value) else None
        return Token(NUMBER_REF, text, start, product=product, qty=value)
    if kind == PRODUCT:
        return Token(PRODUCT, text, start, lexicon.by_name.get(text))
    if kind == QTY and match.group("liang"):  # "二两": 0.2斤
        value = number(text[:-1].strip())
        if value is None:
            return Token(OTHER, text, start)
        return Token(QTY, text, start, qty=value, unit="两", numeral=not text[0].isdigit())
    if kind == QTY:
        written, unit, half = match.group("n"), match.group("u"), match.group("half")
        value = number(written)
        numeral = not written[0].isdigit() and written[0] != "."
        after = before[-1].kind if before else None
        standalone = written in ("俩", "仨")  # never anything but a count
        if value is None or (numeral and unit is None and half is None and after not in (MARK, EACH)
                             and not standalone):
            # 一 in 一起, 十 in 十分: Chinese numerals are quantities only with a unit (or 各一).
            return Token(OTHER, text, start)
        if unit == "两" and numeral and written == "两":
            return Token(OTHER, text, start)  # "两两" is no weight
        if half:
            value += Decimal("0.5")
        return Token(QTY, text, start, None, value, unit, numeral)
    return Token(kind, text, start)
