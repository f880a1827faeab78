"""`groupbuy replay`: the whole bot against a scripted conversation on a virtual clock
(docs/CONTRACTS.md section 3). Writes transcript.jsonl, state.json and the spreadsheets."""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.app import Bot
from bot.core.config import Config
from bot.core.messages import Incoming
from bot.harness import start_harness
from bot.leader import startup_lock
from bot.transports.memory import MemoryTransport
from handlers.parsing.results import json_number
from models.contacts import Contacts
from models.levels import level_name
from models.points import Rewards
from models.campaigns import effect, effect_json
from models.segments import member_facts
from models.db import close_database, open_database, wipe
from models.state import get_state, set_state
from models.tables import (
    Campaign, CampaignMember, Coupon, GroupBuy, GroupBuyParticipant, InboundMessage, Member, Order, OrderLine,
    PointEntry, Settlement, WalletEntry,
)

log = logging.getLogger(__name__)

EVENT_KINDS = ("message", "join", "leave", "recall", "tick")


class ReplayError(Exception):
    """A script that cannot be replayed; the message names the line and the reason."""


@dataclass(frozen=True)
class Event:
    line: int
    kind: str
    at: datetime
    fields: dict[str, Any]

    def text(self, key: str, required: bool = True) -> str | None:
        value = self.fields.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value):
            raise ReplayError(f"line {self.line}: \"{key}\" must be a non-empty string")
        return value


def read_events(path: Path) -> list[Event]:
    events: list[Event] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ReplayError(f"{path}: {error}") from None
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ReplayError(f"line {number}: not JSON: {error}") from None
        if not isinstance(data, dict):
            raise ReplayError(f"line {number}: expected a JSON object")
        kind = data.get("event", "message")
        if kind not in EVENT_KINDS:
            raise ReplayError(f"line {number}: unknown event {kind!r} (known: {', '.join(EVENT_KINDS)})")
        try:
            at = datetime.fromisoformat(data["at"])
        except (KeyError, TypeError, ValueError):
            raise ReplayError(f"line {number}: \"at\" must be an ISO 8601 time with an offset") from None
        if at.tzinfo is None:
            raise ReplayError(f"line {number}: \"at\" needs an offset, like +08:00")
        if events and at < events[-1].at:
            raise ReplayError(f"line {number}: events must be in time order")
        events.append(Event(number, kind, at, data))
    if not events:
        raise ReplayError(f"{path}: no events")
    return events


REPLAY_MARK = "replay_database"  # in a database replay uses: {"done": bool, "wall": unix time}
STALE_RUN = 3600.0  # seconds after which a replay that never said it was done is taken as dead


async def fresh_database(config: Config, at: datetime) -> None:
    """Replay starts from an empty database: one a finished replay used is emptied (run twice
    with one config, every message id was known and the transcript came out empty); one that
    holds what no replay wrote (the shop's own) is refused. A replay running on it now (two
    processes replaying one day, as the tests do) is joined, not emptied under it."""
    url = config.database_url
    async with startup_lock(url):
        await open_database(url)
        try:
            mark = await get_state(REPLAY_MARK)
            if isinstance(mark, dict):
                running = not mark.get("done") and time.time() - float(mark.get("wall", 0)) < STALE_RUN
                if running:
                    return
                await wipe()
            elif await InboundMessage.exists() or await Member.exists() or await Order.exists():
                raise ReplayError(f'the database of the config ({url}) holds data replay did not write; '
                                  "replay needs a database of its own: set [database] url to another file")
            await set_state(REPLAY_MARK, {"done": False, "wall": time.time()}, at)
        finally:
            await close_database()


async def replay(config: Config, events_path: Path, out_dir: Path, seed: int = 0) -> dict[str, Any]:
    events = read_events(events_path)
    await fresh_database(config, events[0].at)
    h = await start_harness(config, events[0].at.astimezone(config.timezone), seed=seed)
    try:
        for event in events:
            await h.advance_to(event.at)
            await apply_event(h.bot, h.transport, event)
        await h.flush()
        dates: set[date] = {d for d in await Order.all().values_list("delivery_date", flat=True)}  # type: ignore[misc]
        for delivery_date in sorted(dates):
            await h.bot.export(delivery_date)
        state = await snapshot(h.bot.services.rewards, h.clock.now(), config)
        await set_state(REPLAY_MARK, {"done": True, "wall": time.time()}, h.clock.now())
    finally:
        await h.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "transcript.jsonl").open("w", encoding="utf-8") as out:
        for sent in h.transport.sent:
            message = sent.message
            out.write(json.dumps({
                "at": sent.at.isoformat(), "room": message.room, "to": message.to,
                "text": message.text, "mentions": list(message.mentions),
            }, ensure_ascii=False) + "\n")
    (out_dir / "state.json").write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
    return state


async def apply_event(bot: Bot, transport: MemoryTransport, event: Event) -> None:
    if event.kind == "message":
        text = event.fields.get("text")
        if not isinstance(text, str):
            raise ReplayError(f"line {event.line}: \"text\" must be a string")
        await bot.handle(Incoming(
            message_id=event.text("id", required=False) or f"replay-line-{event.line}",
            sender_id=event.text("from") or "", sender_name=event.text("name", required=False) or "",
            text=text, at=event.at, room=event.text("room", required=False),
        ))
    elif event.kind == "join":
        await bot.member_joined(event.text("room") or "", event.text("member") or "",
                                event.text("name", required=False) or "",
                                event.text("inviter", required=False), event.at)
    elif event.kind == "recall":
        await bot.recall(event.text("id") or "", event.at)
    # "leave" keeps the member and their orders; "tick" only moves the clock.


