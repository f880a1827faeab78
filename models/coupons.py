"""Coupons (docs/CONTRACTS.md section 7): given from [[coupon]] templates (per_member holds),
applied at cut-off (models.settlement: the unused, unexpired coupon with the largest `off`
whose minimum the order meets and whose products it holds), released when the order no
longer meets it. A coupon's source is unique: a re-delivered /发券 gives nothing twice."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from bot.core.config import CouponTemplate
from models.tables import Coupon


async def give(member_id: str, template: CouponTemplate, source: str, now: datetime) -> Coupon | None:
    """Give one coupon of `template`; None if the member has had `per_member` of it, or this
    source gave it already."""
    if await Coupon.exists(source=source):
        return None
    if await Coupon.filter(member_id=member_id, template=template.id).count() >= template.per_member:
        return None
    return await Coupon.create(member_id=member_id, template=template.id, name=template.name, off=template.off,
                               min_spend=template.min_spend, skus=list(template.skus), state="unused",
                               issued_at=now, expires_at=now + template.valid, source=source[:96])


def fits(coupon: Coupon, total: Decimal, skus: Iterable[str], now: datetime) -> bool:
    held = set(skus)
    return (coupon.expires_at > now and coupon.min_spend <= total and total > 0
            and (not coupon.skus or bool(held & set(coupon.skus))))


def best(coupons: Iterable[Coupon], total: Decimal, skus: Iterable[str], now: datetime) -> Coupon | None:
    """The one to apply: the largest `off` that fits (the earliest to expire among equals)."""
    held = list(skus)
    fitting = [c for c in coupons if fits(c, total, held, now)]
    return min(fitting, key=lambda c: (-c.off, c.expires_at, c.id)) if fitting else None


async def unused(member_id: str, now: datetime) -> list[Coupon]:
    return list(await Coupon.filter(member_id=member_id, state="unused", expires_at__gt=now).order_by("expires_at", "id"))
