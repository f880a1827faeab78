"""Broadcasts to many groups, in virtual time, through the real outbox and database.

The limit-bound minimum for N sends at one per `min_interval` and `max_per_minute` in any 60 s:
send i can go at 60*(i // cap) + (i % cap)*min_interval at the earliest, so the span from the
first send to the last is that for i = N-1. The ratio compares the outbox's span with it, with
jitter off (jitter adds random time by design; its span is reported separately).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.figures import Figure
from bot.core.clock import VirtualClock
from bot.core.config import OutboxConfig
from bot.core.messages import Outgoing
from bot.outbox import Outbox
from bot.pacing import Pacer
from bot.transports.memory import MemoryTransport
from models.db import close_database, open_database

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 12, 1, 8, 0, tzinfo=TZ)


def minimum_span(n: int, limits: OutboxConfig) -> float:
    i = n - 1
    cap = limits.max_per_minute or n
    return 60 * (i // cap) + (i % cap) * limits.min_interval


async def broadcast_span(groups: int, limits: OutboxConfig, url: str) -> float:
    await open_database(url)
    try:
        clock = VirtualClock(START)
        transport = MemoryTransport(clock)
        outbox = Outbox(transport.send, Pacer(limits, TZ, random.Random(1)), clock)
        await outbox.restore()
        for g in range(groups):
            await outbox.put(Outgoing(f"今日团购 {g}", room=f"{g}@chatroom", broadcast=True))
        while (due := await outbox.next_due(clock.now())) is not None:
            clock.advance_to(max(due[1], clock.now()))
            await outbox.send_due(clock.now())
        assert len(transport.sent) == groups
        return (transport.sent[-1].at - transport.sent[0].at).total_seconds()
    finally:
        await close_database()


def run(quick: bool) -> list[Figure]:
    figures = []
    tight = OutboxConfig(jitter=0.0, quiet_hours=(time(22), time(7)))
    jittered = OutboxConfig(quiet_hours=(time(22), time(7)))  # the shipped default: up to 2 s
    with tempfile.TemporaryDirectory() as folder:
        for n in (200, 1000):
            span = asyncio.run(broadcast_span(n, tight, f"sqlite://{Path(folder) / f'b{n}.sqlite3'}"))
            floor = minimum_span(n, tight)
            figures.append(Figure(f"broadcast_{n}_ratio", round(span / floor, 4), "x", "<= 1.05",
                                  limit=f"{floor:.0f} s"))
        span = asyncio.run(broadcast_span(200, jittered, f"sqlite://{Path(folder) / 'j200.sqlite3'}"))
        figures.append(Figure("broadcast_200_jitter_s", round(span), "s", "reported",
                              limit=f"{minimum_span(200, tight):.0f} s"))
    return figures
