"""The local browser chat: its API and WebSocket, the token, and the page in headless Chromium."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.core.clock import VirtualClock
from bot.core.config import Config
from bot.web import CONFIG, create_app
from models.tables import Order
from tests.browser import browser_page, chromium, until
from tests.conftest import MORNING, ROOM_A, ROOM_B, make_config, start_harness


async def _client(config: Config) -> TestClient:
    app = create_app(config, VirtualClock(MORNING), run_scheduler=False)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client(tmp_path: Path, db_url: str) -> AsyncIterator[TestClient]:
    client = await _client(make_config(tmp_path, db_url))
    try:
        yield client
    finally:
        await client.close()


async def next_event(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        event = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
        if event["kind"] == kind:
            return event


async def test_health_and_setup(client: TestClient) -> None:
    assert (await (await client.get("/health")).json())["ok"] is True
    setup = await (await client.get("/api/setup")).json()
    assert [g["community"] for g in setup["groups"]] == ["阳光花园", "桂花苑"]
    assert any(p["staff"] for p in setup["people"]) and any(not p["staff"] for p in setup["people"])
    page = await client.get("/")
    assert page.status == 200 and "团购助手" in await page.text()


async def test_an_order_typed_on_the_page_is_confirmed_to_everyone(client: TestClient) -> None:
    async with client.ws_connect("/ws") as me, client.ws_connect("/ws") as neighbour:
        await me.send_str(json.dumps({"from": "u1", "name": "李阿姨", "room": ROOM_A, "text": "西红柿2斤"}))
        echoed = await next_event(neighbour, "member")
        assert echoed["text"] == "西红柿2斤" and echoed["name"] == "李阿姨"
        reply = await next_event(neighbour, "bot")
        assert reply["room"] == ROOM_A and reply["mentions"] == ["u1"] and "已记下" in reply["text"]
        assert "已记下" in (await next_event(me, "bot"))["text"]
    assert await Order.all().count() == 1
    history = (await (await client.get("/api/setup")).json())["history"]
    assert [e["kind"] for e in history] == ["member", "bot"]


async def test_junk_on_the_socket_gets_a_clear_answer(client: TestClient) -> None:
    async with client.ws_connect("/ws") as ws:
        for junk, answer in [("{oops", "不是有效的消息"), ("[1, 2]", "不是有效的消息"),
                             (json.dumps({"from": "", "text": "x"}), "请先选择您是谁"),
                             (json.dumps({"from": "u", "text": "  "}), "消息是空的"),
                             (json.dumps({"from": "u", "text": "x" * 6000}), "消息太长了"),
                             (json.dumps({"from": "u", "text": "x", "room": "nope"}), "没有这个群")]:
            await ws.send_str(junk)
            assert answer in (await next_event(ws, "error"))["text"]
    assert await Order.all().count() == 0


async def test_with_a_token_the_page_and_socket_ask_for_it(tmp_path: Path) -> None:
    config = make_config(tmp_path, f"sqlite://{tmp_path / 'db.sqlite3'}", web={"token": "s3cret", "host": "0.0.0.0"})
    client = await _client(config)
    try:
        assert (await client.get("/")).status == 401
        assert (await client.get("/api/setup")).status == 401
        assert (await client.get("/api/setup?token=wrong")).status == 401
        assert (await client.get("/?token=s3cret")).status == 200
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await client.ws_connect("/ws")
        async with client.ws_connect("/ws?token=s3cret") as ws:
            await ws.send_str(json.dumps({"from": "u1", "room": ROOM_A, "text": "西红柿1斤"}))
            assert "已记下" in (await next_event(ws, "bot"))["text"]
    finally:
        await client.close()


# -- other sites' pages (issue: any web page could drive the bot) ---------------------------


def _origin(client: TestClient) -> str:
    return f"http://{client.host}:{client.port}"


async def test_another_sites_page_cannot_use_the_socket(client: TestClient) -> None:
    """A page on evil.example opening ws://127.0.0.1:8080/ws (the browser says where it comes
    from in Origin) is refused before the bot hears a word; the bot's own page is not."""
    for origin in ("http://evil.example", "null", "http://127.0.0.1.evil.example", "file://"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/ws", headers={"Origin": origin})
        assert refused.value.status == 403, origin
    assert (await client.get("/api/setup", headers={"Origin": "http://evil.example"})).status == 403
    async with client.ws_connect("/ws", headers={"Origin": _origin(client)}) as ws:
        await ws.send_str(json.dumps({"from": "wxid_owner", "room": ROOM_A, "text": "西红柿1斤"}))
        assert "已记下" in (await next_event(ws, "bot"))["text"]
    assert await Order.all().count() == 1  # only the page's own order


async def test_a_page_under_another_name_gets_nothing(client: TestClient) -> None:
    """DNS rebinding: evil.example resolved to 127.0.0.1 reaches the bot with its own Host;
    without a token nothing but the public links and the health check answers it."""
    config = client.server.app[CONFIG]  # type: ignore[attr-defined]
    folder = config.resolve(config.spreadsheet.path).parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "orders-2026-12-02.xlsx").write_bytes(b"PK members' addresses")
    evil = {"Host": f"evil.example:{client.port}"}
    for path in ("/", "/api/setup", "/files/orders-2026-12-02.xlsx", "/ws"):
        response = await client.get(path, headers=evil)
        assert response.status == 403, path
        assert "addresses" not in await response.text()
    assert (await client.get("/health", headers=evil)).status == 200
    assert (await client.get("/r/ABC234", headers=evil)).status == 404  # a public link: unknown code
    for host in (f"localhost:{client.port}", f"127.0.0.1:{client.port}", f"[::1]:{client.port}"):
        assert (await client.get("/api/setup", headers={"Host": host})).status == 200, host
    assert (await client.get("/files/orders-2026-12-02.xlsx")).status == 200
    for junk in ("", "[::1", "evil.example:99999", "127.0.0.1@evil.example"):
        assert (await client.get("/api/setup", headers={"Host": junk})).status == 403, junk


