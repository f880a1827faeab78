"""Every scheduled job and sweep, registered once, and when each is due.

A daily job (`Daily`) runs at a time of day the config sets, once per due time; a sweep
(`Sweep`) does whatever has fallen due in the database (a group-buy past its deadline). Both
ways of driving them iterate the same two lists: APScheduler in the running bot
(jobs.runner.start_scheduler) and the virtual clock in replay and the tests (bot.simulation).
When a job is due is a pure function of the config and `now`, tested without a scheduler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from operator import attrgetter

from bot.core.config import Config, ScheduleConfig
from jobs.benefits import next_coupon_due, next_points_due, sweep_campaigns, sweep_coupons, sweep_points
from models.campaigns import next_campaign_due
from models.facts import next_facts_due
from jobs.daily import (AfterCommit, cutoff, cutoff_reminder, daily_post, delivery_notice, member_day, member_facts,
                        neighbours_line, next_retention_due, sweep_facts, sweep_retention)
from jobs.groupbuys import expire_groupbuys, next_expiry
from jobs.services import Services


@dataclass(frozen=True)
class JobSpec:
    id: str  # deterministic: the job's name; one run per id and due time
    at: time  # local time of day it runs, every day


@dataclass(frozen=True)
class Daily:
    id: str
    at: Callable[[ScheduleConfig], time | None]  # its time of day under a config (None: off)
    run: Callable[[datetime, Services], Awaitable[AfterCommit]]  # (due, services)
    # Whether a run missed while the bot was down is still worth doing now: (due, now, config)
    useful: Callable[[datetime, datetime, Config], bool]


@dataclass(frozen=True)
class Sweep:
    id: str
    every: timedelta  # how often the running bot looks
    run: Callable[[datetime, Services], Awaitable[object]]  # (now, services)
    next_due: Callable[[Config], Awaitable[datetime | None]]  # when something falls due (the simulation's clock)


def _reminder_at(schedule: ScheduleConfig) -> time | None:
    """`cutoff_reminder` minutes before the cut-off, if that is the same day after the offer."""
    if not schedule.cutoff_reminder:
        return None
    reminder = datetime.combine(date(2000, 1, 1), schedule.cutoff) - timedelta(minutes=schedule.cutoff_reminder)
    return reminder.time() if reminder.date() == date(2000, 1, 1) and reminder.time() > schedule.daily_post else None


def before_cutoff(due: datetime, now: datetime, config: Config) -> bool:
    """Once ordering has closed, an offer or a reminder misleads."""
    return now < datetime.combine(due.astimezone(config.timezone).date(), config.schedule.cutoff,
                                  tzinfo=config.timezone)


def on_the_day(due: datetime, now: datetime, config: Config) -> bool:
    return now.astimezone(config.timezone).date() == due.astimezone(config.timezone).date()


def always(due: datetime, now: datetime, config: Config) -> bool:
    return True  # a missed cut-off still closes the day


NIGHTLY = time(3, 0)  # when the nightly sweeps run, local time

# In the order they run on a day with the same due time.
DAILY = (
    Daily("daily_post", attrgetter("daily_post"), daily_post, before_cutoff),
    Daily("cutoff_reminder", _reminder_at, cutoff_reminder, before_cutoff),
    Daily("neighbours", attrgetter("neighbours"), neighbours_line, before_cutoff),
    Daily("cutoff", attrgetter("cutoff"), cutoff, always),
    Daily("delivery_notice", attrgetter("delivery_notice"), delivery_notice, on_the_day),
    Daily("member_facts", lambda schedule: NIGHTLY, member_facts, always),
    Daily("member_day", attrgetter("member_day"), member_day, on_the_day),
)
SWEEPS = (
    Sweep("groupbuy_expiry", timedelta(seconds=30), expire_groupbuys, next_expiry),
    Sweep("coupons", timedelta(seconds=60), sweep_coupons, next_coupon_due),
    Sweep("points", timedelta(seconds=60), sweep_points, next_points_due),
    Sweep("campaigns", timedelta(seconds=60), sweep_campaigns, next_campaign_due),
    Sweep("member_facts_changes", timedelta(seconds=60), sweep_facts, next_facts_due),
    Sweep("retention", timedelta(seconds=60), sweep_retention, next_retention_due),
)
_DAILY = {job.id: job for job in DAILY}


def daily(job_id: str) -> Daily:
    return _DAILY[job_id]


def daily_jobs(schedule: ScheduleConfig) -> tuple[JobSpec, ...]:
    """Every daily job the config turns on, with its time, in registry order."""
    return tuple(JobSpec(job.id, at) for job in DAILY if (at := job.at(schedule)) is not None)


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
