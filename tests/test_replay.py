"""`groupbuy replay` on the shared sample: transcript, state and workbook as the contract says."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from zoneinfo import ZoneInfo

from bot.core.config import load_config
from bot.harness import start_harness
from bot.replay import ReplayError, read_events, replay


@pytest.fixture
def sample(tmp_path: Path, sample_data: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(sample_data, copy)
    for path in copy.rglob("*"):
        path.chmod(0o644 if path.is_file() else 0o755)
    return copy


def read_transcript(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "transcript.jsonl").read_text(encoding="utf-8").splitlines()]


def check_sample_outputs(sample: Path, out: Path) -> None:
    transcript = read_transcript(out)
    state = json.loads((out / "state.json").read_text(encoding="utf-8"))
    for entry in transcript:
        assert set(entry) == {"at", "room", "to", "text", "mentions"}
    posts = [t for t in transcript if "今日团购" in t["text"] and t["at"].startswith("2026-12-01T07:30")]
    assert {p["room"] for p in posts} == {"30001@chatroom", "30002@chatroom"}
    assert all("21:00 截单" in p["text"] for p in posts)
    confirmations = [t for t in transcript if "西红柿 3斤" in t["text"] and "已记下" in t["text"]]
    assert len(confirmations) == 1 and confirmations[0]["mentions"] == ["wxid_u1"]
    assert any(t["to"] == "wxid_u1" and "您的订单" in t["text"] for t in transcript)
    assert any("黄瓜" in t["text"] for t in transcript)
    summaries = [t for t in transcript if "截单汇总" in t["text"]]
    assert [s["at"][:16] for s in summaries] == ["2026-12-01T21:00"] * 2
    declined = [t for t in transcript if t["at"].startswith("2026-12-01T21:30")]
    assert len(declined) == 1 and "没有记下" in declined[0]["text"]
    notices = [t for t in transcript if "🚚" in t["text"]]
    assert {n["room"] for n in notices} == {"30001@chatroom", "30002@chatroom"}
    assert all(n["at"].startswith("2026-12-02T08:00") for n in notices)

    times = [datetime.fromisoformat(t["at"]) for t in transcript]
    assert times == sorted(times)
    assert all(b - a >= timedelta(seconds=1) for a, b in zip(times, times[1:]))
    for room in ("30001@chatroom", "30002@chatroom"):
        in_room = [datetime.fromisoformat(t["at"]) for t in transcript if t["room"] == room]
        assert all(b - a >= timedelta(seconds=3) for a, b in zip(in_room, in_room[1:]))

    orders = {(o["member"], o["status"]): o for o in state["orders"]}
    assert {k: [(i["sku"], i["qty"]) for i in o["items"]] for k, o in orders.items()} == {
        ("wxid_u1", "placed"): [("V01", 3)],
        ("wxid_u2", "placed"): [("F01", 1)],
        ("wxid_u3", "placed"): [("M01", 2)],
        ("wxid_u4", "placed"): [("T01", 3)],
    }
    for order in state["orders"]:
        assert order["delivery_date"] == "2026-12-02"
        assert (order["discount"], order["wallet_paid"], order["coupon"]) == (0, 0, None)  # settled: no wallet
        assert order["due"] == order["total"]
        assert order["total"] == pytest.approx(sum(i["qty"] * i["price"] for i in order["items"]))
    assert state["groupbuys"] == []
    members = {m["id"]: m for m in state["members"]}
    assert members["wxid_u1"]["name"] == "李阿姨" and members["wxid_u1"]["referrer"] is None
    assert set(members["wxid_u1"]) >= {"id", "name", "points", "referrer", "balance"}
    assert members["wxid_u1"]["balance"] == 0 and state["wallet"] == [] and state["coupons"] == []

    book = load_workbook(sample / "replay_sample" / "exports" / "orders-2026-12-02.xlsx")
    pick = {row[1]: row[2] for row in book["拣货单"].iter_rows(min_row=2, values_only=True)}
    assert pick == {"西红柿": 3, "丹东草莓": 1, "黑猪五花肉": 2, "卤水豆腐": 3}


def test_the_shared_sample_replays_through_the_command(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "replay", "--config", str(sample / "replay_sample" / "config.toml"),
         str(sample / "replay_sample" / "events.jsonl"), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    check_sample_outputs(sample, out)


async def test_the_shared_sample_replays_on_both_databases(sample: Path, tmp_path: Path, db_url: str) -> None:
    config = load_config(sample / "replay_sample" / "config.toml")
    config = config.replace(database=type(config.database)(url=db_url))
    out = tmp_path / "out"
    await replay(config, sample / "replay_sample" / "events.jsonl", out)
    check_sample_outputs(sample, out)


async def test_replaying_twice_with_one_config_gives_the_same_answer(sample: Path, tmp_path: Path) -> None:
    """The second run reused the first run's database: every message id was known, and the
    transcript came out empty with exit 0."""
    config = load_config(sample / "replay_sample" / "config.toml")
    events = sample / "replay_sample" / "events.jsonl"
    await replay(config, events, tmp_path / "first")
    await replay(config, events, tmp_path / "second")
    assert read_transcript(tmp_path / "second") == read_transcript(tmp_path / "first") != []
    assert (tmp_path / "second" / "state.json").read_text(encoding="utf-8") == \
        (tmp_path / "first" / "state.json").read_text(encoding="utf-8")
    check_sample_outputs(sample, tmp_path / "second")


async def test_replay_refuses_a_database_that_holds_the_shops_data(sample: Path, tmp_path: Path) -> None:
    config = load_config(sample / "replay_sample" / "config.toml")
    shop = await start_harness(config, datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
                               run_jobs=False, room="30001@chatroom")
    await shop.say("西红柿1斤")
    await shop.close()
    with pytest.raises(ReplayError, match="holds data replay did not write"):
        await replay(config, sample / "replay_sample" / "events.jsonl", tmp_path / "out")


def test_a_bad_script_names_the_line(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    cases = {
        '{"at": "2026-12-01T07:00:00+08:00", "event": "tick"}\nnot json\n': "line 2: not JSON",
        '{"at": "yesterday", "event": "tick"}\n': 'line 1: "at" must be an ISO 8601 time',
        '{"at": "2026-12-01T07:00:00", "event": "tick"}\n': "line 1: \"at\" needs an offset",
        '{"at": "2026-12-01T07:00:00+08:00", "event": "dance"}\n': "line 1: unknown event 'dance'",
        '{"at": "2026-12-01T08:00:00+08:00", "event": "tick"}\n'
        '{"at": "2026-12-01T07:00:00+08:00", "event": "tick"}\n': "line 2: events must be in time order",
        "": "no events",
    }
    for text, message in cases.items():
        events.write_text(text, encoding="utf-8")
        with pytest.raises(ReplayError, match=message.replace("(", r"\(").replace(")", r"\)")):
            read_events(events)
