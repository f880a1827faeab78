"""The bot's configuration: TOML (docs/CONTRACTS.md section 6) into frozen dataclasses.

Every section is a dataclass whose fields carry their own converter, so one loop reads every
section, and every mistake names its key: ``[schedule] cutoff: expected "HH:MM", got "25:00"``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.text import MAX_DURATION, parse_duration

DEMO_DIR = Path(__file__).parent.parent / "demo"


class ConfigError(Exception):
    """A config that cannot run; the message names the key and the reason in one line."""


# -- converters: raw TOML value -> typed value, or ValueError with the reason ----------------


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_show(value)}")
    return value


def _nonempty(value: Any) -> str:
    text = _str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {_show(value)}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_show(value)}")
    return value


def _nonnegative_int(value: Any) -> int:
    number = _int(value)
    if number < 0:
        raise ValueError(f"must be 0 or more, got {number}")
    return number


def _positive_int(value: Any) -> int:
    number = _int(value)
    if number < 1:
        raise ValueError(f"must be 1 or more, got {number}")
    return number


def _port(value: Any) -> int:
    number = _int(value)
    if not 0 <= number <= 65535:
        raise ValueError(f"expected a port 0-65535, got {number}")
    return number


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number of seconds, got {_show(value)}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"must be a number of seconds 0 or more, got {value}")
    return float(value)


def _str_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"expected a list of non-empty strings, got {_show(value)}")
    return tuple(v.strip() for v in value)


def _dated_path(value: Any) -> str:
    """A workbook path: one workbook per delivery date, so it names the date."""
    path = _nonempty(value)
    if "{date}" not in path:
        raise ValueError(f'must contain {{date}} (one workbook per delivery day), got {_show(value)}')
    return path


def _staff(value: Any) -> tuple[str, ...]:
    staff = _str_list(value)
    if not staff:
        raise ValueError("is empty: name at least one staff member's WeChat id (only staff run the shop)")
    return staff


def _clock_time(value: Any) -> time:
    text = _str(value)
    try:
        hours, minutes = text.split(":")
        if len(hours) not in (1, 2) or len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f'expected "HH:MM", got {_show(value)}') from None


def _time_range(value: Any) -> tuple[time, time]:
    text = _str(value)
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f'expected "HH:MM-HH:MM", got {_show(value)}')
    try:
        return _clock_time(parts[0].strip()), _clock_time(parts[1].strip())
    except ValueError:
        raise ValueError(f'expected "HH:MM-HH:MM", got {_show(value)}') from None


def parse_slot(value: Any) -> str:
    """A delivery slot "HH:MM-HH:MM", kept as written; ValueError says why not."""
    start, end = _time_range(value)
    if end <= start:
        raise ValueError(f"ends before it starts: {_show(value)}")
    return _str(value).strip()


def _timezone(value: Any) -> ZoneInfo:
    try:
        return ZoneInfo(_nonempty(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {_show(value)}") from None


def _duration(value: Any) -> timedelta:
    duration = parse_duration(_str(value))
    if duration is None or not timedelta(minutes=1) <= duration <= MAX_DURATION:
        raise ValueError(f'expected a duration of 1 minute to 30 days like "24小时", got {_show(value)}')
    return duration


def _duration_or_off(value: Any) -> timedelta:
    """A duration, or "" for none."""
    return timedelta(0) if value == "" else _duration(value)


def _rate(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {_show(value)}")
    if not 0 <= value <= 1000:
        raise ValueError(f"must be 0-1000, got {value}")
    return Decimal(str(value))


def _transport_kind(value: Any) -> str:
    kind = _str(value)
    if kind not in ("web", "wechaty"):
        raise ValueError(f'expected "web" (the local browser chat) or "wechaty" (real WeChat), got {_show(value)}')
    return kind


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def setting(convert: Callable[[Any], Any], default: Any = dataclasses.MISSING) -> Any:
    """A config field: how to read it from TOML, and its default (none: required)."""
    return field(default=default, metadata={"convert": convert})


# -- sections -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopConfig:
    name: str = setting(_nonempty, "鲜果小铺")
    timezone: ZoneInfo = setting(_timezone, ZoneInfo("Asia/Shanghai"))
    staff: tuple[str, ...] = setting(_staff, ())
    # The first order of a delivery day without an address on file asks for one; with this,
    # for a phone too (the driver calls it).
    ask_phone: bool = setting(lambda v: _bool(v), False)


def _database_url(value: Any) -> str:
    url = _nonempty(value)
    if url.startswith("sqlite://"):
        if not url.removeprefix("sqlite://").strip():
            raise ValueError('expected "sqlite://PATH", got no path')
        return url
    if url.startswith(("postgres://", "postgresql://")):
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError(f'the port of "{_redacted(url)}" is not a number') from None
        if not parts.hostname or not parts.path.strip("/"):
            raise ValueError(f'expected "postgres://USER@HOST:PORT/DATABASE", got "{_redacted(url)}"')
        return url
    raise ValueError(f'expected "sqlite://PATH" or "postgres://USER@HOST:PORT/DATABASE", got "{_redacted(url)}"')


def _redacted(url: str) -> str:
    """A database URL to show: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url[:200]
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))[:200]


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = setting(_database_url, "sqlite://data/groupbuy.sqlite3")


