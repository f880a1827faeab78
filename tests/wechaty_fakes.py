"""A recording FakePuppet that drives a real `wechaty.Wechaty` with no network.

wechaty's own FakePuppet needs small fixes for that (docs/PRODUCT.md): its `start()` never
returns, `message_send_text` returns an id with no payload, and `room_member_payload` pops the
member. This subclass starts like a puppet service (emits login, then holds the stream open
until `drop()`), records what is sent, and keeps payloads.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.transports.wechaty_compat import load_wechaty

load_wechaty()

from wechaty.fake_puppet import FakePuppet  # noqa: E402
from wechaty_puppet import MessageType  # noqa: E402
from wechaty_puppet import FriendshipType  # noqa: E402
from wechaty_puppet.schemas.event import (  # noqa: E402
    EventFriendshipPayload, EventLoginPayload, EventMessagePayload, EventRoomJoinPayload,
)
from wechaty_puppet.schemas.puppet import PuppetOptions  # noqa: E402
from wechaty_puppet.schemas.types import (  # noqa: E402
    ContactPayload, FriendshipPayload, MessagePayload, RoomMemberPayload, RoomPayload,
)


class RecordingPuppet(FakePuppet):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(PuppetOptions())
        self.sent: list[tuple[str, str, tuple[str, ...]]] = []
        self.files: list[tuple[str, str]] = []
        self.errors: list[BaseException] = []
        self.starts = 0
        self._stream = asyncio.Event()
        self._ids = itertools.count(1)
        self.emitter.on("error", self.errors.append)
        self.friendships: dict[str, FriendshipPayload] = {}
        self.accepted: list[str] = []

    async def start(self) -> None:
        self.starts += 1
        self._stream = asyncio.Event()
        self.emitter.emit("login", EventLoginPayload(contact_id=self.login_user_id))
        await self._stream.wait()  # the puppet service's event stream, until it drops

    def drop(self) -> None:
        self._stream.set()

    async def stop(self) -> None:
        # As the puppet service does: a stopped puppet forgets its listeners (a restarted
        # Wechaty registers its own again). Errors stay recorded.
        self.emitter.remove_all_listeners()
        self.emitter.on("error", self.errors.append)

    async def message_send_text(self, conversation_id: str, message: str,
                                mention_ids: Sequence[str] | None = None) -> str:
        self.sent.append((conversation_id, message, tuple(mention_ids or ())))
        message_id = f"sent-{next(self._ids)}"
        self.add_fake_message(MessagePayload(id=message_id, from_id=self.login_user_id, text=message,
                                             type=MessageType.MESSAGE_TYPE_TEXT))
        return message_id

    async def message_send_file(self, conversation_id: str, file: Any) -> str:
        self.files.append((conversation_id, file.name))
        return f"sent-{next(self._ids)}"

    async def room_member_payload(self, room_id: str, contact_id: str) -> RoomMemberPayload:
        return self._room_member_payloads.get(contact_id)

    async def friendship_payload(self, friendship_id: str, payload: Any = None) -> FriendshipPayload:
        return self.friendships[friendship_id]

    async def friendship_accept(self, friendship_id: str) -> None:
        # As WeChat does: once accepted, the contact is a friend.
        contact_id = self.friendships[friendship_id].contact_id
        self.accepted.append(contact_id)
        self._contact_payloads[contact_id].friend = True

    # -- building a little WeChat ---------------------------------------------------------

    def person(self, contact_id: str, name: str, friend: bool = True) -> str:
        self.add_fake_contact(ContactPayload(id=contact_id, name=name, friend=friend))
        return contact_id

    def friend_request(self, contact_id: str) -> EventFriendshipPayload:
        """A contact asks to be the account's friend: the event to deliver."""
        friendship_id = f"fr-{contact_id}"
        self.friendships[friendship_id] = FriendshipPayload(
            id=friendship_id, contact_id=contact_id, hello="我是群里的", type=FriendshipType.FRIENDSHIP_TYPE_RECEIVE)
        return EventFriendshipPayload(friendship_id=friendship_id)

    def room(self, room_id: str, topic: str, members: dict[str, str]) -> str:
        for contact_id, name in members.items():
            self.person(contact_id, name)
        self.add_fake_room(RoomPayload(id=room_id, topic=topic, member_ids=[], owner_id=""))
        self.add_fake_room_members(room_id, [RoomMemberPayload(id=c, name=n, room_alias="")
                                             for c, n in members.items()])
        return room_id

    def message(self, message_id: str, sender: str, text: str, at: datetime, room: str = "",
                kind: Any = MessageType.MESSAGE_TYPE_TEXT, mentions: Sequence[str] = ()) -> str:
        self.add_fake_message(MessagePayload(
            id=message_id, from_id=sender, room_id=room, to_id="" if room else self.login_user_id,
            text=text, type=kind, timestamp=int(at.timestamp()), mention_ids=list(mentions)))
        return message_id


async def deliver(puppet: RecordingPuppet, event: str, payload: Any) -> None:
    """Emit a puppet event as the service would, and wait until wechaty has handled it."""
    before = asyncio.all_tasks()
    puppet.emitter.emit(event, payload)
    await asyncio.gather(*(asyncio.all_tasks() - before))


def message_event(message_id: str) -> EventMessagePayload:
    return EventMessagePayload(message_id=message_id)


def join_event(room: str, invitees: list[str], inviter: str, at: datetime) -> EventRoomJoinPayload:
    return EventRoomJoinPayload(invited_ids=invitees, inviter_id=inviter, room_id=room,
                                timestamp=int(at.timestamp()))
