"""A shop's history, built straight into the bot's database (issue 21): what a shop that has used
the bot for 90 or 365 days holds, for the benchmarks to measure on instead of an empty database.

The pipeline benchmark's shop (50 groups of 500 members, 13 % of them referred by a neighbour) with,
for each day: 2,000 orders of 1-4 lines (each member every 12-13 days), the message that placed
each order and about as much chat, the bot's replies, the groups' daily posts and private notes,
each order's settlement, the points it earned when delivered (a third of the orders' points half
spent), stored value paid by a tenth of the members, the day's job runs, stock rows, 接龙 versions
and day figures, the members' facts and the nightly job's marks.
The last day's orders (for today's delivery) are settled and not yet delivered.

Built once per database kind and length, with the raw driver (COPY on PostgreSQL), migrated by the
bot itself first, ANALYZEd, and cached: a SQLite file under `.bench-cache/` (or
`$GROUPBUY_BENCH_CACHE`), a PostgreSQL database used as the template of each copy. The cache's
name carries a hash of this file and the migrations, so a change to either builds it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.pipeline import GROUPS, MEMBERS, MORNING, PG_ADMIN, TZ, database, running_bot

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("GROUPBUY_BENCH_CACHE", ROOT / ".bench-cache"))
TODAY = MORNING.date()
PER_DAY = 2_000
REFERRED = 0.13
WALLET = 10  # one member in this many pays from stored value
CHUNK = 20_000  # orders written at a time
TALK = ["谢谢团长", "今天的草莓甜吗？", "好的", "收到", "明天几点到？", "上次的西红柿很好吃", "[图片]"]
JOBS = (("daily_post", 8, 0), ("cutoff_reminder", 19, 30), ("cutoff", 20, 0), ("delivery_notice", 15, 0),
        ("member_facts", 3, 0), ("member_day", 10, 0))


def member_id(group: int, n: int) -> str:
    """The pipeline load's member ids (bench.pipeline.make_load)."""
    return f"wxid_{40000 + group}_{n}"


def room_of(group: int) -> str:
    return f"{40000 + group}@chatroom"


def cache_key() -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for migration in sorted((ROOT / "models" / "migrations").glob("*.py")):
        digest.update(migration.name.encode())
    return digest.hexdigest()[:10]


def cached_name(days: int) -> str:
    return f"gb_history_{days}d_{cache_key()}"


