"""接龙 lists: each version repeats the earlier lines; only what is new is an order.

Each version is compared with the previous version of the same list (same group, same title):
lines not in the previous version are orders of the member who sent this version. (Edits and
deletions of one's own lines are the next step: docs and issue 3.)
"""

from __future__ import annotations

from typing import Any

from bot.clock import Clock
from bot.config import Config
from bot.messages import Incoming
from bot.dispatcher import Router
from handlers.filters import Intent
from handlers.orders import effect, open_for_orders
from handlers.parsing import Offer, Parsed
from handlers.texts import changes_text, order_text
from models.orders import ADD, Change, change_order
from models.tables import ChainVersion, Community, Member

router = Router("chains")


@router.message(Intent("chain"))
async def on_chain(
    msg: Incoming, parsed: Parsed, member: Member, community: Community | None,
    reply: Any, offer: Offer, config: Config, clock: Clock,
) -> dict[str, Any] | None:
    """接龙：复制整个接龙、在最后加一行自己的订单"""
    now = clock.now()
    window = await open_for_orders(config, now, community, reply, "接龙请发在您小区的群里。")
    if window is None or community is None:
        return None
    previous = await ChainVersion.get_or_none(room=community.room, title=parsed.title)
    seen = {line["text"] for line in previous.lines} if previous else set()
    new_lines = [line for line in parsed.lines if line.text not in seen]
    snapshot = [{"seq": l.seq, "name": l.name, "text": l.text} for l in parsed.lines]
    if previous is None:
        await ChainVersion.create(room=community.room, title=parsed.title, lines=snapshot,
                                  message_id=msg.message_id, updated_at=now)
    else:
        previous.lines, previous.message_id, previous.updated_at = snapshot, msg.message_id, now
        await previous.save(update_fields=["lines", "message_id", "updated_at"])
    changes = [
        Change(product, ADD, item.qty)
        for line in new_lines for item in line.items
        if (product := offer.by_sku(item.sku)) is not None
    ]
    unreadable = [line for line in new_lines if not line.items]
    done, order = await change_order(member, community, window.delivery_date, changes, now)
    notes = [f"第{line.seq}行“{line.text}”没看懂，没有记下，请写“商品+数量”。" for line in unreadable]
    if done and order is not None:
        await reply(f"✅ 接龙已记下：{changes_text(done)}\n您的订单：{order_text(order)}"
                    + ("\n" + "\n".join(notes) if notes else ""))
    elif notes:
        await reply("\n".join(notes))
    return effect(done, window, community)
