"""接龙 lists in a group: each version changes only what it changed (handlers.parsing.chains).

The merged list, with the owner of each line, is kept per group, title and order date, so a
list with the same title next week starts afresh.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.dispatcher import Router
from bot.core.effects import Effect
from bot.core.messages import Incoming, Outgoing
from bot.core.protocols import Postbox, Reply
from handlers.announcements import announce_sold_out
from handlers.filters import Intent
from handlers.orders import confirmation, contact_prompt, effect, open_for_orders
from handlers.parsing import Parsed
from handlers.parsing.chains import ChainDiff, OwnedLine, diff_by_author, diff_chain
from models.coupons import welcome
from models.catalog import Offer
from models.days import Window
from models.orderbook import StoredOrders
from models.orders import ADD, REMOVE, Change, change_order
from models.tables import ChainVersion, Community, Member

router = Router("chains")


async def load_chain(room: str, title: str, now: datetime, config: Config) -> ChainVersion | None:
    """The list's latest version today, or None (never seen, or from an earlier order date)."""
    version = await ChainVersion.get_or_none(room=room, title=title)
    if version is None:
        return None
    if version.updated_at.astimezone(config.timezone).date() != now.astimezone(config.timezone).date():
        return None
    return version


async def save_chain(version: ChainVersion | None, room: str, title: str, lines: list[OwnedLine],
                     message_id: str, now: datetime) -> None:
    data = [line.to_json() for line in lines]
    if version is None:
        await ChainVersion.update_or_create(
            room=room, title=title,
            defaults={"lines": data, "message_id": message_id, "updated_at": now},
        )
    else:
        version.lines, version.message_id, version.updated_at = data, message_id, now
        await version.save(update_fields=["lines", "message_id", "updated_at"])


@router.message(Intent("chain"))
async def on_chain(
    msg: Incoming, parsed: Parsed, member: Member, community: Community | None,
    reply: Reply, offer: Offer, config: Config, clock: Clock, outbox: Postbox, orders: StoredOrders,
) -> Effect | None:
    """接龙：复制整个接龙、在最后加一行自己的订单；改自己那行就是改单，删掉就是取消"""
    now = clock.now()
    window = await open_for_orders(orders, now, community, reply, "接龙请发在您小区的群里。")
    if window is None or community is None:
        return None
    version = await load_chain(community.room, parsed.title, now, config)
    previous = [OwnedLine.from_json(line) for line in version.lines] if version else None
    if msg.chain_authors:
        return await _by_authors(msg, parsed, member, community, version, previous, window, reply,
                                 offer, outbox, config, orders, now)
    diff = diff_chain(previous, parsed.lines, member.id, member.name)
    before_mine = [line for line in previous or [] if line.owner == member.id]
    await save_chain(version, community.room, parsed.title, list(diff.state), msg.message_id, now)

    changes = _changes_of(diff, offer)
    names = diff.notes(member.name)
    result = await change_order(member, community, window.delivery_date, changes, now,
                                note=f"代接:{'、'.join(names)}" if names else "")
    notes = _unreadable(diff) if parsed.ordering else []  # a sign-up or roll-call orders nothing
    if diff.others_changed and parsed.ordering:
        notes.append("别人的接龙行只能本人修改，这次没有改动。")
    if result.changes or result.short:
        text = confirmation(result, window, "📝 接龙已收到")
        if names:
            text += f"\n（代接：{'、'.join(names)}，记在您的订单里）"
        if result.new and result.order is not None and result.order.lines:
            text = "\n".join(filter(None, [text, contact_prompt(await orders.contact(member, community.id), config)]))
        await reply("\n".join([text, *notes]))
    elif notes:
        await reply("\n".join(notes))
    await announce_sold_out(result, outbox, config)
    chain = {"title": parsed.title, "before": [line.to_json() for line in before_mine],
             "after": [line.to_json() for line in diff.sender_lines(member.id)]}
    return replace(effect(result.changes, window, community), chain=chain)


def _changes_of(diff: ChainDiff, offer: Offer) -> list[Change]:
    return [Change(product, ADD if delta > 0 else REMOVE, abs(delta))
            for sku, delta in diff.deltas().items() if (product := offer.by_sku(sku)) is not None]


def _unreadable(diff: ChainDiff) -> list[str]:
    return [f"第{line.seq}行“{line.text}”没看懂，没有记下，请写“商品+数量”。" for line in diff.unreadable]


async def _by_authors(msg: Incoming, parsed: Parsed, member: Member, community: Community,
                      version: ChainVersion | None, previous: list[OwnedLine] | None, window: Window,
                      reply: Reply, offer: Offer, outbox: Postbox, config: Config, orders: StoredOrders,
                      now: datetime) -> Effect | None:
    """WeChat's built-in 接龙: every entry is its author's order (the wxid on the entry), so a
    version relayed by one member changes each author's own order and nobody else's."""
    state, diffs = diff_by_author(previous, parsed.lines, msg.chain_authors)
    await save_chain(version, community.room, parsed.title, list(state), msg.message_id, now)
    changed: list[int] = []
    recorded = Effect(delivery_date=window.delivery_date)
    for author, diff in diffs.items():
        changes = _changes_of(diff, offer)
        if not changes and not diff.unreadable:
            continue
        if author == member.id:
            who = member
        else:
            name = next((line.name for line in diff.state if line.name), "") or author
            who, created = await Member.get_or_create(
                id=author, defaults={"name": name[:128], "first_seen": now, "last_seen": now, "home": community})
            if created:
                for note in await welcome([who.id], config, now):
                    await outbox.put(note)
        result = await change_order(who, community, window.delivery_date, changes, now)
        if result.changes and result.order is not None:
            changed.append(result.order.id)
        confirmed = [confirmation(result, window, "📝 接龙已收到")] if result.changes or result.short else []
        text = "\n".join([*confirmed, *(_unreadable(diff) if parsed.ordering else [])])
        if author == member.id:
            if text:
                await reply(text)
            recorded = effect(result.changes, window, community)  # the sender's: a recall undoes it
        elif text:
            await outbox.put(Outgoing(f"@{who.name} {text}", room=community.room, mentions=(who.id,)))
        await announce_sold_out(result, outbox, config)
    return replace(recorded, orders=tuple(changed)) if changed else None