@dataclass
class Tables:
    """Rows to write, per table, in COLUMNS' order."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    def add(self, table: str, *row: Any) -> None:
        self.rows.setdefault(table, []).append(row)


COLUMNS: dict[str, tuple[str, ...]] = {
    "member": ("id", "name", "points", "referrer_id", "home_id", "first_seen", "last_seen", "code", "referred_via",
               "referred_at", "wallet_principal", "wallet_bonus", "unsubscribed", "level", "birthday"),
    "member_contact": ("member_id", "community_id", "address", "phone", "updated_at"),
    "orders": ("id", "member_id", "community_id", "delivery_date", "status", "groupbuy_no", "created_at",
               "updated_at"),
    "order_line": ("order_id", "sku", "name", "unit", "price", "qty", "note", "status", "updated_at"),
    "order_settlement": ("order_id", "total", "discount", "wallet_paid", "due", "settled_at", "updated_at"),
    "point_entry": ("member_id", "delta", "balance", "reason", "source", "created_at", "remaining", "expires_at"),
    "wallet_entry": ("member_id", "delta", "principal", "bonus", "balance", "principal_after", "reason", "source",
                     "actor", "order_id", "created_at"),
    "inbound_message": ("message_id", "room", "sender", "text", "received_at", "intent", "effect"),
    "outbox_message": ("room", "to", "text", "mentions", "broadcast", "status", "created_at", "sent_at",
                       "attempts"),
    "job_run": ("job", "due_at", "ran_at"),
    "ordering_day": ("order_date", "closed_at"),
    "stock_day": ("sku", "delivery_date", "taken", "sold_out_announced"),
    "chain_version": ("room", "title", "lines", "message_id", "updated_at"),
    "day_figure": ("delivery_date", "orders", "households", "revenue", "computed_at"),
    "member_fact": ("member_id", "last_order_on", "orders", "spend", "spend_90d", "cycle_days", "updated_at"),
}
# Written in this order (each after what it refers to).
ORDER = tuple(COLUMNS)


def _at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=TZ)


@dataclass
class Shop:
    """What the history builds up as it goes (balances, last orders), to keep it consistent."""

    products: list[tuple[str, str, str, Decimal]]
    rng: random.Random = field(default_factory=lambda: random.Random(21))
    points: dict[str, int] = field(default_factory=dict)
    wallet: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[str, list[tuple[date, Decimal]]] = field(default_factory=dict)
    referrer: dict[str, str] = field(default_factory=dict)
    next_order: int = 1


def members(shop: Shop, days: int) -> Tables:
    """The members (a share referred by a neighbour who joined before them) and their addresses."""
    out = Tables()
    since = _at(TODAY - timedelta(days=days), 8)
    for group in range(GROUPS):
        for n in range(MEMBERS):
            mid = member_id(group, n)
            if n >= 20 and shop.rng.random() < REFERRED:
                shop.referrer[mid] = member_id(group, shop.rng.randrange(n))
            if n % WALLET == 3:
                shop.wallet[mid] = Decimal(0)
    for group in range(GROUPS):
        for n in range(MEMBERS):
            mid = member_id(group, n)
            out.add("member_contact", mid, group + 1, f"{n % 30 + 1}栋{n % 900 + 101}", "", since)
    return out


def member_rows(shop: Shop, days: int) -> list[tuple[Any, ...]]:
    """The member rows, before the history (points and stored value come after it)."""
    since = _at(TODAY - timedelta(days=days), 8)
    rows = []
    for group in range(GROUPS):
        for n in range(MEMBERS):
            mid = member_id(group, n)
            referrer = shop.referrer.get(mid)
            rows.append((mid, f"邻居{group}-{n}", 0, referrer, group + 1, since, since,
                         f"C{group:02d}{n:04d}" if n % 7 == 0 else None, "code" if referrer else "",
                         since if referrer else None, Decimal(0), Decimal(0), False, 0, ""))
    return rows


def balances(shop: Shop, days: int) -> list[tuple[Any, ...]]:
    """(id, points, stored value, last seen) of each member who ordered, as the history left them."""
    since = _at(TODAY - timedelta(days=days), 8)
    rows = []
    for mid in sorted(set(shop.orders) | set(shop.points) | set(shop.wallet)):
        orders = shop.orders.get(mid)
        seen = _at(orders[-1][0] - timedelta(days=1), 12) if orders else since
        rows.append((mid, shop.points.get(mid, 0), shop.wallet.get(mid, Decimal(0)), seen))
    return rows


def _earn(shop: Shop, out: Tables, mid: str, points: int, reason: str, source: str, at: datetime,
          spent: int = 0) -> None:
    """An earning, of which `spent` is spent later (what is left of it stays on the earning)."""
    balance = shop.points.get(mid, 0) + points
    shop.points[mid] = balance
    out.add("point_entry", mid, points, balance, reason, source, at, points - spent, at + timedelta(days=365))


def _spend(shop: Shop, out: Tables, mid: str, points: int, source: str, at: datetime) -> None:
    balance = shop.points.get(mid, 0) - points
    shop.points[mid] = balance
    out.add("point_entry", mid, -points, balance, "积分抵扣", source, at, 0, None)


def day_rows(shop: Shop, order_date: date, last: bool) -> Tables:
    """One day of the shop: the orders placed on `order_date` for the next day's delivery, their
    messages, the bot's sends, cut-off, settlement and (unless it is the `last` day) delivery."""
    out = Tables()
    rng, delivery = shop.rng, order_date + timedelta(days=1)
    delivered = not last
    cutoff_at, delivered_at = _at(order_date, 20), _at(delivery, 17, 30)
    taken: dict[str, Decimal] = {}
    households = 0
    revenue = Decimal(0)
    for k, who in enumerate(rng.sample(range(GROUPS * MEMBERS), PER_DAY)):
        group, n = divmod(who, MEMBERS)
        mid, room = member_id(group, n), room_of(group)
        at = _at(order_date, 8) + timedelta(seconds=k * 21 + rng.randrange(20))
        order_id = shop.next_order
        shop.next_order += 1
        picked = rng.sample(shop.products, 1 + rng.randrange(4) if rng.random() < 0.7 else 2)
        total = Decimal(0)
        changes = []
        for sku, name, unit, price in picked:
            qty = Decimal(1 + rng.randrange(3))
            total += price * qty
            taken[sku] = taken.get(sku, Decimal(0)) + qty
            changes.append([sku, "0", str(qty)])
            out.add("order_line", order_id, sku, name, unit, price, qty, "", "placed", at)
        status = "delivered" if delivered else "placed"
        out.add("orders", order_id, mid, group + 1, delivery, status, 0, at, delivered_at if delivered else cutoff_at)
        households += 1
        revenue += total
        paid = Decimal(0)
        if mid in shop.wallet:
            if shop.wallet[mid] < total:
                top_up = Decimal(500)
                shop.wallet[mid] += top_up
                out.add("wallet_entry", mid, top_up, top_up, Decimal(0), shop.wallet[mid], shop.wallet[mid],
                        "充值500元", f"topup:{order_id}", "wxid_owner", None, at - timedelta(minutes=5))
            paid = total
            shop.wallet[mid] -= paid
            out.add("wallet_entry", mid, -paid, -paid, Decimal(0), shop.wallet[mid], shop.wallet[mid],
                    f"订单#{order_id}储值支付", f"order:{order_id}:1", "cutoff", order_id, cutoff_at)
        out.add("order_settlement", order_id, total, Decimal(0), paid, total - paid, cutoff_at, cutoff_at)
        text = " ".join(f"{name}{qty}{unit}" for (_, name, unit, _), (_, _, qty) in zip(picked, changes))
        effect = json.dumps({"changes": changes, "delivery_date": delivery.isoformat(), "room": room})
        out.add("inbound_message", f"h{order_id}", room, mid, text, at, "order", effect)
        out.add("outbox_message", room, None, f"@邻居{group}-{n} 已记下：{text}，明天送到。", json.dumps([mid]),
                False, "sent", at, at + timedelta(seconds=2), 0)
        if rng.random() < 0.9:
            talk_at = at + timedelta(seconds=7)
            out.add("inbound_message", f"t{order_id}", room, member_id(group, rng.randrange(MEMBERS)),
                    rng.choice(TALK), talk_at, "", None)
        if delivered:
            points = int(total)
            spent = points // 2 if rng.random() < 0.33 and points >= 20 else 0  # spent from this earning
            _earn(shop, out, mid, points, f"订单#{order_id}送达", f"order:{order_id}", delivered_at, spent)
            if spent:
                _spend(shop, out, mid, spent, f"redeem:r{order_id}", delivered_at + timedelta(hours=3))
            out.add("outbox_message", None, mid, f"订单#{order_id}已送达，获得{points}积分。", "[]", False, "sent",
                    delivered_at, delivered_at + timedelta(seconds=rng.randrange(600)), 0)
            first = not shop.orders.get(mid)
            if first and mid in shop.referrer:
                _earn(shop, out, shop.referrer[mid], 20, f"邀请邻居{group}-{n}首单奖励", f"referral:{mid}",
                      delivered_at)
        shop.orders.setdefault(mid, []).append((delivery, total))
    for group in range(GROUPS):
        room = room_of(group)
        for job, hour, minute in (("daily_post", 8, 0), ("cutoff_reminder", 19, 30), ("cutoff", 20, 0)):
            post_at = _at(order_date, hour, minute) + timedelta(seconds=group * 3)
            out.add("outbox_message", room, None, f"【{job}】{order_date:%m月%d日} 第{group}群", "[]", True, "sent",
                    post_at, post_at + timedelta(seconds=group * 4), 0)
        if delivered:
            post_at = _at(delivery, 15) + timedelta(seconds=group * 3)
            out.add("outbox_message", room, None, f"🚚 今天 16:00-18:00 送到小区{group}", "[]", True, "sent",
                    post_at, post_at + timedelta(seconds=group * 4), 0)
        if order_date.toordinal() % 5 == group % 5:  # a 接龙 now and then
            lines = [{"no": i, "author": member_id(group, i), "text": f"{i}. 邻居{group}-{i} 西红柿1斤"}
                     for i in range(1, 31)]
            out.add("chain_version", room, f"{order_date:%m月%d日}接龙", json.dumps(lines, ensure_ascii=False),
                    f"c{order_date.toordinal()}-{group}", _at(order_date, 11))
    for job, hour, minute in JOBS:
        day = delivery if job == "delivery_notice" else order_date
        if day > TODAY or (day == TODAY and (hour, minute) > (MORNING.hour, MORNING.minute)):
            continue
        due = _at(day, hour, minute)
        out.add("job_run", job, due, due + timedelta(seconds=1))
    out.add("ordering_day", order_date, cutoff_at)
    for sku, qty in taken.items():
        out.add("stock_day", sku, delivery, qty, False)
    out.add("day_figure", delivery, PER_DAY, households, revenue, cutoff_at)
    return out


