"""Messages queued together are handled as one batch (bot.app, models.orderbook) and end up
exactly where handling them one at a time would: orders, stock, points, replies."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from dataclasses import MISSING, field, make_dataclass
from dataclasses import fields as dataclass_fields
from typing import Any

import pytest
from tortoise.models import Model

from models.bookrows import (
    CONTACT_INSERT, CONTACT_KEY, CONTACT_UPDATE, INBOUND_INSERT, LINE_KEY, MEMBER_DETAILS, MEMBER_UPDATE, ORDER_KEY,
    OUTBOX_INSERT, BookContact, BookLine, BookMember, BookOrder,
)
from models.tables import (
    InboundMessage, Member, MemberContact, Order, OrderLine, OutboxMessage, PointEntry, StockDay,
)
from tests.conftest import (
    MORNING, ROOM_A, ROOM_B, Harness, _postgres_database, _sqlite_template, make_config, start_harness,
)
from tests.test_stock import CATALOG

# (message id, sender, room, text): keyword orders the book takes, and in between messages it
# does not (a 接龙, 我的订单, cancelling everything, an invited member's order), which make it
# write what it holds and read again.
CONVERSATION = [
    ("m1", "a", ROOM_A, "西红柿2斤"),
    ("m2", "b", ROOM_A, "草莓2盒"),
    ("m3", "a", ROOM_A, "西红柿改成5斤"),
    ("m4", "c", ROOM_B, "草莓3盒"),  # the last of the stock: sold out, every group told
    ("m5", "d", ROOM_A, "草莓1盒"),  # nothing left
    ("m6", "a", ROOM_A, "取消西红柿"),  # a line made and removed in the same batch
    ("m7", "e", ROOM_A, "谢谢团长"),
    ("m8", "b", ROOM_A, "我的订单"),  # must see b's strawberries
    ("m9", "b", ROOM_A, "草莓改成1盒"),  # one given back
    ("m10", "d", ROOM_A, "草莓1盒"),  # and taken
    ("m11", "e", ROOM_A, "西红柿1斤 3栋201"),  # with an address
    ("m11", "e", ROOM_A, "西红柿1斤 3栋201"),  # re-delivered in the same batch: once
    ("m12", "f", ROOM_A, "西红柿3斤"),  # invited by a: the reward goes the per-message way
    ("m13", "a", ROOM_A, "西红柿1斤"),
    ("m14", "b", ROOM_A, "取消订单"),
    ("m15", "g", ROOM_A, "#接龙\n今日水果\n\n1. g 西红柿2斤"),
    ("m16", "g", ROOM_A, "西红柿1斤"),
    ("m17", "c", ROOM_B, "西红柿2斤"),
    ("m18", "c", ROOM_B, "草莓1盒"),  # sold out
    ("m19", "e", ROOM_B, "我住5栋101"),  # her other community's door
    ("m20", "a", ROOM_A, "13812345678"),  # a phone alone
    ("m21", "e", ROOM_A, "3栋202"),  # moved: the address written in this batch, changed in it
]


@pytest.fixture
async def other_db_url(db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A second database of the same kind (tortoise has one open at a time: used in turn)."""
    if db_url.startswith("sqlite://"):
        path = tmp_path / "other.sqlite3"
        shutil.copyfile(await _sqlite_template(request.config), path)
        yield f"sqlite://{path}"
        return
    async for url in _postgres_database():
        yield url


async def run(folder: Path, url: str, batched: bool) -> tuple[list[bool], dict[str, Any], list[int]]:
    """The conversation, one message at a time or all queued at once; what each returned, what
    it left, and the sizes of the batches it was handled in."""
    folder.mkdir()
    (folder / "catalog.toml").write_text(CATALOG, encoding="utf-8")
    h = await start_harness(make_config(folder, url, catalog={"file": "catalog.toml"}), MORNING)
    sizes: list[int] = []
    handle_batch = h.bot.writer._handle_batch

    async def counted(msgs: list[Any], *args: Any) -> list[bool]:
        sizes.append(len(msgs))
        return await handle_batch(msgs, *args)

    h.bot.writer._handle_batch = counted  # type: ignore[method-assign]
    try:
        await h.bot.member_joined(ROOM_A, "a", "a", None, MORNING)
        await h.bot.member_joined(ROOM_A, "f", "f", "a", MORNING)  # f was invited by a
        if batched:
            results = list(await asyncio.gather(*(say(h, *message) for message in CONVERSATION)))
        else:
            results = [await say(h, *message) for message in CONVERSATION]
        return results, await state(h), sizes
    finally:
        await h.bot.close()


