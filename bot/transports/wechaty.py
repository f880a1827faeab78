"""Real WeChat through python-wechaty and a Wechaty puppet service (PadLocal, puppet-xp).

Everything wechaty sends in is turned into the same `Incoming` message the other transports
produce, keyed on contact and room ids; everything the bot sends goes out through the paced
outbox into `send`. The compatibility fixes python-wechaty 0.10.7 needs live here and only
here (docs/PRODUCT.md, "The WeChat connection").
"""

from __future__ import annotations

import asyncio
import logging
import warnings
import xml.etree.ElementTree as ElementTree
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.messages import Incoming, Outgoing

if TYPE_CHECKING:
    from bot.app import Bot

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=10)  # older messages (delivered late after a reconnect) are not orders
RECONNECT_DELAYS = (5.0, 15.0, 60.0, 300.0)  # seconds before reconnecting: 1st, 2nd, ... then the last
MAX_XML = 200_000


def load_wechaty() -> ModuleType:
    """Import wechaty on Python 3.11+.

    python-wechaty 0.10.7 declares `WechatyOptions.puppet_options: PuppetOptions = PuppetOptions()`,
    a dataclass default of an unhashable (mutable) dataclass, which Python 3.11 refuses at import
    ("mutable default ... PuppetOptions"; upstream python-wechaty issues #385 and #422, never
    fixed in a release). Giving PuppetOptions an identity hash before the first import lets it
    load; that shared default is never used here (every bot gets a fresh PuppetOptions).
    """
    from wechaty_puppet.schemas.puppet import PuppetOptions

    if PuppetOptions.__hash__ is None:  # type: ignore[comparison-overlap]
        PuppetOptions.__hash__ = object.__hash__  # type: ignore[assignment]
    with warnings.catch_warnings():
        # Its dependencies import telnetlib (deprecated in 3.11, gone in 3.13: the
        # standard-telnetlib package stands in) and use other deprecated APIs at import.
        warnings.simplefilter("ignore", DeprecationWarning)
        import wechaty

    return wechaty


# -- WeChat's built-in 接龙: an app message of type 53 --------------------------------------


@dataclass(frozen=True)
class AppChain:
    text: str  # the list as members see it, starting with "#接龙"
    authors: tuple[str, ...]  # the wxid of each entry, in entry order ("" when not given)


def parse_app_chain(xml: str) -> AppChain | None:
    """The list and its entries' authors from a type-53 app message, or None if it is not one.

    The XML holds the list text in <appmsg><title> and, in <extinfo><solitaire_info> (itself
    XML in a CDATA), one <i> per entry whose <u> is the author's wxid.
    """
    if "<appmsg" not in xml or len(xml) > MAX_XML:
        return None
    start = xml.find("<")
    try:
        root = ElementTree.fromstring(xml[start:].strip())
    except ElementTree.ParseError:
        return None
    appmsg = root if root.tag == "appmsg" else root.find("appmsg")
    if appmsg is None or (appmsg.findtext("type") or "").strip() != "53":
        return None
    title = appmsg.findtext("title") or ""
    at = title.find("#接龙")
    text = title[at:] if at >= 0 else "#接龙\n" + title
    authors: list[str] = []
    info = appmsg.findtext("extinfo/solitaire_info") or ""
    if info.strip():
        try:
            solitaire = ElementTree.fromstring(info.strip())
            authors = [(entry.findtext("u") or "").strip() for entry in solitaire.iter("i")]
        except ElementTree.ParseError:
            authors = []
    return AppChain(text, tuple(authors))


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
        self.errors: list[tuple[str, str, BaseException]] = []  # (event, message id, error)
        self.connections = 0
        self.logins = 0
        self._login_seen = asyncio.Condition()
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False

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
        return _bot_class(wechaty)(wechaty_options, self)

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
            delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
            log.warning("the WeChat connection dropped; reconnecting in %.0f s", delay)
            try:
                await self.wechaty.stop()  # drops the old event listeners before a new start
            except Exception:
                log.exception("stopping the old WeChat connection failed")
            await self._sleep(delay)

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
            raise ConnectionError("not connected to WeChat")
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
        await self.guarded("login", contact.contact_id, lambda: self._tell_staff(
            "✅ 微信已登录，开始接单。" if self.connections <= 1 else "✅ 微信已重新连接。"))

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


_CLASSES: dict[int, type] = {}


async def _nothing(*args: Any) -> None:
    return None


def _bot_class(wechaty: ModuleType) -> type:
    """A Wechaty that hands its events to the transport. Built once, after `load_wechaty`."""
    if id(wechaty) in _CLASSES:
        return _CLASSES[id(wechaty)]

    class GroupbuyWechaty(wechaty.Wechaty):  # type: ignore[misc,name-defined]
        def __init__(self, options: Any, transport: WechatyTransport) -> None:
            super().__init__(options)
            self.transport = transport
            # No wechaty plugins are used. Its plugin manager starts an APScheduler and probes
            # a local port on every login, and the second start (a login after a reconnect)
            # raises SchedulerAlreadyRunningError inside the login handler: skip it.
            self._plugin_manager.start = _nothing
            # Its fan-out of events to plugins also asserts that a scan status is a str while
            # the puppet gives a ScanStatus, failing every scan event: there are no plugins.
            self._plugin_manager.emit_events = _nothing
            # wechaty drops a message id it has seen, in a process-wide singleton: a new bot
            # starts with its own (re-delivery is refused by the database anyway).
            from wechaty.utils.async_helper import SingleIdContainer

            SingleIdContainer._instance = None

        async def init_puppet(self) -> None:
            await super().init_puppet()
            # wechaty caches Contact and Room objects in a class attribute shared by every bot in
            # the process (Contact._pool, Room._pool): a pool per bot keeps them apart.
            for kind in (self.Contact, self.ContactSelf, self.Room, self.Message):
                kind._pool = {}

        async def on_message(self, msg: Any) -> None:
            await self.transport.on_message(msg)

        async def on_room_join(self, room: Any, invitees: Any, inviter: Any, date: Any) -> None:
            await self.transport.on_room_join(room, invitees, inviter)

        async def on_room_leave(self, room: Any, leavers: Any, remover: Any, date: Any) -> None:
            await self.transport.on_room_leave(room, leavers)

        async def on_room_topic(self, room: Any, new_topic: str, old_topic: str, changer: Any,
                                date: Any) -> None:
            await self.transport.on_room_topic(room, new_topic, old_topic)

        async def on_login(self, contact: Any) -> None:
            await self.transport.on_login(contact)

        async def on_logout(self, contact: Any) -> None:
            await self.transport.on_logout(contact)

        async def on_scan(self, qr_code: str, status: Any, data: Any = None) -> None:
            await self.transport.on_scan(qr_code, status)

        async def on_error(self, payload: Any) -> None:
            log.error("wechaty reported an error: %s", payload)

    _CLASSES[id(wechaty)] = GroupbuyWechaty
    return GroupbuyWechaty
