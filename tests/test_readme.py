"""The README's demo examples, as a newcomer types them into the demo (issue 20): each gets an
answer, none is an unknown command, and the examples are read from the README itself, so a
changed README is tested as it reads."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from bot.core.config import demo_config
from bot.harness import Harness
from bot.run import open_demo_day
from tests.conftest import MORNING, start_harness

README = Path(__file__).resolve().parents[1] / "README.md"
# Snippets that are not messages on their own: templates, and the answers to a question, which
# are sent after the question they answer (below).
NOT_ALONE = {"#接龙", "1. 名字 西红柿2斤", "对", "2箱", "2"}
ANSWERS = [("西红柿2斤可以吗", "对"), ("牛奶3斤", "2箱"), ("五花肉", "2")]


def examples() -> tuple[list[str], list[str]]:
    """(member examples, staff examples): the backticked snippets of the "Using it" table."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| as a member | as staff (店员) |"):]
    table = table[:table.index("\n\n")]
    members, staff = [], []
    for row in table.splitlines()[2:]:
        cells = row.strip("|").split("|")
        members += re.findall(r"`([^`]+)`", cells[0])
        staff += re.findall(r"`([^`]+)`", cells[1])
    return [m for m in members if m not in NOT_ALONE], staff


async def answer(h: Harness, text: str, sender: str, room: str | None) -> str:
    before = len(h.transport.sent)
    await h.say(text, sender=sender, name="李阿姨" if sender != "demo_staff" else "店员", room=room)
    await h.flush()
    return "\n".join(s.message.text for s in h.transport.sent[before:])


async def test_every_demo_example_in_the_readme_gets_an_answer(tmp_path: Path) -> None:
    members, staff = examples()
    assert len(members) >= 30 and len(staff) >= 15 and "/看板" in staff  # the table, as it reads
    config = demo_config(tmp_path)
    room = config.groups[0].room
    h = await start_harness(config, MORNING)
    try:
        await open_demo_day(h.bot)  # as `groupbuy run` opens the demo
        silent, unknown = [], []
        for question, reply in ANSWERS:  # asked back, then answered
            await answer(h, question, "demo_member_1", room)
            if not await answer(h, reply, "demo_member_1", room):
                silent.append(f"{question} -> {reply}")
        for text in members:
            # The questions are answered once per group in 5 minutes (as the README says): one
            # asked just after another of the same kind (几点截单, 还能下单吗) waits that long.
            await h.advance_to(h.clock.now() + timedelta(minutes=5))
            said = await answer(h, text, "demo_member_1", room)
            if not said:
                silent.append(text)
        # Staff: /截单 last but one (it closes ordering), and the commands of a group in the group.
        ordered = sorted(staff, key=lambda s: s.startswith("/截单"))
        for text in ordered:
            said = await answer(h, text, "demo_staff", room if text.startswith(("/开团", "/配送")) else None)
            if not said:
                silent.append(text)
            if "这个命令" in said or "格式：" in said and not text.startswith("/帮助"):
                unknown.append(f"{text}: {said[:80]}")
        assert silent == [] and unknown == []
    finally:
        await h.close()