@dataclass(frozen=True)
class CatalogConfig:
    file: Path = setting(lambda v: Path(_nonempty(v)), Path("catalog.toml"))


@dataclass(frozen=True)
class GroupConfig:
    room: str = setting(_nonempty)
    community: str = setting(_nonempty)
    delivery: str = setting(parse_slot)


@dataclass(frozen=True)
class ScheduleConfig:
    daily_post: time = setting(_clock_time, time(8, 0))
    cutoff: time = setting(_clock_time, time(20, 0))
    delivery_days: int = setting(_nonnegative_int, 1)
    delivery_notice: time = setting(_clock_time, time(15, 0))
    cutoff_reminder: int = setting(_nonnegative_int, 30)  # minutes before cutoff; 0 = none
    member_day: time = setting(_clock_time, time(10, 0))  # birthday greetings, 保级 reminders, nudges
    neighbours: time = setting(_clock_time, time(17, 0))  # the neighbours line ([nudges] neighbours)


@dataclass(frozen=True)
class GroupBuyConfig:
    duration: timedelta = setting(_duration, timedelta(hours=24))  # of a group-buy a member opens
    followup: str = setting(_str, "")  # sent privately to each member of a failed group-buy; "" = none


@dataclass(frozen=True)
class ReferralConfig:
    inviter_points: int = setting(_nonnegative_int, 50)
    new_member_days: int = setting(_nonnegative_int, 7)  # a code counts within this many days of first being seen


def _bounds(value: Any) -> tuple[int, int, int, int]:
    if (not isinstance(value, list) or len(value) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
            or sorted(set(value)) != value):
        raise ValueError(f"expected four increasing numbers of days like [90, 180, 365, 730], got {_show(value)}")
    return (value[0], value[1], value[2], value[3])


@dataclass(frozen=True)
class SegmentsConfig:
    """Recency segments: days since a member's last order that was not cancelled at which
    活跃 -> 沉默 -> 濒临睡眠 -> 休眠 -> 流失 (docs/CONTRACTS.md section 8)."""

    days: tuple[int, int, int, int] = setting(_bounds, (90, 180, 365, 730))


@dataclass(frozen=True)
class PointsConfig:
    per_yuan: Decimal = setting(_rate, Decimal(1))  # points per yuan of an order's total after its coupon
    expire_days: int = setting(_positive_int, 365)  # points expire this long after they become available
    remind_days: int = setting(_nonnegative_int, 7)  # one reminder this long before points expire; 0 = none


MONEY_MAX = Decimal(100_000_000)  # what the money columns hold


