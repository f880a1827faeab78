"""`groupbuy run`: the bot on the local browser chat, until interrupted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import replace
from datetime import datetime, time
from pathlib import Path

from aiohttp import web

from bot.core.clock import SystemClock
from bot.core.config import Config
from bot.app import Bot
from bot.web import BOT, DEMO_MEMBERS, create_app
from jobs.runner import run_job
from models.tables import Community, JobRun, Member

log = logging.getLogger(__name__)


def served(config: Config, host: str, port: int) -> Config:
    """The config as the bot really serves it: `--host`/`--port` given on the command line are
    the address its links name too (`[web] public_url`, when set, still wins)."""
    return replace(config, web=replace(config.web, host=host, port=port))


def forget_demo(config: Config) -> list[str]:
    """`groupbuy run --fresh`: the demo's database and workbooks deleted; what was."""
    database = Path(config.database_url.removeprefix("sqlite://"))
    exports = config.resolve(config.spreadsheet.path).parent
    gone = []
    for path in [database, *(database.with_name(database.name + end) for end in ("-wal", "-shm", "-journal", ".lock")),
                 *(sorted(exports.glob("*.xlsx")) if exports.is_dir() else [])]:
        if path.is_file():
            path.unlink()
            gone.append(str(path.relative_to(config.base_dir) if path.is_relative_to(config.base_dir) else path))
    return gone


async def open_demo_day(bot: Bot) -> bool:
    """The demo opens with its people known as members of its groups (so that the README's
    `/充值 阿明 200` works before 阿明 has said anything) and the day's offer posted (once a
    day), so that both groups have something to order from at once; a shop's own bot posts it
    at `daily_post` only. Whether the offer was posted now."""
    services = bot.services
    now = services.clock.now()
    homes = await Community.filter(active=True).order_by("id")
    for n, (member_id, name) in enumerate(DEMO_MEMBERS):
        await Member.get_or_create(id=member_id, defaults={
            "name": name, "first_seen": now, "last_seen": now, "home": homes[n % len(homes)] if homes else None})
    start = datetime.combine(now.astimezone(services.config.timezone).date(), time(0),
                             tzinfo=services.config.timezone)
    if await JobRun.filter(job="daily_post", due_at__gte=start).exists():
        return False
    return await run_job("daily_post", now, services)


async def run(config: Config, host: str, port: int, demo: bool = False) -> None:
    config = served(config, host, port)
    app = create_app(config, SystemClock(config.timezone))
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    if demo:
        await open_demo_day(app[BOT])
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
        log.info("%s is open: %s", config.shop.name, url + ("?token=…" if config.web.token else ""))
        if config.transport.kind == "wechaty":
            print(f"groupbuy-bot is connecting to WeChat (a QR code to scan appears in the log); "
                  f"referral links and status on {url} (Ctrl+C stops it)", flush=True)
        else:
            print(f"groupbuy-bot is running: open {url} in a browser (Ctrl+C stops it)", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
