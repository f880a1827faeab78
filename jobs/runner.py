"""Running jobs exactly once per due time, on time or caught up after a restart.

Once: a `job_run` row with a unique (job, due_at) key is written in the same transaction as
the job's posts. Two schedulers (two bot processes on one PostgreSQL database) may both fire;
the second insert fails, its transaction rolls back with its posts, and the run happens once.
No leader is needed for that; sending is another matter (bot.leader).

Caught up: on start, each job's most recent due time that has no run is run once, if it falls
after scheduling first began in this database and the job is still useful then (a late offer
post says it is late; a missed cut-off still closes; a reminder after cut-off is dropped).

In production APScheduler fires the jobs (one cron job per id, in the shop's timezone, with an
in-memory job store: the run record, not APScheduler, is the memory across restarts). In
`replay` and the tests the virtual clock does (bot.simulation).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError

from jobs.schedule import SWEEPS, JobSpec, Sweep, daily, daily_jobs, latest_due
from jobs.services import Services
from models.db import transaction
from models.state import SCHEDULER_SINCE, set_once
from models.tables import JobRun

log = logging.getLogger(__name__)


async def run_job(job_id: str, due: datetime, services: Services) -> bool:
    """Run `job_id` for `due` unless it already ran for it; True if it ran now."""
    if await JobRun.exists(job=job_id, due_at=due):
        return False
    try:
        async with transaction():
            await JobRun.create(job=job_id, due_at=due, ran_at=services.clock.now())
            after = await daily(job_id).run(due, services)
    except IntegrityError:
        log.info("job %s for %s ran elsewhere", job_id, due.isoformat())
        return False
    services.outbox.changed()
    log.info("job %s ran for %s", job_id, due.isoformat())
    if after is not None:
        await after()
    return True


async def catch_up(services: Services) -> list[str]:
    """Run, once, what was due while the bot was down and is still useful; return job ids."""
    now = services.clock.now()
    since = datetime.fromisoformat(await set_once(SCHEDULER_SINCE, now.isoformat(), now))
    missed = sorted(
        ((latest_due(spec, now, services.config.timezone), rank, spec)
         for rank, spec in enumerate(daily_jobs(services.config.schedule))),
        key=lambda entry: (entry[0], entry[1]),
    )
    ran = []
    for due, _, spec in missed:
        if due < since or not daily(spec.id).useful(due, now, services.config):
            continue
        if await run_job(spec.id, due, services):
            ran.append(spec.id)
    return ran


def start_scheduler(services: Services) -> object:
    """APScheduler for the running bot: one cron job per daily job, in the shop's timezone,
    and one interval job per sweep."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    tz = services.config.timezone
    scheduler = AsyncIOScheduler(timezone=tz)
    for spec in daily_jobs(services.config.schedule):

        async def fire(spec: JobSpec = spec) -> None:
            await run_job(spec.id, latest_due(spec, services.clock.now(), tz), services)

        scheduler.add_job(
            fire, CronTrigger(hour=spec.at.hour, minute=spec.at.minute, timezone=tz),
            id=spec.id, name=spec.id, replace_existing=True, coalesce=True, misfire_grace_time=600,
        )

    for sweep in SWEEPS:

        async def look(sweep: Sweep = sweep) -> None:
            await sweep.run(services.clock.now(), services)

        scheduler.add_job(look, IntervalTrigger(seconds=sweep.every.total_seconds(), timezone=tz), id=sweep.id,
                          name=sweep.id, replace_existing=True, coalesce=True,
                          next_run_time=services.clock.now() + timedelta(seconds=1))
    scheduler.start()
    return scheduler
