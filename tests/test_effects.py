"""A message's effect is a frozen value, kept as JSON on its inbound record: what was stored
before it was a value reads back, and writes back, as the same JSON."""

from __future__ import annotations

from datetime import date

import pytest

from bot.core.effects import Effect

STORED = [  # shapes the handlers have written to `inbound_message.effect`
    {"changes": [["V01", "0", "2"], ["V02", "3", "0"]], "delivery_date": "2026-12-02", "room": "r1"},
    {"changes": [], "delivery_date": "2026-12-02", "room": "r1"},  # only short of stock
    {"changes": [["V01", "1", "2"]], "delivery_date": "2026-12-02", "room": "r1",
     "chain": {"title": "今日蔬菜", "before": [], "after": [{"seq": 3, "owner": "u1", "text": "西红柿2斤"}]}},
    {"delivery_date": "2026-12-02", "orders": [4, 5], "changes": [["V01", "0", "1"]], "room": "r1"},
    {"ask": {"proposal": [["V01", "2", "add"]]}},
    {"groupbuy": 3},
    {"groupbuy": 3, "orders": [7], "delivery_date": "2026-12-03"},
    {"changes": [["V01", "0", "2"]], "delivery_date": "2026-12-02", "room": "r1", "undone": True},
]


@pytest.mark.parametrize("stored", STORED)
def test_what_was_stored_reads_back_as_the_same_json(stored: dict) -> None:
    effect = Effect.from_json(stored)
    assert effect is not None
    assert effect.to_json() == stored


def test_only_changed_orders_make_a_workbook_due() -> None:
    day = date(2026, 12, 2)
    assert Effect(changes=(("V01", "0", "2"),), delivery_date=day).workbook_due == day
    assert Effect(orders=(1,), delivery_date=day).workbook_due == day
    assert Effect(changes=(), delivery_date=day).workbook_due is None
    assert Effect(groupbuy=3).workbook_due is None
    assert Effect.from_json(None) is None and Effect.from_json({}) is None


def test_a_recall_marks_the_effect_undone_and_keeps_the_rest() -> None:
    effect = Effect.from_json(STORED[0])
    assert effect is not None
    assert effect.recalled().to_json() == {**STORED[0], "undone": True}
