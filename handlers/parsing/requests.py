"""Short messages that are one request as a whole: 我的订单, 帮助, 今天有什么, 邀请码, 积分, 余额, 对,
不对, a referral code, 参团 3, 开团 草莓. Matched as a whole (after courtesy around them), with
one pattern for them all, made from the table REQUESTS (pattern -> intent)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from handlers.parsing.asking import unclear
from handlers.parsing.firsts import first_chars
from handlers.parsing.items import Problem
from handlers.parsing.lexer import PRODUCT, lex, strip_noise
from models.catalog import Offer
from bot.core.text import number as numeral, valid_birthday
from handlers.parsing.results import Item, Parsed

_POLITE_HEAD = re.compile(r"^(?:请问|麻烦|帮我|帮忙|请|你好|您好|老板|团长|亲)+")
# Courtesy around a whole request ("我的订单，谢谢", "我不要了 谢谢团长"): said, not meant.
_COURTESY = re.compile(r"(?:谢谢团长|谢谢老板|谢谢你|谢谢|谢啦|谢了|多谢|麻烦了|麻烦你了|辛苦了|辛苦|不好意思|抱歉)+$|"
                       r"^(?:团长|老板|老板娘|亲|你好|您好|早上好|在吗)+")
_QUERY = re.compile(
    r"^(?:我的|我|查|查询|查下|查一下|查查|看看|看下|看一下|我想看看?|想看|帮我)*(?:订单|单子)(?:呢|查询|记录|详情)?$|"
    r"^(?:查询|查看|查一下|查下)?(?:我的)?订单$|^订单(?:查询|呢)$|"
    r"^(?:看看|看下|查查?|查一下|帮我看看|帮我查查?|帮我查一下)?我?(?:今天|明天)?(?:都|一共)?"
    r"(?:订|买|要|定|拍|下单)了?(?:些)?(?:什么|啥|哪些|几样|多少|什么东西|啥东西)(?:东西|菜)?(?:呀|啊|呢|来着)?$|"
    r"^(?:查查?|查一下|看看|看下|帮我查查?|帮我看看)?我(?:订|买|定)的(?:东西|菜)?(?:呢|有哪些|是?啥|是?什么|是?哪些)?$|^我的单$"
)
_HELP = re.compile(
    r"^/?(?:帮助|help|菜单帮助|使用说明|说明书?|怎么用|怎么下单|如何下单|怎样下单|怎么订|怎么订购|怎么买|怎么点单|"
    r"如何订购|如何购买|下单方法|不会下单|教我下单|怎么接龙|怎么参团|怎么操作)(?:呀|啊|呢|吗)?$"
)
_OFFER = re.compile(r"^(?:今天|明天)?(?:有什么|有啥|卖什么|卖啥|都有什么|都有啥)(?:菜|东西|货|卖)?(?:呀|啊|呢)?$|"
                    r"^(?:今天的?|今日)?(?:菜单|价目表|商品列表|价格表)$")
# The shop's own times, asked: 几点送？ 几点截单？ 还能下单吗？ (answered from the config).
_DELIVERY_TIME = re.compile(
    r"^(?:今天|明天|今日|明日)?(?:大概|一般)?(?:几点|什么时候|啥时候|几时|何时|什么时间)(?:能|可以|会|开始)?"
    r"(?:送|送货|配送|到|到货|送到|送过来|送来|来送|能到|取货|自提)(?:呀|啊|呢|吗|了|哈)?$|"
    r"^(?:今天|明天)?(?:送货|配送|到货|取货|自提)(?:时间|几点|的时间)(?:是)?(?:几点|什么时候|多少)?(?:呀|啊|呢)?$")
_CUTOFF_TIME = re.compile(
    r"^(?:今天|今日)?(?:几点|什么时候|啥时候|几时|什么时间)(?:截单|截止|截团|截止下单|停止下单|结束下单|关单)(?:呀|啊|呢|了|哈)?$|"
    r"^(?:今天|今日)?(?:截单|截止|截团)(?:时间)?(?:是)?(?:几点|什么时候|多少)(?:呀|啊|呢)?$|"
    r"^(?:现在|今天)?(?:还能|还可以|能|可以)(?:下单|订|订货|接龙|买|报名)(?:吗|不|么|嘛|了吗)$")
_TIMES = re.compile(f"(?P<delivery>{_DELIVERY_TIME.pattern})|(?P<cutoff>{_CUTOFF_TIME.pattern})")
# "有没有西瓜": whether the shop sells something today, named or not (the reader looks it up).
# Not 有没有人/谁/什么...: those ask something else.
_HAVE = re.compile(r"^(?:请问)?(?:今天|明天|现在|还)?(?:有没有|有木有|有没)(?P<name>[\u4e00-\u9fff]{1,6}?)(?:卖|呀|啊|呢)?$|"
                   r"^(?:请问)?(?:今天|明天|现在|还)?有(?P<other>[\u4e00-\u9fff]{1,6}?)(?:卖)?(?:吗|么|嘛)$")
_NOT_GOODS = re.compile(r"^(?:人|谁|什么|啥|哪|别的|其他|其它|优惠|活动|红包|券|问题|事|空|时间|货|团|拼|群|链接|新的?)")
_JOIN = re.compile(r"^(?:我要)?参团(?:#|第|号)?(?P<number>\d{1,6})?(?:号|团)?$")
_OPEN = re.compile(r"^(?:我要)?开团(?P<product>.+)$")
_INVITE = re.compile(r"^(?:我的|我要|给我|发我|查看?)?(?:邀请码?|邀请链接|推荐码|邀请好友|拉新)$")
# A referral code (models.referrals: six of 2-9 and A-Z without I, L, O), alone or after 邀请码.
_CODE = re.compile(r"^(?:邀请码|推荐码)?(?P<code>[2-9a-hjkmnp-z]{6})$")  # folded: lower case
_REWARDS = re.compile(r"^(?:查看?|看看|看下)?(?:积分)?(?:兑换|换购)(?:列表|目录|商城|什么|啥|有哪些|有什么|规则)?$|"
                      r"^(?:积分商城|积分礼品|积分换礼|积分礼物)$|"
                      r"^(?:我的)?积分(?:能|可以)?(?:换|兑|兑换|换购)(?:点)?(?:什么|啥|哪些|东西|礼品)(?:呀|啊|呢|吗)?$")
_NUMERALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_REDEEM = re.compile(r"^(?:我要|我想|帮我|给我)?(?:积分)?(?:兑换|换购|兑)(?:第|#|no\.?)?"
                     r"(?P<reward>\d{1,3}|[一二两三四五六七八九十])(?:号|项|个|号礼品)?$")
# 退订 alone is the campaign opt-out (docs/CONTRACTS.md section 7); 退订西红柿 still cancels.
_UNSUBSCRIBE = re.compile(r"^(?:我要)?(?:退订|取消订阅|退订活动|退订推送|退订消息|不要推送|别推送了?|不要再发活动了?|td)$")
_SUBSCRIBE = re.compile(r"^(?:我要)?(?:订阅|重新订阅|恢复订阅|继续订阅|订阅活动|恢复推送)$")
_POINTS = re.compile(r"^(?:我的|查|查询|看看|看下)?积分(?:查询|多少|余额|呢)?$")
_BALANCE = re.compile(r"^(?:我的|我|查|查询|查下|查一下|看看|看下)*(?:储值余额|储值卡?|余额|钱包)(?:还有)?(?:多少|几多|查询|呢)?(?:钱)?$")
_COUPONS = re.compile(r"^(?:我的|我|查|查询|查下|查一下|看看|看下|我有)*(?:优惠券|优惠卷|券|代金券)(?:呢|有哪些|有几张|还有吗|查询)?$")
_LEVEL = re.compile(r"^(?:我的|我|查|查询|查下|查一下|看看|看下)*(?:会员)?(?:等级|级别|会员卡|会员级别)"
                    r"(?:是?什么|是?啥|是?多少|是?几级|呢|查询)?$|^我是(?:什么|啥|几级)会员$|^怎么升级会?员?$")
_DAY_NUMBER = r"\d{1,2}|[一二两三四五六七八九十]{1,3}"
_BIRTHDAY = re.compile(rf"^(?:我的|我)?生日(?:是|在|设为|设置为|设置|登记)?(?:(?P<month>{_DAY_NUMBER})(?:月份?|[-./])"
                       rf"(?P<day>{_DAY_NUMBER})(?:日|号)?|(?P<digits>\d{{2,4}}))?(?:呢|是哪天|是几号|哦|哈)?$")
_CONFIRM = re.compile(r"^(?:对|对的|对对|对啊|是|是的|是滴|嗯|嗯嗯|好|好的|好滴|好嘞|行|可以|确认|没错|没问题|要的|"
                      r"ok|okay|yes|y|👌|👍)+(?:的|呀|啊|呢|吧|了|哈|哦)?$")
_DENY = re.compile(r"^(?:不对|不是|不用|不用了|错了|不了|算了|不对不对|不是的|no|n)(?:的|呀|啊|吧|了|哈|哦)?$")


def courteous(compact: str) -> str:
    """The request without the thanks, greetings and emoji around it."""
    core = compact
    while True:
        stripped = _COURTESY.sub("", _SYMBOLS.sub("", core))
        if stripped == core:
            return core or compact
        core = stripped


_SYMBOLS = re.compile(r"^[^\w#]+|[^\w#]+$")  # emoji and marks around it


@dataclass(frozen=True)
class Request:
    """One kind of whole-message request: its intent, the pattern the whole message matches,
    and how the match becomes a result (by default the intent alone). Its named groups are
    what the reader gets, by their own names."""
    intent: str
    pattern: re.Pattern[str]
    read: Callable[[dict[str, str | None], Offer], Parsed | None] | None = None


def _use_code(groups: dict[str, str | None], offer: Offer) -> Parsed | None:
    code = groups["code"] or ""
    return Parsed("use_code", code=code.upper()) if _is_code(code) else None


def _redeem(groups: dict[str, str | None], offer: Offer) -> Parsed | None:
    number = groups["reward"] or ""
    reward = int(number) if number.isdigit() else _NUMERALS.get(number, 0)
    return Parsed("redeem", reward=reward) if reward > 0 else None


def _split_digits(digits: str) -> str:
    """"1225" -> "12-25", "53" and "503" -> "05-03"; "?" when no split is a day, or two are ("123")."""
    readings = {found for cut in (1, 2) if 1 <= len(digits) - cut <= 2
                and (found := valid_birthday(int(digits[:cut]), int(digits[cut:]))) is not None}
    return readings.pop() if len(readings) == 1 else "?"


def _birthday(groups: dict[str, str | None], offer: Offer) -> Parsed:
    """生日 5月3日: the day as "MM-DD"; "" when none is given (or no such day: the handler asks)."""
    month, day, digits = groups["month"], groups["day"], groups["digits"]
    if digits:  # "12.25", "5-3" lose their marks before this
        return Parsed("set_birthday", birthday=_split_digits(digits))
    if not month or not day:
        return Parsed("set_birthday")
    m, d = numeral(month), numeral(day)
    found = valid_birthday(int(m), int(d)) if m is not None and d is not None and m == int(m) and d == int(d) else None
    return Parsed("set_birthday", birthday=found or "?")


def _have(groups: dict[str, str | None], offer: Offer) -> Parsed | None:
    """有没有西瓜 / 有草莓吗: ask_product about "have", with the product if the offer has it,
    else with the name it does not have."""
    name = (groups["name"] or groups["other"] or "").strip()
    if not name or _NOT_GOODS.match(name):
        return None
    products = {t.product.sku for t in lex(name, offer) if t.product and t.kind == PRODUCT}
    if len(products) == 1:
        return Parsed("ask_product", items=(Item(products.pop(), None),), about="have")
    if products:
        return None
    return Parsed("ask_product", unknown=(name,), about="have")


def _join_groupbuy(groups: dict[str, str | None], offer: Offer) -> Parsed:
    number = groups["number"]
    return Parsed("join_groupbuy", groupbuy=int(number) if number else None)


def _open_groupbuy(groups: dict[str, str | None], offer: Offer) -> Parsed:
    rest = groups["product"] or ""
    products = {t.product.sku: t.product for t in lex(rest, offer) if t.product and t.kind == PRODUCT}
    if len(products) != 1:
        name = strip_noise(rest)
        return unclear([Problem(f"没有找到“{name}”，要开哪个商品的团？", unknown=name)], offer, "", "", ())
    return Parsed("open_groupbuy", items=tuple(Item(sku, None) for sku in products))


# A new member word is one row here (and its handler, which says which intent it takes).
# Tried in this order; the first that matches the whole message wins.
REQUESTS = (
    Request("query_orders", _QUERY),
    Request("help", _HELP),
    Request("query_offer", _OFFER),
    Request("query_time", _TIMES, lambda groups, offer: Parsed("query_time", about="cutoff" if groups["cutoff"] else "delivery")),
    Request("ask_product", _HAVE, _have),
    Request("invite", _INVITE),
    Request("unsubscribe", _UNSUBSCRIBE),
    Request("subscribe", _SUBSCRIBE),
    Request("list_rewards", _REWARDS),
    Request("redeem", _REDEEM, _redeem),
    Request("query_points", _POINTS),
    Request("query_balance", _BALANCE),
    Request("query_coupons", _COUPONS),
    Request("query_level", _LEVEL),
    Request("set_birthday", _BIRTHDAY, _birthday),
    Request("confirm", _CONFIRM),
    Request("deny", _DENY),
    Request("use_code", _CODE, _use_code),
    Request("join_groupbuy", _JOIN, _join_groupbuy),
    Request("open_groupbuy", _OPEN, _open_groupbuy),
)
# One pattern for them all (each alternative anchored, groups renamed): one match per message.
_GROUP = re.compile(r"[(][?]P<(\w+)>")


def _renamed(intent: str, pattern: re.Pattern[str]) -> str:
    """The pattern with its groups named after the intent, so that all can be one pattern."""
    return _GROUP.sub(lambda group: f"(?P<{intent}_{group.group(1)}>", pattern.pattern)


_WHOLE = re.compile("|".join(f"(?P<{r.intent}>(?:{_renamed(r.intent, r.pattern)}))" for r in REQUESTS))
WHOLE_MAX = 30  # longer messages are never one of these requests
# What such a request can start with (after courtesy, 请问/麻烦, emoji and marks): most orders
# ("西红柿2斤") cannot be one, and are not matched against them.
_WHOLE_FIRST = frozenset().union(*(first_chars(p) or set() for p in (_WHOLE, _COURTESY, _POLITE_HEAD)))


def may_be_whole(folded: str) -> bool:
    if len(folded) > 3 * WHOLE_MAX:
        return False
    start = next((char for char in folded if char.isalnum()), "")
    return not start or start in _WHOLE_FIRST or not start.isalpha()


def whole_message(compact: str, offer: Offer, trace: list[str] | None) -> Parsed | None:
    """Short messages that are one request as a whole: 我的订单, 帮助, 对, 参团 3, 开团 草莓 ..."""
    compact = courteous(compact)
    bare = _POLITE_HEAD.sub("", compact) or compact
    match = _WHOLE.match(bare) or (_WHOLE.match(compact) if bare != compact else None)
    if match is None:
        return None
    request = next(r for r in REQUESTS if match.group(r.intent) is not None)
    if trace is not None:
        trace.append(f"整句是“{compact[:20]}”：{request.intent}")
    if request.read is None:
        return Parsed(request.intent)
    prefix = request.intent + "_"
    groups = {name[len(prefix):]: text for name, text in match.groupdict().items() if name.startswith(prefix)}
    return request.read(groups, offer)


def _is_code(text: str) -> bool:
    return any(c.isdigit() for c in text) and any(c.isalpha() for c in text)
