"""What handlers and jobs are given: the shop's config, its offer, the clock, the outbox, rewards."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bot.core.clock import Clock
from bot.core.config import Config
from bot.outbox import Outbox
from models.catalog import Offer, Product
from models.orderbook import StoredOrders
from models.points import Rewards


@dataclass(frozen=True)
class Services:
    config: Config
    offer: Offer
    products: tuple[Product, ...]  # every catalog product, active or not
    clock: Clock
    outbox: Outbox
    export: Callable[[date], Awaitable[Path | None]]  # write a delivery date's workbook now
    rewards: Rewards  # points for orders and referrals
    orders: StoredOrders  # the order handler's reads and writes (a batch passes its OrderBook)

    def as_kwargs(self) -> dict[str, object]:
        return {"config": self.config, "offer": self.offer, "products": self.products,
                "clock": self.clock, "outbox": self.outbox, "export": self.export,
                "rewards": self.rewards, "orders": self.orders, "services": self}
