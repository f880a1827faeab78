"""What a new version of a 接龙 means, given the previous one: pure, no I/O.

Members copy the whole list and append a line, so each version repeats every earlier line.
Lines are matched by their text (numbering may shift). Then, for the sender S:
- a line in no earlier version is new: S's order (a name other than S's is 代接, kept as a note);
- a changed line of S's own (same number or same name) is an edit of S's order;
- a missing line of S's own is a deletion: S's order loses it;
- other members' lines that S copied, changed or left out change nothing (a concurrent copy
  may simply not have them yet), and stay in the list as their owners wrote them.
The state kept between versions is the merged list with the owner (contact id) of each line.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from handlers.parsing.results import ChainLine, Item
from bot.core.text import fold

UNKNOWN = ""  # owner of lines from before the bot saw the list


@dataclass(frozen=True)
class OwnedLine:
    seq: int
    name: str
    text: str
    owner: str
    items: tuple[Item, ...]

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "name": self.name, "text": self.text, "owner": self.owner,
                "items": [[i.sku, str(i.qty)] for i in self.items]}

    @staticmethod
    def from_json(data: dict[str, Any]) -> OwnedLine:
        return OwnedLine(int(data["seq"]), str(data["name"]), str(data["text"]), str(data["owner"]),
                         tuple(Item(sku, Decimal(qty)) for sku, qty in data.get("items", [])))


@dataclass(frozen=True)
class ChainDiff:
    state: tuple[OwnedLine, ...]
    added: tuple[OwnedLine, ...] = ()
    edited: tuple[tuple[OwnedLine, OwnedLine], ...] = ()  # (before, after), the sender's own
    removed: tuple[OwnedLine, ...] = ()
    others_changed: tuple[OwnedLine, ...] = ()  # someone else's line the sender altered: ignored
    unreadable: tuple[ChainLine, ...] = ()

    def deltas(self) -> dict[str, Decimal]:
        """Net change of the sender's order per sku (positive: more)."""
        totals: defaultdict[str, Decimal] = defaultdict(Decimal)
        for line in self.added:
            _count(totals, line.items, +1)
        for before, after in self.edited:
            _count(totals, before.items, -1)
            _count(totals, after.items, +1)
        for line in self.removed:
            _count(totals, line.items, -1)
        return {sku: qty for sku, qty in totals.items() if qty}

    def notes(self, sender_name: str) -> list[str]:
        """代接: lines the sender added under someone else's name."""
        return [line.name for line in self.added if line.name and not same_person(line.name, sender_name)]

    def sender_lines(self, sender: str) -> list[OwnedLine]:
        return [line for line in self.state if line.owner == sender]


def _count(totals: defaultdict[str, Decimal], items: Iterable[Item], sign: int) -> None:
    for item in items:
        totals[item.sku] += sign * (item.qty or Decimal(0))


def _key(text: str) -> str:
    return "".join(text.split())


_KIN = re.compile(r"(?:妈妈?|爸爸?|老婆|老公|媳妇|婆婆|公公|奶奶|爷爷|外婆|外公|姥姥|姥爷|儿子|女儿|闺女|孩子|宝宝|"
                  r"姐姐?|哥哥?|弟弟?|妹妹?|邻居|朋友|同事|阿姨|叔叔|舅舅|小姨|姑姑|岳母|丈母娘|婶婶|嫂子)")


def same_person(line_name: str, sender_name: str) -> bool:
    """A name on a line is the sender's own when it is their name or a part of it, whatever
    the case, spaces and emoji ("丽华" for 王丽华, "lily" for "Lily🌸"), or their name with
    more that is not kin ("王丽华" for 丽华, but "阿明妈" for 阿明 is 代接). A part counts
    when it is a name itself: two characters at least, not only digits."""
    line, sender = _letters(line_name), _letters(sender_name)
    if line == sender:
        return bool(line)
    shorter = min(line, sender, key=len)
    if len(shorter) < 2 or shorter.isdigit():
        return False
    if shorter is line:
        return line in sender
    return sender in line and not _KIN.search(line.replace(sender, "", 1))


def _letters(name: str) -> str:
    return "".join(char for char in fold(name) if char.isalnum())


