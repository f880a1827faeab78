"""The wechaty transport through the real protocol stack: python-wechaty speaking gRPC to a
Wechaty puppet service (Node, tests/wechaty_service, installed by .ci/run from the npm
registry) with a mock puppet behind it. The service runs in its own process, started per test
module on free ports and driven through its loopback control port; the outage tests kill it
and start it again. Waits here are for another process to act, with a deadline, never a
sleep standing in for time: the shop's time is the virtual clock."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import Bot
from bot.core.clock import VirtualClock
from bot.simulation import Simulation
from bot.transports.wechaty import WechatyTransport
from models.tables import InboundMessage, Member, OrderLine
from tests.conftest import IN_CI, MORNING, ROOM_A, ROOM_B, STAFF, make_config

SERVICE = Path(__file__).resolve().parent / "wechaty_service"
TOKEN = "insecure_groupbuy"
BOT_ID = "wxid_shop"
DEADLINE = 20.0  # seconds another process gets to act


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """The Node puppet service process, and its control port."""

    def __init__(self) -> None:
        self.grpc = _free_port()
        self.control = _free_port()
        self.process: subprocess.Popen[str] | None = None
        # Every send any start of the service accepted (it is written before the bot hears it
        # was sent): what reached "WeChat" across a kill, which `sent` cannot tell.
        handle, name = tempfile.mkstemp(prefix="wechaty-sent-", suffix=".jsonl")
        os.close(handle)
        self.sent_log = Path(name)

    def start(self) -> None:
        self.log = tempfile.TemporaryFile()  # the service's own log, shown when it fails to start
        self.process = subprocess.Popen(["node", "server.mjs", str(self.grpc), str(self.control), str(self.sent_log)],
                                        cwd=SERVICE,
                                        stdout=subprocess.PIPE, stderr=self.log, text=True,
                                        start_new_session=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "ready", or nothing when it died
        if line.strip() != "ready":
            self.log.seek(0)
            log = self.log.read().decode(errors="replace")
            self.stop()
            raise RuntimeError(f"the puppet service did not start: {log[-2000:]}")

    def stop(self) -> None:
        """Kill it (as a crash would: no goodbye to the bot)."""
        if self.process is not None:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.log.close()
        self.process = None

    def call(self, action: str, **body: Any) -> Any:
        request = urllib.request.Request(f"http://127.0.0.1:{self.control}/{action}", method="POST",
                                         data=json.dumps(body).encode(), headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise AssertionError(f"the service refused {action}: {error.read().decode(errors='replace')}") from None

    def sent(self) -> list[dict[str, Any]]:
        """What this start of the service was sent."""
        return list(self.call("sent")["sent"])

    def sent_ever(self) -> list[dict[str, Any]]:
        """What every start of the service was sent, in order."""
        return [json.loads(line) for line in self.sent_log.read_text(encoding="utf-8").splitlines()]

    def seed(self) -> None:
        """The shop account, its friends and groups, logged in."""
        for contact, name, friend in ((BOT_ID, "团购助手", True), ("u1", "李阿姨", True), ("u2", "小周", True),
                                      ("u3", "陈哥", False), (STAFF, "店长", True), ("u7", "新邻居", True)):
            self.call("contact", id=contact, name=name, friend=friend)
        self.call("room", id=ROOM_A, topic="阳光花园团购群", members=[BOT_ID, "u1", "u2", "u3", STAFF])
        self.call("room", id=ROOM_B, topic="桂花苑团购群", members=[BOT_ID, STAFF])
        self.call("login", id=BOT_ID, name="团购助手")


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    if shutil.which("node") is None or not (SERVICE / "node_modules").is_dir():
        if IN_CI:
            pytest.fail("Node and tests/wechaty_service/node_modules are required under CI=true (.ci/run installs them)")
        pytest.skip("no Node puppet service here (run .ci/run, or npm ci in tests/wechaty_service)")
    found = Service()
    found.start()
    try:
        yield found
    finally:
        found.stop()
        found.sent_log.unlink(missing_ok=True)


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = DEADLINE) -> None:
    """Wait for the other process (the service, or the bot reading its stream) to get there."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        await asyncio.sleep(0.05)


