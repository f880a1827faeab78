"""`groupbuy run`: the bot on the local browser chat, until interrupted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from bot.core.clock import SystemClock
from bot.core.config import Config
from bot.web import create_app

log = logging.getLogger(__name__)


async def run(config: Config, host: str, port: int) -> None:
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
