"""What a message means: frozen values the parser returns and `groupbuy parse` prints."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

STATE_CHANGING = frozenset({"order", "cancel", "modify", "change", "join_groupbuy", "open_groupbuy", "chain"})

# What an item asks for (the `op` of the contract's `change` intent).
ADD, SET_OP, CANCEL_OP = "add", "set", "cancel"
INTENT_OF_OP = {ADD: "order", SET_OP: "modify", CANCEL_OP: "cancel"}


@dataclass(frozen=True, slots=True)
class Item:
    sku: str
    qty: Decimal | None  # in the product's unit; None: "all of it" (cancel) or not given
    op: str = ADD


@dataclass(frozen=True, slots=True)
class ChainLine:
    seq: int
    name: str
    items: tuple[Item, ...]
    text: str = ""  # the line as written after the number, to tell an edit from a copy


@dataclass(frozen=True, slots=True)
class Parsed:
    intent: str
    items: tuple[Item, ...] = ()
    lines: tuple[ChainLine, ...] = ()
    title: str = ""
    groupbuy: int | None = None
    reason: str = ""  # unclear: the question to ask back, in the shop's words
    address: str = ""  # an address written with the order or alone ("3栋502"), kept on the member
    phone: str = ""  # a phone number written with the order or alone, kept on the member
    suggestions: tuple[str, ...] = ()  # closest product names, for asking back
    code: str = ""  # a referral code the member sent (intent use_code)
    reward: int | None = None  # redeem: the number of the [[reward]] asked for (from 1)
    # unclear: what "对" would do (items with their op), and the products whose quantity the
    # question asks for (sku, op): the member's next "3斤" answers it.
    proposal: tuple[Item, ...] = ()
    awaiting: tuple[tuple[str, str], ...] = ()
    unknown: tuple[str, ...] = ()  # names asked for that the offer does not have
    # a message that is only a quantity ("3斤", "2"): the answer to a question, if one waits
    answer_qty: Decimal | None = None
    answer_unit: str | None = None
    birthday: str = ""  # set_birthday: "MM-DD"; "" none given; "?" no such day
    # ask_product: "price" (what it costs), "have" (whether it is on offer today; `unknown` names
    # what the offer does not have); query_time: "delivery" or "cutoff"
    about: str = ""
    ordering: bool = False  # chain: the list orders products (not a sign-up or roll-call)
    explain: tuple[str, ...] = ()  # with explain=True: which words were read as what, and the rule

    @property
    def changes_state(self) -> bool:
        return self.intent in STATE_CHANGING

    def to_json(self, explain: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"intent": self.intent}
        if self.intent in ("order", "cancel", "modify"):
            out["items"] = [_item_json(i) for i in self.items]
        elif self.intent == "change":
            out["items"] = [{**_item_json(i), "op": i.op} for i in self.items]
        elif self.intent in ("open_groupbuy", "ask_product"):
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
        elif self.intent == "redeem":
            out["reward"] = self.reward
        elif self.intent == "set_birthday":
            out["birthday"] = self.birthday if self.birthday not in ("", "?") else None
        elif self.intent == "unclear":
            out["reason"] = self.reason
            if self.suggestions:
                out["suggestions"] = list(self.suggestions)
            if self.proposal:
                out["proposal"] = [{**_item_json(i), "op": i.op} for i in self.proposal]
        if self.address:
            out["address"] = self.address
        if self.phone:
            out["phone"] = self.phone
        if explain:
            out["explain"] = list(self.explain)
        return out


def json_number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _item_json(item: Item) -> dict[str, Any]:
    return {"sku": item.sku, "qty": json_number(item.qty)}


NONE = Parsed("none")
