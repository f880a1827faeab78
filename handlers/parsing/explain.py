"""`groupbuy parse --explain`: which words were read as what, and why a clause orders nothing,
so that a shop can report a misread message and a developer see at once where it went wrong."""

from __future__ import annotations

from handlers.parsing.lexer import Token
from handlers.parsing.reading import Clause
from handlers.parsing.results import ADD, CANCEL_OP, SET_OP

_KIND_NAMES = {"product": "商品", "qty": "数量", "address": "地址", "phone": "电话", "date": "日期", "time": "时间",
               "price": "价格", "people": "人数", "want": "要", "cancel": "取消", "set": "改", "claim": "跟单",
               "each": "各", "mark": "记号", "minus": "减", "range": "范围", "vague": "不确定的数量",
               "bad_number": "没有的编号"}
_WHY_NOT = {"question": "是问句", "past": "说的是已经发生的事", "wish": "是假设或愿望", "complaint": "是投诉或售后",
            "other shops": "说的是别家", "others": "说的是别人", "remark": "是评论或转述", "talk": "是聊到商品的句子"}
_OP_NAMES = {ADD: "加", SET_OP: "改成", CANCEL_OP: "取消"}


def trace_tokens(trace: list[str], lexed: list[Token], tokens: list[Token], clauses: list[Clause]) -> None:
    for before, token in zip(lexed, tokens):
        label = _KIND_NAMES.get(token.kind)
        if before.kind == "number_ref" and token.kind != "product":
            why = "旁边是时间词，是日期" if token.kind == "date" else "没有数量也没有要、取消等词"
            trace.append(f"“{token.text.strip()}”{why}，不当作商品编号")
        elif label is not None:
            detail = f" {token.product.sku} {token.product.name}" if token.product is not None else ""
            trace.append(f"“{token.text.strip()}” = {label}{detail}")
    for clause in clauses:
        text = clause.text.strip(" ,，。!！?？\n")[:30]
        if clause.blocked:
            trace.append(f"“{text}”{_WHY_NOT.get(clause.blocked, clause.blocked)}，不下单")
            continue
        if clause.polite:
            trace.append(f"“{text}”是客气的问法：先确认再记")
        for item in clause.found.items:
            amount = "" if item.qty is None else f" {item.qty.normalize():f}{item.product.unit}"
            trace.append(f"读成：{_OP_NAMES.get(item.op, item.op)} {item.product.name}{amount}")
        for problem in clause.found.problems:
            trace.append(f"要问：{problem.question}")
