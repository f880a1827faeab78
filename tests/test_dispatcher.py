"""The dispatcher: filters parse, handlers act, arguments arrive by name, first match wins."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.core.dispatcher import Dispatcher, Router
from bot.core.messages import Incoming
from handlers.filters import Command, Intent, is_staff
from handlers.parsing.requests import REQUESTS
from handlers.routers import ROUTERS

from tests.conftest import make_config


def incoming(text: str, sender: str = "u1") -> Incoming:
    return Incoming("m1", sender, "名字", text, datetime(2026, 12, 1, 9, tzinfo=ZoneInfo("Asia/Shanghai")), "r1")


async def test_a_filter_dict_arrives_as_handler_arguments_and_services_by_name() -> None:
    router = Router("test")
    calls: list[tuple] = []

    def shout(msg: Incoming, context: object) -> dict[str, str]:
        return {"loud": msg.text.upper()}

    @router.message(shout)
    async def handler(loud: str, greeting: str, msg: Incoming) -> str:
        calls.append((loud, greeting, msg.text))
        return "done"

    dispatcher = Dispatcher([router], greeting="你好")
    assert await dispatcher.feed(incoming("abc")) == "done"
    assert calls == [("ABC", "你好", "abc")]


async def test_the_first_handler_whose_filters_all_pass_wins() -> None:
    first, second = Router("first"), Router("second")
    seen: list[str] = []

    @first.message(lambda msg, ctx: msg.text == "a", lambda msg, ctx: False)
    async def never() -> None:
        seen.append("never")

    @first.message(lambda msg, ctx: msg.text == "a")
    async def a() -> None:
        seen.append("a")

    @second.message(lambda msg, ctx: True)
    async def anything() -> None:
        seen.append("anything")

    dispatcher = Dispatcher([first, second])
    await dispatcher.feed(incoming("a"))
    await dispatcher.feed(incoming("b"))
    assert seen == ["a", "anything"]


async def test_nothing_matches_nothing_happens() -> None:
    assert await Dispatcher([Router("empty")]).feed(incoming("hello")) is None


async def test_a_handler_asking_for_an_unknown_service_is_a_clear_error() -> None:
    router = Router("test")

    @router.message()
    async def wants(database_handle: object) -> None: ...

    with pytest.raises(TypeError, match="asks for unknown database_handle"):
        await Dispatcher([router]).feed(incoming("x"))


async def test_intent_filter_parses_once_and_passes_parsed(tmp_path) -> None:
    from models.catalog import load_catalog

    config = make_config(tmp_path, "sqlite://:memory:")
    offer, _ = load_catalog(config.catalog_path)
    router = Router("orders")
    got: list = []

    @router.message(Intent("order"))
    async def on_order(parsed: object) -> None:
        got.append(parsed)

    dispatcher = Dispatcher([router], offer=offer, config=config)
    await dispatcher.feed(incoming("西红柿2斤"))
    await dispatcher.feed(incoming("谢谢"))
    await dispatcher.feed(incoming("/西红柿2斤"))  # a command is never an order
    assert [p.to_json() for p in got] == [{"intent": "order", "items": [{"sku": "V01", "qty": 2}]}]


async def test_commands_and_staff_filters(tmp_path) -> None:
    config = make_config(tmp_path, "sqlite://:memory:")
    router = Router("staff")
    got: list = []

    @router.message(Command("截单"), is_staff)
    async def close(args: str, msg: Incoming) -> None:
        got.append((msg.sender_id, args))

    dispatcher = Dispatcher([router], config=config)
    await dispatcher.feed(incoming("/截单 现在", sender="wxid_owner"))
    await dispatcher.feed(incoming("/截单", sender="stranger"))
    await dispatcher.feed(incoming("/截单了", sender="wxid_owner"))
    assert got == [("wxid_owner", "现在")]


def test_help_is_the_first_line_of_the_docstring() -> None:
    from handlers.routers import ROUTERS

    dispatcher = Dispatcher(ROUTERS)
    helps = {f.name: h.help for h in dispatcher.handlers for f in h.filters if isinstance(f, Command)}
    assert helps["截单"] == "立即截单：今天不再接单，各群发汇总"
    assert all(helps.values())


def test_both_transports_satisfy_the_transport_interface() -> None:
    from bot.core.clock import VirtualClock
    from bot.transports import Transport
    from bot.transports.memory import MemoryTransport
    from bot.web import WebChat

    clock = VirtualClock(datetime(2026, 12, 1, 9, tzinfo=ZoneInfo("Asia/Shanghai")))
    transports: list[Transport] = [MemoryTransport(clock), WebChat(clock)]
    assert all(callable(t.send) for t in transports)


def test_every_whole_message_request_has_a_handler() -> None:
    """A row of the parser's request table (handlers.parsing.requests) that no handler takes
    would be a word the bot reads and never answers."""
    taken = {intent for router in ROUTERS for handler in router.handlers for f in handler.filters
             if isinstance(f, Intent) for intent in f.intents}
    assert [r.intent for r in REQUESTS if r.intent not in taken] == []
    assert len({r.intent for r in REQUESTS}) == len(REQUESTS)