def facts(shop: Shop) -> list[tuple[Any, ...]]:
    """The nightly facts of each member who ordered (models.facts), as last night's job left them."""
    rows = []
    night = _at(TODAY, 3)
    for mid, orders in shop.orders.items():
        dates = [d for d, _ in orders]
        gaps = sorted((b - a).days for a, b in zip(dates, dates[1:]))
        spend = sum((t for _, t in orders), Decimal(0))
        recent = sum((t for d, t in orders if d > TODAY - timedelta(days=90)), Decimal(0))
        rows.append((mid, dates[-1], len(orders), spend, recent,
                     Decimal(gaps[len(gaps) // 2]) if gaps else None, night))
    return rows


def history(shop: Shop, days: int) -> Iterator[Tables]:
    """The history in chunks of about CHUNK orders: members' contacts first, then each day."""
    yield members(shop, days)
    batch = Tables()
    for back in range(days, 0, -1):
        day = day_rows(shop, TODAY - timedelta(days=back), last=back == 1)
        for table, rows in day.rows.items():
            batch.rows.setdefault(table, []).extend(rows)
        if len(batch.rows.get("orders", ())) >= CHUNK:
            yield batch
            batch = Tables()
    yield batch


class Writer:
    """Rows into one database with its raw driver."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind, self.url = kind, url
        self.con: Any = None

    async def __aenter__(self) -> Writer:
        if self.kind == "sqlite":
            import models.db  # noqa: F401  (its adapters write datetimes as the bot does)

            self.con = sqlite3.connect(self.url.removeprefix("sqlite://"))
            self.con.execute("PRAGMA synchronous=OFF")
        else:
            import asyncpg

            self.con = await asyncpg.connect(self.url.replace("postgres://", "postgresql://"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.kind == "sqlite":
            self.con.commit()
            self.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.con.close()
        else:
            await self.con.close()

    async def rows(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.kind == "sqlite":
            names = ", ".join(f'"{c}"' for c in columns)
            self.con.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})', rows)
        else:
            await self.con.copy_records_to_table(table, columns=list(columns), records=rows)

    async def balances(self, rows: list[tuple[Any, ...]]) -> None:
        """Members' points, stored value and last sight, set after the history."""
        if self.kind == "sqlite":
            self.con.executemany("UPDATE member SET points = ?, wallet_principal = ?, last_seen = ? WHERE id = ?",
                                 [(p, w, s, m) for m, p, w, s in rows])
            return
        await self.con.execute("CREATE TEMP TABLE balance (id TEXT, points INT, wallet NUMERIC, seen TIMESTAMPTZ)")
        await self.con.copy_records_to_table("balance", records=rows)
        await self.con.execute("UPDATE member SET points = b.points, wallet_principal = b.wallet, last_seen = b.seen"
                               " FROM balance b WHERE member.id = b.id")

    async def execute(self, sql: str) -> None:
        if self.kind == "sqlite":
            self.con.execute(sql)
        else:
            await self.con.execute(sql)

    async def products(self) -> list[tuple[str, str, str, Decimal]]:
        sql = "SELECT sku, name, unit, price FROM product WHERE active ORDER BY position, sku"
        if self.kind == "sqlite":
            return [(s, n, u, Decimal(str(p))) for s, n, u, p in self.con.execute(sql)]
        return [(r["sku"], r["name"], r["unit"], Decimal(r["price"])) for r in await self.con.fetch(sql)]


async def build(kind: str, url: str, days: int, folder: Path) -> dict[str, int]:
    """`days` of history into the (new) database at `url`: the bot migrates it and writes the
    shop's groups and products, then the history goes in. How many rows per table."""
    async with running_bot(url, folder):
        pass
    counts: dict[str, int] = {}

    async def write(table: str, rows: list[tuple[Any, ...]]) -> None:
        await writer.rows(table, COLUMNS[table], rows)
        counts[table] = counts.get(table, 0) + len(rows)

    async with Writer(kind, url) as writer:
        shop = Shop(await writer.products())
        chunks = history(shop, days)
        contacts = next(chunks)  # (this draws who was referred by whom)
        await write("member", member_rows(shop, days))
        for chunk in [contacts, *chunks]:
            for table in ORDER:
                await write(table, chunk.rows.get(table, []))
        await write("member_fact", facts(shop))
        # The nightly job's marks: the latest order change its member facts and day figures count.
        night = _at(TODAY, 3)
        latest = _at(TODAY - timedelta(days=1), 20)  # the last day's cut-off
        await write("job_run", [("member_facts_mark", latest, night), ("day_figures_mark", latest, night)])
        await writer.balances(balances(shop, days))
        if kind == "postgres":
            for table in ("orders", "order_line", "order_settlement", "point_entry", "wallet_entry",
                          "inbound_message", "outbox_message", "job_run", "stock_day", "chain_version",
                          "member_contact"):
                await writer.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                                     f" (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)")
        await writer.execute("ANALYZE")
    return counts


def _pg(url: str = PG_ADMIN) -> Any:
    import asyncpg

    return asyncpg.connect(url.replace("postgres://", "postgresql://"), timeout=5)


async def cached(kind: str, days: int) -> str:
    """The cached history of `days` on `kind` (built now if missing): a file, or a database name."""
    name = cached_name(days)
    if kind == "sqlite":
        path = CACHE / f"{name}.sqlite3"
        if not path.exists():
            CACHE.mkdir(parents=True, exist_ok=True)
            for old in CACHE.glob(f"gb_history_{days}d_*"):
                old.unlink()
            building = CACHE / f"{name}.building-{os.getpid()}.sqlite3"
            await _built(kind, f"sqlite://{building}", days)
            building.rename(path)
            for left in CACHE.glob(f"{building.name}*"):  # the bot's lock file
                left.unlink()
        return str(path)
    admin = await _pg()
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            for (old,) in await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1",
                                            f"gb_history_{days}d_%"):
                await admin.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
            scratch = f"{name}_building"
            await admin.execute(f'CREATE DATABASE "{scratch}"')
            try:
                await _built(kind, f"postgres://postgres@127.0.0.1:5432/{scratch}", days)
                await admin.execute(f'ALTER DATABASE "{scratch}" RENAME TO "{name}"')
            except BaseException:
                await admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
                raise
    finally:
        await admin.close()
    return name


async def _built(kind: str, url: str, days: int) -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        counts = await build(kind, url, days, Path(tmp))
    shown = ", ".join(f"{table} {rows:,}" for table, rows in counts.items() if rows)
    print(f"history: {days} days on {kind} built in {time.perf_counter() - started:.0f} s ({shown})",
          file=sys.stderr)


@asynccontextmanager
async def copy_of(kind: str, days: int, folder: Path) -> AsyncIterator[str]:
    """A database of its own holding `days` of history (0: an empty one), dropped after."""
    if kind == "sqlite":
        path = folder / f"history-{days}d-{uuid.uuid4().hex[:6]}.sqlite3"
        if days:
            shutil.copyfile(await cached(kind, days), path)
            with path.open("rb+") as copied:  # on disk before the clock starts: otherwise the bot's
                os.fsync(copied.fileno())  # first checkpoint would wait for the whole copy's writeback
        yield f"sqlite://{path}"
        return
    async with database(kind, folder, await cached(kind, days) if days else None) as url:
        yield url
