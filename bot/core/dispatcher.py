"""Routers, filters and the dispatcher (the shape of aiogram's, made small).

A filter looks at the message and returns False (not mine) or a dict of what it parsed; the
dict arrives as handler arguments. A handler asks for what it needs by parameter name:
`async def on_order(msg, parsed, reply, clock)`. The first handler whose filters all pass
handles the message; its docstring is its help text. Its flags (as aiogram's) say how the
writer may run it (bot.writer): BOOK or READS; without either, in a transaction of its own.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.core.messages import Incoming


class Filter(Protocol):
    def __call__(self, msg: Incoming, context: Context) -> bool | Mapping[str, Any]: ...


@dataclass
class Context:
    """Per-message scratch space filters share (e.g. one parse per message), plus services."""

    services: Mapping[str, Any]
    cache: dict[str, Any] = field(default_factory=dict)

    def once(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


Callback = Callable[..., Awaitable[Any]]

# The order book of a batch may run it (models.orderbook): it reads and writes through the
# `orders`, `member` and `reply` it is given and nothing else.
BOOK = "book"
# It only reads what is stored of the sender (orders, points) and replies: the book writes
# what it holds for the sender first, then runs it.
READS = "reads"


@dataclass(frozen=True)
class Handler:
    callback: Callback
    filters: tuple[Filter, ...]
    router: str
    flags: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def help(self) -> str:
        return inspect.cleandoc(self.callback.__doc__ or "").split("\n")[0]

    def match(self, msg: Incoming, context: Context) -> dict[str, Any] | None:
        found: dict[str, Any] = {}
        for check in self.filters:
            result = check(msg, context)
            if result is False or result is None:
                return None
            if isinstance(result, Mapping):
                found.update(result)
        return found

    async def call(self, available: Mapping[str, Any]) -> Any:
        parameters = _parameters(self.callback)
        missing = [p for p in parameters if p not in available]
        if missing:
            raise TypeError(f"{self.callback.__qualname__} asks for unknown {', '.join(missing)}")
        return await self.callback(**{p: available[p] for p in parameters})


@functools.cache
def _parameters(callback: Callback) -> tuple[str, ...]:
    return tuple(inspect.signature(callback).parameters)


class Router:
    """The handlers of one concern (orders, staff commands, ...), in the order they are tried."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.handlers: list[Handler] = []

    def message(self, *filters: Filter, flags: Mapping[str, Any] | None = None) -> Callable[[Callback], Callback]:
        def register(callback: Callback) -> Callback:
            self.handlers.append(Handler(callback, filters, self.name, dict(flags or {})))
            return callback

        return register


class Dispatcher:
    def __init__(self, routers: list[Router], **services: Any) -> None:
        self.routers = routers
        self.services = services

    @property
    def handlers(self) -> list[Handler]:
        return [h for router in self.routers for h in router.handlers]

    def route(self, msg: Incoming, **extra: Any) -> tuple[Handler, dict[str, Any]] | None:
        """The first handler for `msg` and the arguments its filters parsed."""
        context = Context({**self.services, **extra})
        for handler in self.handlers:
            found = handler.match(msg, context)
            if found is not None:
                return handler, found
        return None

    async def call(self, handler: Handler, msg: Incoming, found: Mapping[str, Any], **extra: Any) -> Any:
        """Run `handler` with what it asks for: services, `extra`, the message, what its filters
        parsed, and this dispatcher."""
        return await handler.call({**self.services, **extra, "msg": msg, **found, "dispatcher": self})

    async def feed(self, msg: Incoming, **extra: Any) -> Any:
        routed = self.route(msg, **extra)
        if routed is None:
            return None
        handler, found = routed
        return await self.call(handler, msg, found, **extra)