async def say(h: Harness, message_id: str, sender: str, room: str, text: str) -> bool:
    return await h.say(text, sender=sender, room=room, message_id=message_id)


async def state(h: Harness) -> dict[str, Any]:
    """Everything the conversation changed, without ids or times."""
    orders = []
    for order in await Order.all().order_by("id").prefetch_related("lines", "community"):
        lines = sorted((line.sku, str(line.qty), line.status, line.note) for line in order.lines)
        orders.append((order.member_id, order.community.room, order.status, lines))  # type: ignore[attr-defined]
    points = dict(await Member.all().values_list("id", "points"))
    ledger: dict[tuple[str, str], int] = {}
    for member, source, delta in await PointEntry.all().values_list("member_id", "source", "delta"):
        ledger[(member, source)] = ledger.get((member, source), 0) + delta
    await h.flush()
    return {
        "orders": orders, "points": points, "ledger": ledger,
        "stock": await StockDay.all().values_list("sku", "taken", "sold_out_announced"),
        "contacts": sorted(await MemberContact.all().values_list("member_id", "community__room", "address", "phone")),
        "inbound": sorted(await InboundMessage.all().values_list("message_id", "intent")),
        "texts": h.texts(ROOM_A) + h.texts(ROOM_B),
    }


async def test_a_batch_ends_where_one_at_a_time_does(tmp_path: Path, db_url: str, other_db_url: str) -> None:
    alone, expected, sizes = await run(tmp_path / "one", db_url, batched=False)
    assert sizes == [1] * len(CONVERSATION)
    together, got, sizes = await run(tmp_path / "batch", other_db_url, batched=True)
    assert sizes == [len(CONVERSATION)]  # really one batch

    assert together == alone
    assert alone.count(False) == 1  # the re-delivered copy
    assert got == expected
    # and the story itself: the strawberries sold out once, b cancelled; points wait for delivery
    assert sum("草莓今天已售完" in text for text in got["texts"]) == 2  # told in both groups, once
    assert got["ledger"] == {}
    assert got["contacts"] == sorted([("a", ROOM_A, "", "13812345678"), ("e", ROOM_A, "3栋202", ""),
                                      ("e", ROOM_B, "5栋101", "")])


async def test_a_new_members_first_messages_in_one_batch(harness: Harness) -> None:
    results = await asyncio.gather(*(harness.say(f"西红柿{i}斤", sender="new", message_id=f"n{i}")
                                     for i in range(1, 4)))
    assert results == [True, True, True]
    assert (await Member.get(id="new")).points == 0
    assert await harness.bot.services.rewards.pending("new") == 27  # 6斤 x 4.5, once delivered
    order = await Order.get(member_id="new").prefetch_related("lines")
    assert [str(line.qty) for line in order.lines] == ["6.000"]


async def test_many_new_orders_in_one_batch(harness: Harness) -> None:
    """Enough rows that PostgreSQL gets them by COPY (ids from the sequence) and SQLite by a
    multi-row INSERT ... RETURNING: every line belongs to its own member's order."""
    results = await asyncio.gather(*(harness.say(f"西红柿{i % 5 + 1}斤", sender=f"w{i}", message_id=f"w{i}")
                                     for i in range(60)))
    assert all(results)
    orders = await Order.all().prefetch_related("lines")
    assert len(orders) == 60
    for order in orders:
        i = int(str(order.member_id)[1:])  # type: ignore[attr-defined]
        assert [(line.sku, line.qty) for line in order.lines] == [("V01", i % 5 + 1)]
    assert not await PointEntry.exists()  # pending until delivered


