"""`groupbuy run`: the bot on the local browser chat, until interrupted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import replace

from aiohttp import web

from bot.core.clock import SystemClock
from bot.core.config import Config
from bot.web import create_app

log = logging.getLogger(__name__)


def served(config: Config, host: str, port: int) -> Config:
    """The config as the bot really serves it: `--host`/`--port` given on the command line are
    the address its links name too (`[web] public_url`, when set, still wins)."""
    return replace(config, web=replace(config.web, host=host, port=port))


async def run(config: Config, host: str, port: int) -> None:
    config = served(config, host, port)
    app = create_app(config, SystemClock(config.timezone))
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
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
