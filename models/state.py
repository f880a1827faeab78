"""Persistent bot state (a small key-value table): read and write one fact by key.

Values are stored as {"v": value}: tortoise's JSONField reads a bare Python str as JSON text.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from models.tables import BotState

PAUSED = "broadcasts_paused"
SCHEDULER_SINCE = "scheduler_since"


async def get_state(key: str, default: Any = None) -> Any:
    row = await BotState.get_or_none(key=key)
    return default if row is None or row.value is None else row.value["v"]


async def set_state(key: str, value: Any, now: datetime) -> None:
    await BotState.update_or_create(key=key, defaults={"value": {"v": value}, "updated_at": now})


async def set_once(key: str, value: Any, now: datetime) -> Any:
    """Set `key` unless it is set; return the value in force."""
    row, _ = await BotState.get_or_create(key=key, defaults={"value": {"v": value}, "updated_at": now})
    return value if row.value is None else row.value["v"]


# A delivery date whose workbook is to be written, kept from the transaction of the change that
# made it due until the workbook is written: a bot killed in between (in the debounce window,
# after the cut-off's commit) writes it when it starts again, and the process that sends writes
# the workbooks another process's orders made due.
WORKBOOK_DUE = "workbook_due:"


async def mark_workbooks_due(dates: Iterable[date], now: datetime) -> None:
    """Inside the change's transaction (one statement, safe when two processes mark at once)."""
    rows = [BotState(key=f"{WORKBOOK_DUE}{d.isoformat()}", value={"v": now.isoformat()}, updated_at=now)
            for d in sorted(set(dates))]
    if rows:
        await BotState.bulk_create(rows, on_conflict=["key"], update_fields=["value", "updated_at"])


async def workbooks_due() -> dict[date, datetime]:
    """Each delivery date whose workbook is due, and since when."""
    rows = await BotState.filter(key__startswith=WORKBOOK_DUE).values_list("key", "updated_at")
    return {date.fromisoformat(key.removeprefix(WORKBOOK_DUE)): at for key, at in rows}


async def workbook_written(delivery_date: date, read_from: datetime) -> None:
    """The workbook was written from what the database held at `read_from`: due no more,
    unless a change marked it again after that."""
    await BotState.filter(key=f"{WORKBOOK_DUE}{delivery_date.isoformat()}", updated_at__lte=read_from).delete()
