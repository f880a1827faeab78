"""The order book's rows in memory (models.orderbook): plain objects with the tables' columns,
because a tortoise model checks every attribute set, which costs more than the rest of a chat
order. Each row type has exactly its table's columns and defaults, and the columns the book
writes are read off the row types: tests/test_batch.py holds both against the tortoise
models, so a column added to a table fails there rather than silently inside a batch."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any


@dataclass(slots=True, eq=False)
class BookMember:  # member
    id: str
    name: str
    first_seen: datetime
    last_seen: datetime
    points: int = 0
    referrer_id: str | None = None
    home_id: int | None = None
    code: str | None = None
    referred_via: str = ""
    referred_at: datetime | None = None
    ask: dict[str, Any] | None = None  # the question waiting for this member's answer (handlers.asks)
    # Stored value: read with the member, never changed by the book (models.wallet does).
    wallet_principal: Decimal = Decimal(0)
    wallet_bonus: Decimal = Decimal(0)
    unsubscribed: bool = False  # read with the member, changed only by 退订 / 订阅
    level: int = 0  # read with the member, changed only by models.levels
    level_since: datetime | None = None
    birthday: str = ""  # read with the member, changed only by 生日
    birthday_set_at: datetime | None = None


@dataclass(slots=True, eq=False)
class BookContact:  # member_contact: written by its key (member, community)
    member_id: str
    community_id: int
    address: str
    phone: str
    updated_at: datetime
    id: int | None = None  # not read back: the key finds the row


@dataclass(slots=True, eq=False)
class BookOrder:  # orders
    member_id: str
    community_id: int
    delivery_date: date
    status: str
    created_at: datetime
    updated_at: datetime
    groupbuy_no: int = 0
    id: int | None = None  # None until written


@dataclass(slots=True, eq=False)
class BookLine:  # order_line
    sku: str
    name: str
    unit: str
    price: Decimal
    qty: Decimal
    note: str
    status: str
    updated_at: datetime
    order_id: int | None = None


def _columns(row: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(row))


MEMBER_COLUMNS = _columns(BookMember)
MEMBER_UPDATE = ("name", "home_id", "last_seen")  # what a message changes often
MEMBER_DETAILS = ("ask",)  # what it changes now and then
CONTACT_INSERT = tuple(name for name in _columns(BookContact) if name != "id")
CONTACT_UPDATE = ("address", "phone", "updated_at")
CONTACT_KEY = ("member_id", "community_id")
ORDER_INSERT = tuple(name for name in _columns(BookOrder) if name != "id")  # the id comes back
ORDER_KEY = ("member_id", "community_id", "delivery_date", "groupbuy_no")
LINE_COLUMNS = _columns(BookLine)
LINE_KEY = ("order_id", "sku")
# Rows the book only ever inserts are tuples in these columns' order (cheaper still).
ASK_INSERT = ("member_id", "sku", "asked_on", "asked_at")  # product_ask: one per member, product and day
INBOUND_INSERT = ("message_id", "room", "sender", "text", "received_at", "intent", "effect")
OUTBOX_INSERT = ("room", "to", "text", "mentions", "file", "broadcast", "status", "created_at", "sent_at",
                 "attempts", "retry_at")
