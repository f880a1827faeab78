"""The one paced queue every outgoing message goes through, kept in the database.

A message is written to `outbox_message` in the transaction of the change that caused it;
the sender sends pending rows in order of readiness (bot.pacing) and marks each sent. After a
restart the pending rows go out and the sent ones do not. A row caught mid-send by a crash is
marked `unknown` and not resent: a duplicate in a WeChat group is worse than one lost notice,
and the log names it.

Before each send the sender asks `may_send` (the leader proves it still holds its lock): when
the answer is no, it stops at once, sending nothing more. When the database fails under it,
the sender keeps what it knows (a message sent but not yet marked sent is marked when the
database answers again; one claimed but not sent goes back to pending) and tries again with
growing pauses: it never stops for good, and it never sends a message twice.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from operator import attrgetter

from bot.core.clock import Clock, sleep_until_or_woken
from bot.core.messages import Outgoing, conversation_key
from bot.core.protocols import Reachable, everyone
from bot.pacing import MINUTE, Pacer
from models.state import PAUSED, get_state, set_state
from models.tables import OutboxMessage

log = logging.getLogger(__name__)

Send = Callable[[Outgoing], Awaitable[None]]
MaySend = Callable[[], Awaitable[bool]]


class NotLeader(Exception):
    """The process may no longer send (another holds the leader's lock)."""


LOOK_BACK = 100  # ids below the highest read that a new look reads again (see `pending`)
MERGED_TEXT_MAX = 1500  # characters in one merged message; WeChat folds longer ones
FIRST_RETRY = timedelta(seconds=10)  # then 30 s, 90 s, ... (x3 each time)
PAUSE_FIRST = timedelta(seconds=1)  # after the database failed under the sender, doubling
PAUSE_MAX = timedelta(seconds=30)
class Disconnected(ConnectionError):
    """The transport has no connection now (WeChat's gateway is down): nothing is sent and no
    try is counted; the outbox holds until `resume`."""


GAVE_UP = "⚠️ 消息发送失败"  # the start of the note staff get when a send is given up


def merged(rows: list[OutboxMessage]) -> Outgoing:
    """One message for several rows into one conversation: texts joined, mentions united."""
    if len(rows) == 1:
        return outgoing_of(rows[0])
    mentions = tuple(dict.fromkeys(m for row in rows for m in row.mentions or ()))
    first = rows[0]
    return Outgoing("\n\n".join(row.text for row in rows), room=first.room, to=first.to,
                    mentions=mentions, broadcast=first.broadcast)


def outgoing_of(row: OutboxMessage) -> Outgoing:
    return Outgoing(
        text=row.text, room=row.room, to=row.to,
        mentions=tuple(row.mentions or ()), broadcast=row.broadcast, file=row.file,
    )


def conversation_of(row: OutboxMessage) -> str:
    """`outgoing_of(row).conversation`, without making the message."""
    return conversation_key(row.room, row.to)


class Waiting:
    """The pending rows in memory, by conversation, each conversation's in id order. The sender
    looks at the first rows of each conversation, not at every row: a backlog of posts costs
    each send what one conversation costs, and a conversation's messages keep their order."""

    def __init__(self, rows: Iterable[OutboxMessage] = ()) -> None:
        self.conversations: dict[str, list[OutboxMessage]] = {}
        self.ids: set[int] = set()
        for row in rows:
            self.add(row)

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, row: OutboxMessage) -> None:
        rows = self.conversations.setdefault(conversation_of(row), [])
        if rows and rows[-1].id > row.id:
            bisect.insort(rows, row, key=attrgetter("id"))  # (committed late: see `pending`)
        else:
            rows.append(row)
        self.ids.add(row.id)

    def remove(self, row: OutboxMessage) -> None:
        key = conversation_of(row)
        rows = self.conversations[key]
        rows.remove(row)  # (the first row, nearly always)
        if not rows:
            del self.conversations[key]
        self.ids.discard(row.id)

    def rows(self) -> list[OutboxMessage]:
        return sorted((row for rows in self.conversations.values() for row in rows), key=attrgetter("id"))


