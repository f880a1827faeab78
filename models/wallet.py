"""Stored value (储值): an append-only ledger per member, principal and bonus kept apart.

Every change is one `WalletEntry` with the amount, its principal and bonus parts, the balance
after, a reason, who booked it and a source unique in the database (the staff message, the
confirmed request, the order settlement): a re-delivered message or a retried batch books
nothing twice. The member's `wallet_principal` / `wallet_bonus` are the ledger's sums, changed
in the same transaction as the entry under the member's row lock (PostgreSQL); `check` compares
them with the ledger. No balance is ever negative: a change that would make one is refused.

A top-up of exactly a tier's `pay` adds its bonus. A refund pays back principal only, and takes
back the bonus that came with that principal in the same proportion (a member cannot top up
200, get 20 and take the 200 back). A payment takes principal and bonus in proportion too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from bot.core.config import WalletConfig
from models.members import locked_member
from models.tables import Member, WalletEntry

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


class WalletRefused(Exception):
    """The change would break a rule (a negative balance, over the cap); the message says
    which, in Chinese, for the staff member or the member."""


@dataclass(frozen=True)
class Booked:
    entry: WalletEntry
    balance: Decimal
    principal: Decimal
    bonus: Decimal


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


async def book(member_id: str, principal: Decimal, bonus: Decimal, reason: str, source: str,
               actor: str, now: datetime) -> Booked | None:
    """Book one change (inside the caller's transaction); None if `source` was booked before.
    WalletRefused if either part would go below zero."""
    member = await locked_member(member_id)
    if member is None:
        raise WalletRefused("还不认识这位成员。")
    if await WalletEntry.exists(source=source):  # (after the lock: a second booking waits, then sees it)
        return None
    new_principal = cents(member.wallet_principal + principal)
    new_bonus = cents(member.wallet_bonus + bonus)
    if new_principal < 0 or new_bonus < 0:
        raise WalletRefused(f"余额不足：现有{money(member.wallet_principal + member.wallet_bonus)}。")
    entry = await WalletEntry.create(
        member_id=member_id, delta=cents(principal + bonus), principal=cents(principal), bonus=cents(bonus),
        balance=new_principal + new_bonus, principal_after=new_principal, reason=reason[:64],
        source=source[:96], actor=actor[:128], created_at=now,
    )
    member.wallet_principal, member.wallet_bonus = new_principal, new_bonus
    await member.save(update_fields=["wallet_principal", "wallet_bonus"])
    return Booked(entry, new_principal + new_bonus, new_principal, new_bonus)


async def top_up(member_id: str, amount: Decimal, config: WalletConfig, source: str, actor: str,
                 now: datetime) -> Booked | None:
    """A top-up paid outside the bot: the tier's bonus for exactly its `pay`; never over the cap."""
    check_amount(amount)
    bonus = config.bonus_for(amount)
    member = await locked_member(member_id)
    if member is None:
        raise WalletRefused("还不认识这位成员。")
    balance = member.wallet_principal + member.wallet_bonus
    if balance + amount + bonus > config.cap:
        raise WalletRefused(f"充值后余额会超过上限{money(config.cap)}（现有{money(balance)}）。")
    return await book(member_id, amount, bonus, "充值" + (f"（赠{money(bonus)}）" if bonus else ""),
                      source, actor, now)


async def refund(member_id: str, amount: Decimal, reason: str, source: str, actor: str,
                 now: datetime) -> Booked | None:
    """Principal paid back; the bonus that came with it goes in the same proportion."""
    check_amount(amount)
    member = await locked_member(member_id)
    if member is None:
        raise WalletRefused("还不认识这位成员。")
    principal = member.wallet_principal
    if amount > principal:
        raise WalletRefused(f"可退的本金只有{money(principal)}（赠送的{money(member.wallet_bonus)}不退现金）。")
    bonus = cents(member.wallet_bonus * amount / principal) if principal else ZERO
    return await book(member_id, -amount, -bonus, f"退款：{reason}"[:64], source, actor, now)


def split_payment(amount: Decimal, principal: Decimal, bonus: Decimal) -> tuple[Decimal, Decimal]:
    """How a payment of `amount` draws on principal and bonus: in their proportion."""
    total = principal + bonus
    if amount > total:
        raise WalletRefused(f"余额不足：现有{money(total)}。")
    from_bonus = min(bonus, cents(amount * bonus / total)) if total else ZERO
    from_principal = amount - from_bonus
    if from_principal > principal:  # rounding at the last cent
        from_principal, from_bonus = principal, amount - principal
    return from_principal, from_bonus


def check_amount(amount: Decimal) -> None:
    if amount <= 0 or amount != cents(amount):
        raise WalletRefused("金额要大于0，最多两位小数。")


async def history(member_id: str, last: int = 5) -> list[WalletEntry]:
    return list(reversed(await WalletEntry.filter(member_id=member_id).order_by("-id").limit(last)))


async def check() -> list[str]:
    """Members whose cached balance differs from the sum of their ledger (none, ever)."""
    from tortoise.functions import Sum

    sums = {row["member_id"]: (row["p"] or ZERO, row["b"] or ZERO) for row in
            await WalletEntry.all().group_by("member_id").annotate(p=Sum("principal"), b=Sum("bonus"))
            .values("member_id", "p", "b")}
    wrong = []
    for member_id, principal, bonus in await Member.all().values_list("id", "wallet_principal", "wallet_bonus"):
        p, b = sums.get(member_id, (ZERO, ZERO))
        if (cents(p), cents(b)) != (cents(principal), cents(bonus)):
            wrong.append(str(member_id))
    return wrong


def money(amount: Decimal) -> str:
    return f"¥{cents(amount)}"
