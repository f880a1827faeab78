"""The staff dashboard (issue 19): signing in from chat, the pages' figures against the orders
of a scripted day on both databases, CSV, and who is refused."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import socket
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.core.clock import VirtualClock
from bot.core.config import Config
from bot.web import BOT, create_app
from models.signin import open_session
from jobs.runner import run_job
from models.campaigns import send_campaigns
from models.groupbuys import fail_expired
from models.tables import CampaignMember, GroupBuy, GroupBuyParticipant, Member, Order, OrderLine, SegmentDay, SignIn, WebSession
from tests.browser import DevTools, browser_page, chromium, loaded, until
from tests.conftest import MORNING, ROOM_A, ROOM_B, STAFF, make_config, start_harness

DAY2 = MORNING + timedelta(days=1)  # 2026-12-02 09:00
OPEN_AT = DAY2 + timedelta(hours=2)  # the dashboard is looked at at 11:00 on the second day


async def script(config: Config) -> None:
    """Two days of ordering in two groups, through the bot."""
    h = await start_harness(config, MORNING)
    try:
        await h.say("西红柿2斤", "wxid_m1", "李阿姨", room=ROOM_A)
        await h.say("土豆3斤 牛奶1箱", "wxid_m2", "小周", room=ROOM_A)
        await h.say("草莓2盒", "wxid_m3", "陈哥", room=ROOM_B)
        await h.say("/开团 草莓 2人 29.9元 1小时", STAFF, "店员", room=ROOM_B)  # no one joins: it fails
        await h.advance_to(MORNING + timedelta(hours=6))  # 15:00: after this time of day
        assert len(await fail_expired(h.clock.now())) == 1
        await h.say("牛奶1箱", "wxid_m6", "老王", room=ROOM_B)
        await h.advance_to(DAY2 + timedelta(minutes=30))
        await h.say("西红柿1斤", "wxid_m1", "李阿姨", room=ROOM_A)
        await h.say("五花肉2斤", "wxid_m4", "阿明", room=ROOM_B)
        await h.advance_to(DAY2 + timedelta(minutes=90))
        await h.say("牛奶2箱 西红柿3斤", "wxid_m2", "小周", room=ROOM_A)
        await h.say("土豆1斤", "wxid_m5", "小林", room=ROOM_A)
        await h.say("草莓1盒", "wxid_m5", "小林", room=ROOM_B)  # one household, two communities
        await h.say("土豆2斤", "wxid_m7", "小吴", room=ROOM_A)
        await h.say("取消订单", "wxid_m7", "小吴", room=ROOM_A)  # cancelled: counts for nothing
        await h.say("/开团 草莓 3人 29.9元 2小时", STAFF, "店员", room=ROOM_A)  # open at 11:00, one joined
        await h.say("参团", "wxid_m1", "李阿姨", room=ROOM_A)
        await h.say("/推送 新成员 无 欢迎来买菜，今天草莓特价", STAFF, "店员", room=None)
        await h.say("/确认推送 1", STAFF, "店员", room=None)
        await send_campaigns(h.clock.now(), config, h.bot.outbox)
        await h.flush()
    finally:
        await h.close()


@dataclass
class Expected:
    orders: int
    households: int
    revenue: Decimal


async def expected(delivery: date, made_by: datetime | None = None) -> dict[str, Expected]:
    """Per community (and "" for all), worked out from the orders one by one."""
    found: dict[str, list[Any]] = defaultdict(lambda: [0, set(), Decimal(0)])
    query = Order.filter(delivery_date=delivery, status__in=["placed", "delivered"])
    if made_by is not None:
        query = query.filter(created_at__lte=made_by)
    for order in await query.prefetch_related("lines", "community", "member"):
        lines = [line for line in order.lines if line.status != "out_of_stock"]
        if not lines:
            continue
        for key in (order.community.name, ""):
            found[key][0] += 1
            found[key][1].add(order.member.id)
            found[key][2] += sum((line.price * line.qty for line in lines), Decimal(0))
    return {k: Expected(n, len(members), revenue.quantize(Decimal("0.01"))) for k, (n, members, revenue) in found.items()}


def rows_of(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff"), "a CSV without BOM opens garbled in Excel"
    return list(csv.DictReader(io.StringIO(text[1:])))


async def _client(config: Config, at: datetime, port: int | None = None) -> TestClient:
    app = create_app(config, VirtualClock(at), run_scheduler=False)
    client = TestClient(TestServer(app, host="127.0.0.1", port=port), cookie_jar=aiohttp.CookieJar(unsafe=True))
    await client.start_server()
    return client


async def sign_in_link(client: TestClient, sender: str = STAFF, room: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Staff send /看板 on the chat page: the link that comes back privately, and every message seen."""
    seen: list[dict[str, Any]] = []
    clock = client.app[BOT].clock
    async with client.ws_connect("/ws") as ws:
        await ws.send_str(json.dumps({"from": sender, "name": "店员", "room": room, "text": "/看板"}))
        for _ in range(100):
            try:
                frame = await ws.receive(timeout=0.2)
            except TimeoutError:  # paced: the next send waits for the (virtual) clock
                clock.advance(5)
                continue
            event = json.loads(frame.data)
            seen.append(event)
            bot = [e for e in seen if e["kind"] == "bot"]
            if any("只有店员" in e["text"] for e in bot):
                break
            private = [e for e in bot if e["to"] == sender and "/dash/in/" in e["text"]]
            if private and (room is None or any(e["room"] == room for e in bot)):
                break
        else:
            raise AssertionError(f"no answer to /看板: {seen}")
    texts = [e["text"] for e in seen if e["kind"] == "bot" and e["to"] == sender]
    link = next((m for m in (re.search(r"https?://\S+/dash/in/(\S+)", t) for t in texts) if m), None)
    return (f"/dash/in/{link.group(1)}" if link else ""), seen


