"""Config: every mistake stops start-up with one line naming the key and the reason."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from datetime import time
from pathlib import Path

import pytest

from bot.core.config import ConfigError, demo_config, load_config, parse_config
from bot.run import served
from tests.conftest import raw_config

ROOT = Path(__file__).resolve().parents[1]


def test_the_example_config_documents_and_loads_every_key(tmp_path: Path) -> None:
    raw = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    config = parse_config(raw, tmp_path)
    assert config.shop.staff == ("wxid_owner",)
    assert config.schedule.cutoff == time(20, 0) and config.schedule.delivery_days == 1
    assert config.referral.inviter_points == 50
    assert config.spreadsheet.path == "exports/orders-{date}.xlsx"
    assert [g.community for g in config.groups] == ["阳光花园", "桂花苑"]
    for section in ("shop", "database", "catalog", "schedule", "referral", "spreadsheet",
                    "outbox", "web", "transport"):
        assert section in raw, f"config.example.toml does not document [{section}]"


def test_the_demo_needs_no_config_file(tmp_path: Path) -> None:
    config = demo_config(tmp_path)
    assert config.database_url == f"sqlite://{tmp_path.resolve() / 'data' / 'groupbuy.sqlite3'}"
    assert config.catalog_path.is_file()
    assert len(config.groups) == 2 and len(config.shop.staff) == 1


def test_links_name_the_address_the_bot_is_served_on(tmp_path: Path) -> None:
    """`groupbuy run --port 18080` gave referral links to :8080 (the config's port)."""
    config = demo_config(tmp_path)
    assert config.public_url == "http://127.0.0.1:8080"
    assert served(config, "127.0.0.1", 18080).public_url == "http://127.0.0.1:18080"
    public = parse_config(raw_config(web={"public_url": "https://shop.example.com/"}), tmp_path)
    assert served(public, "127.0.0.1", 18080).public_url == "https://shop.example.com"  # set: it wins


def test_relative_paths_are_relative_to_the_config_folder(tmp_path: Path) -> None:
    config = parse_config(raw_config("sqlite://db/x.sqlite3"), tmp_path)
    assert config.database_url == f"sqlite://{tmp_path / 'db' / 'x.sqlite3'}"
    assert config.resolve("exports/a.xlsx") == tmp_path / "exports" / "a.xlsx"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"shop": {"staf": ["x"]}}, "[shop] staf: unknown key"),
        ({"shop": {"staff": "wxid_owner"}}, "[shop] staff: expected a list of non-empty strings"),
        ({"shop": {"timezone": "Mars/Base"}}, '[shop] timezone: unknown timezone "Mars/Base"'),
        ({"schedule": {"cutoff": "25:00"}}, '[schedule] cutoff: expected "HH:MM", got "25:00"'),
        ({"schedule": {"delivery_days": "1"}}, '[schedule] delivery_days: expected a whole number, got "1"'),
        ({"schedule": {"daily_post": "21:00"}}, "[schedule] cutoff: must be later in the day than daily_post"),
        ({"referral": {"inviter_points": -5}}, "[referral] inviter_points: must be 0 or more"),
        ({"web": {"host": "0.0.0.0"}}, '[web] host: "0.0.0.0" is not loopback; set [web] token'),
        ({"web": {"port": 70000}}, "[web] port: expected a port 0-65535"),
        ({"transport": {"kind": "carrier-pigeon"}}, "[transport] kind: expected"),
        ({"transport": {"kind": "wechaty"}}, '[transport] token: "wechaty" needs a token or an endpoint'),
        ({"group": []}, "[[group]]: missing"),
        ({"level": [{"name": "银卡", "spend": 100}]}, "[[level]] #1 spend: the first level is every member's"),
        ({"level": [{"name": "普通", "spend": 0}, {"name": "银卡", "spend": 0}]},
         "[[level]] #2 spend: must be more than the level before"),
        ({"level": [{"name": "普通", "spend": 0}, {"name": "普通", "spend": 10}]}, '[[level]] name: "普通" is listed twice'),
        ({"level": [{"name": "普通", "spend": 0, "multiplier": 0.5}]}, "[[level]] #1 multiplier: expected a points multiplier"),
        ({"birthday": {"multiplier": 20}}, "[birthday] multiplier: expected a points multiplier from 1 to 10"),
        ({"nudges": {"cycle": "yes"}}, "[nudges] cycle: expected true or false"),
        ({"nudges": {"cycle_coupon": "nope"}}, '[nudges] cycle_coupon: "nope" is not a [[coupon]] id'),
        ({"nudges": {"neighbours": True}, "schedule": {"neighbours": "21:00"}},
         "[schedule] neighbours: the neighbours line goes out while ordering is open"),
        ({"group": [{"room": "a@chatroom", "community": "x"}]}, "[[group]] #1 delivery: missing"),
        ({"group": [{"room": "a", "community": "x", "delivery": "soon"}]}, "[[group]] #1 delivery: expected"),
        ({"groups": []}, "[groups]: unknown section"),
        # Settings that loaded and then misbehaved, or crashed later with a traceback:
        ({"shop": {"staff": []}}, "[shop] staff: is empty"),
        ({"group": [{"room": "a@chatroom", "community": "x", "delivery": "19:00-17:00"}]},
         '[[group]] #1 delivery: ends before it starts: "19:00-17:00"'),
        ({"group": [{"room": "a@chatroom", "community": "x", "delivery": "17:00-19:00"},
                    {"room": "b@chatroom", "community": "x", "delivery": "17:00-19:00"}]},
         '[[group]] community: "x" is the name of two groups'),
        ({"spreadsheet": {"path": "exports/orders.xlsx"}}, "[spreadsheet] path: must contain {date}"),
        ({"spreadsheet": {"debounce": float("inf")}}, "[spreadsheet] debounce: must be a number of seconds"),
        ({"outbox": {"min_interval": float("nan")}}, "[outbox] min_interval: must be a number of seconds"),
        # a database URL the bot cannot use: a traceback, and a lock file made of the URL
        ({"database": {"url": "mysql://root@localhost/shop"}}, '[database] url: expected "sqlite://PATH" or'),
        ({"database": {"url": "garbage"}}, '[database] url: expected "sqlite://PATH" or'),
        ({"database": {"url": "postgres://u:secret@db:x/shop"}}, "is not a number"),
        ({"database": {"url": "postgres://localhost"}}, 'expected "postgres://USER@HOST:PORT/DATABASE"'),
        # a group given by its name: the bot would never hear it
        ({"transport": {"kind": "wechaty", "token": "t"},
          "group": [{"room": "阳光花园业主群", "community": "x", "delivery": "17:00-19:00"}]},
         '[[group]] #1 room: "阳光花园业主群" is not a WeChat room id'),
    ],
)
def test_a_bad_config_names_the_key_and_the_reason(tmp_path: Path, change: dict, message: str) -> None:
    raw = raw_config()
    for section, values in change.items():
        raw[section] = {**raw[section], **values} if isinstance(values, dict) and section in raw else values
    with pytest.raises(ConfigError) as error:
        parse_config(raw, tmp_path)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_missing_config_file_or_catalog_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "c.toml").write_text('[catalog]\nfile = "missing.toml"\n[[group]]\nroom = "r"\n'
                                     'community = "c"\ndelivery = "09:00-10:00"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[catalog\] file: .*missing.toml not found"):
        load_config(tmp_path / "c.toml")
    (tmp_path / "bad.toml").write_text("[shop\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


def test_a_bad_catalog_names_the_product_and_key(tmp_path: Path) -> None:
    from models.catalog import load_catalog

    catalog = tmp_path / "catalog.toml"
    catalog.write_text('[[product]]\nsku = "A"\nname = "苹果"\nunit = "斤"\nprice = "cheap"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[\[product\]\] #1 price: expected a number"):
        load_catalog(catalog)
    catalog.write_text('[[product]]\nsku = "A"\nname = "苹果"\nunit = "斤"\nprice = 1\n'
                       '[[product]]\nsku = "A"\nname = "梨"\nunit = "斤"\nprice = 1\n', encoding="utf-8")
    with pytest.raises(ConfigError, match='#2 sku: "A" is used twice'):
        load_catalog(catalog)


@pytest.mark.parametrize(("products", "message"), [
    # a blank alias matched everywhere and every message was read as nothing
    ('sku = "A"\nname = "苹果"\nunit = "斤"\nprice = 1\naliases = [" "]', "#1 aliases: expected a list of non-blank"),
    ('sku = "A"\nname = "苹果"\nunit = "斤"\nprice = 1\n[[product]]\nsku = "B"\nname = "梨"\nunit = "斤"\n'
     'price = 1\naliases = ["苹果"]', '#2 aliases: "苹果" is already a name of A'),
    ('sku = "A"\nname = "苹果"\nunit = "斤"\nprice = 1\n[[product]]\nsku = "B"\nname = "蘋果"\nunit = "斤"\n'
     'price = 1', '#2 name: "蘋果" is already a name of A'),  # the same name once folded
    ('sku = "A"\nname = "苹果"\nunit = "斤"\nprice = 1e30', "#1 price: must be less than 100,000,000"),
    # nothing on sale: the offer read "今天有：。" and every order was unknown
    ('sku = "A"\nname = "苹果"\nunit = "斤"\nprice = 1\nactive = false', "active: every product is inactive"),
])
def test_a_catalog_that_would_misbehave_is_refused(tmp_path: Path, products: str, message: str) -> None:
    from models.catalog import load_catalog

    catalog = tmp_path / "catalog.toml"
    catalog.write_text("[[product]]\n" + products + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_catalog(catalog)
    assert message in str(error.value) and "\n" not in str(error.value)
    catalog.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="the catalog lists no product"):
        load_catalog(catalog)


def test_the_command_stops_with_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[schedule]\ncutoff = "8pm"\n', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "bot", "run", "--config", str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == 'groupbuy: config error: [schedule] cutoff: expected "HH:MM", got "8pm"'


@pytest.mark.parametrize(("url", "message"), [
    ("postgres://postgres@127.0.0.1:5999/test", "the server does not answer"),
    ("postgres://postgres:secret@127.0.0.1:5432/gb_no_such_database", 'database "gb_no_such_database" does not exist'),
    ("sqlite://{tmp}/a-file/db.sqlite3", "cannot open"),
])
async def test_a_database_that_cannot_be_opened_is_one_line_and_leaves_nothing(
        tmp_path: Path, url: str, message: str) -> None:
    from bot.app import Bot
    from bot.core.clock import VirtualClock
    from tests.conftest import MORNING

    (tmp_path / "a-file").write_text("not a folder")
    url = url.format(tmp=tmp_path)
    bot = Bot(parse_config(raw_config(url), tmp_path), VirtualClock(MORNING), _nowhere)
    with pytest.raises(ConfigError) as error:
        await bot.open()
    text = str(error.value)
    assert text.startswith("[database] url: cannot open") and message in text and "\n" not in text
    assert "secret" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # no lock file, no folder


async def _nowhere(message: object) -> None:
    raise AssertionError("nothing is sent")
