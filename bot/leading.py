"""The leader's term: wait to hold the leader's lock (bot.leader); then catch up on missed
jobs, run the schedule, send and write workbooks until the lock is lost; then stop all of it
at once and wait to lead again. The running bot runs one `Leader`; the fault tests run two
on one database."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from bot.app import Bot
from bot.leader import Leadership
from bot.outbox import NotLeader
from jobs.runner import catch_up, start_scheduler

log = logging.getLogger(__name__)

RETRY_SECONDS = 10  # between tries for the lock of a process that does not lead


class Leader:
    """Wait to be the one process that sends; then catch up on missed jobs, run the schedule,
    send and write workbooks, until the lock is lost: then stop all of it and wait again."""

    def __init__(self, bot: Bot, leadership: Leadership, *, run_scheduler: bool = True,
                 retry_seconds: float = RETRY_SECONDS) -> None:
        self.bot = bot
        self.leadership = leadership
        self.run_scheduler = run_scheduler
        self.retry = timedelta(seconds=retry_seconds)
        self.leading = False
        self.terms = 0  # how many times this process became the leader
        self.problem = ""  # why it could not try for the lock ("" when it could)

    async def run(self) -> None:
        clock = self.bot.clock
        while True:
            try:
                got = await self.leadership.try_acquire()
                self.problem = ""
            except Exception as error:  # the database does not answer: try again later
                got, self.problem = False, f"{type(error).__name__}: {error}"[:200]
                log.warning("could not try for the leader's lock: %s", self.problem)
                await self.leadership.release()
            if not got:
                await clock.sleep_until(clock.now() + self.retry)
                continue
            await self._lead()
            await self.leadership.release()  # a fresh connection for the next try

    async def _lead(self) -> None:
        bot, scheduler = self.bot, None
        self.leading, self.terms = True, self.terms + 1
        log.info("this process sends and runs the schedule")
        bot.outbox.may_send = self.leadership.holds  # proved before each send
        try:
            await bot.outbox.restore()  # the pace of what the last leader sent, its interrupted sends
            if self.run_scheduler:
                ran = await catch_up(bot.services)
                if ran:
                    log.info("caught up on start: %s", ", ".join(ran))
                scheduler = start_scheduler(bot.services)
            await _first_failure(bot.outbox.run(), bot.exporter.run(), self._watch())
        except NotLeader:
            log.error("this process lost the leader's lock: it stopped sending, and waits to lead again")
        except Exception:
            log.exception("leading failed; waiting to lead again")
        finally:
            self.leading = False
            if scheduler is not None:
                scheduler.shutdown(wait=False)  # type: ignore[attr-defined]


    async def _watch(self) -> None:
        """Between sends too: a leader with nothing to send learns it lost the lock."""
        clock = self.bot.clock
        while True:
            await clock.sleep_until(clock.now() + self.retry)
            if not await self.leadership.holds():
                raise NotLeader("the leader's lock is lost")


async def _first_failure(*loops: Any) -> None:
    """Run the loops until one fails (they never end otherwise); then stop the others."""
    tasks = [asyncio.ensure_future(loop) for loop in loops]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
