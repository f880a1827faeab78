"""The bot: config + clock + a way to send -> database, dispatcher, writer, outbox, jobs.

A message travels: transport -> Incoming -> Bot.handle -> the writer (bot.writer), which
handles it with the first matching handler in one transaction with the inbound record and the
replies it queued -> paced outbox -> transport. `Bot` is used the same way by the running
program, by replay and by the tests (bot.harness).
"""

from __future__ import annotations

import random
from collections import deque
from datetime import date, datetime
from pathlib import Path


from bot.core.clock import Clock
from bot.core.config import Config, ConfigError
from bot.core.dispatcher import Dispatcher
from bot.core.effects import Effect
from bot.core.messages import Incoming, Outgoing, reply_to
from bot.core.protocols import Reachable, everyone
from bot.exporter import Exporter
from bot.leader import startup_lock
from bot.outbox import Outbox, Send
from bot.pacing import Pacer
from bot.writer import Writer
from handlers.recalls import undo
from handlers.routers import ROUTERS
from jobs.services import Services
from models.catalog import load_catalog
from models.coupons import referral_friend, welcome
from models.db import cannot_open, close_database, open_database, transaction
from models.orderbook import StoredOrders
from models.points import Rewards
from models.referrals import member_joined
from models.state import mark_workbooks_due
from models.sync import sync_communities, sync_products
from models.tables import InboundMessage, Member


class Bot:
    def __init__(self, config: Config, clock: Clock, send: Send, rng: random.Random | None = None,
                 reachable: Reachable = everyone) -> None:
        self.config = config
        self.clock = clock
        offer, products = load_catalog(config.catalog_path)
        skus = {p.sku for p in products}
        for n, reward in enumerate(config.reward, start=1):
            if reward.sku and reward.sku not in skus:
                raise ConfigError(f'[[reward]] #{n} sku: "{reward.sku}" is not in the catalog')
        self.outbox = Outbox(send, Pacer(config.outbox, config.timezone, rng), clock,
                             attempts=config.transport.send_attempts, staff=config.shop.staff,
                             reachable=reachable)
        self.exporter = Exporter(config, clock, [p.sku for p in offer.products], self.tell_staff)
        rewards = Rewards.of(config)
        self.services = Services(config, offer, products, clock, self.outbox, self.export, rewards,
                                 StoredOrders(config, self.outbox), reachable)
        self.dispatcher = Dispatcher(ROUTERS, **self.services.by_name())
        self.writer = Writer(self.services, self.dispatcher, self.outbox, self._changed)

    @property
    def rolled_back(self) -> deque[str]:
        """Why batches were rolled back (tests expect none)."""
        return self.writer.rolled_back

    async def open(self) -> None:
        """Connect, migrate, bring products and communities in step with the files."""
        url = self.config.database_url
        try:
            async with startup_lock(url):
                await open_database(url)
                await sync_products(self.services.products)
                await sync_communities(self.config)
        except Exception as error:  # the database cannot be opened: one line, not a traceback
            raise cannot_open(url, error) from error
        await self.outbox.restore()
        await self.exporter.restore()

    async def close(self) -> None:
        """Finish the messages already queued (up to a few seconds), then stop."""
        await self.writer.close()
        await close_database()

    async def handle(self, msg: Incoming) -> bool:
        """Handle one message; False if it was not for us or was handled before (re-delivery).
        Returns once what it changed and its reply are committed."""
        msg = msg.cleaned()
        if msg.room is not None and self.config.group(msg.room) is None:
            return False  # a group the shop did not list: the bot serves only its own groups
        return await self.writer.handle(msg)

    def _changed(self, effect: Effect | None) -> None:
        """After a commit that changed orders: the workbook of that delivery date is due."""
        if effect is not None and (due := effect.workbook_due) is not None:
            self.exporter.mark(due)

    async def tell_staff(self, text: str) -> None:
        for staff in self.config.shop.staff:
            await self.outbox.put(Outgoing(text, to=staff))
        self.outbox.changed()

    async def recall(self, message_id: str, at: datetime) -> bool:
        """A member recalled a message: undo what it did, and say so. False if nothing to undo."""
        inbound = await InboundMessage.get_or_none(message_id=message_id)
        if inbound is None or not inbound.effect:
            return False
        async with self.writer.lock:
            async with transaction():
                inbound = await InboundMessage.filter(id=inbound.id).select_for_update().get()
                member = await Member.get_or_none(id=inbound.sender)
                text = await undo(inbound, self.config, self.services.products, self.services.orders,
                                  self.clock.now())
                effect = Effect.from_json(inbound.effect)
                if text is not None and effect is not None and (due := effect.workbook_due) is not None:
                    await mark_workbooks_due([due], self.clock.now())
                if text is not None:
                    origin = Incoming(message_id, inbound.sender, member.name if member else "",
                                      inbound.text, at, inbound.room)
                    await self.outbox.put(reply_to(origin, text))
            self.outbox.changed()
        if text is not None:
            self._changed(Effect.from_json(inbound.effect))
        return text is not None

    async def member_joined(self, room: str, member_id: str, name: str, inviter: str | None,
                            at: datetime) -> None:
        """A member joined a group: known from now on, with that group as home, and attributed
        to the member who invited them when the shop did not know them before."""
        async with self.writer.lock:
            async with transaction():
                met = await member_joined(room, member_id, name, inviter, at, self.config.shop.staff)
                notes = await welcome([m.id for m in met], self.config, at)
                if any(m.id == member_id and m.referrer_id is not None for m in met):  # type: ignore[attr-defined]
                    notes += await referral_friend(member_id, self.config, at)
                for note in notes:
                    await self.outbox.put(note)
            self.outbox.changed()

    async def knows(self, contact_id: str) -> bool:
        """Whether the contact is a member the shop knows (has seen in its groups)."""
        return await Member.exists(id=contact_id)

    async def friend_added(self, contact_id: str) -> int:
        """The contact became the shop account's friend: the private messages that waited for
        it go out. How many."""
        return await self.outbox.release(contact_id)

    async def export(self, delivery_date: date) -> Path | None:
        """Write the workbook now; None if the file is locked (it stays due, staff are told)."""
        return await self.exporter.write_now(delivery_date)
