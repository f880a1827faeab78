"""Where the order handler's reads and writes go: one message at a time, or a whole batch.

`StoredOrders` reads and writes each change as it happens (the per-message path).

`OrderBook` serves a batch of messages the writer (bot.writer) handles in one transaction: it
reads the senders, their orders of the open delivery date, those orders' lines and the stock
rows once for the whole batch (locking the rows on
PostgreSQL), applies each message's changes in memory with the same `apply_changes` as the
per-message path, and writes everything with one statement per table and kind of write. The
messages it takes are the common ones: keyword orders and chat in a group. Before any other
message is handled the usual way, the book writes what it holds (`flush`) and forgets what
it read, so that the other handler sees the database as it is and the book reads it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from bot.core.config import Config
from bot.core.effects import Effect
from bot.core.messages import Incoming, Outgoing
from bot.core.protocols import Postbox
from models.catalog import Product
from models.days import Window, current_window
from models.orders import (
    ADD, LINE_FIELDS, SET, Change, OrderResult, apply_changes, change_order, holds, status_of, view_of,
)
from models.bookrows import (
    ASK_INSERT, CONTACT_INSERT, CONTACT_KEY, CONTACT_UPDATE, INBOUND_INSERT, LINE_COLUMNS, LINE_KEY, MEMBER_COLUMNS,
    MEMBER_DETAILS, MEMBER_UPDATE, ORDER_INSERT, ORDER_KEY, OUTBOX_INSERT, BookContact, BookLine, BookMember,
    BookOrder,
)
from models.contacts import Contact, Contacts, contact_of, keep
from models.coupons import welcome
from models.members import seen
from models.facts import note_asks
from models.rows import delete_many, insert_ignoring, insert_many, insert_returning, of, select_in, update_many
from models.stock import StockRows
from models.tables import (
    Community, InboundMessage, Member, MemberContact, Order, OrderLine, OutboxMessage, ProductAsk,
)

class StoredOrders:
    """The per-message path: every read and write goes to the database as it happens."""

    def __init__(self, config: Config, outbox: Postbox) -> None:
        self.config, self.outbox = config, outbox

    async def window(self, now: datetime) -> Window:
        return await current_window(now, self.config.schedule, self.config.timezone)

    async def change(self, member: Member, community: Community, delivery_date: date,
                     changes: Sequence[Change], now: datetime) -> OrderResult:
        return await change_order(member, community, delivery_date, changes, now)

    async def contact(self, member: Member, community: int | None) -> Contact:
        """The member's address for this community and her phone (models.contacts)."""
        return (await Contacts.read([member.id])).of(member.id, community)

    async def set_contact(self, member: Member, community: int, now: datetime, *, address: str | None = None,
                          phone: str | None = None) -> None:
        await keep(member.id, community, now, address=address, phone=phone)

    async def set_ask(self, member: Member, ask: dict[str, Any] | None) -> None:
        member.ask = ask
        await member.save(update_fields=["ask"])

    async def note_asks(self, member: Member, skus: Sequence[str], at: datetime) -> None:
        """The member asked about these products (models.facts: 只看不买)."""
        await note_asks(member.id, skus, at, self.config.timezone)

    async def put(self, message: Outgoing) -> int | None:
        return await self.outbox.put(message)


Key = tuple[str, int]  # (member, community): a member's own order of the book's delivery date


