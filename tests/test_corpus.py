"""The project's own corpus: messages and whole 接龙 lists as residents write them, against
three shops' offers (fresh produce, meal boxes, household goods), each with the answer the
contract (docs: CONTRACTS.md section 2) gives. It is scored as the acceptance checks score
held-out messages: 97% at least, and no false state change.

`blind/` .. `blind4/` are four more shops' messages, each written before the parser had read
any of them and scored once as written (the honest estimate for messages nobody here has
seen): blind 157/162 = 96.9%, no false state change; blind2 149/158 = 94.3%, one false state
change (0.5两 of pork recorded as 0.05斤); blind3 143/151 = 94.7%, none; blind4 126/131 = 96.2%,
none. What they found was then mended like any miss."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scoring import load_cases, load_offer, score

CORPUS = Path(__file__).parent / "data" / "corpus"
OFFERS = {name: load_offer(CORPUS / f"{name}.toml") for name in ("produce", "meals", "household")}


@pytest.mark.parametrize("file", ["messages.jsonl", "chains.jsonl"])
def test_corpus_scores_97_percent_with_no_false_state_change(file: str) -> None:
    cases = load_cases(CORPUS / file)
    result = score(cases, lambda case: OFFERS[case["catalog"]])
    print(result.line(file))
    for case, got in result.misses:
        print(f"MISS {case['id']} {case['text']!r}\n  want {case['want']}\n  got  {got}")
    assert not result.false_changes, result.false_changes
    assert result.accuracy >= 0.97, result.line(file)


@pytest.mark.parametrize("folder", ["blind", "blind2", "blind3", "blind4"])
def test_blind_sets_score_97_percent_with_no_false_state_change(folder: str) -> None:
    offer = load_offer(Path(__file__).parent / "data" / folder / "catalog.toml")
    result = score(load_cases(Path(__file__).parent / "data" / folder / "messages.jsonl"), lambda case: offer)
    print(result.line(folder))
    assert not result.false_changes, result.false_changes
    assert result.accuracy >= 0.97, [(case["text"], got) for case, got in result.misses]


def test_the_corpus_is_as_large_as_promised() -> None:
    assert len(load_cases(CORPUS / "messages.jsonl")) >= 200
    assert len(load_cases(CORPUS / "chains.jsonl")) >= 25
    kinds = {case["catalog"] for case in load_cases(CORPUS / "messages.jsonl")}
    assert kinds == set(OFFERS)
