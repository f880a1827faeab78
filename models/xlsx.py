"""Writing xlsx with openpyxl's write-only mode: sheets ready to print, cells that never
become formulas, saves that never leave a half-written file, and a worker process for big days.
What goes into the fulfilment workbook is models.spreadsheet's business; how it is written is
this module's."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

HEADER_FONT = Font(bold=True)
POLL = 1.0  # seconds between looks at the other side of the worker's queues
WORKER_TIMEOUT = 300.0  # seconds one step of the worker may take (a big day's save takes ~20)


class WorkerStopped(RuntimeError):
    """The worker process died or hung: the workbook was not written."""


class SheetWriter:
    async def sheet(self, title: str, columns: Sequence[str], widths: Sequence[int], rows: int,
                    landscape: bool) -> None: ...

    async def rows(self, rows: list[tuple[Any, ...]]) -> None: ...

    async def save(self) -> None: ...

    async def close(self) -> None: ...


class LocalWriter(SheetWriter):
    """In this process: small days, where starting a process would cost more than it saves."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.book = Workbook(write_only=True)
        self.current: WriteOnlyWorksheet | None = None
        self.saved = False

    async def sheet(self, title: str, columns: Sequence[str], widths: Sequence[int], rows: int,
                    landscape: bool) -> None:
        self.current = new_sheet(self.book, title, columns, widths, rows, landscape)

    async def rows(self, rows: list[tuple[Any, ...]]) -> None:
        assert self.current is not None
        for values in rows:
            append_row(self.current, values)
        await asyncio.sleep(0)  # let messages through between pages

    async def save(self) -> None:
        await asyncio.to_thread(save_atomically, self.book, self.path)
        self.saved = True

    async def close(self) -> None:
        """A workbook given up half-written (an error, a cancelled write) has its sheets' streams
        closed here: left to the garbage collector, they end in whatever order it picks, and
        fail to (printed as an ignored exception, in whatever runs then)."""
        if self.saved:
            return
        for sheet in self.book.worksheets:
            if isinstance(sheet, WriteOnlyWorksheet) and not sheet.closed:
                with contextlib.suppress(Exception):
                    sheet.close()
                writer = getattr(sheet, "_writer", None)  # its temporary file, which save would have read
                if writer is not None:
                    with contextlib.suppress(Exception):
                        writer.cleanup()