class Outbox:
    def __init__(self, send: Send, pacer: Pacer, clock: Clock, *, attempts: int = 4,
                 staff: tuple[str, ...] = (), may_send: MaySend | None = None,
                 reachable: Reachable = everyone) -> None:
        self._send = send
        # A private message to a contact it cannot reach waits (status "unreachable") until
        # they become the shop account's friend (`release`).
        self.reachable = reachable
        self.may_send = may_send  # asked before each send; None: always (one process)
        self.pacer = pacer
        self.clock = clock
        self.attempts = attempts  # tries per message before giving up and telling `staff`
        self.staff = staff
        self._wake = asyncio.Event()
        self._pending: Waiting | None = None  # None: reload from the database
        self.paused = False  # staff /暂停: broadcasts wait; replies to members still go
        # Row states the database did not take when they happened, applied when it answers:
        # (ids, the status they were in, the fields to set).
        self._repairs: list[tuple[list[int], str, dict[str, object]]] = []
        self.problem = ""  # why the sender is pausing ("" when it is not)
        self.last_sent: datetime | None = None
        self.held = False  # the transport is disconnected: nothing is due until `resume`
        # The pending rows in memory are read whole once (`reload`), then only the rows queued
        # since (`changed`): a commit does not read the whole backlog again.
        self._newer = False  # rows may have been queued since the last look
        self._seen = 0  # the highest pending id read
        self.rows_read = 0  # pending rows read from the database, in all (tests, benchmarks)

    async def put(self, message: Outgoing) -> int | None:
        """Queue a message (inside the caller's transaction, if there is one); its id."""
        queued = await OutboxMessage.create(
            room=message.room, to=message.to, text=message.text, file=message.file,
            mentions=list(message.mentions), broadcast=message.broadcast,
            status="pending", created_at=self.clock.now(),
        )
        self.changed()
        return queued.id

    def changed(self) -> None:
        """Something may have been queued: look for the new rows (after the caller's commit)."""
        self._newer = True
        self._wake.set()

    def reload(self) -> None:
        """Rows already queued changed state (set back to pending, released): read them all again."""
        self._pending = None
        self._wake.set()

    def hold(self) -> None:
        """The transport lost its connection: keep every message queued, in order, until `resume`."""
        self.held = True

    def resume(self) -> None:
        """The transport is back: what queued meanwhile goes out, in order and paced."""
        self.held = False
        self.changed()

    async def restore(self) -> None:
        """On start: pick up the pace where it was left, and set aside interrupted sends."""
        now = self.clock.now()
        self.paused = bool(await get_state(PAUSED, False))
        interrupted = await OutboxMessage.filter(status="sending").update(status="unknown")
        if interrupted:
            log.warning("%d message(s) were being sent when the bot stopped; not resent", interrupted)
        recent = await OutboxMessage.filter(
            status="sent", sent_at__gte=now - max(MINUTE, timedelta(seconds=60))
        ).order_by("sent_at", "id")
        for row in recent:
            assert row.sent_at is not None
            self.pacer.record(row.id, conversation_of(row), row.sent_at)
        self.changed()

    async def pending(self) -> list[OutboxMessage]:
        """Every pending row, in id order."""
        return (await self._waiting()).rows()

    async def _waiting(self) -> Waiting:
        if self._pending is None:
            self._newer = False
            self._pending = Waiting(await OutboxMessage.filter(status="pending").order_by("id"))
            self.rows_read += len(self._pending)
            self._seen = max([self._seen, *self._pending.ids])
        elif self._newer:
            # Ids are handed out before commit: one a little below the highest read may commit
            # after it, so the look goes back a little (what it still misses, the poll finds).
            self._newer = False
            fetched = await OutboxMessage.filter(status="pending", id__gt=self._seen - LOOK_BACK).order_by("id")
            self.rows_read += len(fetched)
            for row in fetched:
                if row.id not in self._pending.ids:
                    self._pending.add(row)
                    self._seen = max(self._seen, row.id)
        return self._pending

    async def _poll(self) -> None:
        """What other processes queued (or changed) meanwhile: the rows queued since the last
        look, and all of them again only when the table holds another number of pending rows
        than this process knows of (a backlog is not read again every poll)."""
        self._newer = True
        held = len(await self._waiting())
        if await OutboxMessage.filter(status="pending").count() != held:
            self._pending = None

    async def next_due(self, now: datetime) -> tuple[OutboxMessage, datetime] | None:
        """The message that may go out first, and when; ties go to the oldest."""
        best: tuple[OutboxMessage, datetime] | None = None
        if self.held:
            return None
        for conversation, rows in (await self._waiting()).conversations.items():
            for row in rows:  # the first that may go; one waiting to be tried again lets later ones by
                if row.broadcast and self.paused:
                    continue
                at = self.pacer.ready_at(row.id, conversation, row.broadcast, now)
                if row.retry_at is not None:
                    at = max(at, row.retry_at)
                if best is None or (at, row.id) < (best[1], best[0].id):
                    best = (row, at)
                if row.retry_at is None:
                    break
        return best

    async def stuck(self, now: datetime, after: timedelta) -> timedelta | None:
        """How long a message that may go out now has waited, when nothing at all was sent for
        `after` and it has waited that long too (a sender that works sends it at once); None
        when the sender is not stuck."""
        if self.last_sent is not None and now - self.last_sent < after:
            return None
        due = await self.next_due(now)
        if due is None or due[1] > now:
            return None
        waited = now - max(due[0].created_at, due[0].retry_at or due[0].created_at)
        return waited if waited >= after else None

    async def send_due(self, now: datetime) -> int:
        """Send every message whose time has come by `now`, each at its own time."""
        await self._repair()
        sent = 0
        while (due := await self.next_due(now)) is not None and due[1] <= now:
            row, at = due
            await self._send_one(row, at)
            sent += 1
        return sent

    async def _send_one(self, row: OutboxMessage, at: datetime) -> None:
        assert self._pending is not None
        self._pending.remove(row)
        batch = [row, *self._merge_with(row)]
        if self.may_send is not None and not await self.may_send():
            self._pending = None
            raise NotLeader("this process no longer holds the leader's lock")
        claimed: list[OutboxMessage] = []
        try:
            for member in batch:
                if await OutboxMessage.filter(id=member.id, status="pending").update(status="sending"):
                    claimed.append(member)
        except Exception:
            self._later([m.id for m in claimed], "sending", {"status": "pending"})  # not sent
            raise
        if not claimed:
            return  # another sender had them
        message = merged(claimed)
        ids = [member.id for member in claimed]
        self.pacer.forget(i for i in ids if i != row.id)  # merged: only `row` is paced
        if message.to is not None and not await self._reaches(message.to):
            self.pacer.forget([row.id])
            await OutboxMessage.filter(id__in=ids, status="sending").update(status="unreachable")
            log.info("%s is not the shop account's friend: %d private message(s) wait", message.to, len(ids))
            return
        self.pacer.record(row.id, message.conversation, at)
        try:
            await self._send(message)
        except Disconnected:  # not a failed try: the messages wait for the connection, in order
            log.warning("not connected; %d message(s) wait for the connection", len(ids))
            self.hold()  # (the pacer counted the try: a little slower after, never faster)
            await OutboxMessage.filter(id__in=ids, status="sending").update(status="pending")
            self._pending = None
            return
        except Exception:  # a transport error must not stop the queue; the rows say what happened
            log.exception("sending outbox message(s) %s failed", ids)
            try:
                await self._failed(claimed, at)
            except Exception:
                self._later(ids, "sending", {"status": "pending"})  # tried again after the pause
                raise
            return
        self.last_sent = at
        try:
            await OutboxMessage.filter(id__in=ids).update(status="sent", sent_at=at)
        except Exception:
            self._later(ids, "sending", {"status": "sent", "sent_at": at})  # sent: never again
            raise

    async def _reaches(self, contact_id: str) -> bool:
        try:
            return await self.reachable(contact_id)
        except Exception:  # not known: try to send (a failed send is retried, then staff told)
            log.exception("could not tell whether %s can be messaged", contact_id)
            return True

    async def release(self, contact_id: str) -> int:
        """The contact can be reached now (they became a friend): their waiting private
        messages go out, paced as usual."""
        released = await OutboxMessage.filter(to=contact_id, status="unreachable").update(status="pending")
        self.reload()
        return released

    def _later(self, ids: list[int], status: str, fields: dict[str, object]) -> None:
        if ids:
            self._repairs.append((ids, status, fields))

    async def _repair(self) -> None:
        """Row states the database missed while it was away, in the order they happened."""
        while self._repairs:
            ids, status, fields = self._repairs[0]
            await OutboxMessage.filter(id__in=ids, status=status).update(**fields)
            self._repairs.pop(0)
            self._pending = None

    async def _failed(self, rows: list[OutboxMessage], at: datetime) -> None:
        """Try again later with growing pauses; after the last try, mark it failed and tell
        staff (never about a failed note to staff itself, which would loop)."""
        for row in rows:
            row.attempts += 1
            if row.attempts < self.attempts:
                row.status, row.retry_at = "pending", at + FIRST_RETRY * 3 ** (row.attempts - 1)
                await row.save(update_fields=["status", "attempts", "retry_at"])
                continue
            row.status, row.sent_at = "failed", at
            await row.save(update_fields=["status", "attempts", "sent_at"])
            log.error("gave up sending outbox message %s after %d tries", row.id, row.attempts)
            if row.text.startswith(GAVE_UP):
                continue
            where = f"群 {row.room}" if row.room else f"联系人 {row.to}"
            for staff in self.staff:
                await self.put(Outgoing(f"{GAVE_UP}（试了{row.attempts}次）：发往{where}的“{row.text[:60]}”没有发出，请手动处理。",
                                        to=staff))
        self.reload()  # (rows to try again are pending once more)

    async def pause(self, paused: bool) -> int:
        """Hold (or release) broadcasts; the setting survives restarts. Returns how many wait."""
        self.paused = paused
        await set_state(PAUSED, paused, self.clock.now())
        self.changed()
        return await OutboxMessage.filter(status="pending", broadcast=True).count()

    def _merge_with(self, row: OutboxMessage) -> list[OutboxMessage]:
        """Replies waiting for the same group go out with this one, as one message."""
        assert self._pending is not None
        if row.broadcast or row.room is None or row.file:
            return []
        limit, size = self.pacer.limits.merge_max, len(row.text)
        others: list[OutboxMessage] = []
        for other in self._pending.conversations.get(conversation_of(row), ()):
            if len(others) + 1 >= limit or size + len(other.text) > MERGED_TEXT_MAX:
                break
            if not other.broadcast and not other.file:
                others.append(other)
                size += len(other.text)
        for other in others:
            self._pending.remove(other)
        return others

    async def run(self, poll_seconds: float = 15) -> None:
        """The sender loop of the running bot: sleep until the next send is due or it is woken,
        and look at the table every `poll_seconds` for rows other processes queued (the
        `groupbuy import-status` command, a second bot process)."""
        pause = PAUSE_FIRST
        while True:
            try:
                self._wake.clear()
                due = await self.next_due(self.clock.now())
                why = await sleep_until_or_woken(self.clock, due[1] if due else None, self._wake, poll_seconds)
                if why == "timeout":
                    await self._poll()  # what others may have queued
                await self.send_due(self.clock.now())
            except NotLeader:
                raise
            except Exception as error:  # the database failed under it: pause, never stop
                if not self.problem:
                    log.exception("the sender failed; trying again in %s", pause)
                self.problem = f"{type(error).__name__}: {error}"[:200]
                self._pending = None
                await self.clock.sleep_until(self.clock.now() + pause)
                pause = min(PAUSE_MAX, pause * 2)
                continue
            if self.problem:
                log.warning("the sender works again (%s)", self.problem)
            self.problem, pause = "", PAUSE_FIRST