@dataclass
class Shop:
    service: Service
    transport: WechatyTransport
    bot: Bot
    clock: VirtualClock
    simulation: Simulation
    said: int = 0

    async def say(self, sender: str, text: str, room: str | None = ROOM_A, kind: str = "Text",
                  mentions: tuple[str, ...] = (), handled: bool = True) -> str:
        """A member says it; returns once the bot has handled it (`handled` False: once the bot
        has read past it, for what it ignores)."""
        self.said += 1
        message_id = f"msg-{os.getpid()}-{self.said}-{random.random():.6f}"
        self.service.call("message", id=message_id, **({"room": room} if room else {"to": BOT_ID}), text=text,
                          type=kind, mentions=list(mentions), timestamp=int(self.clock.now().timestamp() * 1000),
                          **{"from": sender})
        if handled:
            await eventually(lambda: InboundMessage.exists(message_id=message_id), f"the bot handles {text!r}")
        else:  # the stream is read in order: once a later message is handled, this one was read
            await self.say("u1", "谢谢")
        return message_id

    async def sent_to(self, conversation: str, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        """What the bot sent to `conversation` that passes `check` (its outbox drained first)."""
        found: list[dict[str, Any]] = []

        async def arrived() -> bool:
            await self.simulation.drain()
            found[:] = [s for s in self.service.sent() if s["conversation"] == conversation and check(s)]
            return bool(found)

        await eventually(arrived, what)
        return found[-1]


@pytest.fixture
async def shop(service: Service, tmp_path: Path, db_url: str) -> AsyncIterator[Shop]:
    service.stop()
    service.start()  # a fresh service per test: its contacts, rooms and sends start empty
    service.seed()
    config = make_config(tmp_path, db_url, transport={"kind": "wechaty", "token": TOKEN,
                                                      "endpoint": f"127.0.0.1:{service.grpc}"})
    clock = VirtualClock(MORNING)

    async def no_wait(seconds: float) -> None:
        await asyncio.sleep(0.05)  # real time for the real process; the shop's clock stands

    transport = WechatyTransport(config, clock, sleep=no_wait)
    bot = Bot(config, clock, transport.send, rng=random.Random(1), reachable=transport.reachable)
    await bot.open()
    transport.attach(bot)
    await transport.start()
    await asyncio.wait_for(transport.logged_in.wait(), DEADLINE)
    shop = Shop(service, transport, bot, clock, Simulation(bot, clock, ()))
    try:
        yield shop
        assert not transport.errors
    finally:
        await transport.stop()
        await bot.close()


async def test_login_then_a_room_order_is_confirmed_there_with_its_mention(shop: Shop) -> None:
    await shop.sent_to(STAFF, lambda s: "微信已登录" in s.get("text", ""), "staff hear the account is in")
    await shop.say("u1", "@团购助手 草莓2盒", mentions=(BOT_ID,))
    line = await OrderLine.get()
    assert (line.sku, line.qty) == ("F01", 2)
    reply = await shop.sent_to(ROOM_A, lambda s: "丹东草莓 2盒" in s.get("text", ""), "the confirmation")
    assert reply["text"].startswith("@李阿姨") and reply["mentions"] == ["u1"]
    assert (await Member.get(id="u1")).name == "李阿姨"


async def test_a_private_staff_command_and_the_workbook_as_a_file(shop: Shop) -> None:
    await shop.say("u1", "草莓1盒")
    await shop.say(STAFF, "/导出", room=None)
    sent = await shop.sent_to(STAFF, lambda s: "file" in s, "the workbook file")
    assert sent["file"] == "orders-2026-12-02.xlsx"


async def test_a_recall_undoes_the_order(shop: Shop) -> None:
    order = await shop.say("u1", "草莓2盒")
    assert await OrderLine.filter(sku="F01").count() == 1
    shop.service.call("message", id="recall-1", room=ROOM_A, text=order, type="Recalled",
                      timestamp=int(shop.clock.now().timestamp() * 1000), **{"from": "u1"})
    await eventually(lambda: _none(OrderLine.filter(sku="F01").count()), "the recall undoes the order")
    await shop.sent_to(ROOM_A, lambda s: "撤回" in s.get("text", ""), "the room hears it was undone")


async def _none(count: Awaitable[int]) -> bool:
    return await count == 0


async def test_a_join_with_an_inviter_attributes_the_new_member(shop: Shop) -> None:
    await shop.say("u1", "西红柿1斤")
    shop.service.call("join", room=ROOM_A, invitees=["u7"], inviter="u1")

    async def attributed() -> bool:
        member = await Member.get_or_none(id="u7")
        return member is not None and member.referrer_id == "u1"  # type: ignore[attr-defined]

    await eventually(attributed, "u7 is u1's invitee")
    assert (await Member.get(id="u7")).name == "新邻居"


async def test_wechats_own_chain_is_read_as_an_app_message(shop: Shop) -> None:
    from tests.test_wechaty import CHAIN_XML

    await shop.say("u3", CHAIN_XML, kind="Attachment")
    lines = {(l.order.member_id, l.sku): l.qty  # type: ignore[attr-defined]
             for l in await OrderLine.all().select_related("order")}
    assert lines == {("u1", "F01"): 2, ("u2", "V01"): 3, ("u3", "V02"): 1}


async def test_a_member_who_is_not_a_friend_hears_in_the_group_how_to_become_one(shop: Shop) -> None:
    await shop.say("u3", "西红柿1斤")  # u3 is in the group, not the account's friend
    await shop.say("u3", "积分")
    reply = await shop.sent_to(ROOM_A, lambda s: "好友" in s.get("text", ""), "the way to the private answer")
    assert "积分" not in reply["text"].split("好友")[0][-20:] or "可用" not in reply["text"]
    assert not [s for s in shop.service.sent() if s["conversation"] == "u3"]  # nothing private: it waits


async def test_images_other_groups_and_the_accounts_own_messages_are_ignored(shop: Shop) -> None:
    image = await shop.say("u1", "<img/>", kind="Image", handled=False)
    own = await shop.say(BOT_ID, "草莓2盒", handled=False)
    shop.service.call("room", id="99999@chatroom", topic="别的群", members=[BOT_ID, "u2"])
    elsewhere = await shop.say("u2", "草莓2盒", room="99999@chatroom", handled=False)
    assert await OrderLine.all().count() == 0
    assert not await InboundMessage.filter(message_id__in=[image, own, elsewhere]).exists()


# -- a bot that outlives its gateway ------------------------------------------------------------


def notes(shop: Shop) -> list[str]:
    return [s["text"] for s in shop.service.sent() if s["conversation"] == STAFF and "text" in s]


async def test_a_gateway_absent_at_start_is_waited_for_and_the_bot_keeps_running(
        service: Service, tmp_path: Path, db_url: str) -> None:
    service.stop()
    config = make_config(tmp_path, db_url, transport={"kind": "wechaty", "token": TOKEN,
                                                      "endpoint": f"127.0.0.1:{service.grpc}"})
    clock = VirtualClock(MORNING)
    tries: list[float] = []

    async def pause(seconds: float) -> None:
        tries.append(seconds)
        await asyncio.sleep(0.05)

    transport = WechatyTransport(config, clock, sleep=pause)
    bot = Bot(config, clock, transport.send, rng=random.Random(1), reachable=transport.reachable)
    await bot.open()
    transport.attach(bot)
    await transport.start()
    try:
        await eventually(lambda: _true(len(tries) >= 3), "three tries at an absent gateway")
        assert tries[:3] == [15.0, 60.0, 300.0]  # growing pauses (the shop's clock is not slept on)
        assert transport.lost_since is not None and not transport.logged_in.is_set()
        service.start()
        service.seed()
        await asyncio.wait_for(transport.logged_in.wait(), DEADLINE)
        shop = Shop(service, transport, bot, clock, Simulation(bot, clock, ()))
        await shop.sent_to(STAFF, lambda s: "微信已登录" in s.get("text", ""), "staff hear it is in")
        assert [n for n in notes(shop) if "微信" in n] == [
            "⚠️ 连不上微信网关（09:00），正在自动重试；请检查网关是否在运行。", "✅ 微信已登录，开始接单。"]
        await shop.say("u1", "草莓1盒")
        assert await OrderLine.filter(sku="F01").count() == 1
    finally:
        await transport.stop()
        await bot.close()


async def _true(value: bool) -> bool:
    return value


async def outage(shop: Shop, down_for: timedelta) -> None:
    """Kill the gateway, let the bot find out and keep trying for `down_for` of the shop's
    time, then bring a fresh gateway up (it knows the same account, contacts and rooms)."""
    from bot.health import report
    from bot.leader import Leadership
    from bot.leading import Leader

    leader = Leader(shop.bot, Leadership(shop.bot.config.database_url), run_scheduler=False)
    shop.service.stop()
    await eventually(lambda: _true(shop.transport.lost_since is not None), "the bot sees the gateway gone")
    await shop.simulation.drain()  # replies due now find no connection: they wait
    ok, checks = await report(shop.bot, leader, shop.transport)
    assert not ok and not checks["wechat"]["ok"] and checks["wechat"]["connected_since"] is None
    assert checks["wechat"]["lost_since"] == shop.transport.lost_since.isoformat(timespec="seconds")  # type: ignore[union-attr]
    assert checks["database"]["ok"] and checks["writer"]["ok"]  # the rest of the bot works on
    shop.clock.advance(down_for.total_seconds())
    await shop.simulation.drain()
    shop.service.start()
    shop.service.seed()
    await eventually(lambda: _true(shop.transport.logged_in.is_set()), "the bot logs in again")
    ok, checks = await report(shop.bot, leader, shop.transport)
    assert checks["wechat"]["ok"] and checks["wechat"]["lost_since"] is None and checks["wechat"]["connected_since"]


@pytest.mark.parametrize("down_for", [timedelta(seconds=30), timedelta(hours=1)])
async def test_a_gateway_that_goes_away_mid_session_loses_nothing_and_doubles_nothing(
        shop: Shop, down_for: timedelta) -> None:
    await shop.sent_to(STAFF, lambda s: "微信已登录" in s.get("text", ""), "the login note")
    first = await shop.say("u1", "草莓1盒")  # handled; its confirmation not sent yet
    await outage(shop, down_for)
    assert shop.transport.connections >= 2
    confirmation = await shop.sent_to(ROOM_A, lambda s: "丹东草莓 1盒" in s.get("text", ""), "the queued reply")
    assert confirmation["text"].startswith("@李阿姨")
    # Re-delivered after the reconnect (the gateway's own catch-up): an order once, and a
    # message from before the outage that arrives an hour late is not an order at all.
    shop.service.call("message", id=first, room=ROOM_A, text="草莓1盒", type="Text",
                      timestamp=int((shop.clock.now() - down_for).timestamp() * 1000), **{"from": "u1"})
    await shop.say("u2", "西红柿2斤")
    await shop.simulation.drain()
    lines = {(l.order.member_id, l.sku): l.qty for l in await OrderLine.all().select_related("order")}  # type: ignore[attr-defined]
    assert lines == {("u1", "F01"): 1, ("u2", "V01"): 2}
    confirmations = [s for s in shop.service.sent() if s["conversation"] == ROOM_A and "丹东草莓 1盒" in s.get("text", "")]
    assert len(confirmations) == 1
    said = [n for n in notes(shop) if "微信" in n]  # (the login note went to the gateway that died)
    minutes = max(1, round(down_for.total_seconds() / 60))
    assert said == ["⚠️ 微信连接断开了（09:00），正在自动重连；这期间的回复会在连上后按顺序发出。",
                    f"✅ 微信已重新连接（断开约{minutes}分钟），排队的消息按顺序发出。"]
    sent = shop.service.sent()
    order = [i for i, s in enumerate(sent) if "断开了" in s.get("text", "") or "丹东草莓 1盒" in s.get("text", "")]
    assert len(order) == 2  # the notice and the reply, once each, in the order they queued


# -- groupbuy doctor ---------------------------------------------------------------------------


async def test_doctor_checks_the_gateway_the_login_and_the_rooms_on_either_side(
        service: Service, tmp_path: Path, db_url: str) -> None:
    from bot.doctor import diagnose

    service.stop()
    service.start()
    service.seed()
    service.call("room", id="99999@chatroom", topic="别的群", members=[BOT_ID])
    catalog = Path(__file__).resolve().parents[1] / "bot" / "demo" / "catalog.toml"
    groups = "".join(f'[[group]]\nroom = "{room}"\ncommunity = "{name}"\ndelivery = "16:00-18:00"\n'
                     for room, name in ((ROOM_A, "阳光花园"), (ROOM_B, "桂花苑"), ("30003@chatroom", "新小区")))
    path = tmp_path / "config.toml"
    path.write_text(f'[shop]\nstaff = ["{STAFF}"]\n[database]\nurl = "{db_url}"\n[catalog]\nfile = "{catalog}"\n'
                    f'{groups}[transport]\nkind = "wechaty"\ntoken = "{TOKEN}"\nendpoint = "127.0.0.1:{service.grpc}"\n',
                    encoding="utf-8")
    checks = {c.name: c for c in await diagnose(str(path), timeout=DEADLINE)}
    assert checks["config"].ok and checks["gateway"].ok and checks["login"].ok
    assert checks["database"].ok and "up to date" in checks["database"].detail
    assert not checks["rooms"].ok and checks["rooms"].detail == "the account is not in: 30003@chatroom (新小区)"
    assert checks["other rooms"].detail == "the account is also in (not served): 99999@chatroom (别的群)"
    service.stop()
    checks = {c.name: c for c in await diagnose(str(path), timeout=DEADLINE)}
    assert not checks["gateway"].ok and "nothing answers at 127.0.0.1:" in checks["gateway"].detail
    assert "login" not in checks


# -- the running program, not only its parts ----------------------------------------------------


def _health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_groupbuy_run_outlives_its_gateway_and_health_says_so(service: Service, tmp_path: Path) -> None:
    """The whole program (`groupbuy run`, its web server and schedule) started without a
    gateway, then the gateway comes, goes away and comes back: the process never exits, /health
    follows, and a member's order made after the return is answered."""
    import sys

    service.stop()
    earlier = len(service.sent_ever())  # the module's other tests
    catalog = Path(__file__).resolve().parents[1] / "bot" / "demo" / "catalog.toml"
    web_port = _free_port()
    config = tmp_path / "config.toml"
    # The shop's clock is the real one here: ordering is open all day, whenever the test runs.
    config.write_text(f'[shop]\nstaff = ["{STAFF}"]\n[database]\nurl = "sqlite://{tmp_path / "bot.sqlite3"}"\n'
                      f'[catalog]\nfile = "{catalog}"\n'
                      f'[[group]]\nroom = "{ROOM_A}"\ncommunity = "阳光花园"\ndelivery = "16:00-18:00"\n'
                      f'[schedule]\ndaily_post = "00:00"\ncutoff = "23:59"\ncutoff_reminder = 0\n'
                      f'[web]\nport = {web_port}\n[outbox]\njitter = 0\n'
                      f'[transport]\nkind = "wechaty"\ntoken = "{TOKEN}"\nendpoint = "127.0.0.1:{service.grpc}"\n',
                      encoding="utf-8")
    log = (tmp_path / "bot.log").open("w")
    bot = subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config)], stdout=log, stderr=log,
                           start_new_session=True)
    loop = asyncio.get_running_loop()

    async def health_is(wanted: Callable[[int, dict[str, Any]], bool], what: str) -> dict[str, Any]:
        found: dict[str, Any] = {}

        async def check() -> bool:
            assert bot.poll() is None, f"groupbuy run exited: {(tmp_path / 'bot.log').read_text()[-2000:]}"
            try:
                status, body = await loop.run_in_executor(None, _health, web_port)
            except OSError:
                return False  # not listening yet
            found.update(body)
            return wanted(status, body)

        await eventually(check, what, within=90)  # the program's own pauses: 15 s, then 60 s
        return found

    try:
        down = await health_is(lambda status, body: status == 503 and not body["wechat"]["ok"], "503 without a gateway")
        assert down["wechat"]["lost_since"] and down["database"]["ok"]
        service.start()
        service.seed()
        up = await health_is(lambda status, body: status == 200 and body["wechat"]["ok"], "200 once logged in")
        assert up["wechat"]["connected_since"]
        service.stop()  # gone mid-session
        await health_is(lambda status, body: not body["wechat"]["ok"], "503 while the gateway is gone")
        service.start()
        service.seed()
        await health_is(lambda status, body: body["wechat"]["ok"], "logged in again")
        service.call("message", id="late-order", room=ROOM_A, text="草莓1盒", type="Text", **{"from": "u1"})

        async def answered() -> bool:
            assert bot.poll() is None
            return any("丹东草莓 1盒" in s.get("text", "") for s in service.sent() if s["conversation"] == ROOM_A)

        await eventually(answered, "the order after the return is confirmed in the room", within=60)
        def notes() -> list[str]:
            return [s["text"] for s in service.sent_ever()[earlier:]
                    if s["conversation"] == STAFF and "微信" in s.get("text", "")]

        # Staff hear each change once, in order, whichever start of the service each note
        # reached (the gateway is killed moments after the first login: the notes queued by
        # then may go out before it or wait for the next login): it could not be reached at
        # start, it is logged in, it is lost, it is back (paced: 3 s apart in one conversation).
        await eventually(lambda: _true(len(notes()) >= 4), "staff hear it was lost and is back", within=30)
        said = notes()
        assert len(said) == 4, said
        assert said[0].startswith("⚠️ 连不上微信网关") and said[1] == "✅ 微信已登录，开始接单。"
        assert said[2].startswith("⚠️ 微信连接断开了") and said[3].startswith("✅ 微信已重新连接（断开约1分钟）")
    finally:
        os.killpg(bot.pid, signal.SIGTERM)
        bot.wait(timeout=30)
        log.close()
