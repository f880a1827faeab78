"""Properties of the parser, over many generated messages: noise around an order never changes
what it means; a 接龙's description block orders nothing, whatever products and numbers it
names; chat made of no order never orders."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.parsing import parse
from tests.scoring import load_cases, load_offer

CORPUS = Path(__file__).parent / "data" / "corpus"
OFFER = load_offer(CORPUS / "produce.toml")
ORDERS = [case["text"] for case in load_cases(CORPUS / "messages.jsonl")  # the orders and changes of items
          if case["catalog"] == "produce" and case["want"]["intent"] in ("order", "cancel", "modify", "change")
          and case["want"]["items"]]
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BEFORE = ["", "老板，", "团长好 ", "@团长 ", "@果蔬小铺\u2005", "亲 ", "早上好！", "您好，", "[玫瑰]", "🙏", "阳光花园 ",
          "3栋502 ", "电话13812345678 ", "「小周：蓝莓2盒」\n- - - - - - - - - - - - - - -\n",
          "「团长：明天8点截单」\n- - - - - - - - - - - - - - -\n", "在吗？", "麻烦一下，", "收到！\n"]
AFTER = ["", " 谢谢", "，谢谢团长🙏", " 麻烦了", " 5号楼2单元301", "，电话13912345678", " 😊", "～", "！", "，辛苦了",
         "\n8-2-1101", " 放门口就行", "。", " [抱拳]", "，明天下午送"]


@SETTINGS
@given(st.sampled_from(ORDERS), st.sampled_from(BEFORE), st.sampled_from(AFTER))
def test_noise_around_an_order_never_changes_what_it_means(text: str, before: str, after: str) -> None:
    plain, noisy = parse(text, OFFER), parse(before + text + after, OFFER)
    assert (noisy.intent, noisy.items) == (plain.intent, plain.items), (before + text + after, noisy.to_json())


NAMES = ["李姐", "小周", "Amy Li", "王丽华", "🌸Lily", "Tom", "陈阿姨", "老何", "Sissi-CC", "阿May", "小鱼儿🐟"]
PRODUCTS = [name for product in OFFER.products for name in product.names]
DATES = ["12.3号", "6.8号", "12月5日", "周四", "星期一", "明天", "3号"]
TIMES = ["晚8点截单", "截单时间：晚上8点", "17:30-18:30取", "下午3点到货", "11点前"]
PRICES = ["（30元）", "5.8元/斤", "¥19.9", "19.9元/盒", "4.5元一斤"]


@st.composite
def described_chain(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    """A 接龙 with a description block naming products, numbers, dates and prices, then
    entries (names, and sometimes a quantity)."""
    heading = [draw(st.sampled_from(DATES)) + draw(st.sampled_from(PRODUCTS)) + "团购" + draw(st.sampled_from(PRICES))]
    heading += draw(st.lists(st.sampled_from(TIMES + [f"自提点：{n}号楼门口" for n in range(1, 9)]), max_size=2))
    menu = [f"  {i}.{name} {draw(st.sampled_from(PRICES))}"
            for i, name in enumerate(draw(st.lists(st.sampled_from(PRODUCTS), max_size=4)), start=1)]
    example = draw(st.sampled_from(["", f"例 张三 {draw(st.sampled_from(PRODUCTS))}2斤 5栋302", "例：姓名+数量"]))
    entries = draw(st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(["", " 苹果2斤", " 蓝莓1盒", " 鲈鱼1条"])),
                            min_size=1, max_size=6))
    body = "\n".join(heading + menu + ([example] if example else []))
    lines = "\n".join(f"{i}. {name}{items}" for i, (name, items) in enumerate(entries, start=1))
    return f"#接龙\n{body}\n\n{lines}", entries


@SETTINGS
@given(described_chain())
def test_a_description_block_orders_nothing(chain: tuple[str, list[tuple[str, str]]]) -> None:
    text, entries = chain
    parsed = parse(text, OFFER)
    assert parsed.intent == "chain"
    assert [(line.seq, line.name) for line in parsed.lines] == [(i, name) for i, (name, _) in enumerate(entries, 1)]
    for line, (_, items) in zip(parsed.lines, entries):
        assert len(line.items) == (1 if items else 0), (text, line)  # a name alone orders nothing


CHAT = ["你好", "谢谢团长", "收到", "好的", "哈哈", "今天", "明天", "8号", "回来", "到时候再说", "几点送", "？", "！", "，",
        "3栋502", "13812345678", "5块一斤", "30元", "下午3点", "2个人", "我家", "孩子", "上班", "快递到了", "停电了",
        "昨天", "买了", "很好吃", "超市", "便宜", "大家", "转发一下", "[图片]", "😊", "🙏", "\n", " ", "10分钟", "5公里",
        "要是", "就好了", "谁", "要不要", "怎么", "这么贵", "我在6号门等", "第2单", "12月3日", "周六"]


@SETTINGS
@given(st.lists(st.sampled_from(CHAT), min_size=1, max_size=12))
def test_chat_that_holds_no_order_never_orders(words: list[str]) -> None:
    text = "".join(words)
    parsed = parse(text, OFFER)
    assert not parsed.changes_state, (text, parsed.to_json())


def test_the_quick_reading_of_simple_clauses_is_the_general_one() -> None:
    """items._simple reads the common clause directly; wherever it does, the general reading
    (_bind, _assign_ops) must come to the same products, quantities and operations."""
    from handlers.parsing import items
    from handlers.parsing.lexer import lex
    from handlers.parsing.reading import clauses_of, resolve_numbers
    from bot.core.text import fold
    from tests.scoring import load_offer as offer_of

    checked = 0
    for folder in ("corpus", "blind", "blind2", "blind3", "blind4"):
        for path in (Path(__file__).parent / "data" / folder).glob("*.jsonl"):
            for case in load_cases(path):
                catalog = case.get("catalog", "catalog")
                offer = offer_of(Path(__file__).parent / "data" / folder / f"{catalog}.toml")
                for clause in clauses_of(resolve_numbers(lex(fold(case["text"]), offer)), offer):
                    atoms = items.atoms_of(clause.tokens, items.Extraction())
                    simple = items._simple(atoms)
                    if simple is None:
                        continue
                    general = items._bind(atoms)
                    items._assign_ops(atoms, general[0])
                    def view(found):  # noqa: E306
                        return [(m.token.text, m.qty, m.op, m.governed, m.op_word) for m in found[0]], found[1]
                    assert view(simple) == view(general), case["text"]
                    checked += 1
    assert checked > 300


def test_trying_only_the_kinds_a_character_can_start_finds_the_same_tokens() -> None:
    """lexer.Lexicon tries at each place only the kinds of token that can start with its
    character; the one long pattern, tried everywhere, must find the same tokens."""
    from handlers.parsing.lexer import lex, lexicon_of
    from bot.core.text import fold
    from tests.scoring import load_offer as offer_of

    checked = 0
    for folder in ("corpus", "blind", "blind2", "blind3", "blind4"):
        for path in (Path(__file__).parent / "data" / folder).glob("*.jsonl"):
            for case in load_cases(path):
                offer = offer_of(Path(__file__).parent / "data" / folder / f"{case.get('catalog', 'catalog')}.toml")
                text = fold(case["text"])
                quick = lex(text, offer)
                lexicon = lexicon_of(offer)
                starts, lexicon.starts = lexicon.starts, None  # the one long pattern everywhere
                try:
                    assert lex(text, offer) == quick, case["text"]
                finally:
                    lexicon.starts = starts
                checked += 1
    assert checked > 500


def test_an_offers_lexicon_lives_as_long_as_the_offer() -> None:
    """The lexer's index of an offer (and its 接龙 caches) is built once per offer and goes
    with it: a shop that reloads its catalog does not keep every old one."""
    import gc

    from handlers.parsing import lexer

    offer = load_offer(CORPUS / "produce.toml")
    assert lexer.lexicon_of(offer) is lexer.lexicon_of(offer)
    other = load_offer(CORPUS / "produce.toml")
    assert lexer.lexicon_of(other) is not lexer.lexicon_of(offer)
    assert parse("西红柿2斤", other) == parse("西红柿2斤", offer)
    held = len(lexer._LEXICONS)
    del other
    gc.collect()
    assert len(lexer._LEXICONS) == held - 1 and id(offer) in lexer._LEXICONS
