"""The database figures on a shop with history (issue 21): the same measurements on a fresh
database and on copies holding 90 and 365 days (bench.history), each reported with its ratio to
fresh. A shop a year old must run as its first day did: within 2x of fresh (the goal is 1.2x),
p99 at 1,000 msgs/s <= 50 ms, every staff command under a second.

- `pipeline_max_msgs_per_s_<age>`: the pipeline benchmark's saturation load (bench.pipeline);
- `pipeline_sustained_p99_ms_<age>`: its open loop at 1,000 msgs/s;
- then, on that database with the load's orders for tomorrow in it and the minute's sweep of
  member facts done, each staff command (the median of 3, with the work it starts after its
  reply: /导出's workbook) as staff send it privately, `积分` of a member who joined today and of one with a
  year of entries, `我的订单` of one, and the cut-off job with its workbook.
--quick: the pipeline figures, on fresh and 365 days.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench.figures import Figure, on_each_database
from bench.history import TZ, TODAY, copy_of, member_id
from bench.pipeline import check_orders, make_load, open_loop, p99, running_bot, saturate
from bot.app import Bot
from bot.core.messages import Incoming

COMMANDS = (("summary", "/汇总"), ("referrals", "/邀请统计"), ("groupbuys", "/拼团统计"), ("export", "/导出"))
RUNS = 3


def _age(days: int) -> str:
    return f"{days}d" if days else "fresh"


async def _timed(bot: Bot, sender: str, text: str, room: str | None, n: int) -> float:
    started = time.perf_counter()
    at = datetime(TODAY.year, TODAY.month, TODAY.day, 9, 30, tzinfo=TZ)
    if not await bot.handle(Incoming(f"aged-{n}-{sender}-{text}", sender, sender[-6:], text, at, room)):
        raise AssertionError(f"{text!r} from {sender} was not handled")
    await bot.writer.settle()  # /导出's workbook is written after its reply
    return (time.perf_counter() - started) * 1000


async def _staff(bot: Bot) -> dict[str, float]:
    """Milliseconds of each staff command and member look-up (medians), and of the cut-off job."""
    from jobs.runner import run_job
    from models.facts import refresh_changed

    await refresh_changed(bot.clock.now(), bot.config.timezone)  # the minute's sweep, as the running bot's
    taken: dict[str, list[float]] = {}
    asks = [(name, "wxid_owner", text, None) for name, text in COMMANDS]
    asks += [("points_new", "wxid_newcomer", "积分", None), ("points_member", member_id(7, 123), "积分", None),
             ("my_orders", member_id(7, 123), "我的订单", None)]
    for run in range(RUNS):
        for name, sender, text, room in asks:
            taken.setdefault(name, []).append(await _timed(bot, sender, text, room, run))
    figures = {name: statistics.median(values) for name, values in taken.items()}
    started = time.perf_counter()
    due = datetime(TODAY.year, TODAY.month, TODAY.day, 20, 0, tzinfo=TZ)
    if not await run_job("cutoff", due, bot.services):
        raise AssertionError("the cut-off did not run")
    figures["cutoff"] = (time.perf_counter() - started) * 1000
    return figures


async def measure_age(kind: str, days: int, quick: bool) -> dict[str, float]:
    seconds = 2 if quick else 10
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        async with copy_of(kind, days, folder) as url, running_bot(url, folder) as bot:
            load = make_load(3000 if quick else 10_000, seed=11)
            out["pipeline_max_msgs_per_s"] = await saturate(bot, load)
            await check_orders(load, len(load.messages))
        async with copy_of(kind, days, folder) as url, running_bot(url, folder) as bot:
            load = make_load(1000 * seconds)
            latencies, achieved = await open_loop(bot, load, 1000)
            await check_orders(load, len(latencies))
            out["pipeline_sustained_p99_ms"] = p99(latencies)
            out["pipeline_achieved_pct"] = 100 * achieved
            if not quick:
                out.update({f"staff_{name}_ms": ms for name, ms in (await _staff(bot)).items()})
    return out


HIGHER_IS_BETTER = {"pipeline_max_msgs_per_s", "pipeline_achieved_pct"}
BOUNDS = {"pipeline_sustained_p99_ms": 50.0, "pipeline_achieved_pct": 99.0}  # absolute, besides the ratio
STAFF_MS = 1000.0  # every staff command under a second (a workbook, /导出's or the cut-off's, may take longer)
# A report of all time has nothing to count on a fresh database (no member there was referred):
# its bound is the second alone.
ALL_TIME = {"staff_referrals_ms"}
COMMAND_FIGURES = {"staff_summary_ms", "staff_referrals_ms", "staff_groupbuys_ms", "staff_points_new_ms",
                   "staff_points_member_ms", "staff_my_orders_ms"}


async def measure(kind: str, quick: bool) -> list[Figure]:
    ages = (0, 365) if quick else (0, 90, 365)
    results = {days: await measure_age(kind, days, quick) for days in ages}
    fresh = results[0]
    figures = []
    for days, values in results.items():
        for name, value in values.items():
            base = fresh[name]
            ratio = value / base if base else 1.0
            shown = round(value, 1) if value < 1000 else round(value)
            if not days:
                figures.append(Figure(f"{name}_fresh[{kind}]", shown, _unit(name), "reported"))
                continue
            if name in HIGHER_IS_BETTER:
                bound = BOUNDS.get(name, base / 2)
                target = f">= {bound:.1f}"
            else:
                bound = STAFF_MS if name in ALL_TIME else \
                    min(2 * base, BOUNDS.get(name, STAFF_MS if name in COMMAND_FIGURES else 2 * base))
                target = f"<= {bound:.1f}"
            figures.append(Figure(f"{name}_{_age(days)}[{kind}]", shown, _unit(name), target,
                                  f"x{ratio:.2f} of fresh"))
    return figures


def _unit(name: str) -> str:
    return "msgs/s" if name.endswith("per_s") else "%" if name.endswith("pct") else "ms"


def run(quick: bool) -> list[Figure]:
    return on_each_database("aged", measure, quick)
