"""The paced outbox: limits held, quiet hours for broadcasts only, nothing lost or doubled on restart."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from pathlib import Path

from bot.core.clock import VirtualClock
from bot.core.config import OutboxConfig
from bot.core.messages import Outgoing
from bot.outbox import LOOK_BACK, Outbox
from bot.pacing import Pacer, quiet_until
from bot.transports.memory import MemoryTransport
from models.db import close_database, open_database
from models.tables import OutboxMessage
from tests.conftest import SHANGHAI

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=SHANGHAI)
LIMITS = OutboxConfig(min_interval=1.0, conversation_interval=3.0, max_per_minute=40, jitter=0.0,
                      merge_max=1, quiet_hours=(time(22, 0), time(7, 0)))


def gaps(times: list[datetime]) -> list[float]:
    return [(b - a).total_seconds() for a, b in zip(times, times[1:])]


def assert_within_limits(sent: list, limits: OutboxConfig) -> None:
    times = [s.at for s in sent]
    assert all(g >= limits.min_interval for g in gaps(times))
    by_conversation: dict[str, list[datetime]] = {}
    for s in sent:
        by_conversation.setdefault(s.message.conversation, []).append(s.at)
    for conversation_times in by_conversation.values():
        assert all(g >= limits.conversation_interval for g in gaps(conversation_times))
    for i, at in enumerate(times):
        window = [t for t in times[i:] if t < at + timedelta(seconds=60)]
        assert len(window) <= limits.max_per_minute


def test_quiet_hours_span_midnight() -> None:
    quiet = (time(22, 0), time(7, 0))
    assert quiet_until(datetime(2026, 12, 1, 23, 30, tzinfo=SHANGHAI), quiet, SHANGHAI) == \
        datetime(2026, 12, 2, 7, 0, tzinfo=SHANGHAI)
    assert quiet_until(datetime(2026, 12, 2, 6, 59, tzinfo=SHANGHAI), quiet, SHANGHAI) == \
        datetime(2026, 12, 2, 7, 0, tzinfo=SHANGHAI)
    assert quiet_until(datetime(2026, 12, 2, 7, 0, tzinfo=SHANGHAI), quiet, SHANGHAI) is None
    assert quiet_until(datetime(2026, 12, 2, 12, 0, tzinfo=SHANGHAI), None, SHANGHAI) is None


def test_pacer_holds_each_limit() -> None:
    pacer = Pacer(LIMITS, SHANGHAI)
    assert pacer.ready_at(1, "a", False, NOON) == NOON
    pacer.record(1, "a", NOON)
    assert pacer.ready_at(2, "b", False, NOON) == NOON + timedelta(seconds=1)
    assert pacer.ready_at(3, "a", False, NOON) == NOON + timedelta(seconds=3)


def test_jitter_is_added_only_when_switching_conversation_and_is_stable() -> None:
    limits = OutboxConfig(min_interval=1.0, conversation_interval=0.0, max_per_minute=0, jitter=2.0,
                          quiet_hours=None)
    pacer = Pacer(limits, SHANGHAI, random.Random(7))
    pacer.record(1, "a", NOON)
    switching = pacer.ready_at(2, "b", False, NOON)
    assert NOON + timedelta(seconds=1) <= switching <= NOON + timedelta(seconds=3)
    assert pacer.ready_at(2, "b", False, NOON) == switching  # drawn once per message
    assert pacer.ready_at(3, "a", False, NOON) == NOON + timedelta(seconds=1)


def test_per_minute_cap() -> None:
    limits = OutboxConfig(min_interval=1.0, conversation_interval=0.0, max_per_minute=3, jitter=0.0,
                          quiet_hours=None)
    pacer = Pacer(limits, SHANGHAI)
    for i in range(3):
        pacer.record(i, f"c{i}", NOON + timedelta(seconds=i))
    assert pacer.ready_at(9, "c9", False, NOON + timedelta(seconds=3)) == NOON + timedelta(seconds=60)


async def _outbox(db_url: str, clock: VirtualClock, transport: MemoryTransport,
                  limits: OutboxConfig = LIMITS) -> Outbox:
    outbox = Outbox(transport.send, Pacer(limits, SHANGHAI, random.Random(1)), clock)
    await outbox.restore()
    return outbox


async def drain(outbox: Outbox, clock: VirtualClock, limit: int = 100_000) -> None:
    for _ in range(limit):
        due = await outbox.next_due(clock.now())
        if due is None:
            return
        clock.advance_to(max(due[1], clock.now()))
        await outbox.send_due(clock.now())


async def test_a_broadcast_to_many_groups_holds_every_limit_and_takes_the_least_time(
        db_url: str, tmp_path: Path) -> None:
    await open_database(db_url)
    try:
        clock = VirtualClock(NOON)
        transport = MemoryTransport(clock)
        outbox = await _outbox(db_url, clock, transport)
        for i in range(60):
            await outbox.put(Outgoing(f"offer {i}", room=f"g{i}@chatroom", broadcast=True))
        await drain(outbox, clock)
        assert len(transport.sent) == 60
        assert_within_limits(transport.sent, LIMITS)
        # 40 in the first minute at 1/s, then the next 20 after the minute opens up again.
        assert transport.sent[-1].at - transport.sent[0].at == timedelta(seconds=79)
    finally:
        await close_database()


async def test_replies_into_one_conversation_wait_3s_but_other_groups_go_between(db_url: str) -> None:
    await open_database(db_url)
    try:
        clock = VirtualClock(NOON)
        transport = MemoryTransport(clock)
        outbox = await _outbox(db_url, clock, transport)
        for text in ("a1", "a2", "a3"):
            await outbox.put(Outgoing(text, room="a"))
        await outbox.put(Outgoing("b1", room="b"))
        await drain(outbox, clock)
        assert [s.message.text for s in transport.sent] == ["a1", "b1", "a2", "a3"]
        assert [s.at - NOON for s in transport.sent] == [timedelta(seconds=s) for s in (0, 1, 3, 6)]
    finally:
        await close_database()


async def test_quiet_hours_hold_broadcasts_but_not_replies(db_url: str) -> None:
    await open_database(db_url)
    try:
        night = datetime(2026, 12, 1, 23, 0, tzinfo=SHANGHAI)
        clock = VirtualClock(night)
        transport = MemoryTransport(clock)
        outbox = await _outbox(db_url, clock, transport)
        await outbox.put(Outgoing("早安团购", room="a", broadcast=True))
        await outbox.put(Outgoing("@李阿姨 已记下", room="b", mentions=("u1",)))
        await drain(outbox, clock)
        assert [(s.message.text, s.at) for s in transport.sent] == [
            ("@李阿姨 已记下", night),
            ("早安团购", datetime(2026, 12, 2, 7, 0, tzinfo=SHANGHAI)),
        ]
    finally:
        await close_database()


async def test_after_a_restart_pending_sends_go_out_once_and_the_pace_continues(db_url: str) -> None:
    clock = VirtualClock(NOON)
    await open_database(db_url)
    first = MemoryTransport(clock)
    outbox = await _outbox(db_url, clock, first)
    for text in ("one", "two", "three"):
        await outbox.put(Outgoing(text, room="a"))
    await outbox.send_due(clock.now())  # "one" goes at once; then the bot stops
    await close_database()
    assert [s.message.text for s in first.sent] == ["one"]

    clock.advance(1)  # restarted one second later: "a" had a send 1 s ago
    await open_database(db_url)
    try:
        second = MemoryTransport(clock)
        outbox = await _outbox(db_url, clock, second)
        await drain(outbox, clock)
        assert [s.message.text for s in second.sent] == ["two", "three"]
        assert second.sent[0].at == NOON + timedelta(seconds=3)  # the pace survived the restart
        assert await OutboxMessage.filter(status="sent").count() == 3
    finally:
        await close_database()


async def test_a_send_interrupted_by_a_crash_is_not_sent_twice(db_url: str) -> None:
    await open_database(db_url)
    try:
        clock = VirtualClock(NOON)
        await OutboxMessage.create(room="a", text="was being sent", status="sending", created_at=NOON)
        await OutboxMessage.create(room="a", text="still pending", status="pending", created_at=NOON)
        transport = MemoryTransport(clock)
        outbox = await _outbox(db_url, clock, transport)
        await drain(outbox, clock)
        assert [s.message.text for s in transport.sent] == ["still pending"]
        assert (await OutboxMessage.get(text="was being sent")).status == "unknown"
    finally:
        await close_database()


async def test_a_failing_transport_does_not_stop_the_queue(db_url: str) -> None:
    await open_database(db_url)
    try:
        clock = VirtualClock(NOON)
        delivered: list[str] = []

        async def flaky(message: Outgoing) -> None:
            if message.text == "bad":
                raise ConnectionError("puppet went away")
            delivered.append(message.text)

        outbox = Outbox(flaky, Pacer(LIMITS, SHANGHAI), clock, attempts=3, staff=("boss",))
        await outbox.restore()
        await outbox.put(Outgoing("bad", room="a"))
        await outbox.put(Outgoing("good", room="b"))
        await drain(outbox, clock)
        assert delivered[0] == "good"
        bad = await OutboxMessage.get(text="bad")
        assert (bad.status, bad.attempts) == ("failed", 3)
        # Tried at 0 s, then 10 s and 30 s later; then staff are told, once.
        assert bad.sent_at == NOON + timedelta(seconds=40)
        [note] = delivered[1:]
        assert note.startswith("⚠️ 消息发送失败（试了3次）") and "群 a" in note and "“bad”" in note
    finally:
        await close_database()


async def test_a_send_that_fails_then_works_is_sent_once(db_url: str) -> None:
    await open_database(db_url)
    try:
        clock = VirtualClock(NOON)
        tries: list[datetime] = []
        delivered: list[str] = []

        async def reconnecting(message: Outgoing) -> None:
            tries.append(clock.now())
            if len(tries) < 3:
                raise ConnectionError("puppet service reconnecting")
            delivered.append(message.text)

        outbox = Outbox(reconnecting, Pacer(LIMITS, SHANGHAI), clock, attempts=4, staff=("boss",))
        await outbox.restore()
        await outbox.put(Outgoing("hello", to="u1"))
        await drain(outbox, clock)
        assert delivered == ["hello"]
        assert [t - NOON for t in tries] == [timedelta(0), timedelta(seconds=10), timedelta(seconds=40)]
        row = await OutboxMessage.get(text="hello")
        assert (row.status, row.attempts) == ("sent", 2)
    finally:
        await close_database()


async def test_replies_waiting_for_one_group_go_out_as_one_message(db_url: str) -> None:
    await open_database(db_url)
    try:
        clock = VirtualClock(NOON)
        transport = MemoryTransport(clock)
        limits = OutboxConfig(min_interval=1.0, conversation_interval=3.0, max_per_minute=40,
                              jitter=0.0, merge_max=3, quiet_hours=None)
        outbox = await _outbox(db_url, clock, transport, limits)
        await outbox.put(Outgoing("@甲 ✅ 已记下", room="a", mentions=("u1",)))
        await drain(outbox, clock)  # the first reply goes at once
        for i, who in enumerate(("乙", "丙", "丁", "戊")):
            await outbox.put(Outgoing(f"@{who} ✅ 已记下", room="a", mentions=(f"u{i + 2}",)))
        await outbox.put(Outgoing("今日团购", room="a", broadcast=True))
        await outbox.put(Outgoing("私聊回复", to="u9"))
        await drain(outbox, clock)
        texts = [(s.message.text, s.message.mentions) for s in transport.sent]
        assert texts[0] == ("@甲 ✅ 已记下", ("u1",))
        assert ("@乙 ✅ 已记下\n\n@丙 ✅ 已记下\n\n@丁 ✅ 已记下", ("u2", "u3", "u4")) in texts
        assert ("@戊 ✅ 已记下", ("u5",)) in texts  # at most merge_max in one message
        assert ("今日团购", ()) in texts and ("私聊回复", ()) in texts  # broadcasts never merge
        assert len(transport.sent) == 5
        assert await OutboxMessage.filter(status="sent").count() == 7
        assert_within_limits(transport.sent, limits)
    finally:
        await close_database()


async def test_nothing_is_kept_for_replies_sent_merged_or_set_aside(db_url: str) -> None:
    """The pacer draws jitter per message: for a reply merged into another send, or one set
    aside for a contact who is not a friend, nothing may stay behind (a year of replies)."""
    await open_database(db_url)
    try:
        clock = VirtualClock(NOON)
        transport = MemoryTransport(clock)
        transport.strangers.add("stranger")
        limits = OutboxConfig(min_interval=1.0, conversation_interval=3.0, max_per_minute=40,
                              jitter=2.0, merge_max=5, quiet_hours=None)
        outbox = await _outbox(db_url, clock, transport, limits)
        outbox.reachable = transport.reachable
        for n in range(200):  # two busy groups, replies piling up behind each other
            await outbox.put(Outgoing(f"@{n} ✅ 已记下", room="ab"[n % 2], mentions=(f"m{n}",)))
        await outbox.put(Outgoing("私聊：不是好友", to="stranger"))
        await drain(outbox, clock)
        assert await OutboxMessage.filter(status="sent").count() == 200
        assert await OutboxMessage.filter(status="unreachable").count() == 1
        assert len(transport.sent) < 100  # (they were merged)
        assert outbox.pacer._jitter == {} and outbox.pacer._granted == {}
        assert_within_limits(transport.sent, limits)
    finally:
        await close_database()


async def test_a_reply_queued_behind_a_backlog_does_not_read_the_backlog_again(db_url: str) -> None:
    """3,000 posts wait (broadcasts paused): each reply queued after them reads the rows queued
    since the last look, not the 3,000 again; every reply still goes, in order."""
    await open_database(db_url)
    try:
        clock = VirtualClock(NOON)
        transport = MemoryTransport(clock)
        outbox = await _outbox(db_url, clock, transport)
        await outbox.pause(True)
        await OutboxMessage.bulk_create([OutboxMessage(room=f"g{n % 20}", text=f"post {n}", broadcast=True,
                                                       status="pending", created_at=NOON) for n in range(3000)])
        outbox.reload()
        await outbox.next_due(clock.now())
        read = outbox.rows_read
        assert read == 3000
        for n in range(50):
            await outbox.put(Outgoing(f"@{n} ✅ 已记下", room="a", mentions=(f"m{n}",)))
            await drain(outbox, clock)
        assert [s.message.text for s in transport.sent][:1] == ["@0 ✅ 已记下"]
        assert await OutboxMessage.filter(broadcast=False, status="sent").count() == 50
        assert outbox.rows_read - read <= 50 * (LOOK_BACK + 1)  # not 50 x 3,000
        waiting = await outbox.pending()
        assert [row.text for row in waiting] == [f"post {n}" for n in range(3000)]  # none forgotten, in order
    finally:
        await close_database()


async def test_a_send_looks_at_each_conversations_first_row_not_at_the_backlog(db_url: str) -> None:
    """3,000 posts wait for 20 groups: choosing the next send asks the pacer about each group's
    first post (20), not about every post; each group's posts still go in order, and a poll
    that finds nothing new does not read the backlog again."""
    await open_database(db_url)
    try:
        clock = VirtualClock(NOON)
        transport = MemoryTransport(clock)
        limits = OutboxConfig(min_interval=1.0, conversation_interval=3.0, max_per_minute=40, jitter=2.0,
                              merge_max=1, quiet_hours=None)
        outbox = await _outbox(db_url, clock, transport, limits)
        await OutboxMessage.bulk_create([OutboxMessage(room=f"g{n % 20}", text=f"post {n}", broadcast=True,
                                                       status="pending", created_at=NOON) for n in range(3000)])
        outbox.reload()
        asked: list[int] = []
        ready_at = outbox.pacer.ready_at

        def counted(key: int, *args: object) -> datetime:
            asked.append(key)
            return ready_at(key, *args)  # type: ignore[arg-type]

        outbox.pacer.ready_at = counted  # type: ignore[method-assign]
        for _ in range(60):
            due = await outbox.next_due(clock.now())
            assert due is not None
            clock.advance_to(max(due[1], clock.now()))
            await outbox.send_due(clock.now())
        assert len(asked) <= 60 * 20 * 3  # (a round looks three times; each look asks each group once)
        assert len(outbox.pacer._jitter) <= 20  # jitter drawn for the first posts only
        for group in range(20):
            posts = [int(s.message.text.split()[1]) for s in transport.sent if s.message.room == f"g{group}"]
            assert posts == sorted(posts) and all(n % 20 == group for n in posts)
        read = outbox.rows_read
        await outbox._poll()
        assert outbox.rows_read - read <= LOOK_BACK
        # Another process sets one of ours aside: the poll sees the table hold another number of
        # pending rows than this process does, and reads them all again.
        held = await outbox.pending()
        await OutboxMessage.filter(id=held[-1].id).update(status="unknown")
        await outbox._poll()
        assert [row.id for row in await outbox.pending()] == [row.id for row in held[:-1]]
    finally:
        await close_database()


async def test_a_long_reply_to_another_group_does_not_stop_a_groups_replies_merging(db_url: str) -> None:
    await open_database(db_url)
    try:
        clock = VirtualClock(NOON)
        transport = MemoryTransport(clock)
        limits = OutboxConfig(min_interval=1.0, conversation_interval=3.0, max_per_minute=40,
                              jitter=0.0, merge_max=5, quiet_hours=None)
        outbox = await _outbox(db_url, clock, transport, limits)
        await outbox.put(Outgoing("@甲 ✅ 已记下", room="a"))
        await outbox.put(Outgoing("接龙：" + "西红柿1斤 " * 250, room="b"))  # 1,503 characters
        await outbox.put(Outgoing("@乙 ✅ 已记下", room="a"))
        await outbox.put(Outgoing("@丙 ✅ 已记下", room="a"))
        await drain(outbox, clock)
        assert [s.message.text for s in transport.sent if s.message.room == "a"] == [
            "@甲 ✅ 已记下\n\n@乙 ✅ 已记下\n\n@丙 ✅ 已记下"]
        assert len(transport.sent) == 2
    finally:
        await close_database()


async def test_sleep_until_or_woken_says_why() -> None:
    import asyncio

    from bot.core.clock import sleep_until_or_woken

    clock = VirtualClock(NOON)
    woken = asyncio.Event()
    waiting = asyncio.ensure_future(sleep_until_or_woken(clock, NOON + timedelta(seconds=5), woken))
    await asyncio.sleep(0)
    clock.advance(5)
    assert await waiting == "due"
    waiting = asyncio.ensure_future(sleep_until_or_woken(clock, None, woken))
    await asyncio.sleep(0)
    woken.set()
    assert await waiting == "woken"
    assert await sleep_until_or_woken(clock, None, asyncio.Event(), timeout=0) == "timeout"


async def test_jitter_spends_only_the_spare_time_of_a_busy_minute(db_url: str) -> None:
    """200 groups with the shipped jitter: random gaps, every limit held, and the broadcast
    ends near the limit-bound minimum (279 s): the spare 20 s of its last minute, plus a
    little drift because the 60 s window slides (without the budget it took 404 s)."""
    await open_database(db_url)
    try:
        clock = VirtualClock(NOON)
        transport = MemoryTransport(clock)
        limits = OutboxConfig(jitter=2.0, quiet_hours=None)
        outbox = await _outbox(db_url, clock, transport, limits)
        for i in range(200):
            await outbox.put(Outgoing(f"offer {i}", room=f"g{i}@chatroom", broadcast=True))
        await drain(outbox, clock)
        assert_within_limits(transport.sent, limits)
        span = (transport.sent[-1].at - transport.sent[0].at).total_seconds()
        assert 279 <= span <= 279 + 25
        assert len({round(g, 3) for g in gaps([s.at for s in transport.sent])}) > 10  # not a metronome
    finally:
        await close_database()
