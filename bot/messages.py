"""Normalised messages: what every transport turns its events into, and what the bot sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Incoming:
    """One chat message, whatever transport it came from. Ids, never names, identify people."""

    message_id: str
    sender_id: str
    sender_name: str
    text: str
    at: datetime
    room: str | None = None  # None: a private chat with the bot
    mentions: tuple[str, ...] = ()

    @property
    def conversation(self) -> str:
        """The key that orders a conversation's messages: the room, or the private sender."""
        return self.room or f"private:{self.sender_id}"


@dataclass(frozen=True)
class Outgoing:
    """One message to send: into a room (`to` None) or privately to a contact (`room` None)."""

    text: str
    room: str | None = None
    to: str | None = None
    mentions: tuple[str, ...] = ()
    broadcast: bool = False  # broadcasts wait out quiet hours; replies do not

    def __post_init__(self) -> None:
        if (self.room is None) == (self.to is None):
            raise ValueError("an outgoing message goes to exactly one of a room or a contact")

    @property
    def conversation(self) -> str:
        return self.room or f"private:{self.to}"


@dataclass(frozen=True)
class Sent:
    """A message as it left the bot, with the time it was sent (after pacing)."""

    message: Outgoing
    at: datetime
    outbox_id: int = 0
    extra: dict[str, str] = field(default_factory=dict)