def _money(value: Any) -> Decimal:
    """Yuan, two decimals at most, 0 or more."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected an amount of yuan, got {_show(value)}")
    try:
        amount = Decimal(str(value).strip())
    except ArithmeticError:
        raise ValueError(f"expected an amount of yuan, got {_show(value)}") from None
    if not amount.is_finite() or amount < 0 or amount >= MONEY_MAX:
        raise ValueError(f"must be 0 or more and less than 100,000,000 yuan, got {_show(value)}")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"has more than two decimals: {_show(value)}")
    return amount.quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Tier:
    """A top-up of exactly `pay` yuan gets `bonus` yuan more."""

    pay: Decimal
    bonus: Decimal


def _tiers(value: Any) -> tuple[Tier, ...]:
    if not isinstance(value, list) or not all(isinstance(t, Mapping) for t in value):
        raise ValueError(f"expected a list of tables like {{pay = 200, bonus = 20}}, got {_show(value)}")
    tiers = []
    for i, raw in enumerate(value, start=1):
        if set(raw) != {"pay", "bonus"}:
            raise ValueError(f"tier #{i}: expected exactly pay and bonus")
        try:
            tier = Tier(_money(raw["pay"]), _money(raw["bonus"]))
        except ValueError as error:
            raise ValueError(f"tier #{i}: {error}") from None
        if tier.pay <= 0:
            raise ValueError(f"tier #{i}: pay must be more than 0")
        tiers.append(tier)
    if len({t.pay for t in tiers}) != len(tiers):
        raise ValueError("two tiers have the same pay")
    return tuple(sorted(tiers, key=lambda t: t.pay))


@dataclass(frozen=True)
class WalletConfig:
    """Stored value (储值): the top-up tiers, the reminder when a debit takes a balance low,
    the most one member may hold, and the size of a top-up or refund a second staff member
    must confirm (docs/CONTRACTS.md section 7)."""

    tiers: tuple[Tier, ...] = setting(_tiers, (Tier(Decimal("100.00"), Decimal("0.00")),
                                               Tier(Decimal("200.00"), Decimal("20.00")),
                                               Tier(Decimal("500.00"), Decimal("80.00"))))
    low_balance: Decimal = setting(_money, Decimal("50.00"))  # 0 = no reminder
    cap: Decimal = setting(_money, Decimal("5000.00"))
    confirm_over: Decimal = setting(_money, Decimal("500.00"))

    def bonus_for(self, pay: Decimal) -> Decimal:
        return next((t.bonus for t in self.tiers if t.pay == pay), Decimal("0.00"))


def _skus(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"expected a list of product codes, got {_show(value)}")
    return tuple(v.strip() for v in value)


def _template_id(value: Any) -> str:
    text = _nonempty(value)
    if len(text) > 32:
        raise ValueError(f"must be 32 characters at most, got {_show(value)}")
    return text


@dataclass(frozen=True)
class CouponTemplate:
    """[[coupon]]: yuan off an order of at least `min_spend`, for `valid` from issue."""

    id: str = setting(_template_id)
    name: str = setting(_nonempty)
    off: Decimal = setting(_money)
    min_spend: Decimal = setting(_money, Decimal("0.00"))
    valid: timedelta = setting(_duration, timedelta(days=7))
    skus: tuple[str, ...] = setting(_skus, ())  # the order must hold one of these; () = any
    per_member: int = setting(_positive_int, 1)  # how many one member can ever be given


def _template_ref(value: Any) -> str:
    return _str(value).strip()


@dataclass(frozen=True)
class Reward:
    """[[reward]]: what `points` buy: a coupon of a template, or one unit of a product free on
    the member's next order."""

    points: int = setting(_positive_int)
    coupon: str = setting(_template_ref, "")
    sku: str = setting(lambda v: _str(v).strip(), "")


