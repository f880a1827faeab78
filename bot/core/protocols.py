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

    async def put(self, message: Outgoing) -> None: ...


class PacedPostbox(Postbox, Protocol):
    """The shop's outbox as staff commands and jobs use it: after a commit it is told to look
    again (`changed`), and staff may hold broadcasts (`pause`)."""

    paused: bool

    def changed(self) -> None: ...

    async def pause(self, paused: bool) -> int: ...


class Reply(Protocol):
    """Answer the message being handled: in its group, mentioning the sender, or privately;
    `file` goes with it where the transport can send files."""

    async def __call__(self, text: str, file: str | None = None) -> None: ...


# Write a delivery date's workbook now (bot.exporter); None if the file is locked (it stays
# due, and staff are told).
Export = Callable[[date], Awaitable[Path | None]]
