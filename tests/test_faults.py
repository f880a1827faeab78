"""The faults the bot survives, and the figures each one checks.

Read this as the list of bad days a shop will meet, each made real (PostgreSQL's own backends
terminated, a database that refuses connections, a worker process killed, a second bot on one
database, the leader's lock connection killed, a bot killed before it wrote its workbook):

| fault                                            | checked                                        |
|--------------------------------------------------|------------------------------------------------|
| backends terminated while idle, 8 times          | every later order handled and confirmed once   |
| backends terminated mid-batch                    | 60 of 60 stored and confirmed once, no apology |
| the database refuses connections for a while     | messages wait (health 503), then 1 each        |
| /导出 of a day whose workbook takes long           | members' orders are handled meanwhile          |
| the workbook worker killed mid-export            | no hang: staff told, written on the retry      |
| the bot killed: its workbook worker              | the worker goes too                            |
| the leader's lock connection killed              | the old leader sends nothing more; the new one |
|                                                  | keeps the pace (3 s in a conversation)         |
| killed inside the debounce window / at cut-off   | the workbook is written when it starts again   |
| two bots given one private message               | one confirmation, no false apology             |
| one member's 40 messages split between two bots  | 41 斤 stored of 41 (the member's row locked)    |
| one group's messages to two bots, other orders   | 160 handled once each, every 斤 stored          |
| batches of two bots that deadlock                | retried: nothing lost, no apology              |

Waiting here is for real I/O (a terminated backend, a worker process), never for time: time
is the bots' virtual clock, moved by the test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from openpyxl import load_workbook

from bot.app import Bot
from bot.core.messages import Outgoing
from bot.harness import Harness
from bot.health import report
from bot.leader import Leadership
from bot.leading import Leader
from bot.outbox import NotLeader
from bot.transports.memory import MemoryTransport
from bot.writer import SORRY
from jobs.runner import run_job
from models import xlsx
from models.tables import InboundMessage, OrderLine, OutboxMessage
from tests.conftest import MORNING, PG_ADMIN_URL, ROOM_A, STAFF, make_config, start_harness

DELIVERY = dt.date(2026, 12, 2)


# -- helpers ---------------------------------------------------------------------------------


def _name(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def _admin(sql: str, *args: Any) -> Any:
    connection = await asyncpg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"))
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()


async def terminate_backends(url: str, pid: int | None = None) -> int:
    """pg_terminate_backend on every connection to the test's database (or one of them)."""
    if pid is not None:
        return int(await _admin("SELECT count(pg_terminate_backend($1))", pid))
    return int(await _admin("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = $1 AND pid <> pg_backend_pid()", _name(url)))


async def until(predicate: Callable[[], Any], what: str, seconds: float = 20) -> None:
    """Wait for real I/O (a backend to go, a process to die) to have happened."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not (await predicate() if asyncio.iscoroutinefunction(predicate) else predicate()):
        if loop.time() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.02)


async def say(h: Harness, text: str, sender: str) -> bool:
    """A member's message, handled within 20 s (a wedged writer fails the test, not hangs it)."""
    return await asyncio.wait_for(h.say(text, sender=sender), 20)


def confirmations(h: Harness, sender: str) -> list[str]:
    return [s.message.text for s in h.transport.sent
            if sender in s.message.mentions and "已记下" in s.message.text]


def apologies(h: Harness) -> list[str]:
    return [text for text in h.transport.texts() if SORRY in text]


@pytest.fixture
async def pg_harness(tmp_path: Path, pg_url: str) -> Any:
    h = await start_harness(make_config(tmp_path, pg_url), MORNING)
    try:
        yield h
    finally:
        await h.bot.close()


# -- PostgreSQL connections lost -----------------------------------------------------------------