def diff_chain(previous: Sequence[OwnedLine] | None, lines: Sequence[ChainLine],
               sender: str, sender_name: str) -> ChainDiff:
    if previous is None:
        return _first_version(lines, sender, sender_name)

    def owned(line: OwnedLine) -> bool:
        return line.owner == sender or (line.owner == UNKNOWN and same_person(line.name, sender_name))

    by_text: defaultdict[str, list[OwnedLine]] = defaultdict(list)
    for old in previous:
        by_text[_key(old.text)].append(old)
    state: list[OwnedLine] = []
    fresh: list[ChainLine] = []
    for line in lines:
        matches = by_text.get(_key(line.text))
        if matches:
            old = matches.pop(0)
            state.append(OwnedLine(line.seq, old.name, old.text, old.owner, old.items))
        else:
            fresh.append(line)
    missing = [old for group in by_text.values() for old in group]

    added: list[OwnedLine] = []
    edited: list[tuple[OwnedLine, OwnedLine]] = []
    others_changed: list[OwnedLine] = []
    unreadable: list[ChainLine] = []
    for line in fresh:
        mine = _counterpart(line, [m for m in missing if owned(m)])
        if mine is not None:
            missing.remove(mine)
            if not line.items:  # an unreadable edit changes nothing; the old items stand
                unreadable.append(line)
                state.append(OwnedLine(line.seq, line.name, line.text, sender, mine.items))
                continue
            after = OwnedLine(line.seq, line.name, line.text, sender, line.items)
            edited.append((mine, after))
            state.append(after)
            continue
        theirs = _counterpart(line, [m for m in missing if not owned(m)], same_name_only=True)
        if theirs is not None:
            missing.remove(theirs)
            others_changed.append(theirs)
            state.append(theirs)
            continue
        if not line.items:
            unreadable.append(line)
            continue
        new = OwnedLine(line.seq, line.name, line.text, sender, line.items)
        added.append(new)
        state.append(new)
    removed = [m for m in missing if owned(m)]
    state.extend(m for m in missing if not owned(m))  # a copy that lacks them changes nothing
    return ChainDiff(tuple(state), tuple(added), tuple(edited), tuple(removed), tuple(others_changed),
                     tuple(unreadable))


def _counterpart(line: ChainLine, candidates: list[OwnedLine], same_name_only: bool = False) -> OwnedLine | None:
    same_name = [c for c in candidates if line.name and c.name == line.name]
    if same_name_only:
        return next((c for c in same_name if c.seq == line.seq), None)
    same_seq = [c for c in candidates if c.seq == line.seq]
    return next(iter(same_seq or same_name), None)


def diff_by_author(previous: Sequence[OwnedLine] | None, lines: Sequence[ChainLine],
                   authors: Sequence[str]) -> tuple[tuple[OwnedLine, ...], dict[str, ChainDiff]]:
    """WeChat's built-in 接龙 names the author (wxid) of every entry, in entry order: each entry
    is its author's, whoever sent this version, and the wxid wins over the name written on the
    line. Per author: their entries now against their entries before. Entries without an
    author are kept and never ordered. Returns the merged list and each author's diff."""
    author_of = [authors[i] if i < len(authors) else UNKNOWN for i in range(len(lines))]
    before = list(previous or [])
    everyone = sorted({a for a in author_of if a} | {line.owner for line in before if line.owner})
    state: list[OwnedLine] = []
    diffs: dict[str, ChainDiff] = {}
    for author in everyone:
        now = [line for line, owner in zip(lines, author_of) if owner == author]
        diff = diff_chain([line for line in before if line.owner == author], now, author, "")
        diffs[author] = diff
        state.extend(diff.state)
    state.extend(OwnedLine(line.seq, line.name, line.text, UNKNOWN, line.items)
                 for line, owner in zip(lines, author_of) if not owner)
    state.sort(key=lambda line: line.seq)
    return tuple(state), diffs


def _first_version(lines: Sequence[ChainLine], sender: str, sender_name: str) -> ChainDiff:
    """The first version the bot sees: the sender's lines are those under the sender's name,
    or, when no line has it, the last line (where a member appends). Earlier lines of others
    were ordered before the bot saw the list: they are kept without an owner."""
    named = [line for line in lines if same_person(line.name, sender_name)]
    mine = set(map(id, named or list(lines)[-1:]))
    state: list[OwnedLine] = []
    added: list[OwnedLine] = []
    unreadable: list[ChainLine] = []
    for line in lines:
        if id(line) in mine:
            if not line.items:
                unreadable.append(line)
                continue
            owned_line = OwnedLine(line.seq, line.name, line.text, sender, line.items)
            added.append(owned_line)
            state.append(owned_line)
        else:
            state.append(OwnedLine(line.seq, line.name, line.text, UNKNOWN, line.items))
    return ChainDiff(tuple(state), tuple(added), unreadable=tuple(unreadable))
