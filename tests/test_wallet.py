"""Stored value (储值), docs/CONTRACTS.md section 7: staff top-ups with the tier bonus and the
cap, refunds of principal only, a second staff member's /确认 over confirm_over, members' 余额
answered privately, a ledger that sums to the balances and books nothing twice."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from bot.harness import Harness
from handlers.wallet import amount_of
from models.tables import Member, StaffRequest, WalletEntry
from models.wallet import check
from tests.conftest import MORNING, ROOM_A, STAFF, make_config, start_harness

OTHER_STAFF = "wxid_clerk"


@pytest.fixture
async def shop(tmp_path: Path, db_url: str) -> Harness:
    config = make_config(tmp_path, db_url, shop={"staff": [STAFF, OTHER_STAFF]})
    h = await start_harness(config, MORNING)
    await h.say("西红柿1斤", sender="li", name="李阿姨")  # known members
    await h.say("土豆1斤", sender="zhou", name="小周")
    try:
        yield h
    finally:
        await h.bot.close()


async def staff_says(h: Harness, text: str, sender: str = STAFF, room: str | None = None,
                     mentions: tuple[str, ...] = ()) -> list[str]:
    """Staff's command (privately unless `room`); what staff were told by it."""
    before = len(h.texts(to=sender))
    msg = h.transport.incoming(text, sender, sender, room, mentions=mentions)
    await h.bot.handle(msg)
    await h.flush()
    return h.texts(to=sender)[before:]


async def balance(member: str) -> Decimal:
    m = await Member.get(id=member)
    return m.wallet_principal + m.wallet_bonus


def test_amounts_are_read_as_yuan_with_two_decimals_at_most() -> None:
    assert amount_of("200") == Decimal(200) and amount_of("¥199.5") == Decimal("199.5")
    assert amount_of("200元") == Decimal(200) and amount_of("50块") == Decimal(50)
    for junk in ("-5", "1e5", "0.001", "两百", "200元钱", "", "999999999999"):
        assert amount_of(junk) is None, junk


async def test_a_top_up_of_a_tier_adds_its_bonus_and_the_member_gets_a_private_receipt(shop: Harness) -> None:
    told = await staff_says(shop, "/充值 李阿姨 200")
    assert "已给李阿姨充值¥200.00（赠送¥20.00），余额 ¥220.00" in told[-1]
    assert await balance("li") == Decimal("220.00")
    receipts = shop.texts(to="li")
    assert receipts == ["【储值到账】¥200.00，赠送¥20.00，当前余额 ¥220.00。"]
    await staff_says(shop, "/充值 li 150")  # not a tier: no bonus
    assert await balance("li") == Decimal("370.00")
    entries = await WalletEntry.filter(member_id="li").order_by("id")
    assert [(e.principal, e.bonus, e.balance, e.actor) for e in entries] == [
        (Decimal("200.00"), Decimal("20.00"), Decimal("220.00"), STAFF),
        (Decimal("150.00"), Decimal("0.00"), Decimal("370.00"), STAFF)]
    assert await check() == []


async def test_amounts_never_go_into_a_group(shop: Harness) -> None:
    await staff_says(shop, "/充值 @李阿姨 100", room=ROOM_A, mentions=("li",))
    await shop.say("余额", sender="li")
    await shop.say("/余额 li", sender=STAFF)
    await shop.flush()
    in_group = [t for t in shop.texts(room=ROOM_A) if "¥100" in t or "余额：" in t]
    assert in_group == []
    assert any("已私信您" in t for t in shop.texts(room=ROOM_A))
    assert any("储值余额：¥100.00" in t for t in shop.texts(to="li"))
    assert any("储值余额：¥100.00" in t and "积分：可用0" in t and "优惠券：无" in t for t in shop.texts(to=STAFF))


