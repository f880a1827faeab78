"""Driving the whole bot on a virtual clock: jobs and paced sends happen at their own times.

`advance_to(t)` runs, in time order, every scheduled job and every outbox send that falls due
up to `t`, moving the clock to each one's time. Replay and the tests use it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.app import Bot
from bot.clock import VirtualClock
from jobs.runner import run_job
from jobs.schedule import JobSpec, daily_jobs, next_due


class Simulation:
    def __init__(self, bot: Bot, clock: VirtualClock, jobs: tuple[JobSpec, ...] | None = None) -> None:
        self.bot = bot
        self.clock = clock
        self.jobs = daily_jobs(bot.config.schedule) if jobs is None else jobs
        # Jobs due exactly at the start time run too.
        self._jobs_until = clock.now() - timedelta(microseconds=1)

    def _next_job(self) -> tuple[datetime, JobSpec] | None:
        tz = self.bot.config.timezone
        runs = [(next_due(spec, self._jobs_until, tz), rank, spec) for rank, spec in enumerate(self.jobs)]
        if not runs:
            return None
        due, _, spec = min(runs, key=lambda r: (r[0], r[1]))
        return due, spec

    async def advance_to(self, when: datetime) -> None:
        while True:
            job = self._next_job()
            send = await self.bot.outbox.next_due(self.clock.now())
            job_at = job[0] if job and job[0] <= when else None
            send_at = send[1] if send and send[1] <= when else None
            if job_at is None and send_at is None:
                break
            if job_at is not None and (send_at is None or job_at <= send_at):
                assert job is not None
                self.clock.advance_to(max(job_at, self.clock.now()))
                self._jobs_until = job_at
                await run_job(job[1].id, job_at, self.bot.services)
            else:
                assert send_at is not None
                self.clock.advance_to(max(send_at, self.clock.now()))
                await self.bot.outbox.send_due(self.clock.now())
        if when > self.clock.now():
            self.clock.advance_to(when)

    async def drain(self) -> None:
        """Send everything still queued, at the times pacing allows (no jobs run meanwhile)."""
        while (send := await self.bot.outbox.next_due(self.clock.now())) is not None:
            self.clock.advance_to(max(send[1], self.clock.now()))
            await self.bot.outbox.send_due(self.clock.now())
