"""The in-memory transport: what tests and `groupbuy replay` talk to the bot through."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime

from bot.core.clock import Clock
from bot.core.messages import Incoming, Outgoing, Sent


class MemoryTransport:
    """Records every message the bot sends, with the (virtual) time it was sent."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sent: list[Sent] = []
        self._ids = itertools.count(1)
        self._prefix = f"mem-{uuid.uuid4().hex[:8]}"  # unique across restarts on one database
        self.strangers: set[str] = set()  # contacts that are not the account's friends (tests)

    async def reachable(self, contact_id: str) -> bool:
        return contact_id not in self.strangers

    async def send(self, message: Outgoing) -> None:
        self.sent.append(Sent(message, self.clock.now()))

    def incoming(self, text: str, sender: str, name: str = "", room: str | None = None,
                 message_id: str | None = None, at: datetime | None = None,
                 mentions: tuple[str, ...] = ()) -> Incoming:
        return Incoming(
            message_id=message_id or f"{self._prefix}-{next(self._ids)}",
            sender_id=sender, sender_name=name or sender, text=text,
            at=at or self.clock.now(), room=room, mentions=mentions,
        )

    def texts(self, room: str | None = None, to: str | None = None) -> list[str]:
        return [s.message.text for s in self.sent
                if (room is None or s.message.room == room) and (to is None or s.message.to == to)]
