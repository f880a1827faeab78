"""`python -m bench --soak MINUTES [--soak-rate N] [--soak-db KIND]`: the bot run for MINUTES of
wall time on the 90-day history (bench.history), offered the pipeline's message mix at N
messages a second (Poisson arrivals), with its virtual clock kept to the wall clock so that
the sender, the sweeps (retention, facts, points) and the workbook writes run as they would in
the running bot. Each minute: resident memory, the p99 of that minute's messages, the rows of
the tables that grow and the outbox rows waiting.

`soak_rss_growth_mb_per_h`: the slope of resident memory over the minutes after the first two
(warm-up), per hour; `soak_p99_drift`: the median p99 of the last third of the minutes over the
first third's. The fake WeChat side forgets what it was sent each minute (it is not the bot).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from bench.figures import Figure
from bench.history import copy_of
from bench.pipeline import GROUPS, MEMBERS, MORNING, ORDERS, TALK, config_for, p99
from bot.core.messages import Incoming
from bot.harness import Harness, start_harness

# What the account can answer for ever: 40 sends a minute, up to 10 replies merged in each
# (the default [outbox]); offered more, the replies wait and the backlog grows without end.
RATE = 4.0
TABLES = ("orders", "order_line", "inbound_message", "outbox_message", "point_entry", "chain_version", "job_run")
WARM_UP = 2  # minutes left out of the memory slope
WEDGED = 30.0  # seconds without a message handled while some wait: the soak stops and says where


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def messages(h: Harness, seed: int = 17) -> Iterator[Incoming]:
    """The pipeline benchmark's mix, for ever: keyword orders, chat, now and then a 500-line 接龙."""
    rng = random.Random(seed)
    rooms = [f"{40000 + g}@chatroom" for g in range(GROUPS)]
    chains = {room: [f"{i}. 住户{room[:5]}{i} 西红柿1斤" for i in range(1, 500)] for room in rooms}
    n = 0
    while True:
        room = rng.choice(rooms)
        member = f"wxid_{room[:5]}_{rng.randrange(MEMBERS)}"
        if n % 200 == 199:
            lines = chains[room]
            lines.append(f"{len(lines) + 1}. 新{member[-6:]} 土豆2斤")
            text = "#接龙\n今日蔬菜\n\n" + "\n".join(lines)
        elif rng.random() < 0.8:
            text = rng.choice(ORDERS)[0]
        else:
            text = rng.choice(TALK)
        yield Incoming(f"soak-{n}", member, member[-8:], text, h.clock.now(), room)
        n += 1


async def _count(table: str, where: str = "") -> int:
    from models.rows import Statement

    return int((await Statement().rows(f"SELECT COUNT(*) AS n FROM {table}{where}"))[0]["n"])


async def soak(kind: str, minutes: int, rate: float) -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        async with copy_of(kind, 90, folder) as url:
            h = await start_harness(config_for(url, folder), MORNING, run_jobs=True)
            h.simulation.live = True  # messages keep arriving while sweeps and sends run
            try:
                return await _run(h, kind, minutes, rate)
            finally:
                await h.close()


async def _run(h: Harness, kind: str, minutes: int, rate: float) -> list[Figure]:
    rng = random.Random(5)
    latencies: list[float] = []
    tasks: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    minute_rows: list[tuple[float, float, dict[str, int], int]] = []  # (rss, p99, rows, waiting)
    before = {table: await _count(table) for table in TABLES}

    async def one(msg: Incoming) -> None:
        arrived = time.perf_counter()
        await h.bot.handle(msg)
        latencies.append(time.perf_counter() - arrived)
        handled[0] += 1

    async def clock() -> None:  # the virtual clock follows the wall clock: sends, sweeps, workbooks
        while True:
            await h.advance_to(MORNING + timedelta(seconds=time.perf_counter() - started))
            await asyncio.sleep(0.2)

    handled = [0]

    async def watchdog() -> None:  # a wedged bot is a finding: say where every task waits
        seen, still = 0, 0.0
        while True:
            await asyncio.sleep(5)
            still = still + 5 if handled[0] == seen and tasks else 0.0
            seen = handled[0]
            if still >= WEDGED:
                for task in asyncio.all_tasks():
                    task.print_stack(file=sys.stderr)
                raise RuntimeError(f"no message handled for {still:.0f} s with {len(tasks)} waiting")

    driver = asyncio.create_task(clock())
    guard = asyncio.create_task(watchdog())
    source = messages(h)
    due = 0.0
    try:
        for minute in range(1, minutes + 1):
            end = minute * 60.0
            while due < end:
                due += rng.expovariate(rate)
                wait = started + due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                for helper in (driver, guard):
                    if helper.done():
                        helper.result()  # (raises what stopped it: a stopped clock stops the sends)
                task = asyncio.create_task(one(next(source)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            rows = {table: await _count(table) for table in TABLES}
            waiting = await _count("outbox_message", " WHERE status = 'pending'")
            minute_rows.append((rss_mb(), p99(latencies), rows, waiting))
            print(f"soak {kind} minute {minute}: rss {minute_rows[-1][0]:.0f} MB, p99 {minute_rows[-1][1]:.1f} ms, "
                  f"{len(latencies)} msgs, outbox waiting {waiting}, "
                  + ", ".join(f"{t} +{rows[t] - before[t]:,}" for t in TABLES), file=sys.stderr, flush=True)
            latencies.clear()
            h.transport.sent.clear()
        await asyncio.gather(*tasks)
    finally:
        driver.cancel()
        guard.cancel()
    steady = minute_rows[WARM_UP:] if len(minute_rows) > WARM_UP + 1 else minute_rows
    xs = list(range(len(steady)))
    slope = statistics.linear_regression(xs, [r[0] for r in steady]).slope if len(steady) > 1 else 0.0
    third = max(1, len(minute_rows) // 3)
    first = statistics.median(r[1] for r in minute_rows[:third])
    last = statistics.median(r[1] for r in minute_rows[-third:])
    hours = minutes / 60
    growth = ", ".join(f"{t} {(minute_rows[-1][2][t] - before[t]) / hours:,.0f}/h" for t in ("inbound_message",
                                                                                          "outbox_message"))
    judged = len(minute_rows) > WARM_UP + 1  # a shorter run has no slope or drift to judge
    return [Figure(f"soak_rss_growth_mb_per_h[{kind}]", round(slope * 60, 2), "MB/h",
                   "<= 5" if judged else "reported", f"{minute_rows[-1][0]:.0f} MB at the end"),
            Figure(f"soak_p99_drift[{kind}]", round(last / first, 2) if first else 1.0, "ratio",
                   "<= 1.25" if judged else "reported",
                   f"{first:.0f} -> {last:.0f} ms"),
            Figure(f"soak_rows_per_h[{kind}]", round(sum(minute_rows[-1][2][t] - before[t] for t in TABLES) / hours),
                   "rows/h", "reported", growth),
            Figure(f"soak_outbox_waiting[{kind}]", minute_rows[-1][3], "rows", "reported",
                   f"at {rate:.0f} msgs/s")]


def run(minutes: int, rate: float, kinds: tuple[str, ...]) -> list[Figure]:
    figures: list[Figure] = []
    for kind in kinds:
        try:
            figures.extend(asyncio.run(soak(kind, minutes, rate)))
        except OSError as error:
            print(f"soak on {kind}: skipped ({error})", file=sys.stderr)
    return figures
