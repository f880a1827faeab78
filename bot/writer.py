"""The one writer: every message queued since the last commit is handled in arrival order in
one transaction, and each is answered after that commit. One commit for many messages is what
lets the bot keep up with a busy evening (bench/pipeline.py).

Inside a batch, the messages whose handler carries the BOOK flag (keyword orders, questions
asked back and their answers, contact details, help) and chat no handler wants go through the
order book (models.orderbook), which reads and writes for all of them at once; a READS handler
(my orders, my points) runs there too, after the book writes what it holds for the sender.
Every other message is handled the usual way, in a savepoint of its own. A batch that cannot
commit is rolled back and each of its messages handled alone.

When the database goes away (PostgreSQL terminated the connection, restarted, cannot be
reached) nothing is apologised for and nothing is dropped: the batch stays queued, the writer
waits for the database with growing pauses, and handles the batch again once it answers. A
message the lost batch did commit is known by its id then and is not handled twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError

from bot.core.dispatcher import BOOK, READS, Dispatcher, Handler
from bot.core.effects import Effect
from bot.core.messages import Incoming, reply_to
from bot.core.protocols import Later
from bot.outbox import Outbox
from handlers.asks import take as take_ask
from jobs.services import Services
from models.db import connection_lost, is_postgres, ping, transaction, transient
from models.members import member_of
from models.coupons import welcome
from models.orderbook import OrderBook
from models.state import mark_workbooks_due
from models.tables import Community, InboundMessage

log = logging.getLogger(__name__)

SORRY = "抱歉，刚才出了点问题，这条消息没有处理，请稍后再发一次。"
BATCH_MAX = 500  # messages handled in one transaction at most
CLOSE_WAIT = 10.0  # seconds `close` waits for the messages already queued
RETRY_FIRST = timedelta(seconds=0.5)  # the pause before the database is tried again, doubling
RETRY_MAX = timedelta(seconds=10)
LOST_AGAIN = 3  # a batch that loses its connection this often while the database answers is at fault
TRANSIENT_TRIES = 4  # a batch (or a message) rolled back by a deadlock is tried this often

LATER_TIMEOUT = 600.0  # seconds a handler's after-commit work may take (a workbook of a big day: ~20)

Routed = tuple[Handler, dict[str, Any]]
Outcome = tuple[Effect | None, Later | None]  # what a message changed; what it left for after the commit


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
        # Why batches were rolled back, the latest (tests expect none).
        self.rolled_back: deque[str] = deque(maxlen=100)
        self.waiting_since: datetime | None = None  # since when the database has not answered
        self.last_problem = ""  # what the last failure that waited for the database was
        self._received: dict[int, datetime] = {}  # id(future) -> when its message was queued
        self.later: set[asyncio.Task[None]] = set()  # after-commit work still running

    async def handle(self, msg: Incoming) -> bool:
        """Queue a message; True once it is handled and committed, False if it was handled
        before (re-delivery) or could not be."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._received[id(done)] = self.services.clock.now()
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
        self._received.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.settle(), CLOSE_WAIT)
        for task in list(self.later):
            task.cancel()
        await asyncio.gather(*self.later, return_exceptions=True)

    async def settle(self) -> None:
        """Wait for the after-commit work started so far (the simulation does before it
        moves on; the running bot does not wait)."""
        while self.later:
            await asyncio.gather(*self.later, return_exceptions=True)

    @property
    def alive(self) -> bool:
        """False when the writer stopped on a fault (it is started again by the next message)."""
        return self._task is None or not self._task.done() or self._task.cancelled() \
            or self._task.exception() is None

    @property
    def queued(self) -> int:
        return len(self._queue)

    def oldest_waiting(self, now: datetime) -> timedelta | None:
        """How long the message queued first has waited to be handled (None: nothing waits)."""
        if not self._queue:
            return None
        at = self._received.get(id(self._queue[0][1]))
        return now - at if at is not None else None

    async def _write(self) -> None:
        lost = 0  # the same batch's lost connections in a row while the database answered
        while True:
            await self._queued.wait()
            self._queued.clear()
            while self._queue:
                batch = self._queue[:BATCH_MAX]  # stays queued until it is handled
                try:
                    async with self.lock:
                        results = await self._handle_batch([msg for msg, _ in batch], lost >= LOST_AGAIN)
                except Exception as error:
                    if lost < LOST_AGAIN and await database_gone(error):
                        lost = 0 if await self._wait_for_database(error) else lost + 1
                        continue  # the same batch again: what it committed is known by id
                    log.exception("a batch of %d messages failed", len(batch))
                    results = None
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(error)
                lost = 0
                del self._queue[:len(batch)]
                for n, (_, done) in enumerate(batch):
                    self._received.pop(id(done), None)
                    if results is not None and not done.done():
                        done.set_result(results[n])
            self._idle.set()

    async def _wait_for_database(self, error: Exception) -> bool:
        """The batch lost its connection: wait until the database answers again (growing
        pauses, on the bot's clock). True if it had to wait; False if it answered at once
        (the connection was replaced: the batch goes again straight away)."""
        clock = self.services.clock
        problem = await ping()
        if problem is None:
            log.warning("a batch lost its database connection (%s); handling it again", _brief(error))
            return False
        self.waiting_since, self.last_problem = clock.now(), problem
        log.error("the database does not answer (%s); %d message(s) wait for it", problem, len(self._queue))
        pause = RETRY_FIRST
        while (problem := await ping()) is not None:
            self.last_problem = problem
            await clock.sleep_until(clock.now() + pause)
            pause = min(RETRY_MAX, pause * 2)
        log.warning("the database answers again after %s; handling the %d waiting message(s)",
                    clock.now() - self.waiting_since, len(self._queue))
        self.waiting_since = None
        return True

    async def _handle_batch(self, msgs: list[Incoming], lost_is_fault: bool = False,
                            tries: int = TRANSIENT_TRIES) -> list[bool]:
        effects: list[Effect | None] = []
        laters: list[tuple[Incoming, Later]] = []
        try:
            async with transaction():
                results = await self._batch(msgs, effects, laters)
                await self._workbooks_due(effects)
        except Exception as error:
            if not lost_is_fault and await database_gone(error):
                raise  # nothing of it stands: the batch waits for the database and goes again
            if transient(error) and tries > 1:
                # A deadlock with another process's batch (each holds a member the other
                # wants): PostgreSQL rolled this one back so the other could go on. Again.
                log.info("a batch of %d messages met a deadlock; handling it again", len(msgs))
                return await self._handle_batch(msgs, lost_is_fault, tries - 1)
            # Something in the batch broke its transaction (a message id another process
            # stored meanwhile): each message again, alone, as if unbatched.
            self.rolled_back.append(repr(error)[:200])
            log.warning("a batch of %d messages was rolled back; handling each alone", len(msgs), exc_info=True)
            return [await self._handle_alone(msg, lost_is_fault) for msg in msgs]
        finally:
            self.outbox.changed()
        for effect in effects:
            self._changed(effect)
        for msg, later in laters:
            self._start_later(msg, later)
        return results

    async def _workbooks_due(self, effects: list[Effect | None]) -> None:
        """In the transaction: the delivery dates whose workbook the messages changed are due
        (kept until it is written, so a bot killed before it writes them still does)."""
        dates = [due for effect in effects if effect is not None and (due := effect.workbook_due) is not None]
        if dates:
            await mark_workbooks_due(dates, self.services.clock.now())

    def _start_later(self, msg: Incoming, later: Later) -> None:
        """A handler's after-commit work, beside the writer (it goes on handling messages),
        with a time limit; a failure is logged and the sender told."""

        async def reply(text: str, file: str | None = None) -> None:
            await self._reply(msg, text, file)
            self.outbox.changed()

        async def run() -> None:
            try:
                await asyncio.wait_for(later.work(reply), LATER_TIMEOUT)
            except Exception:
                log.exception("after-commit work of message %s failed", msg.message_id)
                with contextlib.suppress(Exception):
                    await reply(SORRY)

        task = asyncio.create_task(run(), name=f"later-{msg.message_id}")
        self.later.add(task)
        task.add_done_callback(self.later.discard)

    async def _batch(self, msgs: list[Incoming], effects: list[Effect | None],
                     laters: list[tuple[Incoming, Later]]) -> list[bool]:
        """Inside the batch's transaction: what the order book may take through it, every other
        message the usual way in a savepoint of its own."""
        ids = [msg.message_id for msg in msgs]
        known = await InboundMessage.filter(message_id__in=ids).values_list("message_id", flat=True)
        stored = {str(message_id) for message_id in known}
        communities = {c.room: c for c in await Community.all()}
        services = self.services
        book = OrderBook(self.config, services.products, services.clock.now(), lock=is_postgres())
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
                if reads_only(routed) and book.pending_for(msg.sender_id):
                    await book.flush()  # it reads the sender's orders and points as stored
                effect, later = await self._through_book(book, msg, routed, community)
                effects.append(effect)
                if later is not None:
                    laters.append((msg, later))
                results.append(True)
                continue
            await book.flush()
            try:
                async with transaction():  # a savepoint: a failing message rolls back alone
                    effect, later = await self._handle_routed(msg, routed)
            except Exception as error:
                if transient(error) or await database_gone(error):
                    raise  # the whole batch is gone with its connection, or goes again
                if not await self._handled_elsewhere(msg, error):
                    log.exception("message %s from %s failed", msg.message_id, msg.sender_id)
                    await self._reply(msg, SORRY)
                results.append(False)
                continue
            book.forget()
            effects.append(effect)
            if later is not None:
                laters.append((msg, later))
            results.append(True)
        await book.flush()
        return results

    async def _through_book(self, book: OrderBook, msg: Incoming, routed: Routed | None,
                            community: Community) -> Outcome:
        member = book.member(msg, community)
        ask = await take_ask(member, msg, book)
        intent, effect, later = "", None, None
        if routed is not None:
            handler, found = routed

            async def reply(text: str, file: str | None = None) -> None:
                await book.put(reply_to(msg, text, file))

            done = await self.dispatcher.call(handler, msg, found, member=member, community=community,
                                              reply=reply, orders=book, ask=ask)
            intent, (effect, later) = handler.callback.__name__[:32], outcome(done)
        book.record(msg, intent, effect)
        return effect, later

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

    async def _handle_alone(self, msg: Incoming, lost_is_fault: bool = False,
                            tries: int = TRANSIENT_TRIES) -> bool:
        """One message in a transaction of its own (when its batch could not commit)."""
        try:
            async with transaction():
                effect, later = await self._handle_routed(msg, self.dispatcher.route(msg))
                await self._workbooks_due([effect])
        except Exception as error:  # any handler fault: roll back, apologise, keep serving
            if not lost_is_fault and await database_gone(error):
                raise  # not this message's fault: it waits for the database with its batch
            if transient(error) and tries > 1:
                return await self._handle_alone(msg, lost_is_fault, tries - 1)
            if not await self._handled_elsewhere(msg, error):
                log.exception("message %s from %s failed", msg.message_id, msg.sender_id)
                await self._reply(msg, SORRY)
            return False
        self._changed(effect)
        if later is not None:
            self._start_later(msg, later)
        return True

    async def _handle_routed(self, msg: Incoming, routed: Routed | None) -> Outcome:
        """The per-message path: the inbound record (a re-delivered id fails its unique insert),
        the member, the handler; what it changed."""
        inbound = await InboundMessage.create(
            message_id=msg.message_id, room=msg.room, sender=msg.sender_id,
            text=msg.text[:10_000], received_at=msg.at,
        )
        member, community, created = await member_of(msg, self.config)
        if created:
            for message in await welcome([member.id], self.config, msg.at):
                await self.outbox.put(message)
        ask = await take_ask(member, msg, self.services.orders)
        if routed is None:
            return None, None

        async def reply(text: str, file: str | None = None) -> None:
            await self._reply(msg, text, file)

        handler, found = routed
        done = await self.dispatcher.call(handler, msg, found, member=member,
                                          community=community, reply=reply, ask=ask)
        effect, later = outcome(done)
        inbound.intent = handler.callback.__name__[:32]
        inbound.effect = effect.to_json() if effect is not None else None
        await inbound.save(update_fields=["intent", "effect"])
        return effect, later

    async def _reply(self, msg: Incoming, text: str, file: str | None = None) -> None:
        await self.outbox.put(reply_to(msg, text, file))



async def database_gone(error: Exception) -> bool:
    """The error says the connection was lost, or the database does not answer now (it
    refuses connections, has too many): not the message's fault."""
    return connection_lost(error) or await ping() is not None


def outcome(done: object) -> Outcome:
    """What a handler returned: an Effect, after-commit work, or nothing."""
    return (done if isinstance(done, Effect) else None), (done if isinstance(done, Later) else None)


def _brief(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:200]