async def snapshot(rewards: Rewards, at: datetime, config: Config) -> dict[str, Any]:
    """state.json: orders, group-buys and members as docs/CONTRACTS.md section 3 lists them."""
    tz, bounds, staff = config.timezone, config.segments.days, config.shop.staff
    orders = []
    settlements = {s.order_id: s for s in await Settlement.all()}  # type: ignore[attr-defined]
    lines_of: dict[int, list[OrderLine]] = defaultdict(list)  # every line read once (not a query per order)
    for line in await OrderLine.all().order_by("id"):
        lines_of[line.order_id].append(line)  # type: ignore[attr-defined]
    for order in await Order.all().order_by("id").select_related("community"):
        lines = lines_of[order.id]
        total = sum((line.price * line.qty for line in lines), Decimal(0)).quantize(Decimal("0.01"))
        settled = settlements.get(order.id)
        orders.append({
            "id": order.id, "member": order.member_id,  # type: ignore[attr-defined]
            "room": order.community.room, "community": order.community.name,
            "status": order.status, "delivery_date": order.delivery_date.isoformat(),
            "items": [{"sku": l.sku, "qty": json_number(l.qty), "price": json_number(l.price)} for l in lines],
            "total": json_number(total), "groupbuy": order.groupbuy_no or None,
            # as settled at cut-off (before it: nothing off, nothing paid, the total due)
            "discount": json_number(settled.discount) if settled else 0,
            "wallet_paid": json_number(settled.wallet_paid) if settled else 0,
            "due": json_number(settled.due) if settled else json_number(total),
            "coupon": settled.coupon_id if settled else None,
        })
    groupbuys = []
    joined: dict[int, list[str]] = defaultdict(list)
    for groupbuy_id, member_id in await GroupBuyParticipant.all().order_by("id").values_list("groupbuy_id", "member_id"):
        joined[int(groupbuy_id)].append(str(member_id))  # type: ignore[call-overload]
    for groupbuy in await GroupBuy.all().order_by("id").select_related("community"):
        participants = joined[groupbuy.id]
        groupbuys.append({
            "id": groupbuy.id, "sku": groupbuy.sku, "size": groupbuy.size,
            "price": json_number(groupbuy.price), "state": groupbuy.state,
            "participants": list(participants), "deadline": groupbuy.deadline.isoformat(),
            "name": groupbuy.name, "room": groupbuy.community.room if groupbuy.community else None,
            "delivery_date": groupbuy.delivery_date.isoformat() if groupbuy.delivery_date else None,
        })
    today = at.astimezone(tz).date()
    segments = {f.member_id: f.segment for f in await member_facts(today, tz, bounds, staff)}  # staff: none
    contacts = await Contacts.read()
    members = [
        {"id": m.id, "name": m.name, "segment": segments.get(m.id), "points": m.points, "points_pending": await rewards.pending(m.id),
         "referrer": m.referrer_id, "address": contacts.of(m.id, m.home_id).address,  # type: ignore[attr-defined]
         "code": m.code, "referred_via": m.referred_via or None,
         "balance": json_number(m.wallet_principal + m.wallet_bonus), "unsubscribed": m.unsubscribed,
         "level": level_name(m.level, config.level), "birthday": m.birthday or None}
        for m in await Member.all().order_by("first_seen", "id")
    ]
    wallet = [
        {"member": e.member_id, "delta": json_number(e.delta), "balance": json_number(e.balance),  # type: ignore[attr-defined]
         "principal": json_number(e.principal), "bonus": json_number(e.bonus), "reason": e.reason,
         "source": e.source, "actor": e.actor, "at": e.created_at.isoformat()}
        for e in await WalletEntry.all().order_by("id")
    ]
    coupons = [
        {"id": c.id, "member": c.member_id, "template": c.template, "state": c.state,  # type: ignore[attr-defined]
         "issued_at": c.issued_at.isoformat(), "expires_at": c.expires_at.isoformat(), "order": c.order_id}
        for c in await Coupon.all().order_by("id")
    ]
    points_ledger = [
        {"member": e.member_id, "delta": e.delta, "balance": e.balance, "reason": e.reason,  # type: ignore[attr-defined]
         "source": e.source, "at": e.created_at.isoformat(),
         "expires_at": e.expires_at.isoformat() if e.expires_at else None}
        for e in await PointEntry.all().order_by("id")
    ]
    campaigns = []
    for campaign in await Campaign.all().order_by("id"):
        roles = await CampaignMember.filter(campaign_id=campaign.id).order_by("member_id").values_list(
            "member_id", "role", "sent_at")
        campaigns.append({
            "id": campaign.id, "segment": campaign.segment, "template": campaign.template or None,
            "state": campaign.state, "targets": [m for m, role, _ in roles if role == "target"],
            "control": [m for m, role, _ in roles if role == "control"],
            "sent": sum(1 for _, role, sent in roles if role == "target" and sent is not None),
            **effect_json(await effect(campaign, at, config.campaign)),
        })
    return {"orders": orders, "groupbuys": groupbuys, "members": members, "wallet": wallet, "coupons": coupons,
            "points_ledger": points_ledger, "campaigns": campaigns}
