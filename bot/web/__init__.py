"""The bot's web side (aiohttp): the local browser chat, health.

`create_app(config, clock)` builds the application; its cleanup context opens the database,
starts the outbox sender and the scheduler, and closes them in reverse order on shut-down.
The page lets a person be any member or staff in any configured group and chat with the bot
live over a WebSocket; the bot's messages arrive as paced as they would be in WeChat.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import uuid
from html import escape
from collections import deque
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from bot.app import Bot
from bot.core.clock import Clock
from bot.core.config import Config
from bot.core.messages import Incoming, Outgoing
from bot.core.protocols import everyone
from bot.health import report
from bot.leader import Leadership
from bot.leading import Leader
from bot.transports.wechaty import WechatyTransport
from bot.web import dashboard
from bot.web.keys import BOT, CONFIG, HOSTS, LEADER, TASKS, WECHAT
from models.referrals import record_visit
from models.tables import Community

log = logging.getLogger(__name__)

MAX_TEXT = 5_000
# The people the local chat offers to be, besides staff (the demo knows them from its start).
DEMO_MEMBERS = tuple((f"demo_member_{i}", name) for i, name in enumerate(("李阿姨", "小周", "陈哥", "阿明"), start=1))
MAX_ID = 64


class WebChat:
    """The browser chat as a transport: every page sees every group and its own private chat."""

    def __init__(self, clock: Clock, history: int = 500) -> None:
        self.clock = clock
        self.clients: set[web.WebSocketResponse] = set()
        self.history: deque[dict[str, Any]] = deque(maxlen=history)

    async def send(self, message: Outgoing) -> None:
        event = {"kind": "bot", "room": message.room, "to": message.to, "text": message.text,
                 "mentions": list(message.mentions)}
        if message.file:
            event["file"] = "/files/" + Path(message.file).name
        await self.publish(event)

    async def publish(self, event: dict[str, Any]) -> None:
        event = {**event, "at": self.clock.now().isoformat(timespec="seconds")}
        self.history.append(event)
        data = json.dumps(event, ensure_ascii=False)
        for client in list(self.clients):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await client.send_str(data)


CHAT = web.AppKey("chat", WebChat)


def create_app(config: Config, clock: Clock, *, run_scheduler: bool = True,
               puppet: Any = None) -> web.Application:
    """The bot's web server. With `[transport] kind = "wechaty"` the bot talks to WeChat and
    the server keeps the referral links, the health check and a status page; otherwise the
    browser chat is its transport. `puppet`: a wechaty puppet to use (tests)."""
    app = web.Application(client_max_size=64 * 1024, middlewares=[guard])
    chat = WebChat(clock)
    app[CONFIG] = config
    app[CHAT] = chat
    wechat = WechatyTransport(config, clock, puppet=puppet) if config.transport.kind == "wechaty" else None
    app[BOT] = Bot(config, clock, wechat.send if wechat else chat.send,
                   reachable=wechat.reachable if wechat else everyone)
    if wechat is not None:
        app[WECHAT] = wechat
    app[LEADER] = Leader(app[BOT], Leadership(config.database_url), run_scheduler=run_scheduler)
    app[TASKS] = set()
    app[HOSTS] = _host_names(config)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        bot = app[BOT]
        await bot.open()
        if wechat is not None:
            wechat.attach(bot)
            await wechat.start()
        leader = asyncio.create_task(app[LEADER].run(), name="leader")
        yield
        for task in [leader, *app[TASKS]]:
            task.cancel()
        await asyncio.gather(leader, *app[TASKS], return_exceptions=True)
        await app[LEADER].leadership.release()
        if wechat is not None:
            await wechat.stop()
        await bot.close()

    app.cleanup_ctx.append(lifetime)
    app.router.add_get("/", page)
    app.router.add_get("/api/setup", setup)
    app.router.add_get("/ws", socket)
    app.router.add_get("/health", health)
    app.router.add_get("/files/{name}", download)
    app.router.add_get("/r/{code}", referral)
    dashboard.add_routes(app)
    return app


# Names the bot is reached by on this machine. Without a token, a page, its API, the socket
# and the files answer only to these (and to the configured host and public_url): a page on
# another site that resolves its own name to 127.0.0.1 (DNS rebinding) gets nothing.
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD = frozenset({"0.0.0.0", "::", ""})


def _hostname(netloc: str) -> str:
    """"127.0.0.1:8080" -> "127.0.0.1", "[::1]:80" -> "::1"; "" when it is not a host."""
    try:
        return (urlsplit("//" + netloc).hostname or "").rstrip(".")
    except ValueError:
        return ""


def _public(request: web.Request) -> bool:
    """What members reach from anywhere: referral links, and the health check."""
    return request.path.startswith("/r/") or request.path == "/health"


def _host_names(config: Config) -> frozenset[str]:
    """The names a request without a token may be sent to (worked out once, at start)."""
    names = LOOPBACK | ({config.web.host.lower()} - WILDCARD)
    if config.web.public_url:
        names |= {_hostname(urlsplit(config.web.public_url).netloc)}
    return names - {""}


def _same_origin(config: Config, request: web.Request, origin: str) -> bool:
    """A browser says which page a request comes from: it must be the bot's own page (served
    at the address the request was sent to), or the public_url."""
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False  # "null" (a sandboxed frame, a file), or junk
    if parts.netloc.lower() == request.host.lower():
        return True
    public = urlsplit(config.web.public_url) if config.web.public_url else None
    return public is not None and (parts.scheme, parts.netloc.lower()) == (public.scheme, public.netloc.lower())


@web.middleware
async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every page and the socket: a Host this machine is reached by (unless a token guards
    them), and no request sent by another site's page (its Origin)."""
    if not _public(request):
        config = request.app[CONFIG]
        if not config.web.token and _hostname(request.host) not in request.app[HOSTS]:
            log.warning("refused %s for host %r (set [web] token to serve other hosts)",
                        request.path, request.host[:100])
            return web.Response(status=403, text="unknown host\n")
        origin = request.headers.get("Origin")
        if origin is not None and not _same_origin(config, request, origin):
            log.warning("refused %s from another site's page (Origin %r)", request.path, origin[:100])
            return web.Response(status=403, text="cross-site request refused\n")
    response: web.StreamResponse = await handler(request)
    return response