async def test_the_public_address_and_a_token_open_other_hosts(tmp_path: Path) -> None:
    config = make_config(tmp_path, f"sqlite://{tmp_path / 'db.sqlite3'}",
                         web={"public_url": "https://shop.example"})
    client = await _client(config)
    try:
        assert (await client.get("/api/setup", headers={"Host": "shop.example"})).status == 200
        assert (await client.get("/api/setup", headers={"Host": "other.example"})).status == 403
        async with client.ws_connect("/ws", headers={"Origin": "https://shop.example"}):
            pass
    finally:
        await client.close()
    config = make_config(tmp_path, f"sqlite://{tmp_path / 'db2.sqlite3'}", web={"token": "s3cret", "host": "0.0.0.0"})
    client = await _client(config)
    try:  # served on the shop's network: any name, the token guards it
        lan = {"Host": "192.168.1.20:8080"}
        assert (await client.get("/api/setup?token=s3cret", headers=lan)).status == 200
        assert (await client.get("/api/setup", headers=lan)).status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError):  # still not from another site's page
            await client.ws_connect("/ws?token=s3cret", headers={**lan, "Origin": "http://evil.example"})
    finally:
        await client.close()


# -- the page in headless Chromium, driven over the DevTools protocol -----------------------

WAIT_FOR_TEXT = """new Promise((resolve, reject) => {
  const done = () => document.getElementById("log").innerText.includes(%s);
  if (done()) return resolve(true);
  const observer = new MutationObserver(() => { if (done()) { observer.disconnect(); resolve(true); } });
  observer.observe(document.getElementById("log"), {childList: true, subtree: true, characterData: true});
  setTimeout(() => reject(new Error("timed out: " + document.getElementById("log").innerText)), 15000);
})"""


async def test_the_page_in_headless_chromium_takes_an_order(tmp_path: Path) -> None:
    chromium()  # skips (fails under CI) before any work when there is no browser
    config = make_config(tmp_path, f"sqlite://{tmp_path / 'db.sqlite3'}")
    app = create_app(config, VirtualClock(MORNING), run_scheduler=False)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with browser_page(tmp_path / "chromium-profile") as tools:
            await tools.call("Page.enable")
            await tools.call("Page.navigate", url=f"http://127.0.0.1:{port}/")
            await tools.evaluate("""new Promise((resolve) => {
              const ready = () => document.querySelectorAll("#conversations li").length > 0
                && document.getElementById("status").textContent === "已连接";
              const poll = () => ready() ? resolve(true) : setTimeout(poll, 50);
              poll();
            })""")
            title = await tools.evaluate("document.getElementById('title').textContent")
            assert title.startswith("阳光花园群")
            await tools.evaluate("""(() => {
              document.getElementById("text").value = "西红柿2斤 3栋502";
              document.getElementById("send").click();
              return true;
            })()""")
            await tools.evaluate(WAIT_FOR_TEXT % json.dumps("✅ 已记下：西红柿 2斤"))
            log = await tools.evaluate("document.getElementById('log').innerText")
            assert "西红柿2斤 3栋502" in log and "合计 ¥9.00" in log
            shot = await tools.call("Page.captureScreenshot", format="png")
            (tmp_path / "page.png").write_bytes(base64.b64decode(shot["data"]))
            if os.environ.get("GROUPBUY_SCREENSHOT"):
                shutil.copy(tmp_path / "page.png", os.environ["GROUPBUY_SCREENSHOT"])
        assert await Order.all().count() == 1
    finally:
        await runner.cleanup()


async def test_a_file_name_that_is_no_file_is_404_not_a_fault(client: TestClient) -> None:
    """A NUL byte in the name answered 500 (the path could not be resolved)."""
    for name in ("%00.xlsx", "a%00b.xlsx", "x" * 300 + ".xlsx", "..%2f..%2fetc%2fpasswd", "%2e%2e.xlsx"):
        assert (await client.get(f"/files/{name}")).status == 404, name


