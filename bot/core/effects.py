"""What a handled message changed: a frozen value handlers return, kept on the message's
inbound record (`InboundMessage.effect`, as JSON) so that a recall can undo it; after the
commit, a change of orders makes that delivery date's workbook due."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Effect:
    # The sender's order in `room` for `delivery_date`: per product (sku, before, after), the
    # quantities as strings. None: the message changed no order of its sender's.
    changes: tuple[tuple[str, str, str], ...] | None = None
    delivery_date: date | None = None
    room: str | None = None
    # A 接龙 version: its title and the sender's lines before and after (a recall restores them).
    chain: Mapping[str, Any] | None = None
    orders: tuple[int, ...] | None = None  # orders changed besides the sender's (接龙 authors, a group-buy)
    ask: Mapping[str, Any] | None = None  # the question asked back (handlers.asks)
    groupbuy: int | None = None  # the group-buy the message opened, joined or cancelled
    undone: bool = False  # recalled, and undone

    @property
    def workbook_due(self) -> date | None:
        """The delivery date whose workbook this effect changed, if any."""
        return self.delivery_date if self.changes or self.orders else None

    def recalled(self) -> Effect:
        return replace(self, undone=True)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.changes is not None:
            out["changes"] = [list(change) for change in self.changes]
        if self.delivery_date is not None:
            out["delivery_date"] = self.delivery_date.isoformat()
        if self.room is not None:
            out["room"] = self.room
        if self.chain is not None:
            out["chain"] = dict(self.chain)
        if self.orders is not None:
            out["orders"] = list(self.orders)
        if self.ask is not None:
            out["ask"] = dict(self.ask)
        if self.groupbuy is not None:
            out["groupbuy"] = self.groupbuy
        if self.undone:
            out["undone"] = True
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Effect | None:
        if not data:
            return None
        changes = data.get("changes")
        orders = data.get("orders")
        delivery = data.get("delivery_date")
        return cls(
            changes=None if changes is None else tuple((str(s), str(b), str(a)) for s, b, a in changes),
            delivery_date=date.fromisoformat(delivery) if delivery else None,
            room=data.get("room"),
            chain=data.get("chain"),
            orders=None if orders is None else tuple(int(o) for o in orders),
            ask=data.get("ask"),
            groupbuy=data.get("groupbuy"),
            undone=bool(data.get("undone", False)),
        )
