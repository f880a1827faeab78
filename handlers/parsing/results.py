"""What a message means: frozen values the parser returns and `groupbuy parse` prints."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

STATE_CHANGING = frozenset({"order", "cancel", "modify", "join_groupbuy", "open_groupbuy", "chain"})


@dataclass(frozen=True)
class Item:
    sku: str
    qty: Decimal | None  # in the product's unit; None: "all of it" (cancel) or not given


@dataclass(frozen=True)
class ChainLine:
    seq: int
    name: str
    items: tuple[Item, ...]
    text: str = ""  # the line as written after the number, to tell an edit from a copy


@dataclass(frozen=True)
class Parsed:
    intent: str
    items: tuple[Item, ...] = ()
    lines: tuple[ChainLine, ...] = ()
    title: str = ""
    groupbuy: int | None = None
    reason: str = ""
    address: str = ""  # an address written with the order ("3栋502"), kept on the member
    suggestions: tuple[str, ...] = ()  # closest product names, for asking back
    code: str = ""  # a referral code the member sent (intent use_code)

    @property
    def changes_state(self) -> bool:
        return self.intent in STATE_CHANGING

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"intent": self.intent}
        if self.intent in ("order", "cancel", "modify"):
            out["items"] = [_item_json(i) for i in self.items]
        elif self.intent == "open_groupbuy":
            out["items"] = [{"sku": i.sku} for i in self.items]
        elif self.intent == "join_groupbuy":
            out["groupbuy"] = self.groupbuy
        elif self.intent == "chain":
            out["title"] = self.title
            out["lines"] = [
                {"seq": line.seq, "name": line.name, "items": [_item_json(i) for i in line.items]}
                for line in self.lines
            ]
        elif self.intent == "use_code":
            out["code"] = self.code
        elif self.intent == "unclear":
            out["reason"] = self.reason
            if self.suggestions:
                out["suggestions"] = list(self.suggestions)
        if self.address:
            out["address"] = self.address
        return out


def json_number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _item_json(item: Item) -> dict[str, Any]:
    return {"sku": item.sku, "qty": json_number(item.qty)}


NONE = Parsed("none")
