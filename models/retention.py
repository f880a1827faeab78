"""Retention: the message record is kept `[retention] days` (default 90), then pruned by a
sweep in small batches, so a year of chat does not make a year-sized database.

Pruned: sent outbox rows (and those that failed or were interrupted), the text and effect of
inbound messages, 接龙 versions nobody changed since, and past runs of the daily jobs. Kept:
every order, point, payment, coupon and member; a pending or waiting message; the outbox row a
campaign counts as its reach; an inbound message's id (a copy re-delivered later is still
known) and its intent; each job's latest run (what catching up reads).

Inbound and outbox rows are taken in id order from a mark kept in bot_state (ids grow with
time), a batch at a time: each batch reads at most BATCH rows, however long the history.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from tortoise.functions import Max

from models.state import get_state, set_state
from models.tables import CampaignMember, ChainVersion, InboundMessage, JobRun, OutboxMessage

BATCH = 1000  # rows per statement
ROUNDS = 10  # batches per table in one sweep (the sweep comes back a minute later)
DONE = ("sent", "failed", "unknown")  # outbox states nothing will change again
INBOUND_MARK, OUTBOX_MARK = "retention_inbound_id", "retention_outbox_id"


def horizon(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


async def prune(now: datetime, days: int) -> dict[str, int]:
    """One sweep: what it pruned, per kind."""
    before = horizon(now, days)
    done = {"outbox": 0, "inbound": 0, "chains": 0, "job_runs": 0}
    for _ in range(ROUNDS):
        outbox = await _in_order(OutboxMessage, "created_at", OUTBOX_MARK, before, now, _drop_sent)
        inbound = await _in_order(InboundMessage, "received_at", INBOUND_MARK, before, now, _blank)
        done["outbox"] += outbox
        done["inbound"] += inbound
        if not (outbox or inbound):
            break
    stale = await ChainVersion.filter(updated_at__lte=before).order_by("id").limit(BATCH).values_list("id", flat=True)
    done["chains"] = await ChainVersion.filter(id__in=list(stale)).delete() if stale else 0
    latest = {str(job): at for job, at in await JobRun.annotate(last=Max("due_at")).group_by("job")
              .values_list("job", "last")}
    for job, at in latest.items():
        done["job_runs"] += await JobRun.filter(job=job, due_at__lt=min(before, at)).delete()
    return done


async def _in_order(model: type[InboundMessage] | type[OutboxMessage], stamp: str, mark_key: str,
                    before: datetime, now: datetime, apply: Callable[[list[int]], Awaitable[int]]) -> int:
    """The next batch of rows after the mark, up to the first one newer than `before`: `apply`
    to their ids; how many it changed (0: nothing old is left past the mark)."""
    mark = int(await get_state(mark_key, 0))
    rows = await model.filter(id__gt=mark).order_by("id").limit(BATCH).values_list("id", stamp)
    old: list[int] = []
    for row_id, at in rows:
        if at > before:  # (one exactly `days` old is due now)
            break
        old.append(int(row_id))  # type: ignore[call-overload]
    if not old:
        return 0
    changed = await apply(old)
    await set_state(mark_key, old[-1], now)
    return changed or len(old)  # (a batch of rows kept still moves the mark on)


async def _drop_sent(ids: list[int]) -> int:
    carried = set(await CampaignMember.filter(message_id__in=ids).values_list("message_id", flat=True))
    gone = [i for i in ids if i not in carried]
    return await OutboxMessage.filter(id__in=gone, status__in=DONE).delete() if gone else 0


async def _blank(ids: list[int]) -> int:
    return await InboundMessage.filter(id__in=ids).update(text="", effect=None)


async def next_prune_due(days: int) -> datetime | None:
    """When the oldest row past either mark falls out of the window (None: nothing to prune)."""
    due: list[datetime] = []
    for model, stamp, key in ((OutboxMessage, "created_at", OUTBOX_MARK), (InboundMessage, "received_at", INBOUND_MARK)):
        first = await model.filter(id__gt=int(await get_state(key, 0))).order_by("id").first()  # type: ignore[attr-defined]
        if first is not None:
            due.append(getattr(first, stamp) + timedelta(days=days))
    return min(due) if due else None