async def test_a_member_asks_their_balance_and_sees_the_last_five_entries(shop: Harness) -> None:
    await shop.say("我的余额", sender="zhou", room=None)
    await shop.flush()
    assert "您还没有储值" in shop.texts(to="zhou")[-1]
    for amount in (100, 10, 20, 30, 40, 50):
        await staff_says(shop, f"/充值 zhou {amount}")
    await shop.say("余额", sender="zhou", room=None)
    await shop.flush()
    answer = shop.texts(to="zhou")[-1]
    assert answer.startswith("储值余额：¥250.00（本金¥250.00，赠送¥0.00）")
    assert answer.count("充值") == 5 and "+100.00" not in answer  # the last five


async def test_over_the_cap_and_bad_input_are_refused_with_nothing_booked(shop: Harness) -> None:
    await staff_says(shop, "/充值 li 500")  # 500 + 80 bonus
    told = await staff_says(shop, "/充值 li 4500", sender=STAFF)
    assert "已请其他店员确认" in told[-1]
    confirmed = await staff_says(shop, "/确认", sender=OTHER_STAFF)
    assert "超过上限¥5000.00" in confirmed[-1]
    for junk in ("/充值", "/充值 li", "/充值 li 两百", "/充值 li -5", "/充值 li 0", "/充值 nobody 10",
                 "/充值 li 0.001", "/退款 li 10", "/退款 li abc 搬家"):
        answers = await staff_says(shop, junk)
        assert answers and "已给" not in answers[-1], junk
    assert await balance("li") == Decimal("580.00")
    assert await WalletEntry.all().count() == 1


async def test_a_name_two_members_share_asks_which(shop: Harness) -> None:
    await shop.say("大白菜1斤", sender="li2", name="李阿姨")
    told = await staff_says(shop, "/充值 李阿姨 100")
    assert "有2位成员叫“李阿姨”" in told[-1] and "li" in told[-1] and "li2" in told[-1]
    assert await WalletEntry.all().count() == 0


async def test_a_refund_pays_principal_back_and_takes_the_bonus_that_came_with_it(shop: Harness) -> None:
    await staff_says(shop, "/充值 li 200")
    told = await staff_says(shop, "/退款 li 100 搬家了")
    assert "已给李阿姨退款¥100.00（收回赠送¥10.00），余额 ¥110.00" in told[-1]
    assert "退回本金¥100.00（搬家了）" in shop.texts(to="li")[-1]
    told = await staff_says(shop, "/退款 li 150 再退")
    assert "可退的本金只有¥100.00" in told[-1]
    await staff_says(shop, "/退款 li 100 全退")
    assert await balance("li") == Decimal("0.00")
    assert await check() == []


async def test_a_big_top_up_waits_for_another_staff_members_confirmation(shop: Harness) -> None:
    told = await staff_says(shop, "/充值 zhou 1000")
    assert "已请其他店员确认" in told[-1]
    assert await balance("zhou") == 0
    request = await StaffRequest.get()
    assert any(f"/确认 {request.id}" in t for t in shop.texts(to=OTHER_STAFF))
    assert "不能自己确认" in (await staff_says(shop, f"/确认 {request.id}"))[-1]
    assert "已给小周充值¥1000.00" in (await staff_says(shop, f"/确认 {request.id}", sender=OTHER_STAFF))[-1]
    assert "没有在等确认" in (await staff_says(shop, f"/确认 {request.id}", sender=OTHER_STAFF))[-1]
    assert await balance("zhou") == Decimal("1000.00")
    entry = await WalletEntry.get(member_id="zhou")
    assert entry.source == f"request:{request.id}" and entry.actor == STAFF


async def test_with_one_staff_member_a_big_top_up_is_not_done(tmp_path: Path, db_url: str) -> None:
    h = await start_harness(make_config(tmp_path, db_url), MORNING)
    try:
        await h.say("西红柿1斤", sender="li", name="李阿姨")
        told = await staff_says(h, "/充值 li 800")
        assert "只有一位店员" in told[-1] and await WalletEntry.all().count() == 0
    finally:
        await h.bot.close()


