"""The characters a regular expression's matches can start with, worked out from the pattern
itself (Python's own parser of patterns, re._parser): the lexer and the whole-message
requests use it to skip text that cannot start a match."""

from __future__ import annotations

import re
import re._constants as _C
import re._parser as _parser
from typing import Any


def first_chars(pattern: re.Pattern[str] | str) -> set[str] | None:
    """The characters a match of `pattern` can start with; None if it could start with any."""
    source = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    return _first(_parser.parse(source).data)[0]


_SPACES = frozenset(chr(code) for code in range(0x3001) if chr(code).isspace())


def _first(items: Any) -> tuple[set[str] | None, bool]:
    """(the first characters of what `items` can match or None for any, whether it can match
    nothing), from the parsed pattern (re._parser)."""
    out: set[str] = set()
    for op, value in items:
        found, empty = _first_of(op, value)
        if found is None:
            return None, False
        out |= found
        if not empty:
            return out, False
    return out, True


def _first_of(op: Any, value: Any) -> tuple[set[str] | None, bool]:
    if op is _C.LITERAL:
        return {chr(value)}, False
    if op is _C.IN:
        chars: set[str] = set()
        for kind, item in value:
            if kind is _C.LITERAL:
                chars.add(chr(item))
            elif kind is _C.RANGE and item[1] - item[0] < 5000:
                chars |= {chr(code) for code in range(item[0], item[1] + 1)}
            elif kind is _C.CATEGORY and item is _C.CATEGORY_DIGIT:
                chars |= set("0123456789")
            elif kind is _C.CATEGORY and item is _C.CATEGORY_SPACE:
                chars |= _SPACES
            else:
                return None, False
        return chars, False
    if op is _C.BRANCH:
        chars, empty = set(), False
        for alternative in value[1]:
            found, can_be_empty = _first(alternative.data)
            if found is None:
                return None, False
            chars |= found
            empty = empty or can_be_empty
        return chars, empty
    if op is _C.SUBPATTERN:
        return _first(value[-1].data)
    if op in (_C.MAX_REPEAT, _C.MIN_REPEAT):
        found, empty = _first(value[2].data)
        return found, found is not None and (value[0] == 0 or empty)
    if op in (_C.ASSERT, _C.ASSERT_NOT, _C.AT):
        return set(), True  # matches no character itself
    return None, False
