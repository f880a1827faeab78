"""Group-buy expiry: one idempotent sweep, not a job per group-buy.

An open group-buy whose deadline has passed fails (models.groupbuys.fail_expired decides with
a guarded UPDATE, so two sweeps at once announce it once): no orders, the stock its members
held is given back, every group it was shown in is told, and each member who joined gets the
shop's follow-up ([groupbuy] followup) privately.
"""

from __future__ import annotations

from datetime import datetime


from bot.core.config import Config
from bot.core.messages import Outgoing
from jobs.services import Services
from handlers.announcements import announce
from models.coupons import give_each, notices
from models.db import transaction
from models.groupbuys import fail_expired
from models.tables import GroupBuy


async def next_expiry(config: Config) -> datetime | None:
    first = await GroupBuy.filter(state="open").order_by("deadline").first()
    return first.deadline if first else None


async def expire_groupbuys(now: datetime, services: Services) -> int:
    config, outbox = services.config, services.outbox
    async with transaction():
        failed = await fail_expired(now)
        for closed in failed:
            groupbuy = closed.groupbuy
            missing = groupbuy.size - len(closed.participants)
            await announce(groupbuy, f"拼团#{groupbuy.id}（{groupbuy.name}，{groupbuy.size}人团）到截止时间还差"
                           f"{missing}人，未能成团，不会下单扣款。谢谢大家参与！", outbox, config,
                           mention=True)
            if config.groupbuy.followup:
                for member in closed.participants:
                    await outbox.put(Outgoing(config.groupbuy.followup, to=member))
            if template := config.coupons.groupbuy_failed:
                given = await give_each(closed.participants, [template], f"groupbuy_failed:{groupbuy.id}", config, now)
                for note in notices(given, f"拼团#{groupbuy.id}没有成团，送您一张券补偿", config.timezone):
                    await outbox.put(note)
    if failed:
        outbox.changed()
    return len(failed)
