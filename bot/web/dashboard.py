"""The staff dashboard on the bot's web server (issue 19): pages to look at, not read.

Signing in: staff send /看板 in WeChat and get a private link (handlers/staff.py), good once
and for `[web] sign_in_minutes`. Opening it shows a button; pressing it (a POST: a link checker
that fetches the link does not use it up) makes a session for that staff member, kept in an
HttpOnly, SameSite=Lax cookie for `[web] session_hours`. The only other way in is `[web] token`
given as ?token=. Every page checks the session, and that its owner is still in `[shop] staff`.
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from urllib.parse import urlsplit

from aiohttp import web

from bot.app import Bot
from bot.core.config import Config
from bot.web import render
from bot.web.keys import BOT, CONFIG
from bot.web.views import campaigns_view, days_view, groupbuys_view, members_view, today_view
from models.dashboard import DAY_CHOICES
from models.days import delivery_date_for
from models.signin import close_session, link_staff, open_session, redeem_link, session_staff

log = logging.getLogger(__name__)

COOKIE = "groupbuy_dash"
TOKEN_STAFF = "[web] token"  # the session of whoever gave the config's token
TABS = (("today", "今天", "/dash/today"), ("days", "每天", "/dash/days"), ("groupbuys", "拼团", "/dash/groupbuys"),
        ("members", "会员", "/dash/members"), ("campaigns", "活动", "/dash/campaigns"))
STATIC = {"dash.css": "text/css", "dash.js": "text/javascript"}
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",  # not no-referrer: Chromium then posts forms with Origin null
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
}
HOW_TO = "请在微信里私聊店铺助手发送 /看板，打开收到的链接（几分钟内有效，只能用一次）。"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/dash", index)
    app.router.add_get("/dash/", index)
    app.router.add_get("/dash/in/{token}", sign_in_page)
    app.router.add_post("/dash/in/{token}", sign_in)
    app.router.add_post("/dash/out", sign_out)
    app.router.add_get("/dash/static/{name}", static)
    app.router.add_get("/dash/workbook", workbook)
    app.router.add_get("/dash/{page}.csv", csv_export)
    app.router.add_get("/dash/{page}", show)


def _config(request: web.Request) -> Config:
    return request.app[CONFIG]


def _bot(request: web.Request) -> Bot:
    return request.app[BOT]


def _notice(status: int, title: str, text: str, form: str = "") -> web.Response:
    return web.Response(status=status, text=render.notice(title, text, form=form), content_type="text/html",
                        charset="utf-8", headers=HEADERS)


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={**HEADERS, "Location": location})


def _secure(request: web.Request, config: Config) -> bool:
    return request.secure or urlsplit(config.web.public_url).scheme == "https"


def _set_session(response: web.StreamResponse, request: web.Request, session: str) -> None:
    config = _config(request)
    response.set_cookie(COOKIE, session, max_age=config.web.session_hours * 3600, path="/dash", httponly=True,
                        samesite="Lax", secure=_secure(request, config))


async def _staff(request: web.Request) -> str | web.Response:
    """Who is signed in, or the refusal to send."""
    config, now = _config(request), _bot(request).clock.now()
    staff = await session_staff(request.cookies.get(COOKIE, ""), now)
    if staff is None:
        return _notice(401, "请先登录看板", HOW_TO)
    if staff in config.shop.staff or (staff == TOKEN_STAFF and config.web.token):
        return staff
    log.warning("refused the dashboard to %s: not staff", staff[:40])
    return _notice(403, "看板只给店员看", "这个微信号不在店员名单里（[shop] staff）。")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def signed_in(handler: Handler) -> Handler:
    """A page for staff only: the refusal for anyone else, before any figure is read."""
    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        staff = await _staff(request)
        return staff if isinstance(staff, web.Response) else await handler(request)

    return checked


def _token_given(request: web.Request) -> bool:
    token = _config(request).web.token
    return bool(token) and hmac.compare_digest(request.query.get("token", ""), token)


async def index(request: web.Request) -> web.StreamResponse:
    if _token_given(request):  # [web] token: a session of its own, then the token leaves the address
        response = _redirect("/dash/today")
        _set_session(response, request, await open_session(
            TOKEN_STAFF, _bot(request).clock.now(), _config(request).web.session_hours))
        return response
    staff = await _staff(request)
    if isinstance(staff, web.Response):
        return staff
    return _redirect("/dash/today")


async def sign_in_page(request: web.Request) -> web.Response:
    token = request.match_info["token"][:128]
    if await link_staff(token, _bot(request).clock.now()) is None:
        return _notice(410, "链接已失效", "这个看板链接已经用过或已过期。" + HOW_TO)
    form = "<form method=post><button class=big>进入看板</button></form>"
    return _notice(200, "进入看板", f"{_config(request).shop.name}的店员看板。点下面的按钮进入；进入后这个链接就失效了。",
                   form=form)


async def sign_in(request: web.Request) -> web.StreamResponse:
    token = request.match_info["token"][:128]
    config, now = _config(request), _bot(request).clock.now()
    found = await redeem_link(token, now, config.web.session_hours)
    if found is None:
        return _notice(410, "链接已失效", "这个看板链接已经用过或已过期。" + HOW_TO)
    staff, session = found
    log.info("dashboard: %s signed in", staff[:40])
    response = _redirect("/dash/today")
    _set_session(response, request, session)
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    await close_session(request.cookies.get(COOKIE, ""))
    response = _notice(200, "已退出看板", HOW_TO)
    response.del_cookie(COOKIE, path="/dash")
    return response


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    text = resources.files("bot.web").joinpath(f"static/{name}").read_text(encoding="utf-8")
    return web.Response(text=text, content_type=STATIC[name], charset="utf-8",
                        headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"})


async def _view(request: web.Request, page: str) -> render.View | None:
    config, bot = _config(request), _bot(request)
    now = bot.clock.now()
    if page == "today":
        return await today_view(now, config, bot.services.offer)
    if page == "days":
        return await days_view(now, config, _day_count(request) or DAY_CHOICES[0])
    if page == "groupbuys":
        return await groupbuys_view(now, config)
    if page == "members":
        return await members_view(now, config, tuple(level.name for level in config.level))
    if page == "campaigns":
        return await campaigns_view(now, config)
    return None


def _day_count(request: web.Request) -> int | None:
    """The days page's ?n= when it is one it offers (30, 90); None otherwise."""
    count = request.query.get("n", "")
    return int(count) if count in {str(n) for n in DAY_CHOICES} else None


