"""Migrations: checked in, applied on start and by `groupbuy migrate`, on both databases."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.exceptions import IntegrityError
from tortoise.connection import get_connection

from models.db import apply_migrations, close_database, open_database, tortoise_config

MIGRATIONS = ["models.0001_initial", "models.0002_stock_day", "models.0003_schedule_state",
              "models.0004_lines_and_files", "models.0005_groupbuys_referrals",
              "models.0006_send_retries", "models.0007_member_ask", "models.0008_wallet",
              "models.0009_settlement", "models.0010_wallet_order", "models.0011_coupons",
              "models.0012_coupon_reminders", "models.0013_points_that_buy",
              "models.0014_unsubscribed", "models.0015_campaigns",
              "models.0016_member_facts", "models.0017_facts_current",
              "models.0018_campaign_reached", "models.0019_member_lookups", "models.0020_levels_birthdays",
              "models.0021_dashboard", "models.0022_member_contact",
              "models.0023_history_indexes"]
TABLES = {"bot_state", "stock_day", "community", "member", "product", "orders", "order_line", "groupbuy", "groupbuy_participant",
          "inbound_message", "outbox_message", "ordering_day", "job_run", "chain_version", "point_entry", "referral_visit",
          "wallet_entry", "staff_request", "order_settlement", "coupon", "point_draw", "campaign", "campaign_member",
          "member_fact", "product_ask", "order_rate", "level_notice",
          "sign_in", "web_session", "day_figure", "segment_day", "member_contact"}


async def _tables(db_url: str) -> set[str]:
    connection = get_connection("default")
    if db_url.startswith("sqlite"):
        rows = await connection.execute_query_dict("SELECT name FROM sqlite_master WHERE type='table'")
    else:
        rows = await connection.execute_query_dict(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema='public'")
    return {row["name"] for row in rows}


@pytest.mark.empty_database
async def test_a_fresh_database_gets_every_table_and_a_second_run_changes_nothing(db_url: str) -> None:
    await open_database(db_url, migrate=False)
    try:
        applied = await apply_migrations(tortoise_config(db_url))
        assert applied == MIGRATIONS
        assert TABLES <= await _tables(db_url)
        assert await apply_migrations(tortoise_config(db_url)) == []
    finally:
        await close_database()


async def _indexes(db_url: str) -> set[tuple[str, tuple[str, ...], bool]]:
    """(table, columns, unique) of every index of the migrated database."""
    connection = get_connection("default")
    found = set()
    if db_url.startswith("sqlite"):
        for row in await connection.execute_query_dict("SELECT name, tbl_name FROM sqlite_master WHERE type='index'"):
            [info] = [r for r in await connection.execute_query_dict(f"PRAGMA index_list('{row['tbl_name']}')")
                      if r["name"] == row["name"]]
            columns = await connection.execute_query_dict(f"PRAGMA index_info('{row['name']}')")
            found.add((row["tbl_name"], tuple(c["name"] for c in columns), bool(info["unique"])))
        return found
    for row in await connection.execute_query_dict(
            "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'"):
        columns = row["indexdef"].split("(", 1)[1].rstrip(")")
        found.add((row["tablename"], tuple(c.strip() for c in columns.split(",")), "UNIQUE" in row["indexdef"]))
    return found


@pytest.mark.empty_database
async def test_every_index_the_models_declare_is_in_the_migrated_database(db_url: str) -> None:
    """tortoise's migration editors can drop or skip indexes (an AddField's db_index, a SQLite
    table rebuilt): a unique key that is missing lets doubled rows in, a lookup index that is
    missing makes a big shop slow. The models are the truth."""
    await open_database(db_url)
    try:
        have = await _indexes(db_url)
        wanted = set()
        for model in Tortoise.apps["models"].values():
            meta = model._meta
            table = meta.db_table
            for name, field in meta.fields_map.items():
                column = meta.fields_db_projection.get(name)
                if column and not field.pk and (field.unique or field.index):
                    wanted.add((table, (column,), bool(field.unique)))
            for together in meta.unique_together:
                wanted.add((table, tuple(meta.fields_db_projection[f] if f in meta.fields_db_projection
                                         else meta.fields_db_projection[f"{f}_id"] for f in together), True))
            for index in meta.indexes:
                wanted.add((table, tuple(index), False))
        missing = {w for w in wanted if w not in have and not (w[2] is False and (w[0], w[1], True) in have)}
        assert not missing
    finally:
        await close_database()


@pytest.mark.empty_database
async def test_a_database_at_an_earlier_migration_is_upgraded_and_keeps_its_data(db_url: str) -> None:
    from datetime import datetime, timezone

    from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

    from models.tables import Member

    await open_database(db_url, migrate=False)
    try:
        config = tortoise_config(db_url)
        executor = MigrationExecutor(get_connection("default"), config["apps"])
        await executor.migrate([MigrationTarget(app_label="models", name="0001_initial")])
        assert "stock_day" not in await _tables(db_url)
        now = datetime(2026, 12, 1, tzinfo=timezone.utc)
        # Rows in the tables later migrations change: adding a NOT NULL column to a table
        # with rows needs a database-side default (SQLite refuses it otherwise).
        connection = get_connection("default")
        await connection.execute_query(
            "INSERT INTO community (room, name, delivery_slot, active) VALUES ('r1', '阳光花园', '16:00-18:00', TRUE)")
        stamp = "'2026-12-01T00:00:00+00:00'"
        await connection.execute_query(
            f"INSERT INTO member (id, name, address, phone, points, first_seen, last_seen) "
            f"VALUES ('u1', '李阿姨', '', '', 0, {stamp}, {stamp})")
        await connection.execute_query(
            f"INSERT INTO orders (member_id, community_id, delivery_date, status, created_at, updated_at) "
            f"VALUES ('u1', 1, '2026-12-02', 'placed', {stamp}, {stamp})")
        await connection.execute_query(
            "INSERT INTO product (sku, name, unit, price, active, position, aliases) "
            "VALUES ('F01', '丹东草莓', '盒', 39.9, TRUE, 1, '[]')")
        await connection.execute_query(
            f"INSERT INTO groupbuy (sku, size, price, state, deadline, opened_by, created_at) "
            f"VALUES ('F01', 3, 29.9, 'open', {stamp}, 'u1', {stamp})")
        assert await apply_migrations(config) == MIGRATIONS[1:]
        assert "stock_day" in await _tables(db_url)
        assert (await Member.get(id="u1")).name == "李阿姨"
        from models.tables import Community, Order

        assert (await Community.get(room="r1")).config_slot == ""
        from models.tables import GroupBuy

        assert [(g.name, g.unit) for g in await GroupBuy.all()] == [("丹东草莓", "盒")]  # filled in
        kept = await Order.get(member_id="u1")
        assert (kept.groupbuy_no, kept.delivery_date.isoformat()) == (0, "2026-12-02")
        # The rebuilt unique key still holds: a second own order for that day is refused.
        with pytest.raises(IntegrityError):
            await Order.create(member_id="u1", community_id=kept.community_id,  # type: ignore[attr-defined]
                               delivery_date=kept.delivery_date, created_at=now, updated_at=now)
        await Order.create(member_id="u1", community_id=kept.community_id,  # type: ignore[attr-defined]
                           delivery_date=kept.delivery_date, groupbuy_no=7, created_at=now, updated_at=now)
    finally:
        await close_database()


@pytest.mark.empty_database
async def test_points_from_before_expiry_carry_over_as_one_earning_that_never_expires(db_url: str) -> None:
    from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

    from models.tables import PointEntry

    await open_database(db_url, migrate=False)
    try:
        config = tortoise_config(db_url)
        executor = MigrationExecutor(get_connection("default"), config["apps"])
        await executor.migrate([MigrationTarget(app_label="models", name="0012_coupon_reminders")])
        connection = get_connection("default")
        stamp = "'2026-12-01T00:00:00+00:00'"
        for member, points in (("u1", 30), ("u2", 0)):
            await connection.execute_query(
                f"INSERT INTO member (id, name, address, phone, points, first_seen, last_seen, wallet_principal, "
                f"wallet_bonus) VALUES ('{member}', '', '', '', {points}, {stamp}, {stamp}, 0, 0)")
        for member, delta, balance in (("u1", 50, 50), ("u1", -20, 30), ("u2", 10, 10), ("u2", -10, 0)):
            await connection.execute_query(
                f"INSERT INTO point_entry (member_id, delta, balance, reason, source, created_at) "
                f"VALUES ('{member}', {delta}, {balance}, 'old', 'order:1', {stamp})")
        assert await apply_migrations(config) == MIGRATIONS[MIGRATIONS.index("models.0013_points_that_buy"):]
        entries = await PointEntry.all().order_by("id")
        assert [(e.member_id, e.remaining, e.expires_at) for e in entries] == [  # type: ignore[attr-defined]
            ("u1", 0, None), ("u1", 30, None), ("u2", 0, None), ("u2", 0, None)]
    finally:
        await close_database()


@pytest.mark.empty_database
async def test_an_address_from_before_is_kept_for_the_members_home_community(db_url: str) -> None:
    from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

    from models.contacts import Contact, Contacts

    await open_database(db_url, migrate=False)
    try:
        config = tortoise_config(db_url)
        executor = MigrationExecutor(get_connection("default"), config["apps"])
        await executor.migrate([MigrationTarget(app_label="models", name="0021_dashboard")])
        connection = get_connection("default")
        for room in ("r1", "r2"):
            await connection.execute_query(
                f"INSERT INTO community (room, name, delivery_slot, active) VALUES ('{room}', '{room}', '16:00-18:00', TRUE)")
        stamp = "'2026-12-01T00:00:00+00:00'"
        for member, address, phone, home in (("u1", "5栋502", "13812345678", 2), ("u2", "", "", 1),
                                             ("u3", "3栋101", "", "NULL"), ("u4", "9栋1", "", "NULL")):
            await connection.execute_query(
                f"INSERT INTO member (id, name, address, phone, points, first_seen, last_seen, home_id) "
                f"VALUES ('{member}', '', '{address}', '{phone}', 0, {stamp}, {stamp}, {home})")
        for day, community in (("2026-11-20", 2), ("2026-11-28", 1)):  # u3's home is gone; she ordered
            await connection.execute_query(
                f"INSERT INTO orders (member_id, community_id, delivery_date, status, created_at, updated_at, "
                f"groupbuy_no) VALUES ('u3', {community}, '{day}', 'placed', {stamp}, {stamp}, 0)")
        assert await apply_migrations(config) == MIGRATIONS[MIGRATIONS.index("models.0022_member_contact"):]
        contacts = await Contacts.read()
        assert (contacts.of("u1", 2).address, contacts.of("u1", 2).phone) == ("5栋502", "13812345678")
        assert contacts.of("u1", 1).address == ""  # not where her orders went
        assert contacts.of("u1", 1).phone == "13812345678"  # a phone follows its member
        assert contacts.of("u3", 1).address == "3栋101"  # no home: where she ordered last
        from models.tables import Order

        assert await Order.filter(member_id="u3").count() == 2  # (a rebuilt member table cascades)
        assert contacts.of("u2", 1) == contacts.of("u4", 1) == contacts.of("u4", 2) == Contact()  # nothing to keep
    finally:
        await close_database()


async def test_models_and_checked_in_migrations_agree() -> None:
    """A model change without its migration fails here (tortoise would write a new file)."""
    from tortoise.migrations.autodetector import MigrationAutodetector

    config = tortoise_config("sqlite://:memory:")
    context = await Tortoise.init(config=config, init_connections=False)
    try:
        writers = await MigrationAutodetector(context.apps, config["apps"]).changes()
        assert [w.name for w in writers] == [], "run: tortoise -c models.db.TORTOISE_ORM makemigrations"
    finally:
        await Tortoise.close_connections()


def test_groupbuy_migrate_command(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    catalog = Path(__file__).resolve().parents[1] / "bot" / "demo" / "catalog.toml"
    config.write_text(f'[database]\nurl = "sqlite://db.sqlite3"\n[catalog]\nfile = "{catalog}"\n'
                      '[[group]]\nroom = "r"\ncommunity = "c"\ndelivery = "09:00-10:00"\n', encoding="utf-8")
    run = [sys.executable, "-m", "bot", "migrate", "--config", str(config)]
    first = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "applied: " + ", ".join(MIGRATIONS)
    second = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert second.stdout.strip() == "database is up to date"
    assert (tmp_path / "db.sqlite3").is_file()


async def test_times_in_any_offset_compare_correctly(db_url: str) -> None:
    """SQLite stores times as text: a UTC time and a +08:00 time must still compare as times."""
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    from models.tables import OutboxMessage

    await open_database(db_url)
    try:
        noon_utc = datetime(2026, 12, 1, 4, 0, tzinfo=timezone.utc)  # 12:00 in Shanghai
        await OutboxMessage.create(room="a", text="x", status="sent", created_at=noon_utc, sent_at=noon_utc)
        shanghai = ZoneInfo("Asia/Shanghai")
        bound = datetime(2026, 12, 1, 11, 59, tzinfo=shanghai)
        assert await OutboxMessage.filter(sent_at__gte=bound).count() == 1
        assert await OutboxMessage.filter(sent_at__gte=bound + timedelta(minutes=2)).count() == 0
    finally:
        await close_database()
