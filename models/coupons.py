"""Coupons (docs/CONTRACTS.md section 7): given from [[coupon]] templates (per_member holds),
applied at cut-off (models.settlement: the unused, unexpired coupon with the largest `off`
whose minimum the order meets and whose products it holds), released when the order no
longer meets it. A coupon's source is unique: a re-delivered /发券 gives nothing twice."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal

from bot.core.config import Config, CouponTemplate
from bot.core.messages import Outgoing
from models.tables import Coupon
from models.wallet import money


async def give(member_id: str, template: CouponTemplate, source: str, now: datetime,
               remind_before: timedelta = timedelta(0)) -> Coupon | None:
    """Give one coupon of `template`; None if the member has had `per_member` of it, or this
    source gave it already."""
    if await Coupon.exists(source=source):
        return None
    if await Coupon.filter(member_id=member_id, template=template.id).count() >= template.per_member:
        return None
    expires = now + template.valid
    remind = expires - remind_before if remind_before else None
    return await Coupon.create(member_id=member_id, template=template.id, name=template.name, off=template.off,
                               min_spend=template.min_spend, skus=list(template.skus), state="unused",
                               issued_at=now, expires_at=expires, source=source[:96],
                               remind_at=remind if remind is not None and remind > now else None)


async def give_each(member_ids: Sequence[str], template_ids: Sequence[str], source: str, config: Config,
                    now: datetime) -> list[Coupon]:
    """Give each member one coupon of each template (`source` names why: one member, one
    template and one source never give twice); what was given."""
    given = []
    for member_id in member_ids:
        for n, template_id in enumerate(template_ids):
            template = config.coupon_template(template_id)
            if template is not None and (coupon := await give(
                    member_id, template, f"{source}:{n}:{member_id}", now, config.coupons.remind_before)) is not None:
                given.append(coupon)
    return given


async def welcome(member_ids: Sequence[str], config: Config, now: datetime) -> list[Outgoing]:
    """The new-member pack (`[coupons] new_member`) for members the bot has just met (not
    staff), and the private note telling each what they got."""
    newcomers = [m for m in member_ids if m not in config.shop.staff]
    given = await give_each(newcomers, config.coupons.new_member, "new_member", config, now)
    return notices(given, "🎁 欢迎！送您新人礼", config.timezone)


async def referral_friend(member_id: str, config: Config, now: datetime) -> list[Outgoing]:
    """`[coupons] referral_friend` for a member just attributed to an inviter."""
    template = config.coupons.referral_friend
    given = await give_each([member_id], [template] if template else [], "referral_friend", config, now)
    return notices(given, "🎁 欢迎！朋友邀请您来，送您", config.timezone)


def notices(given: Sequence[Coupon], heading: str, tz: tzinfo) -> list[Outgoing]:
    """One private note per member naming the coupons they were just given."""
    by_member: dict[str, list[Coupon]] = {}
    for coupon in given:
        by_member.setdefault(str(coupon.member_id), []).append(coupon)  # type: ignore[attr-defined]
    return [Outgoing(f"{heading}：\n" + "\n".join(describe(c, tz) for c in coupons), to=member_id)
            for member_id, coupons in by_member.items()]


def describe(coupon: Coupon, tz: tzinfo) -> str:
    if coupon.gift:
        return (f"{coupon.name}：截单时免费加到您的下一单，{coupon.expires_at.astimezone(tz):%m-%d}前有效。")
    spend = f"满{money(coupon.min_spend)}" if coupon.min_spend > 0 else "无门槛"
    return (f"{coupon.name}：{spend}减{money(coupon.off)}，{coupon.expires_at.astimezone(tz):%m-%d %H:%M}前有效，"
            "截单时自动用在订单上。")


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
