"""`groupbuy parse` against the contract, the shared cases' score, and fuzzing."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.config import DEMO_DIR
from models.catalog import offer_from_catalog
from handlers.parsing import parse
from tests.scoring import load_cases, load_offer, score

OFFER, _ = offer_from_catalog(tomllib.loads((DEMO_DIR / "catalog.toml").read_text(encoding="utf-8")))


def run_parse(catalog: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "parse", "--catalog", str(catalog)],
                          input=stdin, capture_output=True, text=True, timeout=120)


def test_shared_cases_score_100_percent_with_no_false_change(shared_data: Path, tmp_path: Path) -> None:
    cases = shared_data / "parse_cases.jsonl"
    answers = tmp_path / "answers.jsonl"
    result = run_parse(shared_data / "catalog_sample.toml", cases.read_text(encoding="utf-8"))
    assert result.returncode == 0, result.stderr
    answers.write_text(result.stdout, encoding="utf-8")
    score = subprocess.run([sys.executable, str(shared_data.parent / "tools" / "score_parse.py"),
                            str(cases), str(answers), "--min", "1.0"], capture_output=True, text=True)
    assert score.returncode == 0, score.stdout
    assert "100.0%, false state changes 0" in score.stdout


def test_the_shipped_sample_cases_score_100_percent_with_no_false_change(sample_data: Path) -> None:
    """The same cases, from the copy in docs/sample: no folder beside the clone needed."""
    offer = load_offer(sample_data / "catalog_sample.toml")
    result = score(load_cases(sample_data / "parse_cases.jsonl"), lambda case: offer)
    assert result.total >= 98 and result.accuracy == 1.0 and not result.false_changes, result.line("sample")


def test_one_answer_per_line_in_order_with_ids_echoed(tmp_path: Path) -> None:
    lines = [json.dumps({"id": "a", "text": "西红柿2斤"}, ensure_ascii=False), "{not json",
             json.dumps({"text": 5}), json.dumps({"id": 7, "text": "谢谢"}, ensure_ascii=False), "[]"]
    result = run_parse(DEMO_DIR / "catalog.toml", "\n".join(lines) + "\n")
    assert result.returncode == 0
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == 5
    assert answers[0] == {"id": "a", "intent": "order", "items": [{"sku": "V01", "qty": 2}]}
    assert [a["intent"] for a in answers[1:]] == ["none", "none", "none", "none"]
    assert answers[3]["id"] == 7


def test_every_line_gets_its_answer_even_blank_deep_or_not_utf8(tmp_path: Path) -> None:
    """A blank line was skipped (the answers no longer lined up), JSON nested deeply crashed
    the command, a line that is not UTF-8 stopped it."""
    lines = [b'{"id": 1, "text": "\xe8\xa5\xbf\xe7\xba\xa2\xe6\x9f\xbf2\xe6\x96\xa4"}', b"", b"   ",
             b"[" * 100_000 + b"]" * 100_000, b'{"id": 2, "text": "\xff\xfe"}', b'{"id": 3, "text": "x"}']
    result = subprocess.run([sys.executable, "-m", "bot", "parse", "--catalog", str(DEMO_DIR / "catalog.toml")],
                            input=b"\n".join(lines) + b"\n", capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(answers) == 6
    assert answers[0]["intent"] == "order"
    assert [a.get("error", "").split(": ", 1)[-1] for a in answers[1:5]] == [
        "blank line", "blank line", "nested too deeply", answers[4]["error"].split(": ", 1)[-1]]
    assert answers[4]["error"].startswith("line 5:") and "utf-8" in answers[4]["error"]
    assert answers[5] == {"id": 3, "intent": "none"}


def test_a_reader_that_stops_early_is_not_an_error() -> None:
    """`groupbuy parse ... | head -1`: the command stops quietly when its reader has enough."""
    messages = "".join(json.dumps({"id": n, "text": "西红柿2斤"}) + "\n" for n in range(20_000))
    command = f"{shlex.quote(sys.executable)} -m bot parse --catalog {shlex.quote(str(DEMO_DIR / 'catalog.toml'))} | head -1"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], input=messages.encode(), capture_output=True,
                            timeout=120)
    assert result.returncode == 0 and b"Traceback" not in result.stderr, result.stderr.decode()[-2000:]
    assert json.loads(result.stdout) == {"id": 0, "intent": "order", "items": [{"sku": "V01", "qty": 2}]}


@pytest.mark.parametrize(("text", "want"), [
    ("「小周：草莓2盒」\n- - - - - - - - - - - -\n西红柿1斤", {"intent": "order", "items": [{"sku": "V01", "qty": 1}]}),
    ("「小周：草莓2盒」\n- - - - - - - - - - - -\n谢谢", {"intent": "none"}),
    ("5号楼1单元301 豆腐2块", {"intent": "order", "items": [{"sku": "T01", "qty": 2}], "address": "5号楼1单元301"}),
    ("西红柿 1斤半", {"intent": "order", "items": [{"sku": "V01", "qty": 1.5}]}),
    ("土豆500g", {"intent": "order", "items": [{"sku": "V02", "qty": 1}]}),
    ("3斤西红柿 2斤土豆", {"intent": "order", "items": [{"sku": "V01", "qty": 3}, {"sku": "V02", "qty": 2}]}),
    # stored value (CONTRACTS.md section 7): a question that changes nothing
    ("余额", {"intent": "query_balance"}),
    ("我的余额", {"intent": "query_balance"}),
    ("储值还有多少", {"intent": "query_balance"}),
    ("查一下余额，谢谢", {"intent": "query_balance"}),
    ("积分余额", {"intent": "query_points"}),
    ("我的券", {"intent": "query_coupons"}),
    ("查一下优惠券", {"intent": "query_coupons"}),
])
def test_parse_examples(text: str, want: dict) -> None:
    assert parse(text, OFFER).to_json() == want


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=400))
def test_any_text_parses_without_error(text: str) -> None:
    result = parse(text, OFFER)
    json.dumps(result.to_json(), ensure_ascii=False)


NO_PRODUCT_ALPHABET = st.characters(
    blacklist_characters="".join({c for p in OFFER.products for n in p.names for c in n} | set("号")),
    blacklist_categories=("Cs",),
)


@FUZZ
@given(st.text(alphabet=NO_PRODUCT_ALPHABET, max_size=300))
def test_text_that_names_no_product_never_orders(text: str) -> None:
    result = parse(text, OFFER)
    if result.intent in ("order", "modify", "open_groupbuy"):
        raise AssertionError(f"{text!r} became {result.to_json()}")
    if result.intent == "chain":
        assert all(not line.items for line in result.lines)


def test_huge_messages_are_answered() -> None:
    """10,000-line messages and 100,000 characters: an answer, not an exception (speed: bench/)."""
    assert parse("西红柿2斤\n" * 10_000, OFFER).reason == "西红柿一共20000斤太多了，要几斤？"
    assert parse("土" * 100_000, OFFER).intent == "none"
    chain = parse("#接龙\n标题\n" + "\n".join(f"{i}. 某人 西红柿1斤" for i in range(1, 3000)), OFFER)
    assert chain.intent == "chain" and len(chain.lines) == 2999


# -- held-out cases: another shop's catalog, messages of the same kinds ------------------------

DATA = Path(__file__).parent / "data"


def test_held_out_cases_with_another_catalog() -> None:
    offer = load_offer(DATA / "heldout_catalog.toml")
    result = score(load_cases(DATA / "heldout_cases.jsonl"), lambda case: offer)
    assert not result.false_changes, result.false_changes
    assert len(result.misses) <= result.total // 100, result.misses  # at least 99%


def test_explain_says_which_words_were_read_as_what_and_the_rule(tmp_path: Path) -> None:
    lines = [json.dumps({"id": n, "text": t}, ensure_ascii=False) for n, t in
             enumerate(["我8号回来，到时候再说", "西红柿2斤，土豆不要了", "要不要豆腐", "牛奶3斤"])]
    plain = run_parse(DEMO_DIR / "catalog.toml", "\n".join(lines) + "\n")
    assert all("explain" not in json.loads(line) for line in plain.stdout.splitlines())
    result = run_parse_args(DEMO_DIR / "catalog.toml", "\n".join(lines) + "\n", "--explain")
    date, change, question, unit = (json.loads(line) for line in result.stdout.splitlines())
    assert date["intent"] == "none" and "“8号”旁边是时间词，是日期，不当作商品编号" in date["explain"]
    assert change["intent"] == "change" and "读成：取消 土豆" in change["explain"]
    assert "“要不要豆腐”是问句，不下单" in question["explain"]
    assert "要问：纯牛奶按箱卖，不按斤卖，您要几箱？" in unit["explain"]


def run_parse_args(catalog: Path, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "parse", "--catalog", str(catalog), *args],
                          input=stdin, capture_output=True, text=True, timeout=120)
