"""Signing staff in to the dashboard: a one-time link sent by /看板, then a session.

The link carries a random token that works once and for minutes; opening it makes a session,
whose token the browser keeps in a cookie. The database keeps only hashes of both, so a copy of
the database signs no one in. Sessions live in the database, so any of the shop's bot processes
can check them. Whether the person is still staff is the caller's question: a session outlives
nothing the config takes away.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from models.tables import SignIn, WebSession

TOKEN_BYTES = 24


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def issue_link(staff: str, now: datetime, minutes: int) -> str:
    """A new sign-in token for this staff member (what goes into the link)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    await SignIn.create(token=_hash(token), staff=staff, created_at=now, expires_at=now + timedelta(minutes=minutes))
    await SignIn.filter(expires_at__lt=now - timedelta(days=1)).delete()  # old links: nothing to keep
    return token


async def link_staff(token: str, now: datetime) -> str | None:
    """Whose link this is, while it is still unused and in time (it is not used up by asking)."""
    found = await SignIn.get_or_none(token=_hash(token), used_at__isnull=True, expires_at__gt=now)
    return found.staff if found else None


async def redeem_link(token: str, now: datetime, hours: int) -> tuple[str, str] | None:
    """Use the link: (staff, session token), once; None for a link used, expired or unknown.
    Two tabs opening one link at once: the conditional update lets one of them through."""
    hashed = _hash(token)
    if not await SignIn.filter(token=hashed, used_at__isnull=True, expires_at__gt=now).update(used_at=now):
        return None
    link = await SignIn.get(token=hashed)
    return link.staff, await open_session(link.staff, now, hours)


async def open_session(staff: str, now: datetime, hours: int) -> str:
    session = secrets.token_urlsafe(TOKEN_BYTES)
    await WebSession.create(token=_hash(session), staff=staff, created_at=now,
                            expires_at=now + timedelta(hours=hours))
    await WebSession.filter(expires_at__lt=now).delete()
    return session


async def session_staff(session: str, now: datetime) -> str | None:
    """Who a session cookie signs in, while it has not expired."""
    if not session or len(session) > 128:
        return None
    found = await WebSession.get_or_none(token=_hash(session), expires_at__gt=now)
    return found.staff if found else None


async def close_session(session: str) -> None:
    if session and len(session) <= 128:
        await WebSession.filter(token=_hash(session)).delete()
