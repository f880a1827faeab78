"""`groupbuy doctor --config FILE`: what a shop runs first when something is wrong. Each check
says what it found in one line: the config loads, the database answers (and which migrations
it still needs), the WeChat gateway is reachable and the account logged in, and which
configured rooms the account is not in, and which rooms it is in that are not configured."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.core.config import Config, ConfigError, load_config


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


async def diagnose(config_path: str, timeout: float) -> list[Check]:
    try:
        config = load_config(config_path)
    except ConfigError as error:
        return [Check("config", False, str(error))]
    checks = [Check("config", True, f"{config_path}: {len(config.groups)} group(s), {len(config.shop.staff)} staff")]
    checks.append(await _database(config))
    if config.transport.kind != "wechaty":
        checks.append(Check("wechat", True, 'not used ([transport] kind = "web": the local browser chat)'))
        return checks
    checks += await _wechat(config, timeout)
    return checks


async def _database(config: Config) -> Check:
    from models.db import cannot_open, close_database, open_database, pending_migrations, tortoise_config
    from models.tables import Member, Order

    url = config.database_url
    try:
        await open_database(url, migrate=False)
    except Exception as error:  # noqa: BLE001 - any reason is the answer
        return Check("database", False, str(cannot_open(url, error)))
    try:
        waiting = await pending_migrations(tortoise_config(url))
        if waiting:
            return Check("database", False, f"answers, but needs {len(waiting)} migration(s) "
                                            f"({', '.join(waiting[:3])}{' ...' if len(waiting) > 3 else ''}): "
                                            "run `groupbuy migrate --config ...`")
        return Check("database", True, f"answers, up to date: {await Member.all().count()} members, "
                                       f"{await Order.all().count()} orders")
    except Exception as error:  # noqa: BLE001
        return Check("database", False, f"answers, but cannot be read: {error}")
    finally:
        await close_database()


async def _reachable(endpoint: str) -> bool:
    host, _, port = endpoint.rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host or "127.0.0.1", int(port)), 3)
    except (OSError, ValueError, TimeoutError):
        return False
    writer.close()
    return True


async def _wechat(config: Config, timeout: float) -> list[Check]:
    from bot.core.clock import SystemClock
    from bot.transports.wechaty import list_rooms

    endpoint = config.transport.endpoint
    if endpoint and not await _reachable(endpoint):
        return [Check("gateway", False, f"nothing answers at {endpoint}: is the puppet service running?")]
    checks = [Check("gateway", True, f"answers at {endpoint}" if endpoint else "found through its token")]
    try:
        rooms = await list_rooms(config, SystemClock(config.timezone), timeout=timeout)
    except TimeoutError:
        return [*checks, Check("login", False, f"the account did not log in within {timeout:.0f} s "
                                               "(scan the QR code in the gateway's log)")]
    except Exception as error:  # noqa: BLE001
        return [*checks, Check("login", False, f"the gateway refused: {error}")]
    checks.append(Check("login", True, f"logged in; the account is in {len(rooms)} room(s)"))
    present = {room.id: room for room in rooms}
    missing = [g for g in config.groups if g.room not in present]
    checks.append(Check("rooms", not missing, "every configured room has the account in it" if not missing else
                        "the account is not in: " + ", ".join(f"{g.room} ({g.community})" for g in missing)))
    served = {g.room for g in config.groups}
    extra = [room for room in rooms if room.id not in served]
    if extra:
        checks.append(Check("other rooms", True, "the account is also in (not served): " +
                            ", ".join(f"{room.id} ({room.topic})" for room in extra)))
    return checks