async def signed_in(client: TestClient) -> None:
    path, _ = await sign_in_link(client)
    assert (await client.get(path)).status == 200
    response = await client.post(path, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/dash/today"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/dash" in cookie and "Max-Age=43200" in cookie


@pytest.fixture
async def shop(tmp_path: Path, db_url: str) -> AsyncIterator[TestClient]:
    config = make_config(tmp_path, db_url)
    await script(config)
    client = await _client(config, OPEN_AT)
    try:
        yield client
    finally:
        await client.close()


async def test_today_shows_the_orders_by_community_and_product_against_yesterday(shop: TestClient) -> None:
    await signed_in(shop)
    page = await shop.get("/dash/today")
    assert page.status == 200
    html = await page.text()
    today, before = date(2026, 12, 3), date(2026, 12, 2)
    now = await expected(today)
    # Signing in may have moved the clock on (a paced reply waits for it, on a slow machine).
    at = shop.app[BOT].clock.now()
    so_far = await expected(before, at - timedelta(days=1))
    assert now[""].orders == 5 and now[""].households == 4 and so_far[""].orders == 3  # the script, as meant
    assert f"{now[''].orders}单" in html and f"¥{now[''].revenue:,}" in html and f"{now[''].households}户" in html
    left = int((OPEN_AT.replace(hour=20) - at).total_seconds() // 60)  # cut-off at 20:00
    assert left == 540 or at > OPEN_AT, at
    assert f"昨天此时 {so_far[''].orders}" in html and f"还有{left // 60}小时{left % 60}分" in html
    assert "12月2日接单 · 12月3日配送" in html and "昨天全天4单" in html
    communities = rows_of(await (await shop.get("/dash/today.csv?table=communities")).text())
    assert {r["小区"]: (int(r["订单"]), int(r["户数"]), Decimal(r["金额"]), int(r["昨天此时订单"])) for r in communities} == {
        name: (e.orders, e.households, e.revenue, so_far.get(name, Expected(0, 0, Decimal(0))).orders)
        for name, e in now.items() if name}
    products = rows_of(await (await shop.get("/dash/today.csv?table=products")).text())
    lines = await OrderLine.filter(order__delivery_date=today, order__status="placed").exclude(status="out_of_stock")
    for row in products:
        mine = [line for line in lines if line.name == row["商品"]]
        assert Decimal(row["数量"]) == sum((line.qty for line in mine), Decimal(0)), row
        assert Decimal(row["金额"]) == sum((line.price * line.qty for line in mine), Decimal(0)).quantize(Decimal("0.01"))
    assert {r["商品"] for r in products} >= {"西红柿", "土豆", "黑猪五花肉", "丹东草莓", "纯牛奶"}
    live = await shop.get("/dash/today?part=live")  # what the open page fetches again
    assert live.status == 200 and "<html" not in await live.text() and "按小区" in await live.text()


async def test_days_follow_the_orders_and_a_change_to_a_past_day(shop: TestClient) -> None:
    await signed_in(shop)
    rows = rows_of(await (await shop.get("/dash/days.csv?table=days")).text())
    assert len(rows) == 30 and rows[0]["配送日"] == "2026-12-03" and rows[-1]["配送日"] == "2026-11-04"
    figures = {r["配送日"]: (int(r["订单"]), int(r["户数"]), Decimal(r["金额"])) for r in rows}
    for day in (date(2026, 12, 2), date(2026, 12, 3)):
        e = (await expected(day))[""]
        assert figures[day.isoformat()] == (e.orders, e.households, e.revenue)
    assert all(v == (0, 0, Decimal(0)) for k, v in figures.items() if k < "2026-12-02")
    chart = rows_of(await (await shop.get("/dash/days.csv?n=90&table=revenue")).text())
    assert len(chart) == 90 and chart[-1] == {"配送日": "12/3", "每天金额（元，按配送日，近90天）": str((await expected(date(2026, 12, 3)))[""].revenue)}
    html = await (await shop.get("/dash/days?n=90")).text()
    assert "近90天订单" in html and "<svg" in html and "每天下单户数" in html
    # A line of yesterday's found out of stock (the workbook's 缺货): the kept figure follows.
    line = await OrderLine.filter(order__delivery_date=date(2026, 12, 2), name="纯牛奶").first()
    assert line is not None
    now = shop.app[BOT].clock.now()
    await OrderLine.filter(id=line.id).update(status="out_of_stock", updated_at=now)
    await Order.filter(id=line.order_id).update(updated_at=now)  # type: ignore[attr-defined]
    rows = rows_of(await (await shop.get("/dash/days.csv?table=days")).text())
    after = {r["配送日"]: (int(r["订单"]), int(r["户数"]), Decimal(r["金额"])) for r in rows}
    e = (await expected(date(2026, 12, 2)))[""]
    assert after["2026-12-02"] == (e.orders, e.households, e.revenue) != figures["2026-12-02"]


async def test_members_groupbuys_and_campaigns_pages(shop: TestClient) -> None:
    await signed_in(shop)
    await Member.filter(id="wxid_m1").update(points=120)
    html = await (await shop.get("/dash/members")).text()
    members = await Member.exclude(id=STAFF).count()
    assert f"{members:,}人" in html and "120分" in html and "1人持有" in html
    segments = rows_of(await (await shop.get("/dash/members.csv?table=segments")).text())
    assert sum(int(r["现在"]) for r in segments) == members
    assert {r["分层"]: r["现在"] for r in segments}["新成员"] == "1"  # 小吴 cancelled: no order yet and all(r["7天前"] == "" for r in segments)
    # Group-buys: the open one with its places left, the failed one's funnel.
    open_one = await GroupBuy.get(state="open")
    joined = await GroupBuyParticipant.filter(groupbuy_id=open_one.id).count()
    current = rows_of(await (await shop.get("/dash/groupbuys.csv?table=open")).text())
    assert [(r["拼团"], r["群"], r["成团人数"], r["已参团"], r["还差"]) for r in current] == [
        (f"#{open_one.id} 丹东草莓", "阳光花园", "3", str(joined), str(3 - joined))] and joined == 1
    funnels = rows_of(await (await shop.get("/dash/groupbuys.csv?table=funnels")).text())
    in_b = await Member.filter(home__name="桂花苑").exclude(id=STAFF).count()
    assert [(r["拼团"], r["结果"], r["触达"], r["参团"], r["订单"]) for r in funnels] == [
        ("#1 丹东草莓", "未成团", str(in_b), "0", "0")]
    # Campaigns: what was sent and held back, as the campaign's rows say.
    campaign = rows_of(await (await shop.get("/dash/campaigns.csv?table=campaigns")).text())
    targets = await CampaignMember.filter(campaign_id=1, role="target", sent_at__isnull=False).count()
    control = await CampaignMember.filter(campaign_id=1, role="control").count()
    assert [(r["活动"], r["分层"], r["发送"], r["对照组"]) for r in campaign] == [
        ("#1", "新成员", str(targets), str(control))] and targets >= 1
    returns = rows_of(await (await shop.get("/dash/campaigns.csv?table=returns")).text())
    assert [r["窗口"] for r in returns] == ["7天（未满）", "30天（未满）", "90天（未满）"]
    assert (await shop.get("/dash/nothing")).status == 404
    assert (await shop.get("/dash/today.csv?table=nothing")).status == 404


async def test_the_workbook_downloads(shop: TestClient) -> None:
    await signed_in(shop)
    response = await shop.get("/dash/workbook")
    assert response.status == 200 and (await response.read())[:2] == b"PK"
    assert "orders-2026-12-03.xlsx" in response.headers["Content-Disposition"]


async def test_who_is_refused(tmp_path: Path, db_url: str) -> None:
    config = make_config(tmp_path, db_url)
    client = await _client(config, OPEN_AT)
    clock = client.app[BOT].clock
    try:
        for path in ("/dash/today", "/dash/days.csv?table=days", "/dash/workbook", "/dash/"):
            assert (await client.get(path)).status == 401, path  # no session
        # A member asking for the link gets the staff refusal, and no link exists.
        path, seen = await sign_in_link(client, sender="wxid_m1")
        assert path == "" and any("只有店员" in e["text"] for e in seen) and await SignIn.all().count() == 0
        # In a group the link goes privately; the group hears only that it was sent.
        path, seen = await sign_in_link(client, room=ROOM_A)
        assert path and not any("/dash/in/" in e["text"] for e in seen if e.get("room"))
        assert any(e.get("room") == ROOM_A and "私聊" in e["text"] for e in seen if e["kind"] == "bot")
        # Used once, it is used up.
        assert (await client.post(path, allow_redirects=False)).status == 303
        assert (await client.get("/dash/today")).status == 200
        client.session.cookie_jar.clear()
        assert (await client.get(path)).status == 410 and (await client.post(path)).status == 410
        assert (await client.get("/dash/today")).status == 401
        # Expired: a link not opened in time.
        path, _ = await sign_in_link(client)
        clock.advance(config.web.sign_in_minutes * 60 + 1)
        assert (await client.get(path)).status == 410 and (await client.post(path)).status == 410
        assert (await client.post("/dash/in/made-up-token")).status == 410
        # A session ends after session_hours; one of someone not (or no longer) staff is refused.
        path, _ = await sign_in_link(client)
        assert (await client.post(path, allow_redirects=False)).status == 303
        clock.advance(config.web.session_hours * 3600 + 1)
        assert (await client.get("/dash/today")).status == 401
        session = await open_session("wxid_m1", clock.now(), 1)
        client.session.cookie_jar.clear()
        client.session.cookie_jar.update_cookies({"groupbuy_dash": session})
        response = await client.get("/dash/today")
        assert response.status == 403 and "店员" in await response.text()
        assert (await client.get("/dash/members.csv?table=segments")).status == 403
        client.session.cookie_jar.clear()
        # Signing out ends the session in the database too.
        path, _ = await sign_in_link(client)
        await client.post(path)
        assert await WebSession.filter(staff=STAFF).count() == 1
        await client.post("/dash/out")
        assert await WebSession.filter(staff=STAFF).count() == 0
        assert (await client.get("/dash/today")).status == 401
        # Without [web] token, ?token= is no way in.
        assert (await client.get("/dash/?token=")).status == 401
    finally:
        await client.close()


async def test_the_web_token_is_the_other_way_in(tmp_path: Path, db_url: str) -> None:
    config = make_config(tmp_path, db_url, web={"token": "s3cret"})
    client = await _client(config, OPEN_AT)
    try:
        assert (await client.get("/dash/?token=wrong")).status == 401
        response = await client.get("/dash/?token=s3cret", allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/dash/today"
        assert (await client.get("/dash/today")).status == 200
    finally:
        await client.close()


async def test_pages_say_what_they_are_and_load_nothing_from_elsewhere(shop: TestClient) -> None:
    await signed_in(shop)
    for page in ("today", "days", "groupbuys", "members", "campaigns"):
        response = await shop.get(f"/dash/{page}")
        html = await response.text()
        assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert not re.search(r"(src|href)=['\"]?(https?:)?//", html), page  # no CDN, no other site
        assert "width=device-width" in html and "<html lang=zh-CN>" in html
    assert (await shop.get("/dash/static/dash.css")).status == 200
    assert (await shop.get("/dash/static/../__init__.py")).status == 404


# -- in headless Chromium, at a phone's width and a desktop's ---------------------------------

PAGES = ("today", "days", "groupbuys", "members", "campaigns")
WIDTHS = (375, 1280)


async def _load(tools: DevTools, url: str, path: str) -> None:
    await tools.call("Page.navigate", url=url)
    await until(tools, loaded(path), url)


def _errors(tools: DevTools) -> list[str]:
    found = []
    for event in tools.events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            found.append(str(params.get("exceptionDetails", {}).get("text")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append(str(params.get("args")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            found.append(str(params["entry"].get("text")) + " " + str(params["entry"].get("url")))
    return found


async def test_the_pages_in_chromium_at_375_and_1280_px(tmp_path: Path) -> None:
    chromium()  # skips (fails under CI) before any work when there is no browser
    with socket.socket() as probe:  # the port the links name is the one the page is served on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = make_config(tmp_path, f"sqlite://{tmp_path / 'db.sqlite3'}", web={"port": port})
    await script(config)
    client = await _client(config, OPEN_AT, port)
    clock = client.app[BOT].clock
    shots = Path(os.environ.get("GROUPBUY_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    try:
        async with browser_page(tmp_path / "chromium-profile") as tools:
            for domain in ("Page", "Runtime", "Log"):
                await tools.call(f"{domain}.enable")
            # The demo's chat page: its 看板 button sends /看板 as staff; the link comes back.
            await _load(tools, str(client.make_url("/")), "/")
            await until(tools, "document.getElementById('status').textContent === '已连接'", "the chat page")
            await tools.evaluate("document.getElementById('dash').click(), true")
            await until(tools, "!!document.querySelector('#log a[href*=\"/dash/in/\"]')", "the link",
                         tick=lambda: clock.advance(1))
            href = await tools.evaluate("document.querySelector('#log a[href*=\"/dash/in/\"]').href")
            assert href.startswith(f"http://127.0.0.1:{port}/dash/in/")
            path = href.removeprefix(f"http://127.0.0.1:{port}")
            # Signing in through it: its page, its button, the session.
            await _load(tools, href, path)
            assert "进入看板" in await tools.evaluate("document.body.innerText")
            await tools.evaluate("setTimeout(() => document.querySelector('form button').click(), 0), true")
            await until(tools, loaded("/dash/today"), "the dashboard after signing in")
            for width in WIDTHS:
                await tools.call("Emulation.setDeviceMetricsOverride", width=width, height=800,
                                 deviceScaleFactor=1, mobile=width < 500)
                for page in PAGES:
                    await _load(tools, str(client.make_url(f"/dash/{page}")), f"/dash/{page}")
                    text = await tools.evaluate("document.body.innerText")
                    assert "请先登录" not in text and "退出" in text, (page, text[:200])
                    overflow = await tools.evaluate(
                        "document.documentElement.scrollWidth - document.documentElement.clientWidth")
                    if width == 375:
                        assert overflow <= 0, f"{page} scrolls sideways by {overflow} px at 375 px"
                    shot = await tools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
                    (shots / f"{page}-{width}.png").write_bytes(base64.b64decode(shot["data"]))
            await _load(tools, str(client.make_url("/dash/days?n=90")), "/dash/days")
            assert await tools.evaluate("document.querySelectorAll('svg[role=img] rect').length") == 3 * 90
            labels = await tools.evaluate("[...document.querySelectorAll('svg[aria-label]')].map(s => s.getAttribute('aria-label'))")
            assert len(labels) == 3 and all(label.startswith("每天") and "近90天" in label for label in labels)
            # The link, once used, opens nothing more.
            await _load(tools, str(client.make_url(path)), path)
            assert "链接已失效" in await tools.evaluate("document.body.innerText")
            errors = [e for e in _errors(tools) if "/dash/in/" not in e]  # the used link's 410, as meant
            assert errors == []
        assert all((shots / f"{page}-{width}.png").stat().st_size > 10_000 for page in PAGES for width in WIDTHS)
    finally:
        await client.close()


async def test_the_members_page_shows_how_segments_moved_since_the_nightly_counts(tmp_path: Path, db_url: str) -> None:
    config = make_config(tmp_path, db_url)
    h = await start_harness(config, MORNING)
    try:
        await h.say("西红柿2斤", "wxid_m1", "李阿姨", room=ROOM_A)
        await h.say("在吗", "wxid_m2", "小周", room=ROOM_A)  # a member who has not ordered: 新成员
        night = MORNING.replace(hour=23, minute=30)
        await h.advance_to(night)
        assert await run_job("member_facts", night, h.bot.services)
        assert await run_job("member_facts", night, h.bot.services) is False  # once a night
        kept = dict(await SegmentDay.filter(community="").values_list("segment", "members"))
        assert kept == {"活跃": 1, "新成员": 1}
        await h.advance_to(MORNING + timedelta(days=7, hours=1))
        await h.say("土豆1斤", "wxid_m2", "小周", room=ROOM_A)  # the new member orders: now 活跃
        await h.flush()
    finally:
        await h.close()
    client = await _client(config, MORNING + timedelta(days=7, hours=2))
    try:
        await signed_in(client)
        rows = {r["分层"]: r for r in rows_of(await (await client.get("/dash/members.csv?table=segments")).text())}
        assert (rows["活跃"]["现在"], rows["活跃"]["7天前"], rows["活跃"]["7天变化"]) == ("2", "1", "1")
        assert (rows["新成员"]["现在"], rows["新成员"]["7天前"], rows["新成员"]["7天变化"]) == ("0", "1", "-1")
        assert rows["活跃"]["30天前"] == ""  # no count kept that long ago
    finally:
        await client.close()
