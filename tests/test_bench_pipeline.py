"""The pipeline benchmark's own correctness check (its speed is measured by `python -m bench`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.pipeline import check_orders, make_load, running_bot, saturate


async def test_the_load_lands_as_the_orders_it_asked_for(tmp_path: Path, db_url: str) -> None:
    load = make_load(400, seed=2)  # two 500-line 接龙 among them
    assert sum("#接龙" in m.text for m in load.messages) == 2
    async with running_bot(db_url, tmp_path) as bot:
        await saturate(bot, load)
        await check_orders(load, len(load.messages))
        load.expected[("nobody", "V01")] += 1
        with pytest.raises(AssertionError, match="stored orders differ"):
            await check_orders(load, len(load.messages))
