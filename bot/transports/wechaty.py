"""Real WeChat through python-wechaty and a Wechaty puppet service (PadLocal, puppet-xp).

Everything wechaty sends in is turned into the same `Incoming` message the other transports
produce, keyed on contact and room ids; everything the bot sends goes out through the paced
outbox into `send`. The compatibility fixes python-wechaty 0.10.7 needs are in
bot.transports.wechaty_compat, and WeChat's own 接龙 is read by bot.transports.appmsg.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.messages import Incoming, Outgoing
from bot.outbox import Disconnected
from bot.transports.appmsg import parse_app_chain
from bot.transports.wechaty_compat import bot_class, load_wechaty

if TYPE_CHECKING:
    from bot.app import Bot

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=10)  # older messages (delivered late after a reconnect) are not orders
RECONNECT_DELAYS = (5.0, 15.0, 60.0, 300.0)  # seconds before reconnecting: 1st, 2nd, ... then the last


# -- the transport ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoomInfo:
    id: str
    topic: str
    members: int


class WechatyTransport:
    """Connects a Bot to WeChat. `puppet`: a puppet instance to use instead of the puppet
    service (tests pass a FakePuppet); `sleep`: how to wait before reconnecting."""

    def __init__(self, config: Config, clock: Clock, puppet: Any = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.config = config
        self.clock = clock
        self._puppet = puppet
        self._sleep = sleep
        self.bot: Bot | None = None
        self.wechaty: Any = None
        self.logged_in = asyncio.Event()
        # (event, message id, error) of the latest events whose handling failed (also logged)
        self.errors: deque[tuple[str, str, BaseException]] = deque(maxlen=100)
        self.connections = 0
        self.logins = 0
        self._login_seen = asyncio.Condition()
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        self.friends: set[str] = set()  # contacts who became friends while the bot ran
        self.connected_since: datetime | None = None  # the shop's time of the last login
        self.lost_since: datetime | None = None  # the shop's time the connection was lost, while it is

    # -- life ------------------------------------------------------------------------------

    def attach(self, bot: Bot) -> None:
        self.bot = bot

    def _make_wechaty(self) -> Any:
        wechaty = load_wechaty()
        from wechaty_puppet.schemas.puppet import PuppetOptions

        # A fresh PuppetOptions per bot: wechaty's default is one object shared by every bot.
        options = PuppetOptions(token=self.config.transport.token or None,
                                end_point=self.config.transport.endpoint or None)
        wechaty_options = wechaty.WechatyOptions(
            puppet=self._puppet if self._puppet is not None else "wechaty-puppet-service",
            puppet_options=options,
        )
        return bot_class(wechaty)(wechaty_options, self)

    async def start(self) -> None:
        """Connect in the background; reconnects until `stop`."""
        self._stopping = False
        self.wechaty = self._make_wechaty()
        self._runner = asyncio.create_task(self._run(), name="wechaty")

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            self.connections += 1
            try:
                await self.wechaty.start()  # returns when the puppet service's stream ends
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.exception("the WeChat connection failed")
            if self._stopping:
                return
            self.logged_in.clear()
            await self.guarded("disconnect", str(self.connections), self._lost)
            delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
            log.warning("the WeChat connection dropped; reconnecting in %.0f s", delay)
            try:
                await self.wechaty.stop()  # drops the old event listeners before a new start
            except Exception:
                log.exception("stopping the old WeChat connection failed")
            await self._sleep(delay)

    async def _lost(self) -> None:
        """The connection is gone: the outbox holds every message, and staff get one notice
        (it waits in the queue like the rest, and goes first when WeChat is back)."""
        if self.bot is not None:
            self.bot.outbox.hold()
        if self.lost_since is not None:
            return  # another failed try of the same outage
        self.lost_since = self.clock.now()
        self.connected_since = None
        at = f"{self.lost_since.astimezone(self.config.timezone):%H:%M}"
        log.warning("the WeChat connection is lost")
        await self._tell_staff(f"⚠️ 微信连接断开了（{at}），正在自动重连；这期间的回复会在连上后按顺序发出。"
                               if self.logins else
                               f"⚠️ 连不上微信网关（{at}），正在自动重试；请检查网关是否在运行。")

    async def stop(self) -> None:
        self._stopping = True
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        if self.wechaty is not None and self.wechaty._puppet is not None:
            try:
                await self.wechaty.stop()
            except Exception:
                log.exception("stopping the WeChat connection failed")

    # -- sending (the outbox calls this) ------------------------------------------------------

    async def send(self, message: Outgoing) -> None:
        """Send one message; raises when it cannot (the outbox retries, then tells staff)."""
        if self.wechaty is None or self.wechaty._puppet is None or not self.logged_in.is_set():
            raise Disconnected("not connected to WeChat")
        puppet = self.wechaty.puppet
        conversation = message.room or message.to
        if message.file and Path(message.file).is_file():
            from wechaty_puppet import FileBox

            with warnings.catch_warnings():  # FileBox logs with the deprecated logger.warn
                warnings.simplefilter("ignore", DeprecationWarning)
                box = FileBox.from_file(message.file)
            try:
                await puppet.message_send_file(conversation, box)
            except NotImplementedError:
                log.info("this puppet cannot send files; %s is sent as text only", message.file)
        await puppet.message_send_text(conversation, message.text, mention_ids=list(message.mentions))

    async def rooms(self) -> list[RoomInfo]:
        """The rooms the logged-in account is in (for filling [[group]] room ids)."""
        puppet = self.wechaty.puppet
        found = []
        for room_id in await puppet.room_list():
            payload = await puppet.room_payload(room_id)
            found.append(RoomInfo(room_id, getattr(payload, "topic", "") or "",
                                  len(getattr(payload, "member_ids", []) or [])))
        return sorted(found, key=lambda r: r.topic)

    # -- events (called by the Wechaty subclass) -----------------------------------------------

    async def guarded(self, event: str, key: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run an event's handling; an error is logged with the message id and kept, never lost
        (wechaty itself would only log it)."""
        try:
            await work()
        except Exception as error:
            log.exception("WeChat %s %s failed", event, key)
            self.errors.append((event, key, error))

    async def on_message(self, msg: Any) -> None:
        await self.guarded("message", getattr(msg, "message_id", "?"), lambda: self._message(msg))

    async def _message(self, msg: Any) -> None:
        from wechaty_puppet import MessageType

        if self.bot is None or msg.payload is None or msg.is_self():
            return
        payload = msg.payload
        at = self._time_of(payload.timestamp)
        if at < self.clock.now() - STALE_AFTER:
            log.info("message %s from %s is %s old; not handled", payload.id, payload.from_id,
                     self.clock.now() - at)
            return
        if msg.type() == MessageType.MESSAGE_TYPE_RECALLED:
            await self.bot.recall((payload.text or "").strip(), self.clock.now())
            return
        text = payload.text or ""
        authors: tuple[str, ...] = ()
        chain = parse_app_chain(text)
        if chain is not None:
            text, authors = chain.text, chain.authors
        elif msg.type() != MessageType.MESSAGE_TYPE_TEXT:
            return  # images, voice, stickers, transfers...: nothing to read
        room = msg.room()
        talker = msg.talker()
        name = talker.name if talker.payload is not None else ""
        if room is not None:
            alias = await room.alias(talker)
            name = alias or name
        await self.bot.handle(Incoming(
            message_id=payload.id, sender_id=payload.from_id, sender_name=name or payload.from_id,
            text=text, at=at, room=room.room_id if room is not None else None,
            mentions=tuple(payload.mention_ids or ()), chain_authors=authors,
        ))

    def _time_of(self, timestamp: float | None) -> datetime:
        if not timestamp:
            return self.clock.now()
        seconds = timestamp / 1000 if timestamp > 2145888000 else timestamp  # ms or s
        return datetime.fromtimestamp(seconds, tz=timezone.utc).astimezone(self.config.timezone)

    async def on_room_join(self, room: Any, invitees: list[Any], inviter: Any) -> None:
        async def work() -> None:
            if self.bot is None:
                return
            inviter_id = getattr(inviter, "contact_id", None)
            for invitee in invitees:
                name = invitee.name if invitee.payload is not None else ""
                await self.bot.member_joined(room.room_id, invitee.contact_id, name, inviter_id,
                                             self.clock.now())

        await self.guarded("room-join", room.room_id, work)

    # -- friends: a personal account can message only its friends -------------------------

    async def reachable(self, contact_id: str) -> bool:
        """Whether a private message can reach the contact: they are the account's friend (a
        contact whose friendship the puppet does not report is tried)."""
        if contact_id in self.friends or self.wechaty is None:
            return True
        contact = self.wechaty.Contact.load(contact_id)
        await contact.ready()
        return contact.is_friend() is not False

    async def on_friendship(self, friendship: Any) -> None:
        """A member asks to be the shop account's friend: accepted (a contact the shop does not
        know is left to staff). Once friends, the private messages that waited go out."""
        from wechaty_puppet import FriendshipType

        async def work() -> None:
            if self.bot is None:
                return
            contact = friendship.contact()
            kind = friendship.type()
            if kind == FriendshipType.FRIENDSHIP_TYPE_RECEIVE:
                if not await self.bot.knows(contact.contact_id):
                    log.info("friend request from %s, not a member: left to staff", contact.contact_id)
                    return
                await friendship.accept()
            elif kind != FriendshipType.FRIENDSHIP_TYPE_CONFIRM:
                return
            self.friends.add(contact.contact_id)
            await contact.ready(force_sync=True)
            await self.bot.friend_added(contact.contact_id)

        await self.guarded("friendship", getattr(friendship, "friendship_id", "?"), work)

    async def on_room_leave(self, room: Any, leavers: list[Any]) -> None:
        log.info("left %s: %s", room.room_id, ", ".join(c.contact_id for c in leavers))

    async def on_room_topic(self, room: Any, new_topic: str, old_topic: str) -> None:
        served = self.config.group(room.room_id)
        log.info("room %s renamed %r -> %r%s", room.room_id, old_topic, new_topic,
                 f" (served as {served.community})" if served else "")

    async def wait_for_login(self, number: int = 1) -> None:
        """Until the `number`-th login of this transport (a reconnect logs in again)."""
        async with self._login_seen:
            await self._login_seen.wait_for(lambda: self.logins >= number)

    async def on_login(self, contact: Any) -> None:
        self.logged_in.set()
        self.logins += 1
        async with self._login_seen:
            self._login_seen.notify_all()
        log.info("logged in to WeChat as %s", contact.contact_id)
        now, lost = self.clock.now(), self.lost_since
        self.connected_since, self.lost_since = now, None
        if lost is not None and self.logins > 1:
            minutes = max(1, round((now - lost).total_seconds() / 60))
            note = f"✅ 微信已重新连接（断开约{minutes}分钟），排队的消息按顺序发出。"
        else:
            note = "✅ 微信已登录，开始接单。" if self.logins <= 1 else "✅ 微信已重新连接。"
        await self.guarded("login", contact.contact_id, lambda: self._tell_staff(note))
        if self.bot is not None:
            self.bot.outbox.resume()

    async def on_logout(self, contact: Any) -> None:
        self.logged_in.clear()
        log.warning("logged out of WeChat (%s)", getattr(contact, "contact_id", "?"))
        await self.guarded("logout", getattr(contact, "contact_id", "?"), lambda: self._tell_staff(
            "⚠️ 微信已退出登录，消息会在重新登录后发出；请检查手机或网关。"))

    async def on_scan(self, qrcode: str, status: Any) -> None:
        url = f"https://wechaty.js.org/qrcode/{quote(qrcode or '')}"
        log.warning("scan to log in to WeChat (%s): %s", status, url)

    async def _tell_staff(self, text: str) -> None:
        if self.bot is not None:
            await self.bot.tell_staff(text)


async def list_rooms(config: Config, clock: Clock, puppet: Any = None,
                     timeout: float = 300.0) -> list[RoomInfo]:
    """Log in (scan the QR code the log shows, if asked), list the account's rooms, log out of
    nothing: only the connection is closed. TimeoutError if nobody logs in within `timeout`."""
    transport = WechatyTransport(config, clock, puppet=puppet)
    await transport.start()
    try:
        await asyncio.wait_for(transport.wait_for_login(), timeout)
        return await transport.rooms()
    finally:
        await transport.stop()
