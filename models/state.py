"""Persistent bot state (a small key-value table): read and write one fact by key.

Values are stored as {"v": value}: tortoise's JSONField reads a bare Python str as JSON text.
"""

from __future__ import annotations

from datetime import datetime
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
