"""Retention (issue 21): the message record past `[retention] days` is pruned in batches, and
nothing idempotency, campaigns, catching up or a waiting message needs goes with it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import models.retention as retention
from models.db import close_database, open_database
from models.retention import prune
from models.tables import (
    Campaign, CampaignMember, ChainVersion, Community, InboundMessage, JobRun, Member, Order, OutboxMessage,
)
from tests.conftest import MORNING, ROOM_A, make_config, start_harness

NOW = MORNING
OLD, RECENT = NOW - dt.timedelta(days=100), NOW - dt.timedelta(days=10)


async def _history() -> dict[str, int]:
    """Rows of both ages; the ids of the ones that matter."""
    await Community.create(room=ROOM_A, name="阳光花园", delivery_slot="16:00-18:00")
    await Member.create(id="u1", name="李阿姨", first_seen=OLD, last_seen=NOW)
    ids: dict[str, int] = {}
    for name, status, at in (("old_sent", "sent", OLD), ("old_failed", "failed", OLD), ("old_pending", "pending", OLD),
                             ("old_unreachable", "unreachable", OLD), ("old_campaign", "sent", OLD),
                             ("recent_sent", "sent", RECENT)):
        row = await OutboxMessage.create(room=ROOM_A, text=name, status=status, created_at=at,
                                         sent_at=at if status == "sent" else None)
        ids[name] = row.id
    campaign = await Campaign.create(segment="silent", text="回来看看", created_by="wxid_owner", created_at=OLD,
                                     state="done")
    await CampaignMember.create(campaign=campaign, member_id="u1", role="target", message_id=ids["old_campaign"],
                                sent_at=OLD)
    for name, at in (("old_in", OLD), ("recent_in", RECENT)):
        row = await InboundMessage.create(message_id=name, room=ROOM_A, sender="u1", text="西红柿2斤", received_at=at,
                                          intent="on_order_change", effect={"changes": [["V01", "0", "2"]]})
        ids[name] = row.id
    await ChainVersion.create(room=ROOM_A, title="上月的水果", lines=[], message_id="c1", updated_at=OLD)
    await ChainVersion.create(room=ROOM_A, title="今日水果", lines=[], message_id="c2", updated_at=RECENT)
    for job, at in (("daily_post", OLD), ("daily_post", OLD + dt.timedelta(days=1)), ("daily_post", RECENT),
                    ("member_day", OLD), ("member_day", OLD + dt.timedelta(days=1))):
        await JobRun.create(job=job, due_at=at, ran_at=at)
    return ids


async def test_the_record_past_the_window_is_pruned_and_what_is_needed_stays(db_url: str) -> None:
    await open_database(db_url)
    try:
        ids = await _history()
        done = await prune(NOW, 90)
        assert done == {"outbox": 2, "inbound": 1, "chains": 1, "job_runs": 3}
        left = {row.text for row in await OutboxMessage.all()}
        assert left == {"old_pending", "old_unreachable", "old_campaign", "recent_sent"}  # waiting, or counted
        old = await InboundMessage.get(message_id="old_in")
        assert (old.text, old.effect, old.intent) == ("", None, "on_order_change")  # the id stays known
        recent = await InboundMessage.get(message_id="recent_in")
        assert recent.text == "西红柿2斤" and recent.effect is not None
        assert [c.title for c in await ChainVersion.all()] == ["今日水果"]
        runs = sorted((r.job, r.due_at) for r in await JobRun.all())
        assert runs == [("daily_post", RECENT), ("member_day", OLD + dt.timedelta(days=1))]  # each job's latest
        assert await prune(NOW, 90) == {"outbox": 0, "inbound": 0, "chains": 0, "job_runs": 0}  # once
        assert ids["old_sent"] not in {row.id for row in await OutboxMessage.all()}
    finally:
        await close_database()


async def test_a_sweep_reads_a_batch_at_a_time_and_goes_on_where_it_stopped(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await open_database(db_url)
    try:
        await Community.create(room=ROOM_A, name="阳光花园", delivery_slot="16:00-18:00")
        for n in range(25):
            await OutboxMessage.create(room=ROOM_A, text=f"old{n}", status="sent", created_at=OLD, sent_at=OLD)
        await OutboxMessage.create(room=ROOM_A, text="recent", status="sent", created_at=RECENT, sent_at=RECENT)
        monkeypatch.setattr(retention, "BATCH", 10)
        monkeypatch.setattr(retention, "ROUNDS", 1)
        counts = [(await prune(NOW, 90))["outbox"] for _ in range(4)]
        assert counts == [10, 10, 5, 0]
        assert [row.text for row in await OutboxMessage.all()] == ["recent"]
    finally:
        await close_database()


async def test_the_running_bot_prunes_on_its_own_and_a_pruned_message_is_still_not_handled_twice(
        tmp_path: Path, db_url: str) -> None:
    h = await start_harness(make_config(tmp_path, db_url, retention={"days": 1}), MORNING, run_jobs=True)
    try:
        assert await h.say("西红柿2斤", message_id="first")
        await h.flush()
        assert await OutboxMessage.filter(status="sent").exists()
        await h.advance_to(MORNING + dt.timedelta(days=2, hours=1))  # the sweep runs as the days go by
        first = await InboundMessage.get(message_id="first")
        assert first.text == "" and first.effect is None
        assert not await OutboxMessage.filter(status="sent", created_at__lt=MORNING + dt.timedelta(hours=1)).exists()
        orders = await Order.filter(member_id="wxid_u1").count()
        assert not await h.say("西红柿2斤", message_id="first")  # the gateway delivers it again, late
        assert await Order.filter(member_id="wxid_u1").count() == orders
    finally:
        await h.bot.close()
