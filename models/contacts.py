"""Members' addresses and phones, per community (the `member_contact` table).

A member of two groups has two doors: an address belongs to the member *and* the community
her order is for, and the 配送单 of one community never shows the address given in another.
A phone belongs to the member: a community she gave no phone in uses the latest she gave
anywhere, so she is never asked for it twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from models.rows import chunks
from models.tables import MemberContact


@dataclass(frozen=True, slots=True)
class Contact:
    address: str = ""
    phone: str = ""


class ContactRow(Protocol):  # a MemberContact, or the order book's BookContact
    member_id: str
    community_id: int
    address: str
    phone: str
    updated_at: datetime


def address_key(address: str) -> tuple[object, ...]:
    """Buildings, units and rooms in number order: 2栋 before 10栋, 3-2-502 by its parts (no
    address last)."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", address))
    return (not address, numbers, address)


COLUMNS = ("member_id", "community_id", "address", "phone", "updated_at")


class Contacts:
    """Addresses and phones read once (for an export, a cut-off, a batch of messages)."""

    def __init__(self, rows: Iterable[tuple[str, int, str, str, datetime]]) -> None:
        self._given: dict[tuple[str, int], tuple[str, str]] = {}
        latest: dict[str, tuple[datetime, str]] = {}
        for member, community, address, phone, at in rows:
            self._given[(member, community)] = (address, phone)
            if phone and (member not in latest or at >= latest[member][0]):
                latest[member] = (at, phone)
        self._phone = {member: phone for member, (_, phone) in latest.items()}

    @classmethod
    async def read(cls, members: Sequence[str] | None = None) -> Contacts:
        """Every member's (or these members') contacts."""
        if members is None:
            return cls(await MemberContact.all().values_list(*COLUMNS))  # type: ignore[arg-type]
        rows: list[Any] = []
        for some in chunks(members):
            rows += await MemberContact.filter(member_id__in=some).values_list(*COLUMNS)
        return cls(rows)

    def of(self, member: str, community: int | None) -> Contact:
        address, phone = self._given.get((member, community), ("", "")) if community is not None else ("", "")
        return Contact(address, phone or self._phone.get(member, ""))


def contact_of(rows: Iterable[ContactRow], member: str, community: int | None) -> Contact:
    """The same answer as `Contacts.of`, from rows already in memory."""
    return Contacts((r.member_id, r.community_id, r.address, r.phone, r.updated_at)
                    for r in rows if r.member_id == member).of(member, community)


async def keep(member: str, community: int, now: datetime, *, address: str | None = None,
               phone: str | None = None) -> None:
    """Keep what the member gave for this community (None: leave it as it is)."""
    fields: dict[str, Any] = {"updated_at": now}
    if address is not None:
        fields["address"] = address[:128]
    if phone is not None:
        fields["phone"] = phone[:32]
    if not await MemberContact.filter(member_id=member, community_id=community).update(**fields):
        await MemberContact.create(member_id=member, community_id=community, **fields)
