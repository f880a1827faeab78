"""Automatic nudges (issue 17), each off by default (`[nudges]`). A day's nudge of one kind is a
campaign of its own (segment 周期提醒 or 生日), drafted for the members it picks that day and
started at once: it is paced and capped with every other campaign, kept from the unsubscribed,
the rested and the unreachable, held against its own control group, and measured by /活动效果,
the 活动效果 sheet and state.json like a campaign staff wrote.

- 周期提醒: a member past `cycle_factor` times their own buying cycle since their last order,
  given no coupon for `coupon_free_days`; once per lapse (a member picked, as target or
  control, since their last order is not picked again until they order).
- 生日: a greeting on the member's birthday (29 February's on the 28th in other years), once a
  year.
- 邻居: before cut-off, a member gone quiet (沉默 or longer) hears how many households of their
  building (read from their address, in their home community) ordered today, never who, when
  at least `neighbours_min` did; once per lapse, like 周期提醒.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, tzinfo

from bot.core.config import Config
from bot.core.protocols import Reachable
from models.campaigns import CONTROL, TARGET, Draft, draft, sort_out
from models.contacts import Contacts
from models.facts import local_date
from models.levels import birthday_on, times
from models.days import delivery_date_for
from models.segments import DORMANT, LOST, NEAR_DORMANT, SILENT, member_facts
from models.tables import Campaign, CampaignMember, Coupon, Member, Order

CYCLE, BIRTHDAY, NEIGHBOURS = "周期提醒", "生日", "邻居"
QUIET = (SILENT, NEAR_DORMANT, DORMANT, LOST)  # the segments the neighbours line is for
AUTOMATIC = "自动"  # who drafted it
GREETED_WITHIN = timedelta(days=300)  # a birthday greeted within this is not greeted again


async def _start(kind: str, members: list[str], template: str, text: str, config: Config, reachable: Reachable,
                 now: datetime, fills: dict[str, dict[str, str]] | None = None) -> Draft | None:
    eligible, _ = await sort_out(members, config, reachable, now)
    if not eligible:  # nobody it could go to today: no campaign at all
        return None
    done = await draft(kind, template, text, AUTOMATIC, config, reachable, now, members, fills)
    await Campaign.filter(id=done.campaign.id).update(state="sending", started_at=now)
    return done


async def _picked_since(kind: str, last_orders: dict[str, date], tz: tzinfo) -> set[str]:
    """The members a `kind` nudge picked (as target or control) after their last order."""
    picked = await CampaignMember.filter(member_id__in=sorted(last_orders), campaign__segment=kind,
                                         role__in=[TARGET, CONTROL]).values_list("member_id", "campaign__created_at")
    return {str(m) for m, at in picked if local_date(at, tz) > last_orders[str(m)]}  # type: ignore[arg-type]


async def cycle_nudge(today: date, now: datetime, config: Config, reachable: Reachable) -> Draft | None:
    """Today's 周期提醒 campaign, started; None when nobody is due."""
    tz, nudges = config.timezone, config.nudges
    due = {f.member_id: f.last_order for f in await member_facts(today, tz, config.segments.days, config.shop.staff)
           if f.last_order is not None and f.cycle is not None
           and (today - f.last_order).days > nudges.cycle_factor * f.cycle}
    if not due:
        return None
    ids = sorted(due)
    couponed = set(await Coupon.filter(member_id__in=ids, issued_at__gte=now - timedelta(days=nudges.coupon_free_days))
                   .values_list("member_id", flat=True))
    nudged = await _picked_since(CYCLE, due, tz)
    members = [m for m in ids if m not in couponed and m not in nudged]
    return await _start(CYCLE, members, nudges.cycle_coupon, nudges.cycle_text, config, reachable, now)


async def birthday_nudge(today: date, now: datetime, config: Config, reachable: Reachable) -> Draft | None:
    """Today's 生日 campaign, started; None when no member's birthday it is."""
    days = [f"{today.month:02d}-{today.day:02d}"] + (["02-29"] if (today.month, today.day) == (2, 28) else [])
    born = [str(m) for m, birthday in await Member.filter(birthday__in=days).values_list("id", "birthday")
            if birthday_on(str(birthday), today) and m not in config.shop.staff]
    if not born:
        return None
    greeted = set(await CampaignMember.filter(member_id__in=born, campaign__segment=BIRTHDAY, role__in=[TARGET, CONTROL],
                                              campaign__created_at__gte=now - GREETED_WITHIN)
                  .values_list("member_id", flat=True))
    members = sorted(m for m in born if m not in greeted)
    text = config.nudges.birthday_text
    if config.birthday.multiplier > 1:
        text += f"\n这个月送达的订单积分{times(config.birthday.multiplier)}。"
    return await _start(BIRTHDAY, members, config.nudges.birthday_coupon, text, config, reachable, now)


_BUILDING = re.compile(r"([0-9]{1,4}|[a-z])\s*(?:号楼|栋|幢|座|号院)", re.I)
_DASHED = re.compile(r"^\s*([0-9]{1,4})\s*[-－—]\s*[0-9]")  # 3-2-502


def building_of(address: str) -> str | None:
    """The building an address names ("5号楼2单元301", "5栋301", "3-2-502": 5, 5, 3), as its
    number (or letter); None when it names none."""
    found = _BUILDING.search(address) or _DASHED.search(address)
    return found.group(1).upper().lstrip("0") or "0" if found else None


def household_of(address: str) -> str:
    return re.sub(r"[\s,，]+", "", address).replace("号楼", "栋").replace("幢", "栋").lower()


async def neighbours_nudge(today: date, now: datetime, config: Config, reachable: Reachable) -> Draft | None:
    """Today's 邻居 campaign, started; None when no quiet member's building has enough orders."""
    tz, nudges = config.timezone, config.nudges
    delivery = delivery_date_for(today, config.schedule)
    households: dict[tuple[int, str], set[str]] = {}
    contacts = await Contacts.read()
    for community, member in await Order.filter(delivery_date=delivery, status="placed").values_list(
            "community_id", "member_id"):
        address = contacts.of(str(member), int(community)).address  # type: ignore[call-overload]
        building = building_of(address)
        if building is not None:
            households.setdefault((int(community), building), set()).add(household_of(address))  # type: ignore[call-overload]
    enough = {key: len(homes) for key, homes in households.items() if len(homes) >= nudges.neighbours_min}
    if not enough:
        return None
    quiet = {f.member_id: f.last_order for f in await member_facts(today, tz, config.segments.days, config.shop.staff)
             if f.segment in QUIET and f.last_order is not None}
    fills: dict[str, dict[str, str]] = {}
    for member_id, home in await Member.filter(id__in=sorted(quiet)).values_list("id", "home_id"):
        building = building_of(contacts.of(str(member_id), home).address)  # type: ignore[arg-type]
        count = enough.get((int(home), building)) if home is not None and building is not None else None  # type: ignore[call-overload]
        if count:
            fills[str(member_id)] = {"building": f"{building}号楼", "households": str(count),
                                     "cutoff": f"{config.schedule.cutoff:%H:%M}"}
    nudged = await _picked_since(NEIGHBOURS, {m: quiet[m] for m in fills}, tz)  # type: ignore[misc]
    members = sorted(m for m in fills if m not in nudged)
    return await _start(NEIGHBOURS, members, "", nudges.neighbours_text, config, reachable, now,
                        {m: fills[m] for m in members})
