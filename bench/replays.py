"""A hundred virtual days through `groupbuy replay` (bot.replay), with every job and sweep of
those days run on the virtual clock: members order in the first week (some set a birthday),
fall silent, a campaign goes to the silent on day 100, and some come back after it; levels and
the automatic nudges are on. `replay_100_days_s` (target under a minute) on SQLite and on
PostgreSQL, with state.json checked for the contract's fields. --quick: 40 members."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.figures import Figure, on_each_database
from bench.pipeline import TZ, database
from bot.core.config import DEMO_DIR, parse_config

START = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
ROOMS = ("20001@chatroom", "20002@chatroom")
STAFF = "wxid_owner"
CAMPAIGN_FIELDS = {"id", "segment", "template", "state", "targets", "control", "sent", "reached", "control_size",
                   "coupons_used", "cost", "returns"}
MEMBER_FIELDS = {"id", "segment", "points", "points_pending", "balance", "unsubscribed", "level", "birthday"}


def config_for(url: str, folder: Path) -> Any:
    raw = {
        "shop": {"name": "回放小铺", "staff": [STAFF]},
        "database": {"url": url},
        "catalog": {"file": str(DEMO_DIR / "catalog.toml")},
        "group": [{"room": ROOMS[0], "community": "阳光花园", "delivery": "16:00-18:00"},
                  {"room": ROOMS[1], "community": "桂花苑", "delivery": "09:00-11:00"}],
        "outbox": {"jitter": 0},
        "spreadsheet": {"path": str(folder / "orders-{date}.xlsx")},
        "campaign": {"control": 0.2},
        "level": [{"name": "普通会员", "spend": 0}, {"name": "银卡会员", "spend": 30, "multiplier": 1.5}],
        "nudges": {"cycle": True, "birthday": True},
    }
    return parse_config(raw, folder)


def events(members: int) -> list[dict[str, Any]]:
    """Orders on days 1, 3 and 5 (a buying cycle of two days; one member in four orders once and
    sets a birthday instead), silence, a campaign to
    the silent on day 100, returns over the next weeks, and its figures asked on day 130."""
    script: list[dict[str, Any]] = []

    def say(at: datetime, member: int | None, text: str, private: bool = False) -> None:
        sender = STAFF if member is None else f"m{member}"
        event = {"at": at.isoformat(), "from": sender, "name": sender, "text": text}
        if not private and member is not None:
            event["room"] = ROOMS[member % 2]
        script.append(event)

    for day in (0, 2, 4):
        for m in range(members):
            if day and m % 4 == 0:
                continue  # those with a birthday order once: no buying cycle, no 周期提醒
            say(START + timedelta(days=day, seconds=m * 7), m, "西红柿2斤" if m % 3 else "草莓1盒 5栋101")
    for m in range(0, members, 4):
        say(START + timedelta(hours=1, seconds=m), m, "生日 12月8日", private=True)
    for day in range(7, 100, 7):
        script.append({"at": (START + timedelta(days=day, hours=2)).isoformat(), "event": "tick"})
    day_100 = START + timedelta(days=99)
    say(day_100, None, "/分层", private=True)
    say(day_100 + timedelta(minutes=1), None, "/推送 沉默 无 好久不见，今天草莓特价", private=True)
    say(day_100 + timedelta(minutes=2), None, "/确认推送 3", private=True)  # 1 and 2: the nudges of December
    for m in range(0, members, 3):
        say(day_100 + timedelta(days=1 + m % 20, seconds=m), m, "草莓1盒")
    say(START + timedelta(days=129), None, "/活动效果 3", private=True)
    return sorted(script, key=lambda e: datetime.fromisoformat(e["at"]))


async def measure(kind: str, quick: bool) -> list[Figure]:
    from bot.replay import replay

    members = 40 if quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        async with database(kind, folder) as url:
            script = folder / "events.jsonl"
            script.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in events(members)) + "\n",
                              encoding="utf-8")
            started = time.perf_counter()
            state = await replay(config_for(url, folder), script, folder / "out")
            took = time.perf_counter() - started
    campaigns = {c["id"]: c for c in state["campaigns"]}
    staff = campaigns.get(3)
    if staff is None or staff["segment"] != "沉默" or staff["state"] != "done" or not staff["sent"]:
        raise AssertionError(f"the day-100 campaign did not run: {staff}")
    if {c["segment"] for c in campaigns.values()} != {"周期提醒", "生日", "沉默"}:
        raise AssertionError(f"campaigns: {[c['segment'] for c in campaigns.values()]}")
    for campaign in campaigns.values():
        if missing := CAMPAIGN_FIELDS - set(campaign):
            raise AssertionError(f"campaign {campaign['id']} lacks {sorted(missing)}")
    for member in state["members"]:
        if missing := MEMBER_FIELDS - set(member):
            raise AssertionError(f"member {member['id']} lacks {sorted(missing)}")
    if staff["returns"][0]["target_orders"] == 0:
        raise AssertionError("nobody the campaign reached came back")
    return [Figure(f"replay_100_days_s[{kind}]", round(took, 2), "s", "<= 60")]


def run(quick: bool) -> list[Figure]:
    return on_each_database("replay", measure, quick)