async def test_backends_terminated_while_idle_do_not_wedge_the_bot(pg_harness: Harness, pg_url: str) -> None:
    h = pg_harness
    assert await say(h, "西红柿1斤", "first")
    for round in range(8):
        assert await terminate_backends(pg_url) >= 1
        assert await say(h, "西红柿1斤", f"after{round}")
    await h.flush()
    for sender in ["first", *(f"after{r}" for r in range(8))]:
        assert len(confirmations(h, sender)) == 1, sender
    assert apologies(h) == []
    assert await InboundMessage.all().count() == 9
    assert await OutboxMessage.filter(status="pending").count() == 0


async def test_backends_terminated_mid_batch_lose_and_double_nothing(pg_harness: Harness, pg_url: str) -> None:
    h = pg_harness
    await say(h, "西红柿1斤", "warm")
    tasks = [asyncio.create_task(say(h, "西红柿1斤", f"m{i}")) for i in range(60)]
    await asyncio.sleep(0)  # queued: the batch begins
    await terminate_backends(pg_url)
    assert await asyncio.gather(*tasks) == [True] * 60
    await h.flush()
    assert await InboundMessage.all().count() == 61
    assert await OrderLine.filter(sku="V01").count() == 61
    assert all(len(confirmations(h, f"m{i}")) == 1 for i in range(60))
    assert apologies(h) == []


async def test_a_database_that_refuses_connections_makes_messages_wait_and_health_say_so(
        pg_harness: Harness, pg_url: str) -> None:
    h = pg_harness
    leader = Leader(h.bot, Leadership(pg_url), run_scheduler=False)
    assert (await report(h.bot, leader))[0] is True
    name = _name(pg_url)
    await _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    try:
        await terminate_backends(pg_url)
        waiting = asyncio.create_task(h.say("西红柿2斤", sender="patient"))
        await until(lambda: h.bot.writer.waiting_since is not None, "the writer waits for the database")
        ok, checks = await report(h.bot, leader)
        assert not ok and not checks["database"]["ok"] and not checks["writer"]["ok"]
        assert "waiting_for_database_since" in checks["writer"]
        h.clock.advance(30)  # still refused: it keeps waiting, and nothing is lost or apologised
        await until(lambda: h.bot.writer.last_problem != "", "it tried again")
        assert not waiting.done()
    finally:
        await _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    async def handled() -> bool:
        h.clock.advance(10)
        return waiting.done()

    await until(handled, "the waiting message is handled once the database answers")
    assert waiting.result() is True
    await h.flush()
    assert len(confirmations(h, "patient")) == 1 and apologies(h) == []
    assert await OrderLine.filter(order__member_id="patient").count() == 1
    assert (await report(h.bot, leader))[0] is True


async def test_health_is_200_only_when_every_part_works(harness: Harness, db_url: str) -> None:
    leader = Leader(harness.bot, Leadership(db_url), run_scheduler=False)
    ok, checks = await report(harness.bot, leader)
    assert ok and set(checks) == {"database", "writer", "sender"}
    harness.bot.outbox.problem = "InterfaceError: connection is closed"
    leader.leading = True
    ok, checks = await report(harness.bot, leader)
    assert not ok and "connection is closed" in checks["sender"]["problem"]
    harness.bot.outbox.problem = ""
    await harness.bot.outbox.put(Outgoing("hi", room=ROOM_A))
    harness.clock.advance(120)  # due two minutes ago, and no sender sent it
    ok, checks = await report(harness.bot, leader)
    assert not ok and "not sent" in checks["sender"]["problem"]


# -- the workbook: outside the writer, its worker supervised, what is due kept ---------------------


async def test_export_of_a_slow_day_does_not_hold_up_members(harness: Harness, monkeypatch) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(path: Path, *args: object) -> Path:
        started.set()
        await release.wait()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        return path

    monkeypatch.setattr("bot.exporter.export_delivery_date", slow)
    assert await asyncio.wait_for(harness.say("/导出", sender=STAFF, room=None), 10)
    await asyncio.wait_for(started.wait(), 10)
    # The workbook is being written: members' orders go on being handled meanwhile.
    assert await asyncio.wait_for(harness.say("西红柿2斤", sender="member"), 10)
    assert not [t for t in harness.texts(to=STAFF) if "表格已更新" in t]
    release.set()
    await harness.flush()
    assert [t for t in harness.texts(to=STAFF) if "表格已更新" in t]


