"""The shop's day on a virtual clock: each job at its local time, once, across restarts and
processes; quiet hours, pacing, and staff control of broadcasts."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo


from bot.core.config import ScheduleConfig
from jobs.runner import run_job
from jobs.schedule import SWEEPS, JobSpec, daily_jobs, next_due
from models.tables import Community, GroupBuy, GroupBuyParticipant, JobRun, Member, OrderingDay
from tests.conftest import ROOM_A, ROOM_B, SHANGHAI, STAFF, Harness, make_config, start_harness

BERLIN = ZoneInfo("Europe/Berlin")


def day(d: int, hour: int, minute: int = 0, tz: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(2026, 12, d, hour, minute, tzinfo=tz)


def posts(h: Harness, marker: str) -> list[tuple[str, str]]:
    return [(s.at.astimezone(SHANGHAI).strftime("%d %H:%M"), s.message.room or "")
            for s in h.transport.sent if marker in s.message.text]


# -- times ---------------------------------------------------------------------------------


def test_a_timezone_without_dst_is_the_shops_clock_whatever_the_servers() -> None:
    spec = JobSpec("daily_post", time(8, 0))
    # 08:00 in Shanghai is 00:00 UTC; the server's own zone plays no part.
    assert next_due(spec, datetime(2026, 12, 1, 23, 59, tzinfo=timezone.utc), SHANGHAI) == \
        datetime(2026, 12, 2, 0, 0, tzinfo=timezone.utc)
    runs = []
    due = datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc)
    for _ in range(3):
        due = next_due(spec, due, SHANGHAI)
        runs.append(due)
    assert [b - a for a, b in zip(runs, runs[1:])] == [timedelta(hours=24)] * 2


def test_across_dst_changes_a_job_keeps_its_local_time_and_runs_once_a_day() -> None:
    spec = JobSpec("daily_post", time(8, 0))
    start = datetime(2026, 3, 27, 12, 0, tzinfo=BERLIN)  # Europe/Berlin springs forward on 03-29
    runs = [start]
    for _ in range(4):
        runs.append(next_due(spec, runs[-1], BERLIN))
    assert [r.astimezone(BERLIN).strftime("%m-%d %H:%M") for r in runs[1:]] == \
        ["03-28 08:00", "03-29 08:00", "03-30 08:00", "03-31 08:00"]
    utc = [r.astimezone(timezone.utc) for r in runs]  # same-zone subtraction is wall-clock time
    assert utc[2] - utc[1] == timedelta(hours=23)
    # 02:30 happens twice when clocks fall back (10-25): the job still runs once that day.
    night = JobSpec("night", time(2, 30))
    first = next_due(night, datetime(2026, 10, 24, 12, 0, tzinfo=BERLIN), BERLIN)
    second = next_due(night, first, BERLIN)
    assert first.astimezone(BERLIN).date().isoformat() == "2026-10-25"
    assert second.astimezone(BERLIN).date().isoformat() == "2026-10-26"


def test_the_reminder_is_configurable_and_never_before_the_offer() -> None:
    schedule = ScheduleConfig(daily_post=time(8), cutoff=time(20), delivery_days=1,
                              delivery_notice=time(15), cutoff_reminder=45)
    assert [(s.id, s.at) for s in daily_jobs(schedule)][1] == ("cutoff_reminder", time(19, 15))
    off = ScheduleConfig(daily_post=time(8), cutoff=time(20), delivery_days=1,
                         delivery_notice=time(15), cutoff_reminder=0)
    assert "cutoff_reminder" not in [s.id for s in daily_jobs(off)]
    early = ScheduleConfig(daily_post=time(8), cutoff=time(8, 20), delivery_days=1,
                           delivery_notice=time(15), cutoff_reminder=30)
    assert "cutoff_reminder" not in [s.id for s in daily_jobs(early)]


# -- a day, restarts, catching up -------------------------------------------------------------


async def test_the_reminder_goes_to_every_group_before_cutoff(tmp_path: Path, db_url: str) -> None:
    h = await start_harness(make_config(tmp_path, db_url), day(1, 19, 0), run_jobs=True)
    try:
        await h.advance_to(day(1, 20, 30))
        assert posts(h, "还有30分钟截单") == [("01 19:30", ROOM_A), ("01 19:30", ROOM_B)]
        assert await OrderingDay.filter(closed_at__isnull=False).count() == 1
    finally:
        await h.bot.close()


async def test_restart_before_the_due_time_posts_once_at_the_time(tmp_path: Path, db_url: str) -> None:
    config = make_config(tmp_path, db_url)
    h = await start_harness(config, day(1, 7, 50), run_jobs=True)
    await h.advance_to(day(1, 7, 55))
    await h.bot.close()  # down at 07:55, up again at 07:58
    h = await start_harness(config, day(1, 7, 58), run_jobs=True)
    try:
        await h.advance_to(day(1, 8, 30))
        assert posts(h, "今日团购") == [("01 08:00", ROOM_A), ("01 08:00", ROOM_B)]
        assert "晚发" not in h.texts()[0]
    finally:
        await h.bot.close()


async def test_a_missed_offer_goes_out_late_once_with_a_note(tmp_path: Path, db_url: str) -> None:
    config = make_config(tmp_path, db_url)
    h = await start_harness(config, day(1, 7, 0), run_jobs=True)
    await h.advance_to(day(1, 7, 30))
    await h.bot.close()  # down from 07:30 to 09:10: the 08:00 post was missed
    h = await start_harness(config, day(1, 9, 10), run_jobs=True)
    await h.flush()
    assert posts(h, "今日团购") == [("01 09:10", ROOM_A), ("01 09:10", ROOM_B)]
    assert h.texts()[0].startswith("（今天的团购消息晚发了，抱歉！）")
    await h.bot.close()
    h = await start_harness(config, day(1, 9, 20), run_jobs=True)  # and again: nothing twice
    try:
        await h.flush()
        assert h.transport.sent == []
        assert await JobRun.filter(job="daily_post").count() == 1
    finally:
        await h.bot.close()


async def test_a_missed_cutoff_still_closes_and_a_stale_reminder_is_dropped(tmp_path: Path, db_url: str) -> None:
    config = make_config(tmp_path, db_url)
    h = await start_harness(config, day(1, 9, 0), run_jobs=True)
    await h.say("西红柿2斤", name="李阿姨")
    await h.advance_to(day(1, 19, 0))
    await h.bot.close()  # down over the 19:30 reminder and the 20:00 cut-off
    h = await start_harness(config, day(1, 21, 15), run_jobs=True)
    try:
        await h.flush()
        assert posts(h, "截单汇总") == [("01 21:15", ROOM_A), ("01 21:15", ROOM_B)]
        assert posts(h, "还有30分钟截单") == []
        assert await OrderingDay.filter(closed_at__isnull=False).count() == 1
        assert await JobRun.filter(job="cutoff_reminder").count() == 0
    finally:
        await h.bot.close()


async def test_a_new_database_does_not_catch_up_on_days_before_it(tmp_path: Path, db_url: str) -> None:
    h = await start_harness(make_config(tmp_path, db_url), day(1, 21, 30), run_jobs=True)
    try:
        await h.flush()
        assert h.transport.sent == []
    finally:
        await h.bot.close()


# -- two schedulers on one database ----------------------------------------------------------


async def test_two_schedulers_racing_for_every_job_run_each_once(tmp_path: Path, db_url: str) -> None:
    config = make_config(tmp_path, db_url)
    a = await start_harness(config, day(1, 7, 0))
    b_clock_start = day(1, 7, 0)
    from bot.app import Bot
    from bot.core.clock import VirtualClock
    from bot.transports.memory import MemoryTransport

    clock_b = VirtualClock(b_clock_start)
    transport_b = MemoryTransport(clock_b)
    b = Bot(config, clock_b, transport_b.send)  # the second process's bot, on the same database
    await b.outbox.restore()
    try:
        for spec in daily_jobs(config.schedule):
            due = next_due(spec, day(1, 7, 0), SHANGHAI)
            results = await asyncio.gather(*(run_job(spec.id, due, bot.services)
                                             for bot in (a.bot, b, a.bot, b)))
            assert sum(results) == 1, spec.id
        assert await JobRun.all().count() == len(daily_jobs(config.schedule))
    finally:
        await a.bot.close()


def _write_day(tmp: Path, db_url: str) -> tuple[Path, Path]:
    catalog = Path(__file__).resolve().parents[1] / "bot" / "demo" / "catalog.toml"
    config = tmp / "config.toml"
    config.write_text(f"""
