"""Driving the whole bot on a virtual clock: jobs and paced sends happen at their own times.

`advance_to(t)` runs, in time order, every scheduled job, group-buy expiry and outbox send that
falls due up to `t`, moving the clock to each one's time. Replay and the tests use it; it is
the same code the running bot runs, fired by the clock instead of APScheduler.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.app import Bot
from bot.core.clock import VirtualClock
from jobs.groupbuys import expire_groupbuys, next_expiry
from jobs.runner import catch_up, run_job
from jobs.schedule import JobSpec, daily_jobs, next_due

JOB, SWEEP, EXPORT, SEND = 0, 1, 2, 3  # at one moment: jobs, expiry, workbooks, then sends


class Simulation:
    def __init__(self, bot: Bot, clock: VirtualClock, jobs: tuple[JobSpec, ...] | None = None) -> None:
        self.bot = bot
        self.clock = clock
        self.jobs = daily_jobs(bot.config.schedule) if jobs is None else jobs
        # Jobs due exactly at the start time run too.
        self._jobs_until = clock.now() - timedelta(microseconds=1)

    async def start(self) -> list[str]:
        """What the running bot does on start: catch up on missed jobs."""
        return await catch_up(self.bot.services) if self.jobs else []

    def _next_job(self) -> tuple[datetime, JobSpec] | None:
        tz = self.bot.config.timezone
        runs = [(next_due(spec, self._jobs_until, tz), rank, spec) for rank, spec in enumerate(self.jobs)]
        if not runs:
            return None
        due, _, spec = min(runs, key=lambda r: (r[0], r[1]))
        return due, spec

    async def _next_event(self, until: datetime) -> tuple[datetime, int, JobSpec | None] | None:
        events: list[tuple[datetime, int, JobSpec | None]] = []
        if (job := self._next_job()) is not None:
            events.append((job[0], JOB, job[1]))
        if self.jobs and (expiry := await next_expiry()) is not None:
            events.append((max(expiry, self.clock.now()), SWEEP, None))
        if (write := self.bot.exporter.next_due()) is not None:
            events.append((max(write, self.clock.now()), EXPORT, None))
        if (send := await self.bot.outbox.next_due(self.clock.now())) is not None:
            events.append((send[1], SEND, None))
        due = [e for e in events if e[0] <= until]
        return min(due, key=lambda e: (e[0], e[1])) if due else None

    async def advance_to(self, when: datetime) -> None:
        while (event := await self._next_event(when)) is not None:
            at, kind, spec = event
            self.clock.advance_to(max(at, self.clock.now()))
            if kind == JOB:
                assert spec is not None
                self._jobs_until = at
                await run_job(spec.id, at, self.bot.services)
            elif kind == SWEEP:
                await expire_groupbuys(self.clock.now(), self.bot.services)
            elif kind == EXPORT:
                await self.bot.exporter.write_due(self.clock.now())
            else:
                await self.bot.outbox.send_due(self.clock.now())
        if when > self.clock.now():
            self.clock.advance_to(when)

    async def drain(self) -> None:
        """Send everything still queued, at the times pacing allows (no jobs run meanwhile)."""
        while (send := await self.bot.outbox.next_due(self.clock.now())) is not None:
            self.clock.advance_to(max(send[1], self.clock.now()))
            await self.bot.outbox.send_due(self.clock.now())
