"""A recalled message undoes what it did, and the bot says so.

Each handled message keeps what it changed (`InboundMessage.effect`): per product the quantity
before and after. Undoing applies the opposite change to the order as it is now, so later
messages stay in force; a recalled 接龙 version also puts the sender's lines back as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.core.config import Config
from bot.core.effects import Effect
from handlers.orders import confirmation, ordering_window
from handlers.parsing.chains import OwnedLine
from models.catalog import Product
from models.orderbook import StoredOrders
from models.orders import ADD, REMOVE, Change, change_order
from models.tables import ChainVersion, Community, InboundMessage, Member, OrderLine


async def undo(inbound: InboundMessage, config: Config, products: tuple[Product, ...], orders: StoredOrders,
               now: datetime) -> str | None:
    """Undo a message's effect; the reply to its sender, or None if it changed nothing."""
    recorded = Effect.from_json(inbound.effect)
    if recorded is None or not recorded.changes or recorded.undone:
        return None
    window = await ordering_window(config, now)
    if not window.open or window.delivery_date != recorded.delivery_date:
        return "您撤回了一条订单消息，但已经截单，订单没有改动；如需修改请联系店员。"
    member = await Member.get(id=inbound.sender)
    community = await Community.get(room=recorded.room)
    changes = []
    for sku, before, after in recorded.changes:
        delta = Decimal(after) - Decimal(before)
        product = await _product(sku, products)
        changes.append(Change(product, REMOVE if delta > 0 else ADD, abs(delta)))
    result = await change_order(member, community, window.delivery_date, changes, now)
    if recorded.chain is not None and recorded.room is not None:
        await _restore_chain_lines(recorded.room, recorded.chain, member.id)
    inbound.effect = recorded.recalled().to_json()
    await inbound.save(update_fields=["effect"])
    return confirmation(result, window, "↩️ 您撤回了消息，订单已相应撤销。")


async def _product(sku: str, products: tuple[Product, ...]) -> Product:
    known = next((p for p in products if p.sku == sku), None)
    if known is not None:
        return known
    line = await OrderLine.filter(sku=sku).order_by("-id").first()
    name, unit, price = (line.name, line.unit, line.price) if line else (sku, "", Decimal(0))
    return Product(sku, name, unit, price)


async def _restore_chain_lines(room: str, chain: Mapping[str, Any], member_id: str) -> None:
    version = await ChainVersion.get_or_none(room=room, title=chain["title"])
    if version is None:
        return
    after = {OwnedLine.from_json(line).text for line in chain["after"]}
    kept = [line for line in version.lines
            if not (line["owner"] == member_id and line["text"] in after)]
    version.lines = kept + list(chain["before"])
    await version.save(update_fields=["lines"])
