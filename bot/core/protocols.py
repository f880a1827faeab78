"""The small seams handlers, jobs and models type against, so that none of them needs the
running program: where messages are queued to be sent, how a message is answered, how a
workbook is written now."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Protocol

from bot.core.messages import Outgoing


class Postbox(Protocol):
    """Where a message is queued to be sent: the shop's paced outbox (bot.outbox), or the order
    book of a batch (models.orderbook), which writes it with the batch."""

    async def put(self, message: Outgoing) -> int | None:
        """Queue it; the queued row's id where it is written at once (None in a batch)."""


class PacedPostbox(Postbox, Protocol):
    """The shop's outbox as staff commands and jobs use it: after a commit it is told to look
    again (`changed`), and staff may hold broadcasts (`pause`)."""

    paused: bool

    def changed(self) -> None: ...

    async def pause(self, paused: bool) -> int: ...


class Reachable(Protocol):
    """Whether a private message can reach this contact now: on a personal WeChat account,
    only friends can be messaged (the browser chat and replay reach everyone)."""

    async def __call__(self, contact_id: str) -> bool: ...


async def everyone(contact_id: str) -> bool:
    return True


class Reply(Protocol):
    """Answer the message being handled: in its group, mentioning the sender, or privately;
    `file` goes with it where the transport can send files."""

    async def __call__(self, text: str, file: str | None = None) -> None: ...


# Write a delivery date's workbook now (bot.exporter); None if it could not be written (it
# stays due, is retried, and staff are told why).
Export = Callable[[date], Awaitable[Path | None]]


class Later:
    """What a handler leaves for after its message is committed, done outside the writer:
    work that takes seconds (a big day's workbook for /导出) must not hold up the members'
    messages queued behind it. `work` gets a way to answer the message of its own (the
    message's transaction is over by then)."""

    __slots__ = ("work",)

    def __init__(self, work: Callable[[Reply], Awaitable[None]]) -> None:
        self.work = work