class OrderBook:
    """A batch's members and orders, read once, changed in memory, written once (see above)."""

    def __init__(self, config: Config, products: Sequence[Product], now: datetime, lock: bool) -> None:
        self.config, self.products, self.now = config, products, now
        self.lock = lock  # SELECT ... FOR UPDATE (PostgreSQL; SQLite has one writer anyway)
        self.forget()

    def forget(self) -> None:
        """Forget what was read (after a handler that may have written to the same rows); the
        next message the book takes reads again. Call `flush` first."""
        self.loaded = False
        self.members: dict[str, BookMember] = {}
        self.orders: dict[Key, BookOrder] = {}
        self.rows: dict[Key, list[BookLine]] = {}
        self.contacts: dict[str, dict[int, BookContact]] = {}  # member -> community -> row
        self._pending()

    def _pending(self) -> None:
        self.new_members: list[BookMember] = []
        self.dirty_members: dict[str, BookMember] = {}
        self.detailed_members: dict[str, BookMember] = {}  # the question changed
        self.new_contacts: dict[Key, BookContact] = {}
        self.dirty_contacts: dict[Key, BookContact] = {}
        self.new_orders: list[BookOrder] = []
        self.dirty_orders: dict[Key, BookOrder] = {}
        self.created: list[tuple[Key, BookLine]] = []
        self.updated: list[BookLine] = []
        self.deleted: list[BookLine] = []
        self.touched: dict[Key, None] = {}  # orders changed, not written yet
        self.inbound: list[tuple[Any, ...]] = []
        self.outbox: list[tuple[Any, ...]] = []
        self.asks: dict[tuple[str, str, date], datetime] = {}  # (member, product, day): first asked

    def pending_for(self, member_id: str) -> bool:
        """Whether a change of this member's orders waits to be written."""
        return any(key[0] == member_id for key in self.touched)

    async def load(self, msgs: Sequence[Incoming]) -> None:
        """Read what these messages may change: their senders, the senders' orders of the open
        delivery date with their lines, and the stock rows of that date."""
        self._window = await current_window(self.now, self.config.schedule, self.config.timezone)
        delivery = self._window.delivery_date
        self.stock = StockRows(delivery)
        ids = sorted({msg.sender_id for msg in msgs})
        for row in await select_in(Member, MEMBER_COLUMNS, "id", ids, lock=self.lock):
            self.members[row["id"]] = BookMember(**row)
        for row in await select_in(MemberContact, CONTACT_INSERT, "member_id", ids):
            contact = BookContact(**row)
            self.contacts.setdefault(contact.member_id, {})[contact.community_id] = contact
        equal = {"delivery_date": delivery, "groupbuy_no": 0}
        by_id: dict[int, Key] = {}
        for row in await select_in(Order, (*ORDER_INSERT, "id"), "member_id", ids, equal, lock=self.lock):
            order = BookOrder(**row)
            key = (order.member_id, order.community_id)
            self.orders[key], self.rows[key] = order, []
            by_id[row["id"]] = key
        for row in await select_in(OrderLine, LINE_COLUMNS, "order_id", list(by_id)):
            self.rows[by_id[row["order_id"]]].append(BookLine(**row))
        await self.stock.read(self.products)
        self.loaded = True

    def member(self, msg: Incoming, community: Community) -> BookMember:
        member = self.members.get(msg.sender_id)
        if member is None:
            member = self.members[msg.sender_id] = BookMember(
                id=msg.sender_id, name=msg.sender_name[:128], first_seen=msg.at, last_seen=msg.at,
                home_id=community.id)
            self.new_members.append(member)
        elif seen(member, msg, community):
            self._dirty(member)
        return member

    def _dirty(self, member: BookMember, details: bool = False) -> None:
        if not holds(self.new_members, member):
            (self.detailed_members if details else self.dirty_members)[member.id] = member

    def record(self, msg: Incoming, intent: str, effect: Effect | None) -> None:
        """The inbound record of a message the book took."""
        self.inbound.append((msg.message_id, msg.room, msg.sender_id, msg.text[:10_000], msg.at, intent,
                             effect.to_json() if effect is not None else None))

    # What the order handler asks for (the same as StoredOrders):

    async def window(self, now: datetime) -> Window:
        return self._window

    async def change(self, member: Member | BookMember, community: Community, delivery_date: date,
                     changes: Sequence[Change], now: datetime) -> OrderResult:
        assert delivery_date == self._window.delivery_date
        key = (member.id, community.id)
        order = self.orders.get(key)
        new = order is None
        if order is None:
            if not any(c.mode in (ADD, SET) and c.qty for c in changes):
                return OrderResult([], None)
            order = self.orders[key] = BookOrder(member.id, community.id, delivery_date, "placed", now, now)
            self.rows[key] = []
            self.new_orders.append(order)
        rows = self.rows[key]
        await self.stock.lock([change.product for change in changes])
        done = apply_changes(rows, changes, self.stock, now, BookLine)
        self.created.extend((key, line) for line in done.created)
        for line in done.updated:
            if not holds(self.updated, line):
                self.updated.append(line)
        for line in done.deleted:
            if any(row is line for _, row in self.created):  # not written yet: never will be
                self.created = [(k, row) for k, row in self.created if row is not line]
            else:
                self.updated = [row for row in self.updated if row is not line]
                self.deleted.append(line)
        if done.changes:
            order.status, order.updated_at = status_of(rows), now
            if order.id is not None:
                self.dirty_orders[key] = order
            self.touched[key] = None
        return OrderResult(done.changes, view_of(order, community, rows), done.short, done.sold_out, new)

    async def contact(self, member: Member | BookMember, community: int | None) -> Contact:
        return contact_of(self.contacts.get(member.id, {}).values(), member.id, community)

    async def set_contact(self, member: Member | BookMember, community: int, now: datetime, *,
                          address: str | None = None, phone: str | None = None) -> None:
        key = (member.id, community)
        mine = self.contacts.setdefault(member.id, {})
        row = mine.get(community)
        if row is None:
            row = mine[community] = self.new_contacts[key] = BookContact(member.id, community, "", "", now)
        elif key not in self.new_contacts:
            self.dirty_contacts[key] = row
        if address is not None:
            row.address = address[:128]
        if phone is not None:
            row.phone = phone[:32]
        row.updated_at = now

    async def note_asks(self, member: Member | BookMember, skus: Sequence[str], at: datetime) -> None:
        on = at.astimezone(self.config.timezone).date()
        for sku in skus:
            self.asks.setdefault((member.id, sku, on), at)

    async def set_ask(self, member: Member | BookMember, ask: dict[str, Any] | None) -> None:
        assert isinstance(member, BookMember)
        member.ask = ask
        self._dirty(member, details=True)

    async def put(self, message: Outgoing) -> int | None:
        self.outbox.append((message.room, message.to, message.text, list(message.mentions), message.file,
                            message.broadcast, "pending", self.now, None, 0, None))
        return None  # written with the batch

    async def flush(self) -> None:
        """Write everything held, in an order the foreign keys and unique keys allow. What was
        read stays (lines are written by order and product, so rows inserted without reading
        their ids back can still be changed)."""
        await insert_many(Member, MEMBER_COLUMNS, of(self.new_members, MEMBER_COLUMNS))
        for message in await welcome([member.id for member in self.new_members], self.config, self.now):
            await self.put(message)
        if self.new_orders:
            await insert_returning(Order, ORDER_INSERT, self.new_orders, ORDER_KEY)
        for key, line in self.created:
            line.order_id = self.orders[key].id
        await delete_many(OrderLine, self.deleted, LINE_KEY)  # first: a product removed and ordered again
        await insert_many(OrderLine, LINE_COLUMNS, of([line for _, line in self.created], LINE_COLUMNS))
        await update_many(OrderLine, LINE_FIELDS, self.updated, LINE_KEY)
        await update_many(Order, ("status", "updated_at"), list(self.dirty_orders.values()))
        if self.loaded:
            await self.stock.save()
        await update_many(Member, MEMBER_UPDATE, list(self.dirty_members.values()))
        await update_many(Member, MEMBER_DETAILS, list(self.detailed_members.values()))
        await insert_many(MemberContact, CONTACT_INSERT, of(list(self.new_contacts.values()), CONTACT_INSERT))
        await update_many(MemberContact, CONTACT_UPDATE, list(self.dirty_contacts.values()), CONTACT_KEY)
        await insert_ignoring(ProductAsk, ASK_INSERT, [(m, sku, on, at) for (m, sku, on), at in self.asks.items()])
        await insert_many(InboundMessage, INBOUND_INSERT, self.inbound)
        await insert_many(OutboxMessage, OUTBOX_INSERT, self.outbox)
        self._pending()