async def test_a_long_conversation_scrolls_in_its_pane_at_375_and_1280_px(tmp_path: Path) -> None:
    """150 messages: the list scrolls inside its box, the page opens at the newest, the input
    stays in the window; at 375 px nothing scrolls sideways. The header follows /配送."""
    chromium()
    config = make_config(tmp_path, f"sqlite://{tmp_path / 'db.sqlite3'}")
    clock = VirtualClock(MORNING)
    app = create_app(config, clock, run_scheduler=False)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    layout = """(() => {
      const log = document.getElementById("log"), input = document.getElementById("text").getBoundingClientRect();
      return {input_top: input.top, input_bottom: input.bottom, window: innerHeight,
              page: document.documentElement.scrollHeight, sideways: document.documentElement.scrollWidth - innerWidth,
              log_scrolls: log.scrollHeight > log.clientHeight + 100,
              at_newest: log.scrollTop + log.clientHeight >= log.scrollHeight - 2,
              messages: log.querySelectorAll(".msg").length};
    })()"""
    ready = "document.getElementById('status').textContent === '已连接'"
    try:
        async with browser_page(tmp_path / "chromium-profile") as tools:
            await tools.call("Page.enable")
            await tools.call("Emulation.setDeviceMetricsOverride", width=375, height=667, deviceScaleFactor=1,
                             mobile=True)
            await tools.call("Page.navigate", url=url)
            await until(tools, ready, "the chat page")
            await tools.evaluate("""(() => {
              for (let n = 1; n <= 150; n++) {
                document.getElementById("text").value = "谢谢团长 第" + n + "次";
                document.getElementById("send").click();
              }
              return true;
            })()""")
            await until(tools, "document.querySelectorAll('#log .msg').length >= 150", "150 messages")
            for width, height in ((375, 667), (1280, 800)):
                await tools.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                                 deviceScaleFactor=1, mobile=width < 500)
                await tools.call("Page.navigate", url=url)  # opened again: the history, at its newest
                await until(tools, ready + " && document.querySelectorAll('#log .msg').length >= 150", "history")
                seen = await tools.evaluate(layout)
                assert 0 <= seen["input_top"] and seen["input_bottom"] <= seen["window"], (width, seen)
                assert seen["page"] <= seen["window"] and seen["log_scrolls"] and seen["at_newest"], (width, seen)
                assert seen["sideways"] <= 0, (width, seen)
                shot = await tools.call("Page.captureScreenshot", format="png")
                shots = Path(os.environ.get("GROUPBUY_SCREENSHOTS", tmp_path))
                shots.mkdir(parents=True, exist_ok=True)
                (shots / f"chat-{width}.png").write_bytes(base64.b64decode(shot["data"]))
            # Staff move a group's slot: the header says the new one.
            async with aiohttp.ClientSession() as session, session.ws_connect(url + "ws") as ws:
                await ws.send_json({"from": config.shop.staff[0], "name": "店员", "room": ROOM_A,
                                    "text": "/配送 阳光花园 17:00-19:00"})
                await until(tools, "document.getElementById('title').textContent.includes('17:00-19:00')",
                            "the header with the new slot", tick=lambda: clock.advance(1))
    finally:
        await runner.cleanup()


async def test_the_demo_opens_with_the_day_offer_posted_once(tmp_path: Path) -> None:
    from bot.run import open_demo_day

    config = make_config(tmp_path, f"sqlite://{tmp_path / 'db.sqlite3'}")
    h = await start_harness(config, MORNING)
    try:
        assert await open_demo_day(h.bot)
        await h.flush()
        assert not await open_demo_day(h.bot)  # started again the same day: not twice
        await h.flush()
        for room in (ROOM_A, ROOM_B):
            offers = [t for t in h.texts(room) if "西红柿" in t and "晚发" not in t]
            assert len(offers) == 1, h.texts(room)
    finally:
        await h.close()


def test_fresh_deletes_the_demo_data_and_nothing_of_a_shop(tmp_path: Path) -> None:
    from bot.core.config import demo_config
    from bot.run import forget_demo

    config = demo_config(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "groupbuy.sqlite3").write_bytes(b"x")
    (tmp_path / "data" / "groupbuy.sqlite3-wal").write_bytes(b"x")
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "orders-2026-12-02.xlsx").write_bytes(b"x")
    (tmp_path / "exports" / "notes.txt").write_text("mine")
    gone = forget_demo(config)
    assert sorted(gone) == ["data/groupbuy.sqlite3", "data/groupbuy.sqlite3-wal", "exports/orders-2026-12-02.xlsx"]
    assert (tmp_path / "exports" / "notes.txt").is_file()
    shop = tmp_path / "shop.toml"
    shop.write_text("")
    result = subprocess.run([sys.executable, "-m", "bot", "run", "--fresh", "--config", str(shop)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "never deletes a shop's database" in result.stderr
