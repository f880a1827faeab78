"""What `/health` says: each part of the running bot, and whether it works.

200 only when every part works: the database answers, the writer is alive and no message has
waited long to be handled, the sender (when this process leads) is sending, WeChat (when the
bot talks to it) is logged in. 503 otherwise, with what is wrong, so a monitor or a process
manager can act on it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from models.db import ping

if TYPE_CHECKING:
    from bot.app import Bot
    from bot.leading import Leader
    from bot.transports.wechaty import WechatyTransport

STUCK = timedelta(seconds=60)  # a message waiting this long to be handled, or to be sent when due


def _seconds(span: timedelta | None) -> float | None:
    return None if span is None else round(span.total_seconds(), 1)


def _at(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat(timespec="seconds")


async def report(bot: Bot, leader: Leader, wechat: WechatyTransport | None = None) -> tuple[bool, dict[str, Any]]:
    now = bot.clock.now()
    problem = await ping()
    database: dict[str, Any] = {"ok": problem is None}
    if problem:
        database["problem"] = problem

    writer = bot.writer
    waited = writer.oldest_waiting(now)
    writer_check: dict[str, Any] = {
        "ok": writer.alive and writer.waiting_since is None and (waited is None or waited < STUCK),
        "queued": writer.queued, "oldest_waiting_seconds": _seconds(waited),
    }
    if writer.waiting_since is not None:
        writer_check["waiting_for_database_since"] = _at(writer.waiting_since)
        writer_check["problem"] = writer.last_problem

    sender: dict[str, Any] = {"leader": leader.leading, "terms": leader.terms,
                              "last_sent": _at(bot.outbox.last_sent),
                              "last_workbook": _at(bot.exporter.last_written)}
    problems = [p for p in (leader.problem, bot.outbox.problem if leader.leading else "",
                            bot.exporter.problem if leader.leading else "") if p]
    if leader.leading and problem is None and (waited := await bot.outbox.stuck(now, STUCK)) is not None:
        problems.append(f"a message that may go out has waited {_seconds(waited)} s and is not sent")
    sender["ok"] = not problems
    if problems:
        sender["problem"] = "; ".join(problems)

    checks: dict[str, Any] = {"database": database, "writer": writer_check, "sender": sender}
    if wechat is not None:
        checks["wechat"] = {"ok": wechat.logged_in.is_set(), "connections": wechat.connections,
                            "connected_since": _at(wechat.connected_since), "lost_since": _at(wechat.lost_since)}
    return all(check["ok"] for check in checks.values()), checks
