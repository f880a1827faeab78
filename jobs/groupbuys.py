"""Group-buy expiry: one idempotent sweep, not a job per group-buy.

An open group-buy whose deadline has passed fails; a guarded UPDATE (state still "open")
decides who tells the members, so two sweeps at once announce it once.
"""

from __future__ import annotations

from datetime import datetime

from bot.messages import Outgoing
from bot.services import Services
from models.tables import Community, GroupBuy, GroupBuyParticipant


async def next_expiry() -> datetime | None:
    first = await GroupBuy.filter(state="open").order_by("deadline").first()
    return first.deadline if first else None


async def expire_groupbuys(now: datetime, services: Services) -> int:
    expired = 0
    for groupbuy in await GroupBuy.filter(state="open", deadline__lte=now).order_by("id"):
        if not await GroupBuy.filter(id=groupbuy.id, state="open").update(state="failed"):
            continue  # another sweep had it
        expired += 1
        participants = [str(m) for m in await GroupBuyParticipant.filter(groupbuy_id=groupbuy.id)
                        .values_list("member_id", flat=True)]
        product = services.offer.by_sku(groupbuy.sku)
        name = product.name if product else groupbuy.sku
        text = (f"拼团#{groupbuy.id}（{name}，{groupbuy.size}人团）到截止时间还差"
                f"{groupbuy.size - len(participants)}人，未能成团，不会扣款下单。谢谢大家参与！")
        rooms = ([c.room for c in await Community.filter(id=groupbuy.community_id)]  # type: ignore[attr-defined]
                 if groupbuy.community_id else [g.room for g in services.config.groups])  # type: ignore[attr-defined]
        for room in rooms:
            await services.outbox.put(Outgoing(text, room=room, mentions=tuple(participants),
                                               broadcast=True))
    if expired:
        services.outbox.changed()
    return expired
