"""What the running bot gives jobs (whole) and handlers (by name, each asking for what it
needs): the shop's config, its offer, the clock, the outbox, rewards, the order path."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.protocols import Export, PacedPostbox, Reachable, everyone
from models.catalog import Offer, Product
from models.orderbook import StoredOrders
from models.points import Rewards


@dataclass(frozen=True)
class Services:
    config: Config
    offer: Offer
    products: tuple[Product, ...]  # every catalog product, active or not
    clock: Clock
    outbox: PacedPostbox
    export: Export  # write a delivery date's workbook now
    rewards: Rewards  # points for orders and referrals
    orders: StoredOrders  # the order handler's reads and writes (a batch passes its OrderBook)
    reachable: Reachable = everyone  # whether a contact can be messaged privately now

    def by_name(self) -> dict[str, object]:
        """What a handler may ask for, by parameter name (bot.core.dispatcher)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}
