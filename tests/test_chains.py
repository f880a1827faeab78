"""接龙: each version changes only what it changed, for the member who sent it."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from handlers.parsing import parse
from handlers.parsing.chains import UNKNOWN, diff_chain
from models.orders import member_orders
from models.tables import OrderLine
from tests.conftest import ROOM_A, Harness
from tests.test_parse import OFFER

HEAD = "#接龙\n周二蔬菜团\n\n"


def chain(*lines: str) -> str:
    return HEAD + "\n".join(f"{i}. {line}" for i, line in enumerate(lines, start=1))


def lines_of(text: str):
    parsed = parse(text, OFFER)
    assert parsed.intent == "chain"
    return parsed.lines


# -- the pure diff ---------------------------------------------------------------------------


def test_first_version_belongs_to_the_sender_by_name_or_last_line() -> None:
    diff = diff_chain(None, lines_of(chain("老王 土豆1斤", "陈哥 五花肉2斤")), "u3", "陈哥")
    assert diff.deltas() == {"M01": Decimal(2)}
    assert [line.owner for line in diff.state] == [UNKNOWN, "u3"]
    diff = diff_chain(None, lines_of(chain("老王 土豆1斤", "小陈 五花肉2斤")), "u3", "陈哥")
    assert diff.deltas() == {"M01": Decimal(2)}  # no line under the sender's name: the last one


def test_an_appended_line_is_the_senders_and_copied_lines_change_nothing() -> None:
    first = diff_chain(None, lines_of(chain("陈哥 五花肉2斤")), "u3", "陈哥")
    second = diff_chain(first.state, lines_of(chain("陈哥 五花肉2斤", "阿明 豆腐3块")), "u4", "阿明")
    assert second.deltas() == {"T01": Decimal(3)}
    assert [(line.owner, line.text) for line in second.state] == [("u3", "陈哥 五花肉2斤"), ("u4", "阿明 豆腐3块")]


def test_an_own_edit_changes_the_senders_order_by_the_difference() -> None:
    state = diff_chain(None, lines_of(chain("陈哥 五花肉2斤")), "u3", "陈哥").state
    state = diff_chain(state, lines_of(chain("陈哥 五花肉2斤", "阿明 豆腐3块")), "u4", "阿明").state
    edit = diff_chain(state, lines_of(chain("陈哥 五花肉1斤 豆腐1块", "阿明 豆腐3块")), "u3", "陈哥")
    assert edit.deltas() == {"M01": Decimal(-1), "T01": Decimal(1)}
    assert len(edit.edited) == 1 and not edit.added


def test_deleting_an_own_line_cancels_it_and_renumbering_is_not_a_change() -> None:
    state = diff_chain(None, lines_of(chain("陈哥 五花肉2斤")), "u3", "陈哥").state
    state = diff_chain(state, lines_of(chain("陈哥 五花肉2斤", "阿明 豆腐3块")), "u4", "阿明").state
    delete = diff_chain(state, lines_of(chain("阿明 豆腐3块")), "u3", "陈哥")
    assert delete.deltas() == {"M01": Decimal(-2)}
    assert [line.text for line in delete.state] == ["阿明 豆腐3块"]


def test_a_copy_that_lacks_someone_elses_line_changes_nothing_for_them() -> None:
    # 阿明 and 小周 both copied version 1 at the same time and each appended a line.
    state = diff_chain(None, lines_of(chain("陈哥 五花肉2斤")), "u3", "陈哥").state
    state = diff_chain(state, lines_of(chain("陈哥 五花肉2斤", "阿明 豆腐3块")), "u4", "阿明").state
    zhou = diff_chain(state, lines_of(chain("陈哥 五花肉2斤", "小周 草莓1盒")), "u2", "小周")
    assert zhou.deltas() == {"F01": Decimal(1)}
    assert {line.owner for line in zhou.state} == {"u3", "u4", "u2"}  # 阿明's line is kept


def test_changing_someone_elses_line_is_not_an_order_of_theirs_or_mine() -> None:
    state = diff_chain(None, lines_of(chain("陈哥 五花肉2斤")), "u3", "陈哥").state
    meddle = diff_chain(state, lines_of(chain("陈哥 五花肉9斤", "阿明 豆腐1块")), "u4", "阿明")
    assert meddle.deltas() == {"T01": Decimal(1)}
    assert [line.text for line in meddle.others_changed] == ["陈哥 五花肉2斤"]
    assert "陈哥 五花肉2斤" in [line.text for line in meddle.state]


def test_a_line_for_someone_else_is_the_senders_with_the_name_as_a_note() -> None:
    state = diff_chain(None, lines_of(chain("陈哥 五花肉2斤")), "u3", "陈哥").state
    proxy = diff_chain(state, lines_of(chain("陈哥 五花肉2斤", "张奶奶 白菜2颗")), "u4", "阿明")
    assert proxy.deltas() == {"V03": Decimal(2)}
    assert proxy.notes("阿明") == ["张奶奶"]
    assert proxy.state[-1].owner == "u4"


def test_an_unreadable_edit_keeps_the_old_order() -> None:
    state = diff_chain(None, lines_of(chain("陈哥 五花肉2斤")), "u3", "陈哥").state
    diff = diff_chain(state, lines_of(chain("陈哥 黄瓜几根")), "u3", "陈哥")
    assert diff.deltas() == {} and len(diff.unreadable) == 1
    assert diff.state[0].items == state[0].items


def test_a_500_line_chain_diff_finds_the_one_new_line() -> None:
    lines = [f"住户{i} 西红柿{i % 5 + 1}斤" for i in range(499)]
    state = diff_chain(None, lines_of(chain(*lines)), "u0", "住户0").state
    diff = diff_chain(state, lines_of(chain(*lines, "新邻居 土豆2斤")), "u9", "新邻居")
    assert diff.deltas() == {"V02": Decimal(2)} and len(diff.state) == 500


# -- through the bot -------------------------------------------------------------------------


async def order_of(member: str) -> dict[str, Decimal]:
    return {l.sku: l.qty for o in await member_orders(member) for l in o.lines}


async def test_chain_versions_through_the_bot(harness: Harness) -> None:
    await harness.say(chain("陈哥 五花肉2斤"), sender="u3", name="陈哥")
    await harness.say(chain("陈哥 五花肉2斤", "阿明 豆腐3块"), sender="u4", name="阿明")
    await harness.say(chain("陈哥 五花肉2斤", "阿明 豆腐3块", "阿明妈 白菜1颗"), sender="u4", name="阿明")
    await harness.say(chain("陈哥 五花肉1斤", "阿明 豆腐3块", "阿明妈 白菜1颗"), sender="u3", name="陈哥")
    await harness.say(chain("陈哥 五花肉1斤", "阿明妈 白菜1颗"), sender="u4", name="阿明")
    assert await order_of("u3") == {"M01": Decimal(1)}
    assert await order_of("u4") == {"V03": Decimal(1)}
    assert (await OrderLine.get(sku="V03")).note == "代接:阿明妈"
    await harness.flush()
    texts = harness.texts(room=ROOM_A)
    joined = "\n".join(texts)
    assert "✅ 已减少：黑猪五花肉 2→1斤" in joined and "✅ 已取消：卤水豆腐 3块" in joined
    assert "代接：阿明妈" in joined


async def test_copies_of_a_chain_get_no_reply(harness: Harness) -> None:
    await harness.say(chain("陈哥 五花肉2斤"), sender="u3", name="陈哥")
    await harness.flush()
    await harness.say(chain("陈哥 五花肉2斤"), sender="u4", name="阿明")  # a plain re-post
    await harness.flush()
    assert len(harness.texts()) == 1
    assert await order_of("u4") == {}


async def test_chain_versions_in_one_group_are_handled_in_arrival_order(harness: Harness) -> None:
    versions = [chain(*[f"住户{j} 土豆1斤" for j in range(i + 1)]) for i in range(8)]
    # All arrive at once: each must see the one before it, or lines would be counted twice.
    await asyncio.gather(*(harness.say(v, sender=f"r{i}", name=f"住户{i}", message_id=f"v{i}")
                           for i, v in enumerate(versions)))
    for i in range(8):
        assert await order_of(f"r{i}") == {"V02": Decimal(1)}
