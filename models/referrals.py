"""Referrals (邀请): each member's code, attribution of new members to their inviter, link visits.

A member is attributed once, and only while new to the shop: through the join event's inviter
when the bot first sees them, or by sending a code before their first order and within
`new_member_days` of first being seen. Nobody is attributed to themselves or to shop staff
(staff adding people is the shop's own work), and a member the shop knew before (left and
rejoined) is never attributed again. The reward itself is paid by points.Rewards.settle.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from models.tables import Community, Member, Order, ReferralVisit

# No 0/O, 1/I/L: codes are read aloud and typed from screenshots.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6

ATTRIBUTED = "attributed"
UNKNOWN_CODE, SELF, ALREADY, ORDERED, NOT_NEW, STAFF = (
    "unknown_code", "self", "already", "ordered", "not_new", "staff")


def new_code() -> str:
    """Six characters with a digit and a letter, so a code never reads as a word or a number."""
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        if any(c.isdigit() for c in code) and any(c.isalpha() for c in code):
            return code


async def code_for(member: Member) -> str:
    if member.code:
        return member.code
    code = new_code()
    while await Member.exists(code=code):
        code = new_code()
    member.code = code
    await member.save(update_fields=["code"])
    return code


@dataclass(frozen=True)
class Attribution:
    outcome: str
    inviter: Member | None = None


async def attribute_code(member: Member, code: str, now: datetime, staff: tuple[str, ...],
                         new_member_days: int) -> Attribution:
    inviter = await Member.get_or_none(code=code.upper())
    if inviter is None:
        return Attribution(UNKNOWN_CODE)
    if inviter.id == member.id:
        return Attribution(SELF, inviter)
    if member.referrer_id is not None:  # type: ignore[attr-defined]
        return Attribution(ALREADY, await Member.get_or_none(id=member.referrer_id))  # type: ignore[attr-defined]
    if inviter.id in staff:
        return Attribution(STAFF, inviter)
    if await Order.filter(member_id=member.id).exists():
        return Attribution(ORDERED, inviter)
    if member.first_seen < now - timedelta(days=new_member_days):
        return Attribution(NOT_NEW, inviter)
    member.referrer, member.referred_via, member.referred_at = inviter, "code", now
    await member.save(update_fields=["referrer_id", "referred_via", "referred_at"])
    return Attribution(ATTRIBUTED, inviter)


async def member_joined(room: str, member_id: str, name: str, inviter_id: str | None,
                        now: datetime, staff: tuple[str, ...]) -> list[Member]:
    """Someone joined a served group. A member new to the shop gets the group as home and, when
    a member invited them, that inviter. The members the bot has just met (the one who joined,
    an inviter it had not seen yet); none for a group the shop does not serve, or a member
    the shop knew before (left and rejoined: no new attribution)."""
    community = await Community.get_or_none(room=room)
    if community is None or await Member.exists(id=member_id):
        return []
    met = []
    inviter = None
    if inviter_id and inviter_id != member_id and inviter_id not in staff:
        inviter, created = await Member.get_or_create(
            id=inviter_id, defaults={"name": "", "first_seen": now, "last_seen": now, "home": community})
        if created:
            met.append(inviter)
    member, created = await Member.get_or_create(
        id=member_id,
        defaults={"name": name[:128], "first_seen": now, "last_seen": now, "home": community,
                  "referrer": inviter, "referred_via": "join" if inviter else "",
                  "referred_at": now if inviter else None},
    )
    return [*met, member] if created else met


async def record_visit(code: str, agent: str, now: datetime) -> tuple[Member, Community | None] | None:
    """Someone opened /r/<code>: the inviter and their group, or None for an unknown code."""
    inviter = await Member.get_or_none(code=code.upper()).select_related("home")
    if inviter is None:
        return None
    await ReferralVisit.create(inviter=inviter, at=now, agent=agent[:200])
    return inviter, inviter.home