class ProcessWriter(SheetWriter):
    """A worker process writes; this one reads the database and hands it pages of values
    through a bounded queue (so neither side ever holds the whole day)."""

    def __init__(self, path: Path, timeout: float = WORKER_TIMEOUT) -> None:
        context = multiprocessing.get_context("spawn")
        self.inbox: Any = context.Queue(maxsize=4)
        self.outbox: Any = context.Queue()
        self.process = context.Process(target=_write_worker,
                                       args=(str(path), self.inbox, self.outbox, os.getpid()), daemon=True)
        self.process.start()
        self.timeout = timeout  # seconds the worker may take for one step before it is given up
        self.worker_peak_mb = 0.0  # the worker's peak memory, told when it has saved

    def _check(self, waited: float) -> None:
        if not self.process.is_alive():
            raise WorkerStopped(f"the workbook worker stopped (exit code {self.process.exitcode})")
        if waited >= self.timeout:
            self.process.kill()
            raise WorkerStopped(f"the workbook worker did not answer in {self.timeout:.0f} s")

    def _put_blocking(self, message: tuple[Any, ...]) -> None:
        waited = 0.0
        while True:
            try:
                self.inbox.put(message, timeout=POLL)
                return
            except queue.Full:
                waited += POLL
                self._check(waited)

    def _get_blocking(self) -> tuple[str, str]:
        waited = 0.0
        while True:
            try:
                answer: tuple[str, str] = self.outbox.get(timeout=POLL)
                return answer
            except queue.Empty:
                waited += POLL
                self._check(waited)

    async def _put(self, message: tuple[Any, ...]) -> None:
        await asyncio.to_thread(self._put_blocking, message)

    async def sheet(self, title: str, columns: Sequence[str], widths: Sequence[int], rows: int,
                    landscape: bool) -> None:
        await self._put(("sheet", title, tuple(columns), tuple(widths), rows, landscape))

    async def rows(self, rows: list[tuple[Any, ...]]) -> None:
        await self._put(("rows", [prepare(values) for values in rows]))

    async def save(self) -> None:
        await self._put(("save",))
        kind, message = await asyncio.to_thread(self._get_blocking)
        if kind == "ok":
            self.worker_peak_mb = float(message)
        if kind == "PermissionError":
            raise PermissionError(message)
        if kind != "ok":
            raise OSError(f"writing the workbook failed: {kind}: {message}")

    async def close(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(Exception):
                self.inbox.put_nowait(("stop",))
            await asyncio.to_thread(self.process.join, 30)
            if self.process.is_alive():
                self.process.kill()
        # Pages the worker never read (it failed, or was given up) are dropped: otherwise the
        # queue's feeder thread may wait for a reader forever when the bot exits (seen once,
        # with workers that never started reading; not reproduced by killing one).
        self.inbox.cancel_join_thread()
        self.inbox.close()
        self.outbox.close()


def _write_worker(path: str, inbox: Any, outbox: Any, parent: int) -> None:
    """The worker process: build the workbook from the messages, save it atomically. It runs
    at a lower priority: on a small machine it would otherwise take a core the bot and its
    database need for the messages that keep arriving while a big day is written. When the
    bot is gone (killed), it goes too, and with it the resource tracker it keeps open."""
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(10)
    book = Workbook(write_only=True)
    current: WriteOnlyWorksheet | None = None
    try:
        while True:
            try:
                message = inbox.get(timeout=POLL)
            except queue.Empty:
                if os.getppid() != parent:
                    return  # orphaned: nobody will read what it writes
                continue
            if message[0] == "sheet":
                current = new_sheet(book, *message[1:])
            elif message[0] == "rows":
                assert current is not None
                for values, special in message[1]:
                    append_prepared(current, values, special)
            elif message[0] == "save":
                save_atomically(book, Path(path))
                outbox.put(("ok", str(peak_mb())))
                return
            else:
                return
    except BaseException as error:  # report it to the bot rather than die silently
        outbox.put((type(error).__name__, str(error)))


def peak_mb() -> float:
    """This process's peak resident memory in MB (Linux: VmHWM, which starts afresh at exec;
    ru_maxrss elsewhere, which on Linux carries the parent's peak over a fork and exec)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def new_sheet(book: Workbook, title: str, columns: Sequence[str], widths: Sequence[int], rows: int,
           landscape: bool = False) -> WriteOnlyWorksheet:
    """A sheet ready to print: widths, frozen header, header on every page, filters."""
    sheet = book.create_sheet(title)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.print_title_rows = "1:1"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{rows + 1}"
    sheet.page_setup.orientation = "landscape" if landscape else "portrait"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    header = []
    for name in columns:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = HEADER_FONT
        header.append(cell)
    sheet.append(header)
    return sheet


def safe_text(value: str) -> str:
    """Without the control characters that make a workbook unreadable."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if value and not value.isprintable() else value


class Text(str):
    """Text that must be written as a text cell (it starts with "=": openpyxl would make it a
    formula). A str, so it crosses to the worker process as one."""


def prepare(values: Sequence[Any]) -> tuple[tuple[Any, ...], bool]:
    """A row's values as openpyxl takes them (numbers for decimals, None for empty text, no
    control characters), and whether it holds a `Text`. Done by the reading process, so the
    worker, the slower side of a big export, only appends."""
    out: list[Any] = []
    special = False
    for value in values:
        if isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        elif isinstance(value, str):
            value = safe_text(value) or None  # an empty cell costs nothing to write
            if value is not None and value.startswith("="):
                # ("+", "-" and "@" are written as text cells by openpyxl already.)
                value, special = Text(value), True
        out.append(value)
    return tuple(out), special


def append_prepared(sheet: WriteOnlyWorksheet, values: tuple[Any, ...], special: bool) -> None:
    if not special:
        sheet.append(values)
        return
    cells: list[Any] = []
    for value in values:
        if isinstance(value, Text):
            cell = WriteOnlyCell(sheet, value=str(value))
            cell.data_type = "s"  # a cell typed as string is never a formula
            value = cell
        cells.append(value)
    sheet.append(cells)


def append_row(sheet: WriteOnlyWorksheet, values: Sequence[Any]) -> None:
    append_prepared(sheet, *prepare(values))


def save_atomically(book: Workbook, path: Path) -> None:
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".xlsx.tmp", dir=path.parent)
        os.close(handle)
        book.save(temporary)
        os.replace(temporary, path)
    except BaseException:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        for sheet in book.worksheets:  # close the sheets' streams, or they fail at collection
            with contextlib.suppress(Exception):
                sheet.close()
        raise
