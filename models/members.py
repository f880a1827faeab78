"""Who sent a message: the member (known from then on) and the group it was sent in, kept
up to date with what each message shows of them."""

from __future__ import annotations

from datetime import timedelta

from bot.core.config import Config
from bot.core.messages import Incoming
from models.bookrows import BookMember
from models.db import is_postgres
from models.tables import Community, Member

LAST_SEEN_STEP = timedelta(minutes=10)  # last_seen is kept to within this (one write less per message)


async def member_of(msg: Incoming, config: Config) -> tuple[Member, Community | None, bool]:
    """The sender, made on first sight, the community the message is for (its group, or for
    a private message the member's home group, or the only group there is), and whether the
    bot has just met them."""
    community = await Community.get_or_none(room=msg.room) if msg.room else None
    # The one rule that serialises every change a member's message makes (to their orders,
    # points, questions asked back): the member's row is locked first, on every path (the
    # order book locks its members' rows too). Without it two processes given two of one
    # member's messages each read the order, and the later write loses the other's change.
    # (SQLite has one writer: nothing to lock there.)
    lock = is_postgres()
    member = await locked_member(msg.sender_id) if lock else None
    created = False
    if member is None:
        # get_or_create survives the same new member writing in two groups at once.
        member, created = await Member.get_or_create(
            id=msg.sender_id,
            defaults={"name": msg.sender_name[:128], "first_seen": msg.at, "last_seen": msg.at,
                      "home": community},
        )
        if lock:
            member = await locked_member(msg.sender_id) or member
    if not created and (fields := seen(member, msg, community)):
        await member.save(update_fields=fields)
    if community is None and msg.room is None:
        community = await private_community(member, config)
    return member, community, created


async def locked_member(member_id: str) -> Member | None:
    """The member, their row locked until the transaction ends (PostgreSQL; SQLite has one writer)."""
    query = Member.filter(id=member_id)
    return await (query.select_for_update() if is_postgres() else query).first()


async def private_community(member: Member, config: Config) -> Community | None:
    """Where a private order goes: the member's home group, or the only group there is."""
    if member.home_id is not None:  # type: ignore[attr-defined]
        return await Community.get_or_none(id=member.home_id)  # type: ignore[attr-defined]
    if len(config.groups) == 1:
        return await Community.get_or_none(room=config.groups[0].room)
    return None


def seen(member: Member | BookMember, msg: Incoming, community: Community | None) -> list[str]:
    """Bring a known member up to date with a message from them (name, home group, last seen
    to within LAST_SEEN_STEP); the fields to write, if any."""
    fields = []
    if msg.sender_name and msg.sender_name[:128] != member.name:
        member.name = msg.sender_name[:128]
        fields.append("name")
    if community is not None and member.home_id != community.id:  # type: ignore[union-attr]
        member.home_id = community.id  # type: ignore[union-attr]
        fields.append("home_id")
    if fields or msg.at - member.last_seen > LAST_SEEN_STEP:
        member.last_seen = msg.at
        fields.append("last_seen")
    return fields
