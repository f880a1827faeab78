"""python-wechaty 0.10.7 as this bot needs it, and only here: importing it on Python 3.11+,
and a Wechaty that hands its events to the transport without the parts of wechaty that fail
(docs/PRODUCT.md, "The WeChat connection"). Each fix says what it works around."""

from __future__ import annotations

import logging
import warnings
from types import ModuleType
from typing import Any

log = logging.getLogger("bot.transports.wechaty")


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
    from wechaty_puppet.file_box.file_box import FileBox

    # FileBox.mimeType, an alias of mediaType, logs with the deprecated `logger.warn` (a
    # DeprecationWarning) each time it is read, and `to_json_str` reads it on every file sent
    # through the puppet service: the same alias, without the noise.
    FileBox.mimeType = property(lambda self: self.mediaType,  # type: ignore[method-assign,assignment]
                                lambda self, value: setattr(self, "mediaType", value))
    with warnings.catch_warnings():
        # Its dependencies import telnetlib (deprecated in 3.11, gone in 3.13: the
        # standard-telnetlib package stands in) and use other deprecated APIs at import.
        warnings.simplefilter("ignore", DeprecationWarning)
        import wechaty

    return wechaty


_CLASSES: dict[int, type] = {}


async def _nothing(*args: Any) -> None:
    return None


def bot_class(wechaty: ModuleType) -> type:
    """A Wechaty that hands its events to the transport. Built once, after `load_wechaty`."""
    if id(wechaty) in _CLASSES:
        return _CLASSES[id(wechaty)]

    class GroupbuyWechaty(wechaty.Wechaty):  # type: ignore[misc,name-defined]
        def __init__(self, options: Any, transport: Any) -> None:  # a WechatyTransport
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

        async def start(self) -> None:
            """Connect and read the puppet service's stream until it ends; any failure goes to
            the transport, which reconnects with growing pauses. wechaty's own start sleeps a
            minute and restarts itself on a network error, and on a configuration error (a
            gateway it cannot ping) stops the whole event loop: the bot would exit."""
            await self.init_puppet()
            await self.init_puppet_event_bridge(self.puppet)
            self.started = True
            await self.puppet.start()

        async def stop(self) -> None:
            """Stop, and close the gRPC channel even when the gateway is gone: the puppet's own
            stop asks the gateway first, fails, and would leave the channel open."""
            try:
                await super().stop()
            finally:
                channel = getattr(self._puppet, "channel", None)
                if channel is not None:
                    channel.close()
                    self._puppet.channel = None
                    self._puppet._puppet_stub = None

        async def on_message(self, msg: Any) -> None:
            await self.transport.on_message(msg)

        async def on_room_join(self, room: Any, invitees: Any, inviter: Any, date: Any) -> None:
            await self.transport.on_room_join(room, invitees, inviter)

        async def on_room_leave(self, room: Any, leavers: Any, remover: Any, date: Any) -> None:
            await self.transport.on_room_leave(room, leavers)

        async def on_friendship(self, friendship: Any) -> None:
            await self.transport.on_friendship(friendship)

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
