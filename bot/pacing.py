"""When the next message may go out without getting the WeChat account banned: pure rules.

Limits (docs/PRODUCT.md, facts from the field): at most one send per `min_interval` overall,
one per `conversation_interval` into one conversation, `max_per_minute` in any 60 s, a random
extra delay of up to `jitter` seconds when switching conversation (spending only the time a
busy minute has to spare, so a long broadcast is not stretched), and broadcasts held during
quiet hours. `Pacer` only computes times; the outbox decides what to send and sends it.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from datetime import datetime, time, timedelta, timezone, tzinfo

from bot.core.config import OutboxConfig

MINUTE = timedelta(seconds=60)


def quiet_until(now: datetime, quiet: tuple[time, time] | None, tz: tzinfo) -> datetime | None:
    """The end of the quiet hours `now` falls in, or None when `now` is not quiet."""
    if quiet is None:
        return None
    start, end = quiet
    local = now.astimezone(tz)
    clock = local.time()
    inside = (start <= clock < end) if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    end_day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=tz)


class Pacer:
    def __init__(self, limits: OutboxConfig, tz: tzinfo, rng: random.Random | None = None) -> None:
        self.limits = limits
        self.tz = tz
        self.rng = rng or random.Random()
        self.last_sent: datetime | None = None
        self.last_conversation: str | None = None
        self.conversation_sent: dict[str, datetime] = {}
        self.recent: deque[datetime] = deque()  # send times within the last minute
        self.recent_jitter: deque[float] = deque()  # the jitter each of those sends waited
        self._jitter: dict[int, float] = {}  # drawn once per message, so ready times are stable
        self._granted: dict[int, float] = {}  # the part of it the budget allowed

    def ready_at(self, key: int, conversation: str, broadcast: bool, now: datetime) -> datetime:
        """The earliest time message `key` into `conversation` may be sent (in UTC: adding
        seconds to a local time is wall-clock arithmetic, wrong across a DST change)."""
        at = now.astimezone(timezone.utc)
        if self.last_sent is not None:
            gap = timedelta(seconds=self.limits.min_interval)
            if conversation != self.last_conversation and self.limits.jitter:
                if key not in self._jitter:
                    self._jitter[key] = self.rng.uniform(0, self.limits.jitter)
                self._granted[key] = min(self._jitter[key], self._jitter_budget())
                gap += timedelta(seconds=self._granted[key])
            at = max(at, self.last_sent + gap)
        previous = self.conversation_sent.get(conversation)
        if previous is not None:
            at = max(at, previous + timedelta(seconds=self.limits.conversation_interval))
        cap = self.limits.max_per_minute
        if cap and len(self.recent) >= cap:
            at = max(at, self.recent[-cap] + MINUTE)
        if broadcast:
            held = quiet_until(at, self.limits.quiet_hours, self.tz)
            if held is not None:
                at = held.astimezone(timezone.utc)
        return at

    def forget(self, keys: Iterable[int]) -> None:
        """Messages that will never be asked about again (sent merged into another, set
        aside): nothing kept for them."""
        for key in keys:
            self._jitter.pop(key, None)
            self._granted.pop(key, None)

    def _jitter_budget(self) -> float:
        """Random delay must not stretch a busy minute: with `max_per_minute` sends at
        `min_interval`, a minute has (60 - cap * interval) s to spare, and jitter spends only
        what of that the last 60 s left (no cap: no budget to keep)."""
        cap = self.limits.max_per_minute
        if not cap:
            return self.limits.jitter
        slack = 60 - cap * self.limits.min_interval
        return max(0.0, slack - sum(self.recent_jitter))

    def record(self, key: int, conversation: str, at: datetime) -> None:
        at = at.astimezone(timezone.utc)
        self.last_sent = at
        self.last_conversation = conversation
        self.conversation_sent[conversation] = at
        self.recent.append(at)
        self.recent_jitter.append(self._granted.pop(key, 0.0))
        self._jitter.pop(key, None)
        while self.recent and self.recent[0] <= at - MINUTE:
            self.recent.popleft()
            self.recent_jitter.popleft()
        # Conversations idle for longer than the interval no longer constrain anything.
        horizon = at - timedelta(seconds=max(self.limits.conversation_interval, 1))
        if len(self.conversation_sent) > 1024:
            self.conversation_sent = {c: t for c, t in self.conversation_sent.items() if t > horizon}
