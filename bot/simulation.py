"""Driving the whole bot on a virtual clock: jobs and paced sends happen at their own times.

`advance_to(t)` runs, in time order, every daily job, sweep and outbox send that falls due up
to `t`, moving the clock to each one's time. Replay and the tests use it; it runs what the
running bot runs (jobs.schedule's DAILY and SWEEPS), fired by the clock instead of APScheduler.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.app import Bot
from bot.core.clock import VirtualClock
from jobs.runner import catch_up, run_job
from jobs.schedule import SWEEPS, JobSpec, Sweep, daily_jobs, next_due

JOB, SWEEP, EXPORT, SEND = 0, 1, 2, 3  # at one moment: jobs, sweeps, workbooks, then sends
Event = tuple[datetime, int, int, JobSpec | Sweep | None]  # (when, kind, rank, what)


class Simulation:
    def __init__(self, bot: Bot, clock: VirtualClock, jobs: tuple[JobSpec, ...] | None = None,
                 live: bool = False) -> None:
        """`jobs`: the daily jobs to run (default: the config's); () runs no jobs and no sweeps.
        `live`: messages arrive while it runs (the soak), as in the running bot: it does not wait
        for the writer's after-commit work, and each sweep runs every `every`, as the running
        bot's scheduler runs it (else at the times it reports due, and one that still reports
        work due after running is an error: it would never clear)."""
        self.bot = bot
        self.clock = clock
        self.jobs = daily_jobs(bot.config.schedule) if jobs is None else jobs
        self.sweeps = SWEEPS if self.jobs else ()
        self.live = live
        self._sweep_at: dict[str, datetime] = {}  # (live) when each sweep runs next
        # Jobs due exactly at the start time run too.
        self._jobs_until = clock.now() - timedelta(microseconds=1)

    async def start(self) -> list[str]:
        """What the running bot does on start: catch up on missed jobs."""
        return await catch_up(self.bot.services) if self.jobs else []

    async def _next_event(self, until: datetime) -> Event | None:
        now, tz = self.clock.now(), self.bot.config.timezone
        events: list[Event] = [(next_due(spec, self._jobs_until, tz), JOB, rank, spec)
                               for rank, spec in enumerate(self.jobs)]
        for rank, sweep in enumerate(self.sweeps):
            if self.live:
                events.append((max(now, self._sweep_at.setdefault(sweep.id, now)), SWEEP, rank, sweep))
            elif (expiry := await sweep.next_due(self.bot.config)) is not None:
                events.append((max(expiry, now), SWEEP, rank, sweep))
        if (write := self.bot.exporter.next_due()) is not None:
            events.append((max(write, now), EXPORT, 0, None))
        if (send := await self.bot.outbox.next_due(now)) is not None:
            events.append((send[1], SEND, 0, None))
        ready = [e for e in events if e[0] <= until]
        return min(ready, key=lambda e: e[:3]) if ready else None

    async def advance_to(self, when: datetime) -> None:
        if not self.live:
            await self.bot.writer.settle()
        while (event := await self._next_event(when)) is not None:
            at, kind, _, what = event
            self.clock.advance_to(max(at, self.clock.now()))
            if isinstance(what, JobSpec):
                self._jobs_until = at
                await run_job(what.id, at, self.bot.services)
            elif isinstance(what, Sweep):
                await what.run(self.clock.now(), self.bot.services)
                if self.live:
                    self._sweep_at[what.id] = self.clock.now() + what.every
                elif (again := await what.next_due(self.bot.config)) is not None and again <= self.clock.now():
                    # It would be run again at this instant, for ever (the running bot would
                    # retry every `every`): a sweep must clear what it reports due.
                    raise RuntimeError(f"sweep {what.id} still reports {again.isoformat()} due after running "
                                       f"at {self.clock.now().isoformat()}")
            elif kind == EXPORT:
                await self.bot.exporter.write_due(self.clock.now())
            else:
                await self.bot.outbox.send_due(self.clock.now())
        if when > self.clock.now():
            self.clock.advance_to(when)

    async def drain(self) -> None:
        """Send everything still queued, at the times pacing allows (no jobs run meanwhile)."""
        await self.bot.writer.settle()
        while (send := await self.bot.outbox.next_due(self.clock.now())) is not None:
            self.clock.advance_to(max(send[1], self.clock.now()))
            await self.bot.outbox.send_due(self.clock.now())
