"""Normalised messages: what every transport turns its events into, and what the bot sends."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime

# NUL and the C0 controls but tab and newline: PostgreSQL refuses NUL in text, and none of
# them mean anything in a chat message.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


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
    # WeChat's built-in 接龙 (app message type 53): the author (wxid) of each entry, in order
    chain_authors: tuple[str, ...] = ()

    @property
    def conversation(self) -> str:
        """The key that orders a conversation's messages: the room, or the private sender."""
        return self.room or f"private:{self.sender_id}"

    def cleaned(self) -> Incoming:
        """The same message without control characters in its text and names."""
        return dataclasses.replace(
            self,
            text=_CONTROLS.sub("", self.text.replace("\r\n", "\n").replace("\r", "\n")),
            sender_name=_CONTROLS.sub("", self.sender_name).strip(),
            message_id=_CONTROLS.sub("", self.message_id)[:128],
        )


def conversation_key(room: str | None, to: str | None) -> str:
    """What paces and orders a conversation's sends: the room, or the contact written to."""
    return room or f"private:{to}"


@dataclass(frozen=True)
class Outgoing:
    """One message to send: into a room (`to` None) or privately to a contact (`room` None)."""

    text: str
    room: str | None = None
    to: str | None = None
    mentions: tuple[str, ...] = ()
    broadcast: bool = False  # broadcasts wait out quiet hours; replies do not
    file: str | None = None  # a file to send too, where the transport can send files

    def __post_init__(self) -> None:
        if (self.room is None) == (self.to is None):
            raise ValueError("an outgoing message goes to exactly one of a room or a contact")

    @property
    def conversation(self) -> str:
        return conversation_key(self.room, self.to)


@dataclass(frozen=True)
class Sent:
    """A message as it left the bot, with the time it was sent (after pacing)."""

    message: Outgoing
    at: datetime
    outbox_id: int = 0
    extra: dict[str, str] = field(default_factory=dict)


def reply_to(msg: Incoming, text: str, file: str | None = None) -> Outgoing:
    """The answer to a message: in its group, mentioning the sender; or privately."""
    if msg.room is not None:
        return Outgoing(f"@{msg.sender_name} {text}", room=msg.room, mentions=(msg.sender_id,), file=file)
    return Outgoing(text, to=msg.sender_id, file=file)