@dataclass(frozen=True)
class CouponsConfig:
    new_member: tuple[str, ...] = setting(lambda v: _str_list(v) if v != [] else (), ())
    remind_before: timedelta = setting(_duration_or_off, timedelta(hours=24))
    groupbuy_failed: str = setting(_template_ref, "")
    referral_friend: str = setting(_template_ref, "")


def _multiplier(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 10:
        raise ValueError(f"expected a points multiplier from 1 to 10, like 1.5, got {_show(value)}")
    amount = Decimal(str(value))
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"has more than two decimals: {_show(value)}")
    return amount


@dataclass(frozen=True)
class Level:
    """[[level]]: a member whose delivered spend over `[levels] days` is at least `spend` holds
    it, and their delivered orders earn `multiplier` times the points."""

    name: str = setting(_nonempty)
    spend: Decimal = setting(_money)
    multiplier: Decimal = setting(_multiplier, Decimal(1))


@dataclass(frozen=True)
class LevelsConfig:
    """How levels move: up at once, down at the end of a month after a 保级 reminder."""

    days: int = setting(_positive_int, 180)  # the rolling window of delivered spend
    remind_days: int = setting(_positive_int, 7)  # the 保级 reminder comes this long before the month ends


@dataclass(frozen=True)
class RetentionConfig:
    """How long the message record is kept (models.retention); orders, points, money and
    members are kept for good."""

    days: int = setting(_positive_int, 90)


@dataclass(frozen=True)
class BirthdayConfig:
    multiplier: Decimal = setting(_multiplier, Decimal(2))  # points of orders delivered in the birth month


@dataclass(frozen=True)
class NudgesConfig:
    """Automatic private nudges, each day's one campaign with its own control group."""

    cycle: bool = setting(lambda v: _bool(v), False)  # a member past cycle_factor x their own buying cycle
    cycle_factor: Decimal = setting(_multiplier, Decimal("1.5"))
    coupon_free_days: int = setting(_positive_int, 30)  # ... who was given no coupon for this long
    cycle_coupon: str = setting(_template_ref, "")
    cycle_text: str = setting(_nonempty, "好久没见您来啦，今天的新鲜货已经上了，想吃什么跟我说～")
    birthday: bool = setting(lambda v: _bool(v), False)  # a greeting on the member's birthday
    birthday_coupon: str = setting(_template_ref, "")
    birthday_text: str = setting(_nonempty, "祝您生日快乐！🎂")
    # Before cut-off, a member gone quiet (沉默 or longer) hears how many households of their
    # building ordered today (never who), when at least `neighbours_min` did; once per lapse.
    neighbours: bool = setting(lambda v: _bool(v), False)
    neighbours_min: int = setting(_positive_int, 3)
    neighbours_text: str = setting(
        _nonempty, "今天您楼里（{building}）已经有{households}户邻居下单了，{cutoff}截单，明天一起送到～")


def _fraction(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"expected a fraction from 0 to under 1, like 0.1, got {_show(value)}")
    return Decimal(str(value))


@dataclass(frozen=True)
class CampaignConfig:
    """Win-back campaigns (docs/CONTRACTS.md section 8)."""

    control: Decimal = setting(_fraction, Decimal("0.1"))  # of the eligible members, held back and counted
    rest_days: int = setting(_nonnegative_int, 14)  # no member gets two campaigns within this many days
    daily_max: int = setting(_positive_int, 200)  # campaign messages a day, all campaigns together
    message_cost: Decimal = setting(_money, Decimal("0.05"))  # what one send costs the shop
    margin: Decimal = setting(_fraction, Decimal("0.3"))  # of extra revenue, what the shop keeps


@dataclass(frozen=True)
class SpreadsheetConfig:
    path: str = setting(_dated_path, "exports/orders-{date}.xlsx")
    debounce: float = setting(_seconds, 5.0)


