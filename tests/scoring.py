"""How a parse answer is judged against an expected one: the rules of the shared scorer
(../shared/tools/score_parse.py), for the project's own case files."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.catalog import Offer, offer_from_catalog
from handlers.parsing import parse
from handlers.parsing.results import STATE_CHANGING


def _items(items: list[dict[str, Any]] | None) -> list[tuple[Any, ...]]:
    return sorted((i["sku"], i.get("op", ""), None if i.get("qty") is None else float(i["qty"]))
                  for i in items or [])


def meets(want: dict[str, Any], got: dict[str, Any]) -> bool:
    if want["intent"] == "none":
        return got["intent"] not in STATE_CHANGING and got["intent"] != "unclear"
    if want["intent"] != got["intent"]:
        return False
    if want["intent"] in ("order", "cancel", "modify", "change"):
        return _items(want["items"]) == _items(got["items"])
    if want["intent"] == "open_groupbuy":
        return [i["sku"] for i in want["items"]] == [i["sku"] for i in got["items"]]
    if want["intent"] == "join_groupbuy":
        return want["groupbuy"] == got["groupbuy"]
    if want["intent"] == "chain":
        return [(l["seq"], l["name"], _items(l["items"])) for l in want["lines"]] == \
               [(l["seq"], l["name"], _items(l["items"])) for l in got["lines"]]
    return True


def false_change(want: dict[str, Any], got: dict[str, Any]) -> bool:
    """A change where none was asked, or a 接龙 entry ordering where the list orders nothing
    on that line: the worst mistake the parser can make."""
    if want["intent"] in ("none", "unclear") or want["intent"] not in STATE_CHANGING:
        return got["intent"] in STATE_CHANGING
    if want["intent"] == "chain" and got["intent"] == "chain":
        ordering = {line["seq"] for line in want["lines"] if line["items"]}
        return any(line["items"] and line["seq"] not in ordering for line in got["lines"])
    return False


@dataclass
class Score:
    total: int = 0
    misses: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    false_changes: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return (self.total - len(self.misses)) / self.total if self.total else 0.0

    def line(self, name: str) -> str:
        return (f"{name}: {self.total - len(self.misses)}/{self.total} = {100 * self.accuracy:.1f}%, "
                f"false state changes {len(self.false_changes)}")


def load_cases(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_offer(path: Path) -> Offer:
    return offer_from_catalog(tomllib.loads(path.read_text(encoding="utf-8")))[0]


def score(cases: Iterable[dict[str, Any]], offer_of: Any) -> Score:
    """`offer_of(case)`: the offer a case is read against."""
    result = Score()
    for case in cases:
        got = parse(case["text"], offer_of(case)).to_json()
        result.total += 1
        if not meets(case["want"], got):
            result.misses.append((case, got))
            if false_change(case["want"], got):
                result.false_changes.append(case["text"])
    return result
