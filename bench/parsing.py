"""Parser speed: a realistic mix of chat messages, and a 500-line 接龙 against its 499-line
previous version (parse + diff), on one core."""

from __future__ import annotations

import json
import statistics
import time
import tomllib
from pathlib import Path

from bench.figures import Figure
from models.catalog import offer_from_catalog
from handlers.parsing import parse
from handlers.parsing.chains import diff_chain
from handlers.parsing.lexer import lexicon_of

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def _offer():
    return offer_from_catalog(tomllib.loads((DATA / "heldout_catalog.toml").read_text(encoding="utf-8")))[0]


def message_mix() -> list[str]:
    """The held-out cases (orders, changes, questions, chit-chat, 接龙) weighted as a group's
    evening looks: mostly short orders and talk, now and then a list."""
    cases = [json.loads(line)["text"] for line in (DATA / "heldout_cases.jsonl").read_text(encoding="utf-8").splitlines()]
    chit_chat = ["好的", "谢谢团长", "收到", "[图片]", "明天几点送？", "哈哈哈", "辛苦了", "今天的苹果很甜"]
    return cases + chit_chat * 10


def parse_throughput(seconds: float) -> Figure:
    offer = _offer()
    messages = message_mix()
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for text in messages:
            parse(text, offer)
        done += len(messages)
    elapsed = time.perf_counter() - started
    return Figure("parse_msgs_per_s", round(done / elapsed), "msgs/s", ">= 20000")


def chain_500(repeats: int, cold: bool = False) -> Figure:
    """Parse + diff of a 500-line version after its 499-line predecessor was seen (the real
    case: each line is read once). `cold`: every line read from scratch each time."""
    offer = _offer()
    names = [f"住户{i}" for i in range(500)]
    products = ["苹果2斤", "香蕉1斤", "鸡蛋1盒 酸奶2杯", "车厘子1盒", "+1", "菠菜2把 5栋"]
    rows = [f"{i + 1}. {names[i]} {products[i % len(products)]}" for i in range(500)]
    head = "#接龙\n周末水果团 晚上8点截单\n\n"
    previous_text, current_text = head + "\n".join(rows[:499]), head + "\n".join(rows)
    previous = diff_chain(None, parse(previous_text, offer).lines, "u0", names[0]).state
    times = []
    lexicon = lexicon_of(offer)
    for _ in range(repeats):
        if cold:
            lexicon.forget_chains()
        else:  # the cache holds what the previous version had, not this version's new line
            lexicon.chain_cache("entries").pop((rows[499].split(". ", 1)[1], ""), None)
            lexicon.chain_cache("shapes").pop(rows[499], None)
        started = time.perf_counter()
        parsed = parse(current_text, offer)
        diff = diff_chain(previous, parsed.lines, "u499", names[499])
        times.append(time.perf_counter() - started)
        assert len(diff.added) == 1, "the diff must find exactly the one new line"
    if cold:
        return Figure("chain500_cold_ms", round(statistics.median(times) * 1000, 2), "ms", "reported")
    return Figure("chain500_parse_ms", round(statistics.median(times) * 1000, 2), "ms", "<= 10")


def run(quick: bool) -> list[Figure]:
    return [parse_throughput(2 if quick else 10), chain_500(20 if quick else 100),
            chain_500(10 if quick else 50, cold=True)]