@dataclass(frozen=True)
class OutboxConfig:
    """Pacing that keeps the WeChat account from being banned (docs/PRODUCT.md)."""

    min_interval: float = setting(_seconds, 1.0)
    conversation_interval: float = setting(_seconds, 3.0)
    max_per_minute: int = setting(_nonnegative_int, 40)
    jitter: float = setting(_seconds, 2.0)
    merge_max: int = setting(_positive_int, 10)
    quiet_hours: tuple[time, time] | None = setting(
        lambda v: None if v == "" else _time_range(v), (time(22, 0), time(7, 0))
    )


@dataclass(frozen=True)
class WebConfig:
    host: str = setting(_nonempty, "127.0.0.1")
    port: int = setting(_port, 8080)
    token: str = setting(_str, "")
    public_url: str = setting(_str, "")  # where members reach /r/<code> links; "" = http://host:port
    sign_in_minutes: int = setting(_positive_int, 10)  # a /看板 link works once, this long
    session_hours: int = setting(_positive_int, 12)  # then the dashboard stays signed in this long


@dataclass(frozen=True)
class TransportConfig:
    """How the bot reaches its groups. "wechaty": a Wechaty puppet service (PadLocal token, or a
    puppet-xp gateway endpoint); empty token/endpoint fall back to the usual environment
    variables WECHATY_PUPPET_SERVICE_TOKEN / WECHATY_PUPPET_SERVICE_ENDPOINT."""

    kind: str = setting(_transport_kind, "web")
    token: str = setting(_str, "")
    endpoint: str = setting(_str, "")
    send_attempts: int = setting(_positive_int, 4)  # a failed send is retried, then staff are told


@dataclass(frozen=True)
class Config:
    shop: ShopConfig
    database: DatabaseConfig
    catalog: CatalogConfig
    groups: tuple[GroupConfig, ...]
    schedule: ScheduleConfig
    groupbuy: GroupBuyConfig
    referral: ReferralConfig
    points: PointsConfig
    wallet: WalletConfig
    coupons: CouponsConfig
    segments: SegmentsConfig
    campaign: CampaignConfig
    levels: LevelsConfig
    birthday: BirthdayConfig
    nudges: NudgesConfig
    spreadsheet: SpreadsheetConfig
    outbox: OutboxConfig
    web: WebConfig
    transport: TransportConfig
    retention: RetentionConfig
    base_dir: Path  # the config file's folder: relative paths are relative to it
    coupon: tuple[CouponTemplate, ...] = ()  # [[coupon]] templates, by id
    reward: tuple[Reward, ...] = ()  # [[reward]]: what points buy, numbered from 1 in file order
    level: tuple[Level, ...] = ()  # [[level]]: from the lowest (spend 0) up; () = no levels

    def coupon_template(self, template_id: str) -> CouponTemplate | None:
        return next((t for t in self.coupon if t.id == template_id), None)

    @property
    def timezone(self) -> ZoneInfo:
        return self.shop.timezone

    def resolve(self, path: str | Path) -> Path:
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    @property
    def catalog_path(self) -> Path:
        return self.resolve(self.catalog.file)

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path made relative to the config's folder."""
        url = self.database.url
        prefix = "sqlite://"
        if url.startswith(prefix):
            path = url[len(prefix) :]
            if path != ":memory:" and not Path(path).is_absolute():
                return prefix + str(self.resolve(path))
        return url

    @property
    def public_url(self) -> str:
        return (self.web.public_url or f"http://{self.web.host}:{self.web.port}").rstrip("/")

    def group(self, room: str | None) -> GroupConfig | None:
        return next((g for g in self.groups if g.room == room), None)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


_SECTIONS: dict[str, type] = {
    "shop": ShopConfig,
    "database": DatabaseConfig,
    "catalog": CatalogConfig,
    "schedule": ScheduleConfig,
    "groupbuy": GroupBuyConfig,
    "referral": ReferralConfig,
    "points": PointsConfig,
    "wallet": WalletConfig,
    "coupons": CouponsConfig,
    "segments": SegmentsConfig,
    "campaign": CampaignConfig,
    "levels": LevelsConfig,
    "birthday": BirthdayConfig,
    "nudges": NudgesConfig,
    "spreadsheet": SpreadsheetConfig,
    "outbox": OutboxConfig,
    "web": WebConfig,
    "transport": TransportConfig,
    "retention": RetentionConfig,
}


