"""Settling a big day at cut-off (models.settlement): 10,000 orders of 2 lines, half of their
members with stored value to pay from, settled in one transaction as the cut-off job does."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.figures import Figure, on_each_database
from bench.pipeline import BIG_DAY, build_big_day, database, running_bot


async def _fund_half(kind: str, url: str) -> None:
    """Every other member of the big day holds 100 yuan (the ledger is not needed to settle)."""
    sql = "UPDATE member SET wallet_principal = 100 WHERE id LIKE 'big_%' AND length(id) % 2 = 0"
    if kind == "sqlite":
        import sqlite3

        con = sqlite3.connect(url.removeprefix("sqlite://"))
        con.execute(sql)
        con.commit()
        con.close()
        return
    import asyncpg

    pg = await asyncpg.connect(url.replace("postgres://", "postgresql://"))
    try:
        await pg.execute(sql)
    finally:
        await pg.close()


async def measure(kind: str, quick: bool) -> list[Figure]:
    from models.db import transaction
    from models.settlement import settle_day

    orders = 2_000 if quick else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        async with database(kind, folder) as url, running_bot(url, folder) as bot:
            await build_big_day(kind, url, 2 * orders)
            await _fund_half(kind, url)
            started = time.perf_counter()
            async with transaction():
                settled = await settle_day(BIG_DAY, bot.config.wallet, bot.outbox, bot.clock.now())
            seconds = time.perf_counter() - started
            if len(settled) != orders:
                raise AssertionError(f"settled {len(settled)} of {orders} orders")
    return [Figure(f"cutoff_settle_{orders // 1000}k_s[{kind}]", round(seconds, 2), "s", "reported")]


def run(quick: bool) -> list[Figure]:
    return on_each_database("settlement", measure, quick)
