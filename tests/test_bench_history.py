"""The benchmark's history (bench.history) is a shop's own: its ledgers agree with the balances,
a share of members were referred, the last day is not delivered yet, and the bot runs on it."""

from __future__ import annotations

from pathlib import Path

from bench.history import PER_DAY, build, member_id
from bench.pipeline import GROUPS, MEMBERS, running_bot
from bot.core.messages import Incoming
from models import points, wallet
from models.tables import Member, Order, OrderLine, PointEntry, Settlement


async def test_a_built_history_agrees_with_itself_and_the_bot_runs_on_it(tmp_path: Path, db_url: str) -> None:
    kind = "sqlite" if db_url.startswith("sqlite") else "postgres"
    counts = await build(kind, db_url, 3, tmp_path)
    assert counts["orders"] == 3 * PER_DAY and counts["member"] == GROUPS * MEMBERS
    async with running_bot(db_url, tmp_path) as bot:
        assert await points.check() == [] and await wallet.check() == []
        assert await Settlement.all().count() == 3 * PER_DAY
        assert await Order.filter(status="placed").count() == PER_DAY  # the last day's, for today
        assert await PointEntry.filter(source__startswith="redeem:").exists()
        referred = await Member.filter(referrer_id__not_isnull=True).count()
        assert 0.10 < referred / counts["member"] < 0.15
        lines = await OrderLine.all().count()
        assert 2.0 < lines / counts["orders"] < 2.7
        member = member_id(7, 123)
        message = Incoming("after-history", member, "邻居", "西红柿2斤", bot.clock.now(), f"{40007}@chatroom")
        assert await bot.handle(message)
        assert await Order.filter(member_id=member, status="placed", lines__sku="V01").exists()