async def test_a_recall_while_a_batch_changes_the_same_order(harness: Harness) -> None:
    """A recall and a new message of the same member at once: one after the other (the bot's
    write lock), so the order ends as if they came in either order: 2 + 3 - 2 = 3."""
    assert await harness.say("西红柿2斤", sender="a", message_id="r1")
    await asyncio.gather(harness.say("西红柿3斤", sender="a", message_id="r2"),
                         harness.bot.recall("r1", MORNING))
    order = await Order.get(member_id="a").prefetch_related("lines")
    assert [(line.sku, line.qty) for line in order.lines] == [("V01", 3)]


async def test_closing_finishes_the_messages_already_queued(tmp_path: Path, db_url: str) -> None:
    h = await start_harness(make_config(tmp_path, db_url), MORNING)
    tasks = [asyncio.create_task(h.say(f"西红柿{i}斤", sender=f"q{i}", message_id=f"q{i}")) for i in range(1, 4)]
    await asyncio.sleep(0)  # they are queued, not yet written
    await h.bot.close()
    assert [task.result() for task in tasks] == [True, True, True]


@pytest.mark.batch_rollback
async def test_a_parser_fault_is_answered_and_loses_nothing_else(harness: Harness,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import handlers.filters

    real = handlers.filters.parse

    def fragile(text: str, offer: Any) -> Any:
        if "土豆" in text:
            raise RuntimeError("parser bug")
        return real(text, offer)

    monkeypatch.setattr(handlers.filters, "parse", fragile)
    results = await asyncio.gather(harness.say("西红柿2斤", sender="a", message_id="p1"),
                                   harness.say("土豆2斤", sender="b", message_id="p2"))
    assert results == [True, False]
    assert await Order.filter(member_id="a").count() == 1
    await harness.flush()
    assert any("出了点问题" in text for text in harness.texts())


_REQUIRED = object()  # a column or a row field with no default


def _columns_of(model: type[Model]) -> dict[str, Any]:
    """A tortoise model's columns (a foreign key as its `*_id`) and each one's default
    (None for a nullable column without one)."""
    meta = model._meta
    defaults = {}
    for name in meta.fields_db_projection:
        field = meta.fields_map[name]
        default = field.default() if callable(field.default) else field.default
        defaults[name] = _REQUIRED if default is None and not field.null and not field.generated else default
    return defaults


def _row_defaults(row: type) -> dict[str, Any]:
    return {f.name: (f.default_factory() if f.default_factory is not MISSING else
                     _REQUIRED if f.default is MISSING else f.default) for f in dataclass_fields(row)}


def _differences(row: type, model: type[Model], generated: tuple[str, ...] = (),
                 filled: tuple[str, ...] = ()) -> dict[str, Any]:
    """Where the row type and the table disagree: a column one has and the other lacks, a
    default the row gives that is not the table's (`filled`: None in the row until the book
    knows it, before the row is written)."""
    columns = {name: default for name, default in _columns_of(model).items() if name not in generated}
    values = {name: _REQUIRED if name in filled else value for name, value in _row_defaults(row).items()}
    differences: dict[str, Any] = {name: "only in the table" for name in columns.keys() - values.keys()}
    differences |= {name: "only in the row" for name in values.keys() - columns.keys()}
    for name in columns.keys() & values.keys():
        if values[name] is not _REQUIRED and values[name] != columns[name]:
            differences[name] = (values[name], columns[name])
    return differences


@pytest.mark.parametrize(("row", "model", "generated", "filled"), [
    (BookMember, Member, (), ()),
    (BookOrder, Order, (), ()),
    (BookContact, MemberContact, (), ()),
    # Lines are written by their key (order, sku), once their order has its id.
    (BookLine, OrderLine, ("id",), ("order_id",)),
])
async def test_the_books_rows_are_the_tables_columns(harness: Harness, row: type, model: type[Model],
                                                     generated: tuple[str, ...], filled: tuple[str, ...]) -> None:
    assert _differences(row, model, generated, filled) == {}


async def test_a_row_that_drifts_from_its_table_is_caught(harness: Harness) -> None:
    """The check itself: a member row missing a column, with a wrong default, and one extra."""
    kept = [(f.name, f.type, field(default=f.default) if f.default is not MISSING else field())
            for f in dataclass_fields(BookMember) if f.name != "ask"]
    kept = [(name, kind, field(default="-") if name == "referred_via" else spec) for name, kind, spec in kept]
    Drifted = make_dataclass("Drifted", [*kept, ("nickname", str, field(default=""))])

    assert _differences(Drifted, Member) == {
        "ask": "only in the table", "nickname": "only in the row", "referred_via": ("-", ""),
    }


@pytest.mark.parametrize(("insert", "model"), [
    (INBOUND_INSERT, InboundMessage), (OUTBOX_INSERT, OutboxMessage),
])
async def test_the_books_inserts_name_every_column(harness: Harness, insert: tuple[str, ...],
                                                   model: type[Model]) -> None:
    assert set(insert) == set(_columns_of(model)) - {"id"}
    assert len(insert) == len(set(insert))
    assert set(MEMBER_UPDATE + MEMBER_DETAILS) <= set(_columns_of(Member))
    assert set(ORDER_KEY) <= set(_columns_of(Order)) and set(LINE_KEY) <= set(_columns_of(OrderLine))
    assert set(CONTACT_INSERT) == set(_columns_of(MemberContact)) - {"id"}
    assert set(CONTACT_UPDATE + CONTACT_KEY) <= set(CONTACT_INSERT)


async def test_a_message_another_process_stored_meanwhile_gets_no_apology(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes handed the same private message: the other one stores it between this
    batch's look for known ids and this message's own insert. This one says nothing (the
    other confirms), rather than 抱歉…请稍后再发一次 beside the real confirmation."""
    import bot.writer
    from models.tables import Community

    class Elsewhere:  # the other process commits the message while this batch starts
        @staticmethod
        async def all() -> list[Community]:
            await InboundMessage.create(message_id="dm-1", room=None, sender="a", text="我的订单",
                                        received_at=MORNING, intent="on_query")
            return await Community.all()

    monkeypatch.setattr(bot.writer, "Community", Elsewhere)
    assert await harness.say("我的订单", sender="a", room=None, message_id="dm-1") is False
    await harness.flush()
    assert harness.texts(to="a") == []
    assert await InboundMessage.filter(message_id="dm-1").count() == 1


async def test_questions_about_products_stay_in_the_batch_and_are_noted_once_a_day(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A product question (4 in 100 messages of an evening) once left the batch, and each one
    made the book read everything again: half the pipeline's speed. It is the book's now."""
    from models.orderbook import OrderBook
    from models.tables import ProductAsk

    await harness.say("草莓甜吗", sender="q1", message_id="before")  # stored before the batch
    forgotten = []
    real = OrderBook.forget

    def counted(self: OrderBook) -> None:
        forgotten.append(1)
        real(self)

    monkeypatch.setattr(OrderBook, "forget", counted)
    texts = ["西红柿2斤", "草莓甜吗", "五花肉多少钱一斤", "草莓甜吗？", "土豆3斤", "草莓还有吗"]
    results = await asyncio.gather(*(harness.say(t, sender=f"q{i % 3}", message_id=f"b{i}")
                                     for i, t in enumerate(texts)))
    assert all(results)
    assert len(forgotten) == 1  # the one new book of the batch, never read again
    asks = sorted(await ProductAsk.all().values_list("member_id", "sku"))
    assert asks == [("q0", "F01"), ("q1", "F01"), ("q2", "F01"), ("q2", "M01")]  # q1 asked twice: one a day
    await harness.flush()
    assert any("黑猪五花肉" in t and "/斤" in t for t in harness.texts(ROOM_A))  # the price, answered
