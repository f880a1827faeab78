"""A measured figure, its target, and whether it meets it."""

from __future__ import annotations

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
