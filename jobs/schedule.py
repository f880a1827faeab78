"""When each job is due: pure functions of the config and `now` (tested without a scheduler)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from bot.core.config import ScheduleConfig


@dataclass(frozen=True)
class JobSpec:
    id: str  # deterministic: the job's name; one run per id and due time
    at: time  # local time of day it runs, every day


def daily_jobs(schedule: ScheduleConfig) -> tuple[JobSpec, ...]:
    """Every daily job, in the order they run on a day with the same due time."""
    jobs = [JobSpec("daily_post", schedule.daily_post)]
    if schedule.cutoff_reminder:
        reminder = datetime.combine(date(2000, 1, 1), schedule.cutoff) - timedelta(minutes=schedule.cutoff_reminder)
        if reminder.date() == date(2000, 1, 1) and reminder.time() > schedule.daily_post:
            jobs.append(JobSpec("cutoff_reminder", reminder.time()))
    jobs += [JobSpec("cutoff", schedule.cutoff), JobSpec("delivery_notice", schedule.delivery_notice)]
    return tuple(jobs)


def latest_due(spec: JobSpec, now: datetime, tz: tzinfo) -> datetime:
    """The most recent due time of `spec` at or before `now`."""
    due = next_due(spec, now - timedelta(days=1), tz)
    while (following := next_due(spec, due, tz)) <= now:
        due = following
    return due


def next_due(spec: JobSpec, after: datetime, tz: tzinfo) -> datetime:
    """The first due time of `spec` strictly after `after`."""
    local = after.astimezone(tz)
    due = datetime.combine(local.date(), spec.at, tzinfo=tz)
    while due <= local:
        due = datetime.combine(due.date() + timedelta(days=1), spec.at, tzinfo=tz)
    return due


def due_between(specs: tuple[JobSpec, ...], start: datetime, end: datetime,
                tz: tzinfo) -> list[tuple[datetime, JobSpec]]:
    """Every (due time, job) with start < due <= end, in time order (ties: config order)."""
    runs = []
    for rank, spec in enumerate(specs):
        due = next_due(spec, start, tz)
        while due <= end:
            runs.append((due, rank, spec))
            due = next_due(spec, due, tz)
    return [(due, spec) for due, _, spec in sorted(runs, key=lambda r: (r[0], r[1]))]
