"""`groupbuy` (also `python -m bot`): run, migrate, rooms, doctor, schedule, export,
import-status, parse, replay.

Bad input stops a command with one line on standard error naming what is wrong, and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from bot.core.config import Config, ConfigError, demo_config, load_config

if TYPE_CHECKING:
    from bot.app import Bot

log = logging.getLogger(__name__)


def _config(path: str | None) -> Config:
    return load_config(path) if path else demo_config(Path.cwd())


def cmd_parse(args: argparse.Namespace) -> int:
    from models.catalog import load_catalog
    from handlers.parsing import parse

    offer, _ = load_catalog(Path(args.catalog))
    out = sys.stdout
    # One answer per input line, always (the contract): a blank line, a line that is not
    # UTF-8 or not JSON, JSON nested too deep to read, a parser fault: each gets an error.
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        data: object = {}
        try:
            line = raw.decode("utf-8")
            if not line.strip():
                raise ValueError("blank line")
            data = json.loads(line)
            text = data.get("text", "") if isinstance(data, dict) else ""
            if not isinstance(text, str):
                raise ValueError("text is not a string")
            answer = parse(text, offer, explain=args.explain).to_json(explain=args.explain)
        except (ValueError, AttributeError, RecursionError) as error:
            reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)[:200]
            data, answer = {}, {"intent": "none", "error": f"line {number}: {reason}"}
        except Exception as error:  # a fault of the parser: said, and the next line read
            log.exception("parsing line %d failed", number)
            data, answer = {}, {"intent": "none", "error": f"line {number}: {type(error).__name__}"}
        if isinstance(data, dict) and "id" in data:
            answer = {"id": data["id"], **answer}
        try:
            written = json.dumps(answer, ensure_ascii=False)
        except (RecursionError, ValueError):  # an id nested too deeply to write back
            written = json.dumps({"intent": "none", "error": f"line {number}: id nested too deeply"})
        out.write(written + "\n")
    out.flush()
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from bot.replay import ReplayError, replay

    config = load_config(args.config)
    try:
        asyncio.run(replay(config, Path(args.events), Path(args.out), seed=args.seed))
    except ReplayError as error:
        print(f"groupbuy replay: {error}", file=sys.stderr)
        return 2
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from models.db import apply_migrations, close_database, open_database, tortoise_config

    config = _config(args.config)

    async def migrate() -> list[str]:
        await open_database(config.database_url, migrate=False)
        try:
            return await apply_migrations(tortoise_config(config.database_url))
        finally:
            await close_database()

    applied = asyncio.run(migrate())
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from bot.run import run

    if args.fresh and args.config:
        raise ConfigError("--fresh starts the demo over; it never deletes a shop's database (leave out --config)")
    config = _config(args.config)
    host = args.host or config.web.host
    port = config.web.port if args.port is None else args.port
    if host not in ("127.0.0.1", "localhost", "::1") and not config.web.token:
        raise ConfigError(f'--host: "{host}" is not loopback; set [web] token to let others in')
    if args.fresh:
        from bot.run import forget_demo

        print("the demo starts over: " + (", ".join(forget_demo(config)) or "nothing to delete"), flush=True)
    try:
        asyncio.run(run(config, host, port, demo=not args.config))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_rooms(args: argparse.Namespace) -> int:
    """The WeChat rooms the logged-in account is in: id, topic, members (to fill [[group]])."""
    from bot.core.clock import SystemClock
    from bot.transports.wechaty import list_rooms

    config = load_config(args.config)
    if config.transport.kind != "wechaty":
        print('groupbuy rooms: needs [transport] kind = "wechaty" in the config', file=sys.stderr)
        return 2
    try:
        rooms = asyncio.run(list_rooms(config, SystemClock(config.timezone), timeout=args.timeout))
    except TimeoutError:
        print(f"groupbuy rooms: nobody logged in to WeChat within {args.timeout:.0f} s", file=sys.stderr)
        return 1
    served = {g.room for g in config.groups}
    print(f"{'room id':<32} {'members':>7}  topic")
    for room in rooms:
        mark = "  (served)" if room.id in served else ""
        print(f"{room.id:<32} {room.members:>7}  {room.topic}{mark}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """The first thing to run when something is wrong: the config, the database, the WeChat
    gateway (reachable, logged in), and the rooms on one side only. Exit 1 if anything fails."""
    from bot.doctor import diagnose

    checks = asyncio.run(diagnose(args.config, args.timeout))
    for check in checks:
        print(f"{'✓' if check.ok else '✗'} {check.name}: {check.detail}")
    return 0 if all(check.ok for check in checks) else 1


def cmd_schedule(args: argparse.Namespace) -> int:
    """The next run of every job, in the shop's time, and the last recorded run."""
    from bot.core.clock import SystemClock
    from jobs.schedule import SWEEPS, daily_jobs, next_due
    from models.db import close_database, open_database
    from models.tables import JobRun

    config = _config(args.config)
    now = SystemClock(config.timezone).now()

    async def last_runs() -> dict[str, str]:
        await open_database(config.database_url)
        try:
            runs = await JobRun.all().order_by("due_at")
            return {r.job: r.due_at.astimezone(config.timezone).strftime("%Y-%m-%d %H:%M") for r in runs}
        finally:
            await close_database()

    last = asyncio.run(last_runs())
    print(f"{'job':<18} {'next run':<18} last run ({config.shop.timezone.key})")
    for spec in daily_jobs(config.schedule):
        due = next_due(spec, now, config.timezone)
        print(f"{spec.id:<18} {due:%Y-%m-%d %H:%M}   {last.get(spec.id, '-')}")
    for sweep in SWEEPS:
        print(f"{sweep.id:<18} every {sweep.every.total_seconds():.0f} s")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write the workbook of a delivery date (default: the one orders are taken for now)."""
    from datetime import date

    from bot.core.clock import SystemClock
    from models.days import window_at

    config = _config(args.config)
    if args.date:
        try:
            delivery = date.fromisoformat(args.date)
        except ValueError:
            print(f"groupbuy export: --date: expected YYYY-MM-DD, got {args.date!r}", file=sys.stderr)
            return 2
    else:
        delivery = window_at(SystemClock(config.timezone).now(), config.schedule, config.timezone).delivery_date

    async def export() -> object:
        bot = _offline_bot(config)
        await bot.open()
        try:
            return await bot.export(delivery)
        finally:
            await bot.close()

    path = asyncio.run(export())
    if path is None:
        print("groupbuy export: the workbook could not be written (open in another program, or its "
              "folder not writable: see the log above); fix that and try again", file=sys.stderr)
        return 1
    print(path)
    return 0


def cmd_import_status(args: argparse.Namespace) -> int:
    """Read 已送达 / 缺货 back from a workbook staff edited; members are told by the running bot."""
    from models.fulfilment import Imported, WorkbookError, import_statuses

    config = _config(args.config)

    async def run_import() -> Imported:
        bot = _offline_bot(config)
        await bot.open()
        try:
            result = await import_statuses(Path(args.file), bot.outbox, bot.clock.now(), bot.services.rewards,
                                           config.wallet)
            for delivery_date in result.delivery_dates:
                await bot.export(delivery_date)  # the workbook keeps the edits
            return result
        finally:
            await bot.close()

    try:
        result = asyncio.run(run_import())
    except WorkbookError as error:
        print(f"groupbuy import-status: {error}", file=sys.stderr)
        return 2
    print(f"delivered {result.delivered}, out of stock {result.out_of_stock}, "
          f"unchanged {result.unchanged}, not found {len(result.unknown)}")
    for row in result.unknown:
        print(f"  not found: {row}")
    return 0


def _offline_bot(config: Config) -> Bot:
    """The bot without a chat network: what it sends waits in the outbox for the running bot."""
    from bot.app import Bot
    from bot.core.clock import SystemClock

    async def nowhere(message: object) -> None:
        raise RuntimeError("an offline command does not send")

    return Bot(config, SystemClock(config.timezone), nowhere)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="groupbuy", description="A community group-buy assistant.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the bot (no --config: the demo on the local browser chat)")
    run.add_argument("--config", help="config TOML (default: the embedded demo)")
    run.add_argument("--host", help="address the web page listens on (default 127.0.0.1)")
    run.add_argument("--port", type=int, help="port of the web page (default 8080)")
    run.add_argument("--fresh", action="store_true", help="the demo only: delete its data and start it over")
    run.set_defaults(func=cmd_run)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--config", help="config TOML (default: the embedded demo)")
    migrate.set_defaults(func=cmd_migrate)

    rooms = commands.add_parser("rooms", help="list the WeChat rooms of the logged-in account")
    rooms.add_argument("--config", required=True, help="config TOML with [transport] kind = \"wechaty\"")
    rooms.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the login")
    rooms.set_defaults(func=cmd_rooms)

    doctor = commands.add_parser("doctor", help="check the config, the database and the WeChat gateway")
    doctor.add_argument("--config", required=True, help="config TOML")
    doctor.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for WeChat's login")
    doctor.set_defaults(func=cmd_doctor)

    schedule = commands.add_parser("schedule", help="print the next run of every job")
    schedule.add_argument("--config", help="config TOML (default: the embedded demo)")
    schedule.set_defaults(func=cmd_schedule)

    export = commands.add_parser("export", help="write the fulfilment workbook of a delivery date")
    export.add_argument("--config", help="config TOML (default: the embedded demo)")
    export.add_argument("--date", help="delivery date YYYY-MM-DD (default: the current one)")
    export.set_defaults(func=cmd_export)

    import_status = commands.add_parser("import-status", help="read 已送达/缺货 back from a workbook")
    import_status.add_argument("file", help="the workbook staff edited")
    import_status.add_argument("--config", help="config TOML (default: the embedded demo)")
    import_status.set_defaults(func=cmd_import_status)

    parse = commands.add_parser("parse", help="JSON Lines of messages in, their meaning out")
    parse.add_argument("--catalog", required=True, help="catalog TOML")
    parse.add_argument("--explain", action="store_true",
                       help="add to each answer the rule that decided it and which words were read as what")
    parse.set_defaults(func=cmd_parse)

    replay = commands.add_parser("replay", help="run the bot against a scripted conversation")
    replay.add_argument("--config", required=True, help="config TOML")
    replay.add_argument("events", help="events JSON Lines")
    replay.add_argument("--out", required=True, help="folder for transcript.jsonl and state.json")
    replay.add_argument("--seed", type=int, default=0, help="seed of the pacing jitter")
    replay.set_defaults(func=cmd_replay)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose or args.command == "run" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr,
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        code = args.func(args)
    except ConfigError as error:
        print(f"groupbuy: config error: {error}", file=sys.stderr)
        code = 2
    except BrokenPipeError:  # `groupbuy parse ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        code = 0
    sys.exit(code)
