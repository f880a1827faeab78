"""Asking back: the questions of a message that cannot be acted on, and what the bot would do
if the member says "对" (handlers.asks keeps and answers them)."""

from __future__ import annotations

from decimal import Decimal

from bot.core.text import fold
from handlers.parsing.items import Problem
from handlers.parsing.results import ADD, CANCEL_OP, SET_OP, Item, Parsed
from models.catalog import Offer, Product


def unclear(problems: list[Problem], offer: Offer, address: str, phone: str,
             items: tuple[Item, ...]) -> Parsed:
    """Ask back: the questions, and what "对" would do when the rest is understood."""
    unknown = tuple(dict.fromkeys(p.unknown for p in problems if p.unknown))
    suggestions = tuple(dict.fromkeys(p.name for name in unknown for p in closest(offer, name)))
    questions = [p.question for p in problems if p.question and not p.unknown]
    if unknown:
        questions.insert(0, "今天没有" + "、".join(f"“{name}”" for name in unknown))
    awaiting = tuple(dict.fromkeys((p.product.sku, p.op) for p in problems if p.awaits_qty and p.product))
    proposal = () if awaiting else tuple(i for i in items if i.qty is not None or i.op == CANCEL_OP)
    if proposal:
        text = proposal_text(proposal, offer)
        questions.append(f"{text}先记下吗？" if questions else f"您要{text}，对吗？")
    reason = "".join(_sentence(q) for q in dict.fromkeys(questions))
    return Parsed("unclear", reason=reason[:300], suggestions=suggestions[:5], address=address, phone=phone,
                  proposal=proposal, awaiting=awaiting, unknown=unknown)


def _sentence(text: str) -> str:
    return text if text.endswith(("？", "。", "！")) else text + "。"


def proposal_text(items: tuple[Item, ...], offer: Offer) -> str:
    """"加2斤西红柿、取消土豆": what the bot would do, in the member's words."""
    parts = []
    for item in items:
        product = offer.by_sku(item.sku)
        if product is None:
            continue
        amount = f"{qty_text(item.qty)}{product.unit}" if item.qty is not None else ""
        if item.op == ADD:
            parts.append(f"加{amount}{product.name}")
        elif item.op == SET_OP:
            parts.append(f"{product.name}改成{amount}")
        elif item.qty is None:
            parts.append(f"取消{product.name}")
        else:
            parts.append(f"{product.name}减{amount}")
    return "、".join(parts)


def qty_text(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}"


def closest(offer: Offer, text: str, limit: int = 3) -> list[Product]:
    """Products that share characters with `text`, most shared first: for asking back."""
    wanted = set(fold(text))
    scored = [(len(wanted & set(fold("".join(p.names)))), i, p) for i, p in enumerate(offer.products)]
    return [p for score, _, p in sorted(scored, key=lambda s: (-s[0], s[1])) if score][:limit]
