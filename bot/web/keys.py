"""The web application's typed keys, shared by its modules."""

from __future__ import annotations

from aiohttp import web

from bot.app import Bot
from bot.core.config import Config
from bot.leading import Leader
from bot.transports.wechaty import WechatyTransport

CONFIG = web.AppKey("config", Config)
BOT = web.AppKey("bot", Bot)
TASKS = web.AppKey("tasks", set)
HOSTS = web.AppKey("hosts", frozenset)
LEADER = web.AppKey("leader", Leader)
WECHAT = web.AppKey("wechat", WechatyTransport)