async def test_a_redelivered_top_up_books_once(shop: Harness) -> None:
    msg = shop.transport.incoming("/充值 li 100", STAFF, STAFF, None)
    await asyncio.gather(shop.bot.handle(msg), shop.bot.handle(msg))
    await shop.bot.handle(msg)
    await shop.flush()
    assert await WalletEntry.all().count() == 1 and await balance("li") == Decimal("100.00")
    assert len(shop.texts(to="li")) == 1


async def test_only_staff_book_money(shop: Harness) -> None:
    await shop.say("/充值 zhou 100", sender="li", room=None)
    await shop.flush()
    assert "只有店员可以用" in shop.texts(to="li")[-1]
    assert await WalletEntry.all().count() == 0


async def test_concurrent_top_ups_of_one_member_lose_nothing(pg_url: str, tmp_path: Path) -> None:
    """On PostgreSQL, two bots booking top-ups of one member at once: every one counts."""
    from tests.test_faults import _second_bot

    h = await start_harness(make_config(tmp_path, pg_url, shop={"staff": [STAFF, OTHER_STAFF]}), MORNING)
    try:
        await h.say("西红柿1斤", sender="li", name="李阿姨")
        other, _ = await _second_bot(h)
        # Two staff members (each one's own row is locked by their own message), one member.
        msgs = [h.transport.incoming(f"/充值 li {10 + i}", who, who, None)
                for i, who in zip(range(20), [STAFF, OTHER_STAFF] * 10)]
        await asyncio.gather(*(bot.handle(m) for m, bot in zip(msgs, [h.bot, other] * 10)))
        assert await balance("li") == Decimal(sum(10 + i for i in range(20)))
        assert await WalletEntry.all().count() == 20 and await check() == []
    finally:
        await h.bot.close()


async def test_replay_writes_the_wallet_and_each_members_balance(tmp_path: Path, db_url: str) -> None:
    import json

    from bot.replay import replay

    config = make_config(tmp_path, db_url, shop={"staff": [STAFF, OTHER_STAFF]})
    events = tmp_path / "events.jsonl"
    lines = [
        {"at": "2026-12-01T09:00:00+08:00", "room": ROOM_A, "from": "li", "name": "李阿姨", "text": "西红柿1斤"},
        {"at": "2026-12-01T09:01:00+08:00", "from": STAFF, "name": "店长", "text": "/充值 李阿姨 200", "id": "t1"},
        {"at": "2026-12-01T09:01:00+08:00", "from": STAFF, "name": "店长", "text": "/充值 李阿姨 200", "id": "t1"},
        {"at": "2026-12-01T09:02:00+08:00", "from": STAFF, "name": "店长", "text": "/退款 li 50 多充了", "id": "r1"},
        {"at": "2026-12-01T09:03:00+08:00", "room": ROOM_A, "from": "li", "name": "李阿姨", "text": "余额"},
    ]
    events.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in lines) + "\n", encoding="utf-8")
    state = await replay(config, events, tmp_path / "out")
    assert [(e["member"], e["delta"], e["balance"], e["source"]) for e in state["wallet"]] == [
        ("li", 220, 220, "msg:t1"), ("li", -55, 165, "msg:r1")]
    assert {m["id"]: m["balance"] for m in state["members"]}["li"] == 165
    transcript = (tmp_path / "out" / "transcript.jsonl").read_text(encoding="utf-8")
    group = [json.loads(line) for line in transcript.splitlines() if json.loads(line)["room"] == ROOM_A]
    assert not [t for t in group if "¥165" in t["text"] or "¥220" in t["text"]]


async def test_a_newcomer_whose_first_message_asks_her_balance_is_answered(shop: Harness) -> None:
    # Her member row is made by this very message and holds the field's default (an int, 0).
    await shop.say("余额", sender="newcomer")
    await shop.flush()
    assert not any("出了点问题" in t for t in shop.texts(room=ROOM_A) + shop.texts(to="newcomer"))
    assert any("储值余额：¥0.00" in t or "还没有储值" in t for t in shop.texts(to="newcomer"))
