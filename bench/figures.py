"""A measured figure, its target, and whether it meets it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    target: str  # e.g. ">= 20000" or "<= 10"
    limit: str = ""  # the machine's own limit, where one applies

    @property
    def ok(self) -> bool:
        op, _, bound = self.target.partition(" ")
        if op == ">=":
            return self.value >= float(bound)
        if op == "<=":
            return self.value <= float(bound)
        return True  # "reported"

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "ok": self.ok}


def on_each_database(name: str, measure: Callable[[str, bool], Coroutine[Any, Any, list[Figure]]],
                     quick: bool) -> list[Figure]:
    """`measure(kind, quick)` on SQLite and on PostgreSQL (skipped, and said, without one)."""
    figures: list[Figure] = []
    for kind in ("sqlite", "postgres"):
        try:
            figures.extend(asyncio.run(measure(kind, quick)))
        except OSError as error:  # no PostgreSQL here
            print(f"{name} on {kind}: skipped ({error})", file=sys.stderr)
    return figures
