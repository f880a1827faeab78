"""Keeping the fulfilment workbooks current: debounced, atomic, patient with locked files.

An order change marks its delivery date; the workbook is rewritten `debounce` seconds later,
so a burst of a hundred orders makes one write, not a hundred. If the file cannot be replaced
(Excel or WPS holds it open on Windows), the write is retried with growing pauses and staff
are told once; the change is never lost, because the next write is made from the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from bot.core.clock import Clock, sleep_until_or_woken
from bot.core.config import Config
from models.spreadsheet import export_delivery_date, workbook_path

log = logging.getLogger(__name__)

RETRY_FIRST = timedelta(seconds=30)
RETRY_MAX = timedelta(minutes=10)


class Exporter:
    def __init__(self, config: Config, clock: Clock, sku_order: list[str],
                 tell_staff: Callable[[str], Awaitable[None]]) -> None:
        self.config = config
        self.clock = clock
        self.sku_order = sku_order
        self.tell_staff = tell_staff
        self.due: dict[date, datetime] = {}  # delivery date -> when to write it
        self._retry: dict[date, timedelta] = {}  # delivery date -> pause after the last failure
        self._wake = asyncio.Event()

    def path(self, delivery_date: date) -> Path:
        return self.config.resolve(workbook_path(self.config.spreadsheet.path, delivery_date))

    def mark(self, delivery_date: date) -> None:
        """Orders of `delivery_date` changed: write its workbook soon (once for a burst)."""
        if delivery_date not in self.due:
            self.due[delivery_date] = self.clock.now() + timedelta(seconds=self.config.spreadsheet.debounce)
            self._wake.set()

    def next_due(self) -> datetime | None:
        return min(self.due.values()) if self.due else None

    async def write(self, delivery_date: date) -> Path:
        """Write now; raises OSError if the file is locked (write_due and write_now handle that)."""
        path = await export_delivery_date(self.path(delivery_date), delivery_date, self.config.timezone,
                                          self.sku_order)
        self.due.pop(delivery_date, None)
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
            except OSError as error:  # PermissionError on Windows while Excel has it open
                pause = self._retry.get(delivery_date)
                if pause is None:
                    await self.tell_staff(f"表格 {self.path(delivery_date).name} 正被其他程序打开，"
                                          "无法更新；关闭后会自动重试，订单不会丢。")
                pause = min(RETRY_MAX, pause * 2) if pause else RETRY_FIRST
                self._retry[delivery_date] = pause
                self.due[delivery_date] = now + pause
                log.warning("workbook for %s not written (%s); retrying in %s", delivery_date, error, pause)
        return written

    async def run(self) -> None:
        """The running bot's loop: sleep until a write is due, or woken by a new change."""
        while True:
            self._wake.clear()
            await sleep_until_or_woken(self.clock, self.next_due(), self._wake)
            await self.write_due(self.clock.now())
