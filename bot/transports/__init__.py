"""Transports: a chat network on one side, the bot on the other.

A transport turns its network's events into `Incoming` messages and hands them to
`Bot.handle` (and joins to `Bot.member_joined`); the bot sends through the transport's `send`,
always via the paced outbox. Only modules here (and bot/web) import network libraries.
"""

from __future__ import annotations

from typing import Protocol

from bot.core.messages import Outgoing


class Transport(Protocol):
    async def send(self, message: Outgoing) -> None:
        """Deliver one message now; raise if it could not be delivered (the outbox records it)."""