def _allowed(request: web.Request) -> bool:
    token = request.app[CONFIG].web.token
    return not token or hmac.compare_digest(request.query.get("token", ""), token)


async def page(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    if config.transport.kind == "wechaty":  # the bot lives in WeChat: no browser chat
        groups = "".join(f"<li>{escape(g.community)} ({escape(g.room)})</li>" for g in config.groups)
        return web.Response(content_type="text/html", charset="utf-8", text=(
            f"<!doctype html><meta charset='utf-8'><title>{escape(config.shop.name)}</title>"
            f"<p>{escape(config.shop.name)}: the bot is connected to WeChat and serves:</p><ul>{groups}</ul>"))
    if not _allowed(request):
        return web.Response(status=401, content_type="text/html", charset="utf-8",
                            text=TOKEN_PAGE)
    html = resources.files("bot.web").joinpath("static/chat.html").read_text(encoding="utf-8")
    return web.Response(text=html, content_type="text/html", charset="utf-8")


TOKEN_PAGE = """<!doctype html><meta charset="utf-8"><title>groupbuy-bot</title>
<form style="font:16px sans-serif;margin:3em"><p>请输入访问口令 (token):</p>
<input name="token" type="password" autofocus> <button>进入</button></form>"""


async def download(request: web.Request) -> web.StreamResponse:
    """A workbook the bot sent (/导出): only files of the workbook folder, by name."""
    if not _allowed(request):
        raise web.HTTPUnauthorized()
    config = request.app[CONFIG]
    folder = config.resolve(config.spreadsheet.path).parent.resolve()
    name = request.match_info["name"]
    try:
        path = (folder / name).resolve()
        found = path.parent == folder and path.name.endswith(".xlsx") and path.is_file()
    except (ValueError, OSError):  # a NUL byte, a name too long: no such file
        found = False
    if not found:
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Disposition": f'attachment; filename="{path.name}"'})


async def referral(request: web.Request) -> web.Response:
    """A member's referral link: public (no token), says which group and how to join, and
    counts the visit for the inviter's funnel."""
    config = request.app[CONFIG]
    code = request.match_info["code"].strip().upper()[:16]
    found = await record_visit(code, request.headers.get("User-Agent", ""), request.app[BOT].clock.now())
    if found is None:
        return web.Response(status=404, content_type="text/html", charset="utf-8",
                            text=REFERRAL_PAGE.format(shop=escape(config.shop.name), body="这个邀请链接无效，请向邀请您的邻居核对。"))
    inviter, home = found
    who = escape(inviter.name or "您的邻居")
    group = f"「{escape(home.name)}」小区群" if home else "我们的小区群"
    body = (f"<b>{who}</b> 邀请您加入{group}，每天团购新鲜果蔬、送货到小区。</p>"
            f"<p>怎么加入：请在微信里让{who}把您拉进群；进群后发送邀请码 <b>{escape(code)}</b>，"
            f"然后就可以在群里下单了。")
    return web.Response(text=REFERRAL_PAGE.format(shop=escape(config.shop.name), body=body),
                        content_type="text/html", charset="utf-8")


REFERRAL_PAGE = """<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{shop}</title><div style="font:17px/1.6 sans-serif;margin:2em auto;max-width:30em;padding:0 1em">
<h2>{shop}</h2><p>{body}</p></div>"""


async def health(request: web.Request) -> web.Response:
    """The truth for a monitor: 200 when every part works, 503 with what is wrong when not."""
    app = request.app
    ok, checks = await report(app[BOT], app[LEADER], app.get(WECHAT))
    return web.json_response({"ok": ok, "shop": app[CONFIG].shop.name, **checks}, status=200 if ok else 503)


async def setup(request: web.Request) -> web.Response:
    if request.app[CONFIG].transport.kind != "web":
        raise web.HTTPNotFound()
    if not _allowed(request):
        raise web.HTTPUnauthorized()
    config = request.app[CONFIG]
    people = [{"id": sid, "name": f"店员{i or ''}", "staff": True} for i, sid in enumerate(config.shop.staff)]
    slots = dict(await Community.all().values_list("room", "delivery_slot"))  # in force: /配送 changes them
    people += [{"id": member_id, "name": name, "staff": False} for member_id, name in DEMO_MEMBERS]
    return web.json_response({
        "shop": config.shop.name,
        "groups": [{"room": g.room, "community": g.community, "delivery": slots.get(g.room, g.delivery)}
                   for g in config.groups],
        "people": people,
        "history": list(request.app[CHAT].history),
    })


async def socket(request: web.Request) -> web.WebSocketResponse:
    if request.app[CONFIG].transport.kind != "web":
        raise web.HTTPNotFound()
    if not _allowed(request):
        raise web.HTTPUnauthorized()
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
    await ws.prepare(request)
    chat = request.app[CHAT]
    chat.clients.add(ws)
    try:
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            error = await _say(request.app, frame.data)
            if error:
                await ws.send_str(json.dumps({"kind": "error", "text": error}, ensure_ascii=False))
    finally:
        chat.clients.discard(ws)
    return ws


async def _say(app: web.Application, data: str) -> str | None:
    """A person typed a message on the page: show it to everyone, hand it to the bot."""
    try:
        event = json.loads(data)
    except json.JSONDecodeError:
        return "不是有效的消息"
    if not isinstance(event, dict):
        return "不是有效的消息"
    sender, name, room, text = (event.get(k) for k in ("from", "name", "room", "text"))
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_ID:
        return "请先选择您是谁"
    if not isinstance(text, str) or not text.strip():
        return "消息是空的"
    if len(text) > MAX_TEXT:
        return f"消息太长了（最多{MAX_TEXT}字）"
    if room is not None and (not isinstance(room, str) or app[CONFIG].group(room) is None):
        return "没有这个群"
    name = name.strip()[:MAX_ID] if isinstance(name, str) and name.strip() else sender
    chat, bot = app[CHAT], app[BOT]
    incoming = Incoming(message_id=f"web-{uuid.uuid4().hex}", sender_id=sender.strip(),
                        sender_name=name, text=text, at=chat.clock.now(), room=room)
    await chat.publish({"kind": "member", "from": incoming.sender_id, "name": name,
                        "room": room, "text": text})
    task = asyncio.create_task(bot.handle(incoming))
    app[TASKS].add(task)
    task.add_done_callback(app[TASKS].discard)
    return None
