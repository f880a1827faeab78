"""Headless Chromium for the page tests, driven over the DevTools protocol (no browser
library: aiohttp speaks its WebSocket)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import IN_CI

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--remote-debugging-port=0", "--window-size=1200,800"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if IN_CI:
            pytest.fail("chromium is required under CI=true (.ci/run installs it)")
        pytest.skip("chromium is not installed (.ci/run installs it)")
    return found


class DevTools:
    """Just enough of the Chrome DevTools protocol: call a method, get its result; the events
    that arrive meanwhile are kept in `events`."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = 0
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.ids += 1
        await self.ws.send_json({"id": self.ids, "method": method, "params": params})
        while True:
            message = json.loads((await asyncio.wait_for(self.ws.receive(), 30)).data)
            if "method" in message:
                self.events.append(message)
            elif message.get("id") == self.ids:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                                 returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")


async def _devtools_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    marker = profile / "DevToolsActivePort"
    for _ in range(300):  # Chromium writes this file once it listens; give it up to 30 s
        if marker.is_file() and marker.read_text().strip():
            return int(marker.read_text().split()[0])
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode}")
        await asyncio.sleep(0.1)
    raise RuntimeError("chromium did not open its DevTools port")




@asynccontextmanager
async def browser_page(profile: Path) -> AsyncIterator[DevTools]:
    """A headless Chromium with one page, closed after."""
    process = subprocess.Popen([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        debug_port = await _devtools_port(profile, process)
        async with aiohttp.ClientSession() as session:
            targets = await (await session.get(f"http://127.0.0.1:{debug_port}/json/list")).json()
            page = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                yield DevTools(ws)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


async def until(tools: DevTools, expression: str, what: str, tick: Callable[[], None] | None = None) -> None:
    """Ask the page until `expression` is true: a navigation in between ends a pending
    evaluation ("Inspected target navigated"), and the page asked may still be the one before,
    so each question is a short one, asked again (an error is a "not yet", told at the end).
    `tick` moves the bot's clock between questions (its paced sends wait for it)."""
    last = ""
    for _ in range(300):
        if tick is not None:
            tick()
        try:
            if await tools.evaluate(expression):
                return
        except RuntimeError as error:
            last = str(error)[:300]
        await asyncio.sleep(0.05)  # the browser is another process: give it a moment
    state = await tools.evaluate("location.href + ' ' + document.body.innerText.slice(0, 300)")
    raise AssertionError(f"timed out waiting for {what}: {state} {last}")


def loaded(path: str) -> str:
    return f"document.readyState === 'complete' && location.pathname === {json.dumps(path)}"
