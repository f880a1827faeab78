"""The one writer: every message queued since the last commit is handled in arrival order in
one transaction, and each is answered after that commit. One commit for many messages is what
lets the bot keep up with a busy evening (bench/pipeline.py).

Inside a batch, the messages whose handler carries the BOOK flag (keyword orders, questions
asked back and their answers, contact details, help) and chat no handler wants go through the
order book (models.orderbook), which reads and writes for all of them at once; a READS handler
(my orders, my points) runs there too, after the book writes what it holds for the sender.
Every other message is handled the usual way, in a savepoint of its own. A batch that cannot
commit is rolled back and each of its messages handled alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.core.dispatcher import BOOK, READS, Dispatcher, Handler
from bot.core.effects import Effect
from bot.core.messages import Incoming, reply_to
from bot.outbox import Outbox
from handlers.asks import take as take_ask
from jobs.services import Services
from models.db import is_postgres
from models.members import member_of
from models.orderbook import OrderBook
from models.tables import Community, InboundMessage

log = logging.getLogger(__name__)

SORRY = "抱歉，刚才出了点问题，这条消息没有处理，请稍后再发一次。"
BATCH_MAX = 500  # messages handled in one transaction at most
CLOSE_WAIT = 10.0  # seconds `close` waits for the messages already queued

Routed = tuple[Handler, dict[str, Any]]


def for_the_book(routed: Routed | None) -> bool:
    """Chat no handler wants, and handlers the order book may run."""
    return routed is None or bool(routed[0].flags.get(BOOK))


def reads_only(routed: Routed | None) -> bool:
    return routed is not None and bool(routed[0].flags.get(READS))


class Writer:
    def __init__(self, services: Services, dispatcher: Dispatcher, outbox: Outbox,
                 changed: Callable[[Effect | None], None]) -> None:
        self.services = services
        self.config = services.config
        self.dispatcher = dispatcher
        self.outbox = outbox
        self._changed = changed  # after a commit: what a message changed (the workbook may be due)
        # Held while a batch is handled, and by every other change a member's event makes
        # (recall, joining a group): in this process they happen one after another.
        self.lock = asyncio.Lock()
        self._queue: list[tuple[Incoming, asyncio.Future[bool]]] = []
        self._queued = asyncio.Event()
        self._idle = asyncio.Event()  # set when the writer has nothing queued
        self._task: asyncio.Task[None] | None = None
        self.rolled_back: list[str] = []  # why batches were rolled back (tests expect none)

    async def handle(self, msg: Incoming) -> bool:
        """Queue a message; True once it is handled and committed, False if it was handled
        before (re-delivery) or could not be."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((msg, done))
        self._queued.set()
        self._idle.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write())
        return await done

    async def close(self) -> None:
        """Finish the messages already queued (up to CLOSE_WAIT), then stop."""
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), CLOSE_WAIT)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for _, done in self._queue:  # still queued after the wait: the caller hears so
            done.cancel()
        self._queue.clear()

    async def _write(self) -> None:
        while True:
            await self._queued.wait()
            self._queued.clear()
            while self._queue:
                batch, self._queue = self._queue[:BATCH_MAX], self._queue[BATCH_MAX:]
                try:
                    async with self.lock:
                        results = await self._handle_batch([msg for msg, _ in batch])
                except Exception as error:  # not even one at a time worked (the database is gone)
                    log.exception("a batch of %d messages failed", len(batch))
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(error)
                    continue
                for (_, done), handled in zip(batch, results):
                    if not done.done():
                        done.set_result(handled)
            self._idle.set()

    async def _handle_batch(self, msgs: list[Incoming]) -> list[bool]:
        effects: list[Effect | None] = []
        try:
            async with in_transaction():
                results = await self._batch(msgs, effects)
        except Exception as error:
            # Something in the batch broke its transaction (a message id another process
            # stored meanwhile, a lost connection): each message again, alone, as if unbatched.
            self.rolled_back.append(repr(error)[:200])
            log.warning("a batch of %d messages was rolled back; handling each alone", len(msgs), exc_info=True)
            return [await self._handle_alone(msg) for msg in msgs]
        finally:
            self.outbox.changed()
        for effect in effects:
            self._changed(effect)
        return results

    async def _batch(self, msgs: list[Incoming], effects: list[Effect | None]) -> list[bool]:
        """Inside the batch's transaction: what the order book may take through it, every other
        message the usual way in a savepoint of its own."""
        ids = [msg.message_id for msg in msgs]
        known = await InboundMessage.filter(message_id__in=ids).values_list("message_id", flat=True)
        stored = {str(message_id) for message_id in known}
        communities = {c.room: c for c in await Community.all()}
        services = self.services
        book = OrderBook(self.config, services.rewards, services.products, services.clock.now(),
                         lock=is_postgres())
        results = []
        for n, msg in enumerate(msgs):
            if msg.message_id in stored:  # re-delivered, or twice in this batch
                results.append(False)
                continue
            stored.add(msg.message_id)
            routed = self.dispatcher.route(msg)
            community = communities.get(msg.room) if msg.room else None
            if community is not None and (for_the_book(routed) or reads_only(routed)):
                if not book.loaded:
                    await book.load(msgs[n:])
                if book.takes(msg):
                    if reads_only(routed) and book.pending_for(msg.sender_id):
                        await book.flush()  # it reads the sender's orders and points as stored
                    effects.append(await self._through_book(book, msg, routed, community))
                    results.append(True)
                    continue
            await book.flush()
            try:
                async with in_transaction():  # a savepoint: a failing message rolls back alone
                    effect = await self._handle_routed(msg, routed)
            except Exception as error:
                if not await self._handled_elsewhere(msg, error):
                    log.exception("message %s from %s failed", msg.message_id, msg.sender_id)
                    await self._reply(msg, SORRY)
                results.append(False)
                continue
            book.forget()
            effects.append(effect)
            results.append(True)
        await book.flush()
        return results

    async def _through_book(self, book: OrderBook, msg: Incoming, routed: Routed | None,
                            community: Community) -> Effect | None:
        member = book.member(msg, community)
        ask = await take_ask(member, msg, book)
        intent, effect = "", None
        if routed is not None:
            handler, found = routed

            async def reply(text: str, file: str | None = None) -> None:
                await book.put(reply_to(msg, text, file))

            done = await self.dispatcher.call(handler, msg, found, member=member, community=community,
                                              reply=reply, orders=book, ask=ask)
            intent, effect = handler.callback.__name__[:32], done if isinstance(done, Effect) else None
        book.record(msg, intent, effect)
        return effect

    @staticmethod
    async def _handled_elsewhere(msg: Incoming, error: Exception) -> bool:
        """The one rule for a duplicate id, on every path: a message whose insert failed
        because its id is stored now was handled by the other copy (another process, or the
        same message delivered twice at once), which answers it; this one says nothing."""
        if not isinstance(error, IntegrityError):
            return False
        if await InboundMessage.exists(message_id=msg.message_id):
            log.info("message %s was handled elsewhere", msg.message_id)
            return True
        return False

    async def _handle_alone(self, msg: Incoming) -> bool:
        """One message in a transaction of its own (when its batch could not commit)."""
        try:
            async with in_transaction():
                effect = await self._handle_routed(msg, self.dispatcher.route(msg))
        except Exception as error:  # any handler fault: roll back, apologise, keep serving
            if not await self._handled_elsewhere(msg, error):
                log.exception("message %s from %s failed", msg.message_id, msg.sender_id)
                await self._reply(msg, SORRY)
            return False
        self._changed(effect)
        return True

    async def _handle_routed(self, msg: Incoming, routed: Routed | None) -> Effect | None:
        """The per-message path: the inbound record (a re-delivered id fails its unique insert),
        the member, the handler; what it changed."""
        inbound = await InboundMessage.create(
            message_id=msg.message_id, room=msg.room, sender=msg.sender_id,
            text=msg.text[:10_000], received_at=msg.at,
        )
        member, community = await member_of(msg, self.config)
        ask = await take_ask(member, msg, self.services.orders)
        if routed is None:
            return None

        async def reply(text: str, file: str | None = None) -> None:
            await self._reply(msg, text, file)

        handler, found = routed
        done = await self.dispatcher.call(handler, msg, found, member=member,
                                          community=community, reply=reply, ask=ask)
        effect = done if isinstance(done, Effect) else None
        inbound.intent = handler.callback.__name__[:32]
        inbound.effect = effect.to_json() if effect is not None else None
        await inbound.save(update_fields=["intent", "effect"])
        return effect

    async def _reply(self, msg: Incoming, text: str, file: str | None = None) -> None:
        await self.outbox.put(reply_to(msg, text, file))

