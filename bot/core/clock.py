"""The one time seam: every `now` in the bot comes from a Clock, and is timezone-aware.

Production uses SystemClock; tests and `groupbuy replay` use VirtualClock, which only moves
when told to, so schedules and pacing are tested as functions of `now`, never with sleeps.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import datetime, tzinfo
from typing import Protocol


class Clock(Protocol):
    tz: tzinfo

    def now(self) -> datetime: ...

    async def sleep_until(self, when: datetime) -> None: ...


class SystemClock:
    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(self.tz)

    async def sleep_until(self, when: datetime) -> None:
        delay = (when - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


class VirtualClock:
    """Time that moves only by `advance_to`; sleepers wake when their time is reached."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs a timezone-aware start")
        self.tz = start.tzinfo
        self._now = start
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._now.astimezone(self.tz)

    async def sleep_until(self, when: datetime) -> None:
        if when <= self._now:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._order), future))
        await future

    def advance_to(self, when: datetime) -> None:
        if when < self._now:
            raise ValueError(f"time cannot go back: {when} < {self._now}")
        self._now = when
        while self._sleepers and self._sleepers[0][0] <= when:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.advance_to(self._now + timedelta(seconds=seconds))


async def sleep_until_or_woken(clock: Clock, when: datetime | None, woken: asyncio.Event,
                               timeout: float | None = None) -> str:
    """Wait until `when` (None: no time set), until `woken` is set, or `timeout` seconds;
    say which ("due", "woken" or "timeout"). The loops of the outbox and the exporter use it."""
    sleeper = asyncio.ensure_future(clock.sleep_until(when) if when else asyncio.Event().wait())
    waker = asyncio.ensure_future(woken.wait())
    try:
        await asyncio.wait({sleeper, waker}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waker.cancel()
    return "woken" if waker.done() and not waker.cancelled() else \
        "due" if sleeper.done() and not sleeper.cancelled() else "timeout"