async def test_a_worker_killed_mid_export_is_given_up_and_the_write_retried(
        harness: Harness, monkeypatch) -> None:
    monkeypatch.setattr("models.spreadsheet.PROCESS_LINES", 1)  # a worker process for any day
    real_rows = xlsx.ProcessWriter.rows
    killed: list[int] = []

    async def kill_once(self: xlsx.ProcessWriter, rows: list[tuple[Any, ...]]) -> None:
        if not killed:
            killed.append(self.process.pid or 0)
            os.kill(self.process.pid or 0, signal.SIGKILL)
        await real_rows(self, rows)

    monkeypatch.setattr(xlsx.ProcessWriter, "rows", kill_once)
    await harness.say("西红柿2斤")
    assert await asyncio.wait_for(harness.bot.export(DELIVERY), 60) is None  # not written, no hang
    assert killed
    await harness.flush()
    told = [t for t in harness.texts(to=STAFF) if "没有生成出来" in t]
    assert len(told) == 1 and "正被其他程序打开" not in told[0]
    await harness.advance_to(harness.clock.now() + dt.timedelta(minutes=1))  # the retry
    assert load_workbook(harness.bot.exporter.path(DELIVERY))["拣货单"]["C2"].value == 2
    assert not harness.bot.exporter.due


def test_a_killed_bot_takes_its_workbook_worker_with_it(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from models.xlsx import ProcessWriter
        writer = ProcessWriter(__import__("pathlib").Path({str(tmp_path / 'w.xlsx')!r}))
        print(writer.process.pid, flush=True)
        time.sleep(600)
    """)
    bot = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert bot.stdout is not None
        with bot.stdout:
            worker = int(bot.stdout.readline())
        bot.kill()
        bot.wait(10)
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(until(lambda: not _alive(worker), "the orphaned worker exits", 15))
        finally:
            loop.close()
    finally:
        bot.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for a parent that is gone is not running
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


async def test_a_bot_killed_inside_the_debounce_window_writes_the_workbook_on_start(
        tmp_path: Path, db_url: str) -> None:
    config = make_config(tmp_path, db_url)
    first = await start_harness(config, MORNING)
    await first.say("西红柿3斤")
    assert first.bot.exporter.due  # due in 5 s ... and the bot is killed now
    await first.bot.close()
    path = first.bot.exporter.path(DELIVERY)
    assert not path.exists()
    again = await start_harness(config, MORNING + dt.timedelta(minutes=1))
    try:
        await again.advance_to(again.clock.now() + dt.timedelta(seconds=10))
        assert load_workbook(path)["拣货单"]["C2"].value == 3
        assert not again.bot.exporter.due
    finally:
        await again.bot.close()


async def test_a_bot_killed_between_the_cutoff_and_its_export_writes_it_on_start(
        tmp_path: Path, db_url: str) -> None:
    config = make_config(tmp_path, db_url)
    first = await start_harness(config, MORNING)
    await first.say("西红柿3斤")
    first.bot.exporter.due.clear()  # (as if the debounced write had been lost too)

    async def killed(delivery: dt.date) -> None:
        raise asyncio.CancelledError  # the process dies after the cut-off's commit

    first.bot.exporter.write_now = killed  # type: ignore[assignment,method-assign]
    cutoff = MORNING.replace(hour=20)
    with pytest.raises(asyncio.CancelledError):
        await run_job("cutoff", cutoff, first.bot.services)
    await first.bot.close()
    again = await start_harness(config, cutoff + dt.timedelta(minutes=5))
    try:
        await again.advance_to(again.clock.now() + dt.timedelta(seconds=10))
        assert load_workbook(again.bot.exporter.path(DELIVERY))["拣货单"]["C2"].value == 3
    finally:
        await again.bot.close()


# -- two bots on one database ----------------------------------------------------------------------


async def _second_bot(h: Harness) -> tuple[Bot, MemoryTransport]:
    """Another bot process on the same database and clock (tortoise's connections are this
    process's, so it shares the pool; its transactions are its own)."""
    transport = MemoryTransport(h.clock)
    other = Bot(h.bot.config, h.clock, transport.send)
    await other.outbox.restore()
    return other, transport


async def test_two_bots_given_one_private_message_confirm_once_and_never_apologise(
        pg_harness: Harness) -> None:
    h = pg_harness
    other, other_transport = await _second_bot(h)
    for i in range(30):
        msg = h.transport.incoming(f"西红柿{i % 3 + 1}斤", f"p{i}", room=None)
        await asyncio.gather(h.bot.handle(msg), other.handle(msg))
    await h.flush()
    await other.outbox.send_due(h.clock.now())
    every = [s.message for s in [*h.transport.sent, *other_transport.sent]]
    assert not [m for m in every if SORRY in m.text]
    assert await InboundMessage.all().count() == 30
    for i in range(30):
        assert len([m for m in every if m.to == f"p{i}"]) == 1, i


async def test_the_leader_whose_lock_connection_dies_stops_sending_and_the_next_keeps_the_pace(
        pg_harness: Harness, pg_url: str) -> None:
    h = pg_harness
    other, other_transport = await _second_bot(h)
    first_lock, second_lock = Leadership(pg_url), Leadership(pg_url)
    try:
        h.bot.outbox.may_send = first_lock.holds
        other.outbox.may_send = second_lock.holds
        assert await first_lock.try_acquire() and not await second_lock.try_acquire()
        for i in range(8):
            await h.bot.outbox.put(Outgoing(f"通知{i}", room=ROOM_A, broadcast=True))
        await h.bot.outbox.send_due(h.clock.now())
        h.clock.advance(3)
        await h.bot.outbox.send_due(h.clock.now())
        assert len(h.transport.sent) == 2
        await terminate_backends(pg_url, first_lock._connection.get_server_pid())
        h.clock.advance(3)
        with pytest.raises(NotLeader):  # it proves the lock before the send, and cannot
            await h.bot.outbox.send_due(h.clock.now())
        assert len(h.transport.sent) == 2
        await until(second_lock.try_acquire, "the other process takes the lock")
        await other.outbox.restore()  # as a new leader does: the pace the last one left
        for _ in range(40):
            await other.outbox.send_due(h.clock.now())
            h.clock.advance(0.5)
        sent = [*h.transport.sent, *other_transport.sent]
        assert [s.message.text for s in sent] == [f"通知{i}" for i in range(8)]  # each once, in order
        gaps = [(b.at - a.at).total_seconds() for a, b in zip(sent, sent[1:])]
        assert min(gaps) >= 3.0, gaps
    finally:
        await first_lock.release()
        await second_lock.release()


async def test_two_proofs_of_the_lock_at_once_are_both_yes(pg_url: str) -> None:
    """The sender's proof before a send and the leading loop's check can meet on the lock's one
    connection: asyncpg refused the second ("another operation is in progress"), which read as
    a lost lock, and the leader stepped down with nothing wrong (seen by the dashboard tests)."""
    leadership = Leadership(pg_url)
    try:
        assert await leadership.try_acquire()
        assert await asyncio.gather(*(leadership.holds() for _ in range(5)), leadership.try_acquire()) \
            == [True] * 6
    finally:
        await leadership.release()


async def test_a_leader_that_loses_its_lock_steps_down_and_another_takes_over(
        pg_harness: Harness, pg_url: str) -> None:
    h = pg_harness
    other, _ = await _second_bot(h)
    first = Leader(h.bot, Leadership(pg_url), run_scheduler=False)
    second = Leader(other, Leadership(pg_url), run_scheduler=False)
    tasks = [asyncio.create_task(first.run())]
    try:
        await until(lambda: first.leading, "the first process leads")
        tasks.append(asyncio.create_task(second.run()))
        await until(lambda: second.problem == "" and second.leadership._connection is not None,
                    "the second process tried for the lock")

        async def moved(step: float = 1.0) -> bool:
            h.clock.advance(step)
            return True

        await moved()
        assert not second.leading
        await terminate_backends(pg_url, first.leadership._connection.get_server_pid())

        async def handed_over() -> bool:
            await moved()
            return not first.leading and second.leading

        await until(handed_over, "the first steps down and the second leads")
        assert first.terms == 1 and second.terms == 1
        assert await second.leadership.holds() and not await first.leadership.holds()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await first.leadership.release()
        await second.leadership.release()


async def test_one_members_messages_split_between_two_bots_lose_no_update(pg_harness: Harness) -> None:
    h = pg_harness
    other, other_transport = await _second_bot(h)
    assert await h.say("西红柿1斤", sender="same")  # known in the group: private orders are for it
    msgs = [h.transport.incoming("西红柿1斤", "same", room=None) for _ in range(40)]
    results = await asyncio.gather(*(bot.handle(msg) for msg, bot in
                                     zip(msgs, [h.bot, other] * 20)))
    assert results == [True] * 40
    await h.flush()
    await other.outbox.send_due(h.clock.now())
    lines = await OrderLine.filter(order__member_id="same", sku="V01")
    assert [line.qty for line in lines] == [41]
    every = [s.message.text for s in [*h.transport.sent, *other_transport.sent]]
    assert len([t for t in every if "已记下" in t]) == 41 and not [t for t in every if SORRY in t]


@pytest.mark.batch_rollback
async def test_one_groups_messages_given_to_two_bots_in_other_orders_are_each_handled_once(
        pg_harness: Harness) -> None:
    h = pg_harness
    other, other_transport = await _second_bot(h)
    members = [f"g{i}" for i in range(40)]
    for round in range(4):  # new members first, then the same members' further orders
        msgs = [h.transport.incoming(f"西红柿{1 if round else i % 3 + 1}斤", member, room=ROOM_A)
                for i, member in enumerate(members)]
        first = [asyncio.create_task(h.bot.handle(msg)) for msg in msgs]
        second = [asyncio.create_task(other.handle(msg)) for msg in reversed(msgs)]
        await asyncio.gather(*first, *second)
    await h.flush()
    await other.outbox.send_due(h.clock.now())
    assert await InboundMessage.all().count() == 160
    every = [s.message for s in [*h.transport.sent, *other_transport.sent]]
    assert not [m for m in every if SORRY in m.text]
    for i, member in enumerate(members):
        lines = await OrderLine.filter(order__member_id=member, sku="V01")
        assert [line.qty for line in lines] == [i % 3 + 1 + 3], member
        said = [m for m in every if member in m.mentions and "已记下" in m.text]
        assert len(said) == 4, member


async def test_batches_of_two_bots_that_deadlock_are_retried_and_lose_nothing(pg_harness: Harness) -> None:
    h = pg_harness
    other, other_transport = await _second_bot(h)
    for member in ("x", "y"):
        assert await h.say("西红柿1斤", sender=member)  # known in the group
    for round in range(3):
        # Each batch locks one member by its private order, then the other by a group order:
        # the two batches wait for each other until PostgreSQL breaks the deadlock.
        a = [h.transport.incoming("西红柿1斤", "x", room=None), h.transport.incoming("西红柿1斤", "y", room=ROOM_A)]
        b = [h.transport.incoming("西红柿1斤", "y", room=None), h.transport.incoming("西红柿1斤", "x", room=ROOM_A)]
        assert await asyncio.gather(*(h.bot.handle(m) for m in a), *(other.handle(m) for m in b)) == [True] * 4
    await h.flush()
    await other.outbox.send_due(h.clock.now())
    every = [s.message.text for s in [*h.transport.sent, *other_transport.sent]]
    assert not [t for t in every if SORRY in t]
    for member in ("x", "y"):
        assert [line.qty for line in await OrderLine.filter(order__member_id=member, sku="V01")] == [7]
