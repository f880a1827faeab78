"""Running jobs exactly once per due time: a `job_run` row with a unique (job, due_at) key is
written in the same transaction as the job's posts. In production APScheduler fires the jobs
(one cron job per id, in the shop's timezone); in `replay` the virtual clock does.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.services import Services
from jobs.daily import JOBS
from jobs.schedule import JobSpec, daily_jobs, next_due
from models.tables import JobRun

log = logging.getLogger(__name__)


async def run_job(job_id: str, due: datetime, services: Services) -> bool:
    """Run `job_id` for `due` unless it already ran for it; True if it ran now."""
    if await JobRun.exists(job=job_id, due_at=due):
        return False
    try:
        async with in_transaction():
            await JobRun.create(job=job_id, due_at=due, ran_at=services.clock.now())
            after = await JOBS[job_id](due, services)
    except IntegrityError:
        log.info("job %s for %s ran elsewhere", job_id, due.isoformat())
        return False
    services.outbox.changed()
    log.info("job %s ran for %s", job_id, due.isoformat())
    if after is not None:
        await after()
    return True


def latest_due(spec: JobSpec, now: datetime, services: Services) -> datetime:
    """The most recent due time of `spec` at or before `now`."""
    tz = services.config.timezone
    due = next_due(spec, now - timedelta(days=1), tz)
    while (following := next_due(spec, due, tz)) <= now:
        due = following
    return due


def start_scheduler(services: Services) -> object:
    """APScheduler for the running bot: one cron job per id, in the shop's timezone."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger

    tz = services.config.timezone
    scheduler = AsyncIOScheduler(timezone=tz)
    for spec in daily_jobs(services.config.schedule):

        async def fire(spec: JobSpec = spec) -> None:
            await run_job(spec.id, latest_due(spec, services.clock.now(), services), services)

        scheduler.add_job(
            fire, CronTrigger(hour=spec.at.hour, minute=spec.at.minute, timezone=tz),
            id=spec.id, name=spec.id, replace_existing=True, coalesce=True, misfire_grace_time=600,
        )
    scheduler.start()
    return scheduler
