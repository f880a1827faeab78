"""The whole bot on a virtual clock with the memory transport: what the tests, `groupbuy
replay` and the benchmarks each drive. Time moves only when told (`advance_to`), and jobs,
sweeps and paced sends then happen at their own times (bot.simulation)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from bot.app import Bot
from bot.core.clock import VirtualClock
from bot.core.config import Config
from bot.simulation import Simulation
from bot.transports.memory import MemoryTransport


@dataclass
class Harness:
    bot: Bot
    clock: VirtualClock
    transport: MemoryTransport
    simulation: Simulation
    room: str | None = None  # where `say` speaks unless told

    async def say(self, text: str, sender: str = "wxid_u1", name: str = "", room: str | None = "",
                  message_id: str | None = None) -> bool:
        """A member's message, handled: in `room`, by default ("") the harness's own room;
        None is a private message."""
        msg = self.transport.incoming(text, sender, name or sender, self.room if room == "" else room, message_id)
        return await self.bot.handle(msg)

    async def flush(self) -> None:
        """Let everything queued go out, at the times pacing allows."""
        await self.simulation.drain()

    async def advance_to(self, when: datetime) -> None:
        await self.simulation.advance_to(when)

    def texts(self, room: str | None = None, to: str | None = None) -> list[str]:
        return self.transport.texts(room, to)

    async def close(self) -> None:
        await self.bot.close()


async def start_harness(config: Config, start: datetime, run_jobs: bool = True, seed: int = 1,
                        room: str | None = None) -> Harness:
    """The bot opened at `start` (the config's time zone or any other), having caught up on
    the jobs missed as the running bot does; with `run_jobs` False, no jobs or sweeps run."""
    clock = VirtualClock(start)
    transport = MemoryTransport(clock)
    bot = Bot(config, clock, transport.send, rng=random.Random(seed), reachable=transport.reachable)
    try:
        await bot.open()
        simulation = Simulation(bot, clock, None if run_jobs else ())
        await simulation.start()
    except BaseException:
        await bot.close()
        raise
    return Harness(bot, clock, transport, simulation, room)
