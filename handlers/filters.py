"""Filters: each returns False (not for this handler) or a dict of what it parsed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.dispatcher import Context
from bot.core.messages import Incoming
from handlers.parsing import Parsed, parse


def parsed_of(msg: Incoming, context: Context) -> Parsed:
    """The message's meaning, parsed once per message whichever filters ask."""
    return context.once("parsed", lambda: parse(msg.text, context.services["offer"]))  # type: ignore[no-any-return]


class Intent:
    """Messages the parser reads as one of these intents; passes `parsed`."""

    def __init__(self, *intents: str) -> None:
        self.intents = frozenset(intents)

    def __call__(self, msg: Incoming, context: Context) -> bool | Mapping[str, Any]:
        if msg.text.lstrip().startswith("/"):
            return False
        parsed = parsed_of(msg, context)
        return {"parsed": parsed} if parsed.intent in self.intents else False


class Command:
    """`/name args...`; passes `args` (the rest of the text, stripped)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, msg: Incoming, context: Context) -> bool | Mapping[str, Any]:
        text = msg.text.strip()
        head, _, rest = text.partition(" ")
        if head != f"/{self.name}":
            return False
        return {"args": rest.strip()}


def is_staff(msg: Incoming, context: Context) -> bool:
    return msg.sender_id in context.services["config"].shop.staff


def any_command(msg: Incoming, context: Context) -> bool | Mapping[str, Any]:
    text = msg.text.strip()
    if not text.startswith("/") or len(text) < 2:
        return False
    return {"command": text.split()[0]}