def _section(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table, got {_show(raw)}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{where} {unknown[0]}: unknown key (known: {', '.join(known)})")
    values = {}
    for name, spec in known.items():
        if name not in raw:
            if spec.default is dataclasses.MISSING:
                raise ConfigError(f"{where} {name}: missing")
            continue
        try:
            values[name] = spec.metadata["convert"](raw[name])
        except ValueError as reason:
            raise ConfigError(f"{where} {name}: {reason}") from None
    return cls(**values)


def _twice(values: Iterable[str]) -> str | None:
    """The first value that comes a second time."""
    seen: set[str] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


def parse_config(raw: Mapping[str, Any], base_dir: Path) -> Config:
    unknown = sorted(set(raw) - set(_SECTIONS) - {"group", "coupon", "reward", "level"})
    if unknown:
        known_sections = ", ".join([*_SECTIONS, "group", "coupon", "reward", "level"])
        raise ConfigError(f"[{unknown[0]}]: unknown section (known: {known_sections})")
    sections = {name: _section(cls, raw.get(name, {}), f"[{name}]") for name, cls in _SECTIONS.items()}
    groups_raw = raw.get("group", [])
    if not isinstance(groups_raw, list):
        raise ConfigError("[[group]]: expected an array of tables ([[group]])")
    groups = tuple(_section(GroupConfig, g, f"[[group]] #{i + 1}") for i, g in enumerate(groups_raw))
    if not groups:
        raise ConfigError("[[group]]: missing: at least one group is needed")
    if (room := _twice(g.room for g in groups)) is not None:
        raise ConfigError(f'[[group]] room: "{room}" is listed twice')
    if (community := _twice(g.community for g in groups)) is not None:
        # staff name a group by its community (/配送 桂花苑 ...), and the sheets list it
        raise ConfigError(f'[[group]] community: "{community}" is the name of two groups')
    coupons_raw = raw.get("coupon", [])
    if not isinstance(coupons_raw, list):
        raise ConfigError("[[coupon]]: expected an array of tables ([[coupon]])")
    templates = tuple(_section(CouponTemplate, c, f"[[coupon]] #{i + 1}") for i, c in enumerate(coupons_raw))
    if (twice := _twice(t.id for t in templates)) is not None:
        raise ConfigError(f'[[coupon]] id: "{twice}" is listed twice')
    for t in templates:
        if t.off <= 0:
            raise ConfigError(f'[[coupon]] "{t.id}" off: must be more than 0')
    known = {t.id for t in templates}
    coupons: CouponsConfig = sections["coupons"]
    for key, refs in (("new_member", coupons.new_member), ("groupbuy_failed", (coupons.groupbuy_failed,)),
                      ("referral_friend", (coupons.referral_friend,))):
        for ref in refs:
            if ref and ref not in known:
                raise ConfigError(f'[coupons] {key}: "{ref}" is not a [[coupon]] id')
    rewards_raw = raw.get("reward", [])
    if not isinstance(rewards_raw, list):
        raise ConfigError("[[reward]]: expected an array of tables ([[reward]])")
    rewards = tuple(_section(Reward, r, f"[[reward]] #{i + 1}") for i, r in enumerate(rewards_raw))
    for i, reward in enumerate(rewards, start=1):
        if bool(reward.coupon) == bool(reward.sku):
            raise ConfigError(f"[[reward]] #{i}: give either coupon = \"<template id>\" or sku = \"<product>\"")
        if reward.coupon and reward.coupon not in known:
            raise ConfigError(f'[[reward]] #{i} coupon: "{reward.coupon}" is not a [[coupon]] id')
    nudges: NudgesConfig = sections["nudges"]
    for key, ref in (("cycle_coupon", nudges.cycle_coupon), ("birthday_coupon", nudges.birthday_coupon)):
        if ref and ref not in known:
            raise ConfigError(f'[nudges] {key}: "{ref}" is not a [[coupon]] id')
    levels = _levels(raw.get("level", []))
    wallet: WalletConfig = sections["wallet"]
    if wallet.tiers and wallet.tiers[-1].pay + wallet.tiers[-1].bonus > wallet.cap:
        raise ConfigError(f"[wallet] cap: {wallet.cap} is less than the top tier's pay and bonus")
    schedule: ScheduleConfig = sections["schedule"]
    if schedule.daily_post >= schedule.cutoff:
        raise ConfigError("[schedule] cutoff: must be later in the day than daily_post")
    if nudges.neighbours and not schedule.daily_post <= schedule.neighbours < schedule.cutoff:
        raise ConfigError("[schedule] neighbours: the neighbours line goes out while ordering is open, "
                          "between daily_post and cutoff")
    web: WebConfig = sections["web"]
    if web.host not in ("127.0.0.1", "localhost", "::1") and not web.token:
        raise ConfigError(
            f'[web] host: "{web.host}" is not loopback; set [web] token to let others in'
        )
    transport: TransportConfig = sections["transport"]
    if transport.kind == "wechaty":
        token = transport.token or os.environ.get("WECHATY_PUPPET_SERVICE_TOKEN", "")
        endpoint = transport.endpoint or os.environ.get("WECHATY_PUPPET_SERVICE_ENDPOINT", "")
        if not token and not endpoint:
            raise ConfigError('[transport] token: "wechaty" needs a token or an endpoint (or '
                              "WECHATY_PUPPET_SERVICE_TOKEN / WECHATY_PUPPET_SERVICE_ENDPOINT)")
        sections["transport"] = dataclasses.replace(transport, token=token, endpoint=endpoint)
        for i, g in enumerate(groups, start=1):
            if not g.room.endswith("@chatroom"):
                # a group's name is not its id: the bot would never hear the group
                raise ConfigError(f'[[group]] #{i} room: "{g.room}" is not a WeChat room id '
                                  '(like "12345678@chatroom"; `groupbuy rooms` lists them)')
    return Config(groups=groups, base_dir=base_dir, coupon=templates, reward=rewards, level=levels, **sections)


def _levels(raw: Any) -> tuple[Level, ...]:
    if not isinstance(raw, list):
        raise ConfigError("[[level]]: expected an array of tables ([[level]])")
    levels = tuple(_section(Level, entry, f"[[level]] #{i + 1}") for i, entry in enumerate(raw))
    if levels and levels[0].spend != 0:
        raise ConfigError(f'[[level]] #1 spend: the first level is every member\'s, so its spend must be 0, '
                          f'got {levels[0].spend}')
    for i, (lower, higher) in enumerate(zip(levels, levels[1:]), start=2):
        if higher.spend <= lower.spend:
            raise ConfigError(f"[[level]] #{i} spend: must be more than the level before ({lower.spend})")
    if (twice := _twice(level.name for level in levels)) is not None:
        raise ConfigError(f'[[level]] name: "{twice}" is listed twice')
    return levels


def load_config(path: str | Path) -> Config:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{file}: cannot read: {error}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{file}: not valid TOML: {error}") from None
    config = parse_config(raw, file.resolve().parent)
    if not config.catalog_path.is_file():
        raise ConfigError(f"[catalog] file: {config.catalog_path} not found")
    return config


def demo_config(work_dir: Path) -> Config:
    """The embedded demo: SQLite under ./data, the demo catalog, two groups, one staff member."""
    config = load_config(DEMO_DIR / "config.toml")
    return config.replace(
        base_dir=work_dir.resolve(),
        catalog=CatalogConfig(file=DEMO_DIR / "catalog.toml"),
    )