def _query(request: web.Request) -> str:
    count = _day_count(request)
    return f"?n={count}" if request.match_info["page"] == "days" and count else ""


@signed_in
async def show(request: web.Request) -> web.StreamResponse:
    page = request.match_info["page"]
    view = await _view(request, page)
    if view is None:
        return _notice(404, "没有这个页面", "看板的页面：今天、每天、拼团、会员、活动。")
    config, now = _config(request), _bot(request).clock.now()
    moment = f"{now.astimezone(config.timezone):%m-%d %H:%M}"
    stamp = f"{moment} 更新"
    query = _query(request)
    if request.query.get("part") == "live":
        text = render.main(view, f"/dash/{page}.csv", query)
    else:
        text = render.page(view, config.shop.name, TABS, stamp, f"/dash/{page}.csv", query)
    response = web.Response(text=text, content_type="text/html", charset="utf-8",
                            headers={**HEADERS, "X-Stamp": moment})
    response.enable_compression()
    return response


@signed_in
async def csv_export(request: web.Request) -> web.StreamResponse:
    page = request.match_info["page"]
    view = await _view(request, page)
    block = view.block(request.query.get("table", "")) if view else None
    if view is None or block is None:
        return _notice(404, "没有这张表", "请从看板页面上的 CSV 链接下载。")
    config = _config(request)
    day = _bot(request).clock.now().astimezone(config.timezone).date()
    response = web.Response(text=render.to_csv(block), content_type="text/csv", charset="utf-8", headers={
        **HEADERS, "Content-Disposition": f'attachment; filename="{page}-{block.key}-{day.isoformat()}.csv"'})
    response.enable_compression()
    return response


@signed_in
async def workbook(request: web.Request) -> web.StreamResponse:
    """Today's workbook (orders, picking, delivery), written now."""
    config, bot = _config(request), _bot(request)
    order_date = bot.clock.now().astimezone(config.timezone).date()
    path = await bot.export(delivery_date_for(order_date, config.schedule))
    if path is None:
        return _notice(503, "表格这次没有写成", "原因已发给店员；过一会儿再试，订单不会丢。")
    return web.FileResponse(path, headers={**HEADERS, "Content-Disposition": f'attachment; filename="{path.name}"'})

