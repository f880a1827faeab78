"""Scheduled jobs on the virtual clock: each at its local time, once."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from bot.core.config import ScheduleConfig
from jobs.runner import run_job
from jobs.schedule import JobSpec, Sweep, daily_jobs, due_between, next_due
from models.tables import JobRun
from tests.conftest import ROOM_A, ROOM_B, SHANGHAI, make_config, start_harness


def test_next_due_is_in_the_shops_timezone() -> None:
    spec = JobSpec("daily_post", time(8, 0))
    utc_evening = datetime(2026, 12, 1, 23, 30, tzinfo=timezone.utc)  # 07:30 in Shanghai
    assert next_due(spec, utc_evening, SHANGHAI) == datetime(2026, 12, 2, 8, 0, tzinfo=SHANGHAI)
    at_due = datetime(2026, 12, 2, 8, 0, tzinfo=SHANGHAI)
    assert next_due(spec, at_due, SHANGHAI) == datetime(2026, 12, 3, 8, 0, tzinfo=SHANGHAI)


def test_due_between_lists_every_run_in_time_order() -> None:
    specs = daily_jobs(ScheduleConfig(daily_post=time(8), cutoff=time(20), delivery_days=1,
                                      delivery_notice=time(15)))
    start = datetime(2026, 12, 1, 7, 0, tzinfo=SHANGHAI)
    runs = due_between(specs, start, start + timedelta(days=1, hours=1), SHANGHAI)
    assert [(due.strftime("%d %H:%M"), spec.id) for due, spec in runs] == [
        ("01 08:00", "daily_post"), ("01 10:00", "member_day"), ("01 15:00", "delivery_notice"), ("01 17:00", "neighbours"), ("01 19:30", "cutoff_reminder"),
        ("01 20:00", "cutoff"), ("02 03:00", "member_facts"), ("02 08:00", "daily_post")]


async def test_a_day_of_jobs_posts_at_local_times(tmp_path: Path, db_url: str) -> None:
    config = make_config(tmp_path, db_url)
    h = await start_harness(config, datetime(2026, 12, 1, 7, 0, tzinfo=SHANGHAI), run_jobs=True)
    try:
        await h.advance_to(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI))
        await h.say("西红柿2斤", name="李阿姨")
        await h.advance_to(datetime(2026, 12, 2, 16, 0, tzinfo=SHANGHAI))
        sent = [(s.at.astimezone(SHANGHAI), s.message) for s in h.transport.sent]
        posts = [(at.strftime("%m-%d %H:%M"), m.room, m.text.split("\n")[0]) for at, m in sent if m.broadcast]
        assert posts[:2] == [("12-01 08:00", ROOM_A, "【测试小铺·12月1日今日团购】"),
                             ("12-01 08:00", ROOM_B, "【测试小铺·12月1日今日团购】")]
        cutoff = [p for p in posts if "截单汇总" in p[2]]
        assert [p[:2] for p in cutoff] == [("12-01 20:00", ROOM_A), ("12-01 20:00", ROOM_B)]
        notices = [(at.strftime("%m-%d %H:%M"), m.room, m.text) for at, m in sent if "🚚" in m.text]
        assert notices == [("12-02 15:00", ROOM_A, "🚚 今天 16:00-18:00 送到阳光花园，共1单。请留意群消息，按时取货。")]
        assert (tmp_path / "exports" / "orders-2026-12-02.xlsx").is_file()  # written at cut-off
        # 12-01 15:00 had no deliveries, so no notice; 12-02 08:00 posted the next offer.
        assert ("12-02 08:00", ROOM_A, "【测试小铺·12月2日今日团购】") in posts
    finally:
        await h.bot.close()


async def test_a_job_runs_once_per_due_time_even_after_a_restart(tmp_path: Path, db_url: str) -> None:
    config = make_config(tmp_path, db_url)
    due = datetime(2026, 12, 1, 8, 0, tzinfo=SHANGHAI)
    h = await start_harness(config, due)
    try:
        assert await run_job("daily_post", due, h.bot.services)
        assert not await run_job("daily_post", due, h.bot.services)
        await h.flush()
        assert len(h.transport.sent) == 2  # one post per group
    finally:
        await h.bot.close()
    h = await start_harness(config, due + timedelta(minutes=1))
    try:
        assert not await run_job("daily_post", due, h.bot.services)
        await h.flush()
        assert h.transport.sent == []  # the restarted bot did not post again
        assert await JobRun.filter(job="daily_post").count() == 1
    finally:
        await h.bot.close()


async def test_a_registered_sweep_runs_when_its_work_falls_due(tmp_path: Path, db_url: str) -> None:
    """A sweep added to the registry is driven by the simulation with no other wiring: run at
    the time it reports, and a sweep that leaves its work due is an error, not a hang."""
    start = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)
    due = [start + timedelta(minutes=5), start + timedelta(minutes=7)]
    ran: list[datetime] = []

    async def reported(config: object) -> datetime | None:
        return due[0] if due else None

    async def sweep(now: datetime, services: object) -> None:
        ran.append(now)
        while due and due[0] <= now:
            due.pop(0)

    h = await start_harness(make_config(tmp_path, db_url), start, run_jobs=True)
    try:
        h.simulation.sweeps = (*h.simulation.sweeps, Sweep("test_sweep", timedelta(seconds=30), sweep, reported))
        await h.advance_to(start + timedelta(minutes=10))
        assert ran == [start + timedelta(minutes=5), start + timedelta(minutes=7)]

        due.append(start + timedelta(minutes=12))

        async def forgetful(now: datetime, services: object) -> None:
            ran.append(now)  # does the work but leaves it reported due

        h.simulation.sweeps = (Sweep("forgetful", timedelta(seconds=30), forgetful, reported),)
        with pytest.raises(RuntimeError, match="sweep forgetful still reports"):
            await h.advance_to(start + timedelta(minutes=20))
        assert ran[-1] == start + timedelta(minutes=12) and len(ran) == 3

        # Live (messages arriving meanwhile, the soak): every sweep runs every `every`, as the
        # running bot's scheduler runs it, due or not, and one that leaves work due is no error.
        h.simulation.live = True
        await h.advance_to(start + timedelta(minutes=14))
        assert ran[3:] == [start + timedelta(minutes=12, seconds=s) for s in range(0, 121, 30)]
        h.simulation.sweeps = (Sweep("test_sweep", timedelta(seconds=30), sweep, reported),)
        await h.advance_to(start + timedelta(minutes=15))
        assert due == [] and ran[-3:] == [start + timedelta(minutes=14, seconds=s) for s in (0, 30, 60)]
    finally:
        await h.close()
