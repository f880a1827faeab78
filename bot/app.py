"""The bot: config + clock + a way to send -> database, dispatcher, outbox, jobs.

A message travels: transport -> Incoming -> Bot.handle -> first matching handler -> services,
all in one transaction with the inbound record and the replies it queued -> paced outbox ->
transport. `Bot` is used the same way by the running program, by replay and by the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import date
from pathlib import Path
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.catalog import load_catalog
from models.sync import sync_communities, sync_products
from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.dispatcher import Dispatcher, Handler
from bot.core.effects import Effect
from bot.exporter import Exporter
from bot.leader import startup_lock
from bot.core.messages import Incoming, Outgoing
from bot.outbox import Outbox, Send
from bot.pacing import Pacer
from jobs.services import Services
from handlers.routers import ROUTERS
from handlers.asks import on_confirm, on_deny, on_quantity, on_unclear
from handlers.asks import take as take_ask
from handlers.members import on_contact, on_help, on_offer
from handlers.orders import on_order_change, on_query
from handlers.referrals import on_points
from handlers.recalls import undo
from models.db import close_database, is_postgres, open_database
from models.orderbook import OrderBook, StoredOrders, seen
from models.points import Rewards
from models.referrals import member_joined
from models.tables import Community, InboundMessage, Member

log = logging.getLogger(__name__)

SORRY = "抱歉，刚才出了点问题，这条消息没有处理，请稍后再发一次。"
BATCH_MAX = 500  # messages handled in one transaction at most
CLOSE_WAIT = 10.0  # seconds `close` waits for the messages already queued

Routed = tuple[Handler, dict[str, Any]]


def reply_to(msg: Incoming, text: str, file: str | None = None) -> Outgoing:
    """The answer to a message: in its group, mentioning the sender; or privately."""
    if msg.room is not None:
        return Outgoing(f"@{msg.sender_name} {text}", room=msg.room, mentions=(msg.sender_id,), file=file)
    return Outgoing(text, to=msg.sender_id, file=file)


# Handlers whose reads and writes the order book serves (models.orderbook): keyword orders,
# the questions asked back and their answers, contact details, help.
BOOK_HANDLERS = frozenset({on_order_change, on_unclear, on_confirm, on_deny, on_quantity, on_contact,
                           on_help, on_offer})


def for_the_book(routed: Routed | None) -> bool:
    """Messages the order book handles in a batch: chat no handler wants, keyword orders,
    changes and cancellations of named products (cancelling everything reads every order),
    questions asked back and their answers."""
    if routed is None:
        return True
    handler, found = routed
    if handler.callback not in BOOK_HANDLERS:
        return False
    parsed = found["parsed"]
    return handler.callback is not on_order_change or parsed.intent != "cancel" or bool(parsed.items)


def reads_only(routed: Routed | None) -> bool:
    """Handlers that read the sender's orders or points as stored, and reply: the order book
    runs them too, after writing what it holds for that sender."""
    return routed is not None and routed[0].callback in (on_query, on_points)


class Bot:
    def __init__(self, config: Config, clock: Clock, send: Send, rng: random.Random | None = None) -> None:
        self.config = config
        self.clock = clock
        offer, products = load_catalog(config.catalog_path)
        self.outbox = Outbox(send, Pacer(config.outbox, config.timezone, rng), clock,
                             attempts=config.transport.send_attempts, staff=config.shop.staff)
        self.exporter = Exporter(config, clock, [p.sku for p in offer.products], self.tell_staff)
        rewards = Rewards(config.points.per_yuan, config.referral.inviter_points)
        self.services = Services(config, offer, products, clock, self.outbox, self.export, rewards,
                                 StoredOrders(config, rewards, self.outbox))
        self.dispatcher = Dispatcher(ROUTERS, **self.services.by_name())
        # Held while a batch is handled, and by every other change a member's event makes
        # (recall, joining a group): in this process they happen one after another.
        self._writing = asyncio.Lock()
        self._queue: list[tuple[Incoming, asyncio.Future[bool]]] = []
        self._queued = asyncio.Event()
        self._idle = asyncio.Event()  # set when the writer has nothing queued
        self._writer: asyncio.Task[None] | None = None
        self.rolled_back: list[str] = []  # why batches were rolled back (tests expect none)

    async def open(self) -> None:
        """Connect, migrate, bring products and communities in step with the files."""
        async with startup_lock(self.config.database_url):
            await open_database(self.config.database_url)
            await sync_products(self.services.products)
            await sync_communities(self.config)
        await self.outbox.restore()

    async def close(self) -> None:
        """Finish the messages already queued (up to CLOSE_WAIT), then stop."""
        if self._writer is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), CLOSE_WAIT)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        for _, done in self._queue:  # still queued after the wait: the caller hears so
            done.cancel()
        self._queue.clear()
        await close_database()

    async def handle(self, msg: Incoming) -> bool:
        """Handle one message; False if it was not for us or was handled before (re-delivery).
        Returns once what it changed and its reply are committed."""
        msg = msg.cleaned()
        if msg.room is not None and self.config.group(msg.room) is None:
            return False  # a group the shop did not list: the bot serves only its own groups
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((msg, done))
        self._queued.set()
        self._idle.clear()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await done

    async def _write(self) -> None:
        """The one writer: every message queued since the last commit is handled in arrival
        order in one transaction, and each is answered after that commit. One commit for many
        messages is what lets the bot keep up with a busy evening (bench/pipeline.py)."""
        while True:
            await self._queued.wait()
            self._queued.clear()
            while self._queue:
                batch, self._queue = self._queue[:BATCH_MAX], self._queue[BATCH_MAX:]
                try:
                    async with self._writing:
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
        """Inside the batch's transaction: keyword orders and chat in a group through the order
        book (models.orderbook), every other message the usual way in a savepoint of its own."""
        ids = [msg.message_id for msg in msgs]
        known = await InboundMessage.filter(message_id__in=ids).values_list("message_id", flat=True)
        stored = {str(message_id) for message_id in known}
        communities = {c.room: c for c in await Community.all()}
        book = OrderBook(self.config, self.services.rewards, self.services.products, self.clock.now(),
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
                    effect, _ = await self._handle_routed(msg, routed)
            except Exception:
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

    async def _handle_alone(self, msg: Incoming) -> bool:
        """One message in a transaction of its own (when its batch could not commit)."""
        try:
            async with in_transaction():
                effect, _ = await self._handle_routed(msg, self.dispatcher.route(msg))
        except IntegrityError:
            if await InboundMessage.exists(message_id=msg.message_id):
                return False  # the same message arrived twice at once; the other copy won
            log.exception("message %s from %s failed", msg.message_id, msg.sender_id)
            await self._reply(msg, SORRY)
            return False
        except Exception:  # any handler fault: roll back, apologise, keep serving
            log.exception("message %s from %s failed", msg.message_id, msg.sender_id)
            await self._reply(msg, SORRY)
            return False
        self._changed(effect)
        return True

    async def _handle_routed(self, msg: Incoming, routed: Routed | None) -> tuple[Effect | None, Member]:
        """The per-message path: the inbound record (a re-delivered id fails its unique insert),
        the member, the handler; its effect, and the member."""
        inbound = await InboundMessage.create(
            message_id=msg.message_id, room=msg.room, sender=msg.sender_id,
            text=msg.text[:10_000], received_at=msg.at,
        )
        member, community = await self._member_and_community(msg)
        ask = await take_ask(member, msg, self.services.orders)

        async def reply(text: str, file: str | None = None) -> None:
            await self._reply(msg, text, file)

        if routed is not None:
            handler, found = routed
            done = await self.dispatcher.call(handler, msg, found, member=member,
                                              community=community, reply=reply, ask=ask)
            effect = done if isinstance(done, Effect) else None
            inbound.intent = handler.callback.__name__[:32]
            inbound.effect = effect.to_json() if effect is not None else None
            await inbound.save(update_fields=["intent", "effect"])
            return effect, member
        return None, member

    def _changed(self, effect: Effect | None) -> None:
        """After a commit that changed orders: the workbook of that delivery date is due."""
        if effect is not None and (due := effect.workbook_due) is not None:
            self.exporter.mark(due)

    async def tell_staff(self, text: str) -> None:
        for staff in self.config.shop.staff:
            await self.outbox.put(Outgoing(text, to=staff))
        self.outbox.changed()

    async def _reply(self, msg: Incoming, text: str, file: str | None = None) -> None:
        await self.outbox.put(reply_to(msg, text, file))

    async def _member_and_community(self, msg: Incoming) -> tuple[Member, Community | None]:
        community = await Community.get_or_none(room=msg.room) if msg.room else None
        # get_or_create survives the same new member writing in two groups at once.
        member, created = await Member.get_or_create(
            id=msg.sender_id,
            defaults={"name": msg.sender_name[:128], "first_seen": msg.at, "last_seen": msg.at,
                      "home": community},
        )
        if not created and (fields := seen(member, msg, community)):
            await member.save(update_fields=fields)
        if community is None and msg.room is None:
            community = await private_community(member, self.config)
        return member, community

    async def recall(self, message_id: str, at: Any) -> bool:
        """A member recalled a message: undo what it did, and say so. False if nothing to undo."""
        inbound = await InboundMessage.get_or_none(message_id=message_id)
        if inbound is None or not inbound.effect:
            return False
        async with self._writing:
            async with in_transaction():
                inbound = await InboundMessage.filter(id=inbound.id).select_for_update().get()
                member = await Member.get_or_none(id=inbound.sender)
                text = await undo(inbound, self.config, self.services.products, self.services.orders, self.clock.now())
                if text is not None:
                    origin = Incoming(message_id, inbound.sender, member.name if member else "",
                                      inbound.text, at, inbound.room)
                    await self._reply(origin, text)
            self.outbox.changed()
        if text is not None:
            self._changed(Effect.from_json(inbound.effect))
        return text is not None

    async def member_joined(self, room: str, member_id: str, name: str, inviter: str | None,
                            at: Any) -> None:
        """A member joined a group: known from now on, with that group as home, and attributed
        to the member who invited them when the shop did not know them before."""
        async with self._writing:
            async with in_transaction():
                await member_joined(room, member_id, name, inviter, at, self.config.shop.staff)

    async def export(self, delivery_date: date) -> Path | None:
        """Write the workbook now; None if the file is locked (it stays due, staff are told)."""
        return await self.exporter.write_now(delivery_date)


async def private_community(member: Member, config: Config) -> Community | None:
    """Where a private order goes: the member's home group, or the only group there is."""
    if member.home_id is not None:  # type: ignore[attr-defined]
        return await Community.get_or_none(id=member.home_id)  # type: ignore[attr-defined]
    if len(config.groups) == 1:
        return await Community.get_or_none(room=config.groups[0].room)
    return None
