"""Keeping the fulfilment workbooks current: debounced, atomic, patient with locked files.

An order change marks its delivery date; the workbook is rewritten `debounce` seconds later,
so a burst of a hundred orders makes one write, not a hundred. If the file cannot be replaced
(Excel or WPS holds it open on Windows), the write is retried with growing pauses and staff
are told once; the change is never lost, because the next write is made from the database.

What is due is kept in the database too (models.state.mark_workbooks_due, in the transaction
of the change): a bot killed before it wrote writes it when it starts, and the process that
sends writes what the others' changes made due. A worker that dies or hangs is given up
after its timeout (models.xlsx), and the write is retried like a locked file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from bot.core.clock import Clock, sleep_until_or_woken
from bot.core.config import Config
from models.spreadsheet import export_delivery_date, workbook_path
from models.state import workbook_written, workbooks_due
from models.xlsx import WorkerStopped

log = logging.getLogger(__name__)

RETRY_FIRST = timedelta(seconds=30)
RETRY_MAX = timedelta(minutes=10)
POLL = 15.0  # seconds between looks at what other processes made due
PAUSE_MAX = timedelta(seconds=30)  # between tries while the database fails under the loop
# A debounced write of a date waits at least this many times its last write's wall time after
# that write: a busy day's workbook, which takes longer to write as the day grows, is then
# rewritten at most a quarter of the time (the cut-off and /导出 write at once all the same).
SPACING = 3.0


def why_not_written(path: Path, error: Exception) -> str:
    """What staff are told when a workbook could not be written (it is retried)."""
    if isinstance(error, PermissionError) and os.access(path.parent, os.W_OK):
        return f"表格 {path.name} 正被其他程序打开（或文件夹不让写），无法更新；关闭后会自动重试，订单不会丢。"
    if isinstance(error, OSError):
        reason = error.strerror or str(error)
        return f"表格 {path.name} 写不进去（{reason}：{path.parent}），请检查 [spreadsheet] path；会自动重试，订单不会丢。"
    return f"表格 {path.name} 没有生成出来（{error}），会自动重试，订单不会丢。"


class Exporter:
    def __init__(self, config: Config, clock: Clock, sku_order: list[str],
                 tell_staff: Callable[[str], Awaitable[None]]) -> None:
        self.config = config
        self.clock = clock
        self.sku_order = sku_order
        self.tell_staff = tell_staff
        self.due: dict[date, datetime] = {}  # delivery date -> when to write it
        self._rest: dict[date, datetime] = {}  # delivery date -> no debounced write before this
        self._retry: dict[date, timedelta] = {}  # delivery date -> pause after the last failure
        self._wake = asyncio.Event()
        self.problem = ""  # why the loop is pausing ("" when it is not)
        self.last_written: datetime | None = None

    def path(self, delivery_date: date) -> Path:
        return self.config.resolve(workbook_path(self.config.spreadsheet.path, delivery_date))

    def mark(self, delivery_date: date) -> None:
        """Orders of `delivery_date` changed: write its workbook soon (once for a burst)."""
        if delivery_date not in self.due:
            self.due[delivery_date] = self._after_rest(delivery_date, self.clock.now()
                                                       + timedelta(seconds=self.config.spreadsheet.debounce))
            self._wake.set()

    def _after_rest(self, delivery_date: date, due: datetime) -> datetime:
        rest = self._rest.get(delivery_date)
        if rest is not None and rest <= self.clock.now():
            del self._rest[delivery_date]
        return max(due, rest) if rest is not None else due

    def next_due(self) -> datetime | None:
        return min(self.due.values()) if self.due else None

    async def restore(self) -> None:
        """What the database says is due (written by this process before it stopped, or by
        another process): due `debounce` seconds after it was marked."""
        debounce = timedelta(seconds=self.config.spreadsheet.debounce)
        for delivery_date, marked in (await workbooks_due()).items():
            if delivery_date not in self.due:
                self.due[delivery_date] = self._after_rest(delivery_date, max(marked + debounce, self.clock.now())) \
                    if delivery_date not in self._retry else self.clock.now()
                self._wake.set()

    async def write(self, delivery_date: date) -> Path:
        """Write now; raises OSError if the file is locked (write_due and write_now handle that)."""
        read_from, started = self.clock.now(), time.perf_counter()
        order_date = delivery_date - timedelta(days=self.config.schedule.delivery_days)
        path = await export_delivery_date(self.path(delivery_date), delivery_date, self.config.timezone,
                                          self.sku_order, order_date, self.config.campaign, read_from)
        self.due.pop(delivery_date, None)
        self.last_written = read_from
        now = self.clock.now()
        self._rest = {d: rest for d, rest in self._rest.items() if rest > now}  # one entry a busy date
        self._rest[delivery_date] = now + timedelta(seconds=SPACING * (time.perf_counter() - started))
        await workbook_written(delivery_date, read_from)
        if self._retry.pop(delivery_date, None) is not None:
            await self.tell_staff(f"表格 {path.name} 已经更新好了。")
        return path

    async def write_now(self, delivery_date: date) -> Path | None:
        """Write at once (cut-off, /导出, `groupbuy export`); None if the file is locked (it
        stays due, retried like any other write, and staff are told)."""
        now = self.clock.now()
        self.due[delivery_date] = now
        await self.write_due(now)
        return None if delivery_date in self.due else self.path(delivery_date)

    async def write_due(self, now: datetime) -> int:
        written = 0
        for delivery_date, due in sorted(self.due.items(), key=lambda item: item[1]):
            if due > now:
                continue
            try:
                await self.write(delivery_date)
                written += 1
            except (OSError, WorkerStopped) as error:  # PermissionError while Excel has it open
                pause = self._retry.get(delivery_date)
                if pause is None:
                    await self.tell_staff(why_not_written(self.path(delivery_date), error))
                pause = min(RETRY_MAX, pause * 2) if pause else RETRY_FIRST
                self._retry[delivery_date] = pause
                self.due[delivery_date] = now + pause
                log.warning("workbook for %s not written (%s); retrying in %s", delivery_date, error, pause)
        return written

    async def run(self, poll_seconds: float = POLL) -> None:
        """The running bot's loop: sleep until a write is due, or woken by a new change; look
        at what other processes made due every `poll_seconds`. It never stops on a fault."""
        pause = timedelta(seconds=1)
        while True:
            try:
                await self.restore()
                self._wake.clear()
                await sleep_until_or_woken(self.clock, self.next_due(), self._wake, poll_seconds)
                await self.write_due(self.clock.now())
            except Exception as error:  # the database failed under it: pause, never stop
                if not self.problem:
                    log.exception("writing workbooks failed; trying again in %s", pause)
                self.problem = f"{type(error).__name__}: {error}"[:200]
                await self.clock.sleep_until(self.clock.now() + pause)
                pause = min(PAUSE_MAX, pause * 2)
                continue
            self.problem, pause = "", timedelta(seconds=1)