[shop]
name = "测试小铺"
staff = ["{STAFF}"]
[database]
url = "{db_url}"
[catalog]
file = "{catalog}"
[[group]]
room = "{ROOM_A}"
community = "阳光花园"
delivery = "16:00-18:00"
[[group]]
room = "{ROOM_B}"
community = "桂花苑"
delivery = "09:00-11:00"
[schedule]
daily_post = "08:00"
cutoff = "20:00"
delivery_notice = "15:00"
[outbox]
jitter = 0
""", encoding="utf-8")
    events = tmp / "events.jsonl"
    lines = [{"at": "2026-12-01T07:00:00+08:00", "event": "tick"},
             {"at": "2026-12-01T09:00:00+08:00", "room": ROOM_A, "from": "u1", "name": "李阿姨",
              "text": "西红柿2斤", "id": "m1"},
             {"at": "2026-12-02T16:00:00+08:00", "event": "tick"}]
    events.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in lines) + "\n", encoding="utf-8")
    return config, events


def test_two_bot_processes_on_postgresql_post_each_job_once(tmp_path: Path, pg_url: str) -> None:
    """Two real processes (`groupbuy replay`) run the same day and a half against one
    PostgreSQL database at the same time: between them, every post and every reply goes out
    exactly once. (Scaling out is a PostgreSQL setup; SQLite is one process.)"""
    config, events = _write_day(tmp_path, pg_url)
    runs = [subprocess.Popen([sys.executable, "-m", "bot", "replay", "--config", str(config), str(events),
                              "--out", str(tmp_path / f"out{i}")], stderr=subprocess.PIPE, text=True)
            for i in (1, 2)]
    for run in runs:
        _, error = run.communicate(timeout=300)
        assert run.returncode == 0, error
    sent = [json.loads(line)["text"] for i in (1, 2)
            for line in (tmp_path / f"out{i}" / "transcript.jsonl").read_text(encoding="utf-8").splitlines()]
    counts = {marker: sum(marker in text for text in sent)
              for marker in ("今日团购", "还有30分钟截单", "截单汇总", "🚚", "已记下")}
    assert counts == {"今日团购": 4, "还有30分钟截单": 2, "截单汇总": 2, "🚚": 1, "已记下": 1}


def test_two_bot_processes_given_the_same_messages_answer_each_once(tmp_path: Path, pg_url: str) -> None:
    """Two real processes handle the same group and private messages (the same ids, as two
    bots on one account would get them): every message is answered once between them, no
    false apology, and every order is stored once."""
    config, _ = _write_day(tmp_path, pg_url)
    events = tmp_path / "same.jsonl"
    lines: list[dict] = [{"at": "2026-12-01T09:00:00+08:00", "event": "tick"}]
    for i in range(30):
        lines.append({"at": f"2026-12-01T09:{i // 10:02d}:{i % 10 * 5:02d}+08:00", "room": ROOM_A,
                      "from": f"g{i}", "name": f"邻居{i}", "text": f"西红柿{i % 3 + 1}斤", "id": f"group-{i}"})
    for i in range(10):  # the same members, privately, to their home group's order
        lines.append({"at": f"2026-12-01T10:00:{i * 5:02d}+08:00", "from": f"g{i}", "name": f"邻居{i}",
                      "text": "土豆1斤", "id": f"private-{i}"})
    lines.append({"at": "2026-12-01T11:00:00+08:00", "event": "tick"})
    events.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in lines) + "\n", encoding="utf-8")
    runs = [subprocess.Popen([sys.executable, "-m", "bot", "replay", "--config", str(config), str(events),
                              "--out", str(tmp_path / f"out{i}")], stderr=subprocess.PIPE, text=True)
            for i in (1, 2)]
    for run in runs:
        _, error = run.communicate(timeout=300)
        assert run.returncode == 0, error
    sent = [json.loads(line) for i in (1, 2)
            for line in (tmp_path / f"out{i}" / "transcript.jsonl").read_text(encoding="utf-8").splitlines()]
    assert not [m for m in sent if "出了点问题" in m["text"]]
    for i in range(30):
        assert len([m for m in sent if f"g{i}" in m["mentions"] and "已记下" in m["text"]]) == 1, i
    for i in range(10):
        assert len([m for m in sent if m["to"] == f"g{i}" and "已记下" in m["text"]]) == 1, i
    orders = json.loads((tmp_path / "out2" / "state.json").read_text(encoding="utf-8"))["orders"]
    items = {o["member"]: sorted((item["sku"], item["qty"]) for item in o["items"]) for o in orders}
    assert items == {f"g{i}": sorted([("V01", i % 3 + 1), *([("V02", 1)] if i < 10 else [])]) for i in range(30)}


# -- quiet hours and pacing --------------------------------------------------------------------


async def test_quiet_hours_hold_the_morning_post_until_they_end(tmp_path: Path, db_url: str) -> None:
    config = make_config(tmp_path, db_url, schedule={"daily_post": "06:30"}, outbox={"quiet_hours": "22:00-07:00"})
    h = await start_harness(config, day(1, 6, 0), run_jobs=True)
    try:
        await h.say("西红柿1斤")  # ordering is open from 06:30; at 06:00 the reply says when
        await h.advance_to(day(1, 7, 30))
        assert posts(h, "今日团购") == [("01 07:00", ROOM_A), ("01 07:00", ROOM_B)]
        assert posts(h, "还没开始接单") == [("01 06:00", ROOM_A)]  # a reply is never held
    finally:
        await h.bot.close()


async def test_a_broadcast_to_200_groups_holds_the_limits_in_the_least_time(tmp_path: Path, db_url: str) -> None:
    groups = [{"room": f"4{i:04d}@chatroom", "community": f"小区{i}", "delivery": "16:00-18:00"} for i in range(200)]
    h = await start_harness(make_config(tmp_path, db_url, group=groups), day(1, 7, 59), run_jobs=True)
    try:
        await h.advance_to(day(1, 8, 30))
        sent = [s for s in h.transport.sent if "今日团购" in s.message.text]
        assert len({s.message.room for s in sent}) == 200
        times = [s.at for s in sent]
        assert all((b - a).total_seconds() >= 1 for a, b in zip(times, times[1:]))
        assert all(len([t for t in times if a <= t < a + timedelta(seconds=60)]) <= 40 for a in times)
        # The least time 1/s and 40/min allow: 40 a minute, the 200th at 4 min 39 s.
        assert times[-1] - times[0] == timedelta(seconds=4 * 60 + 39)
    finally:
        await h.bot.close()


# -- staff control ---------------------------------------------------------------------------


async def test_staff_post_now_pause_and_resume(tmp_path: Path, db_url: str) -> None:
    h = await start_harness(make_config(tmp_path, db_url), day(1, 9, 0))
    try:
        await h.say("/暂停", sender=STAFF, room=None)
        await h.say("/发布", sender=STAFF, room=None)
        await h.say("西红柿1斤")  # replies still go while broadcasts are paused
        await h.flush()
        assert posts(h, "今日团购") == []
        assert "已记下" in h.texts(room=ROOM_A)[-1]
        assert "广播已暂停" in h.texts(to=STAFF)[-1]
        await h.bot.close()
        h = await start_harness(make_config(tmp_path, db_url), day(1, 9, 5))  # pause survives restart
        await h.flush()
        assert posts(h, "今日团购") == []
        await h.say("/恢复", sender=STAFF, room=None)
        await h.flush()
        assert [room for _, room in posts(h, "今日团购")] == [ROOM_A, ROOM_B]
        assert "2条排队的群发" in h.texts(to=STAFF)[0]
    finally:
        await h.bot.close()


async def test_staff_post_after_closing_is_refused_until_ordering_is_opened_again(
        tmp_path: Path, db_url: str) -> None:
    """/发布 after /截单 invited orders that were then refused."""
    h = await start_harness(make_config(tmp_path, db_url), day(1, 9, 0))
    try:
        await h.say("/截单", sender=STAFF, room=None)
        await h.say("/发布", sender=STAFF, room=None)
        await h.flush()
        assert "请先发 /开单" in h.texts(to=STAFF)[-1]
        assert posts(h, "今日团购") == []
        await h.say("/开单", sender=STAFF, room=None)
        await h.flush()
        assert "已重新开始接单" in h.texts(to=STAFF)[-1]
        await h.say("西红柿1斤", sender="after")
        await h.say("/发布", sender=STAFF, room=None)
        await h.say("/开单", sender=STAFF, room=None)
        await h.flush()
        assert [s.message.text for s in h.transport.sent if "after" in s.message.mentions][0].count("已记下") == 1
        assert sorted(room for _, room in posts(h, "今日团购")) == [ROOM_A, ROOM_B]
        assert "不用开单" in h.texts(to=STAFF)[-1]
        await h.advance_to(day(1, 20, 30))
        await h.say("/开单", sender=STAFF, room=None)
        await h.say("/发布", sender=STAFF, room=None)
        await h.flush()
        assert "不能再开单" in h.texts(to=STAFF)[-2] and "已经截单" in h.texts(to=STAFF)[-1]
    finally:
        await h.bot.close()


async def test_staff_change_a_slot_the_group_is_told_and_it_lasts(tmp_path: Path, db_url: str) -> None:
    config = make_config(tmp_path, db_url)
    h = await start_harness(config, day(1, 9, 0))
    await h.say("/配送 阳光 17:00-19:00", sender=STAFF, room=None)
    await h.say("/配送 火星基地 17:00-19:00", sender=STAFF, room=None)
    await h.say("/配送 阳光花园 明天", sender=STAFF, room=None)
    await h.flush()
    assert "阳光花园的配送时段由 16:00-18:00 改为 17:00-19:00" in h.texts(room=ROOM_A)[0]
    staff = h.texts(to=STAFF)
    assert "已改为 17:00-19:00" in staff[0] and "没有找到“火星基地”" in staff[1] and "格式" in staff[2]
    await h.say("西红柿1斤")
    await h.flush()
    assert "17:00-19:00" in h.texts(room=ROOM_A)[-1]
    await h.bot.close()
    h = await start_harness(config, day(1, 10, 0))  # a restart keeps the staff's change
    assert (await Community.get(room=ROOM_A)).delivery_slot == "17:00-19:00"
    await h.bot.close()
    changed = make_config(tmp_path, db_url, group=[
        {"room": ROOM_A, "community": "阳光花园", "delivery": "18:00-20:00"},
        {"room": ROOM_B, "community": "桂花苑", "delivery": "09:00-11:00"}])
    h = await start_harness(changed, day(1, 11, 0))  # the config's slot changed: it wins
    try:
        assert (await Community.get(room=ROOM_A)).delivery_slot == "18:00-20:00"
    finally:
        await h.bot.close()


# -- group-buy expiry --------------------------------------------------------------------------


async def test_an_expired_group_buy_fails_once_and_its_members_are_told(tmp_path: Path, db_url: str) -> None:
    h = await start_harness(make_config(tmp_path, db_url), day(1, 9, 0), run_jobs=True)
    try:
        community = await Community.get(room=ROOM_A)
        member = await Member.create(id="u1", name="李阿姨", first_seen=day(1, 9), last_seen=day(1, 9))
        groupbuy = await GroupBuy.create(sku="F01", name="丹东草莓", unit="盒", size=3, price=99,
                                         deadline=day(1, 11, 0), community=community, opened_by=STAFF,
                                         created_at=day(1, 9))
        await GroupBuyParticipant.create(groupbuy=groupbuy, member=member, community=community, joined_at=day(1, 9))
        await h.advance_to(day(1, 10, 59))
        assert (await GroupBuy.get(id=groupbuy.id)).state == "open"
        await h.advance_to(day(1, 12, 0))
        assert (await GroupBuy.get(id=groupbuy.id)).state == "failed"
        told = [s for s in h.transport.sent if f"拼团#{groupbuy.id}" in s.message.text]
        assert len(told) == 1 and told[0].message.room == ROOM_A and told[0].message.mentions == ("u1",)
        assert told[0].at == day(1, 11, 0) and "还差2人" in told[0].message.text
    finally:
        await h.bot.close()


def test_groupbuy_schedule_prints_every_job(tmp_path: Path) -> None:
    config, _ = _write_day(tmp_path, f"sqlite://{tmp_path / 'db.sqlite3'}")
    result = subprocess.run([sys.executable, "-m", "bot", "schedule", "--config", str(config)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    jobs = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    sweeps = [sweep.id for sweep in SWEEPS]  # every sweep registered, whatever they are
    assert jobs == ["daily_post", "cutoff_reminder", "neighbours", "cutoff", "delivery_notice", "member_facts",
                    "member_day"] + sweeps
    assert "groupbuy_expiry" in sweeps


async def test_apscheduler_gets_one_job_per_id_in_the_shops_timezone(tmp_path: Path) -> None:
    """The production scheduler: deterministic ids, the shop's timezone, the same next run
    times as the pure schedule, and no duplicate jobs when started again."""
    from bot.app import Bot
    from bot.core.clock import SystemClock
    from bot.transports.memory import MemoryTransport
    from jobs.runner import start_scheduler

    config = make_config(tmp_path, f"sqlite://{tmp_path / 'db.sqlite3'}")
    clock = SystemClock(config.timezone)
    bot = Bot(config, clock, MemoryTransport(clock).send)
    await bot.open()
    schedulers = []
    try:
        for _ in range(2):  # a restart in the same process adds nothing twice
            schedulers.append(start_scheduler(bot.services))
        for scheduler in schedulers:
            jobs = {job.id: job for job in scheduler.get_jobs()}
            assert sorted(jobs) == sorted([s.id for s in daily_jobs(config.schedule)] + [s.id for s in SWEEPS])
            now = clock.now()
            for spec in daily_jobs(config.schedule):
                assert str(jobs[spec.id].trigger.timezone) == "Asia/Shanghai"
                expected = next_due(spec, now - timedelta(seconds=5), SHANGHAI)
                assert jobs[spec.id].next_run_time == expected
    finally:
        for scheduler in schedulers:
            scheduler.shutdown(wait=False)
        await bot.close()
